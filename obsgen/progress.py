"""A progress bar for the renders and checks a person waits on.

Shown on standard error only when it is a terminal, never in CI (`CI` set, as every CI service sets it), in a
pipe or a file, with `TERM=dumb` or with `--quiet`; and only once the work has taken `DELAY` seconds, so a
quick render prints nothing more than before. It is transient: the summary that follows replaces it.
Standard output is never touched (not redirected either), so what a render prints stays the same wherever
it runs.
"""

from __future__ import annotations

import os
import sys
import threading
from types import TracebackType
from typing import Any

# seconds of work before the bar appears; OBSGEN_PROGRESS_DELAY sets another (0: at once)
DELAY = float(os.environ.get("OBSGEN_PROGRESS_DELAY") or 1.0)


def wanted(quiet: bool) -> bool:
    """Whether a person is watching: a terminal on standard error, outside CI, without --quiet."""
    return (not quiet and sys.stderr.isatty() and not os.environ.get("CI")
            and os.environ.get("TERM", "") != "dumb")


class Progress:
    """Steps of one piece of work (`title`), each with a description; a no-op unless `enabled`.

    `step(text)` starts the next of `total` steps (None: a count not known beforehand). The bar is started by a timer thread after `DELAY`
    seconds, or not at all when the work ends sooner."""

    def __init__(self, title: str, total: int | None, enabled: bool) -> None:
        self.title, self.total, self.enabled = title, total, enabled
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None
        self._done = 0
        self._text = ""
        self._timer: threading.Timer | None = None

    def __enter__(self) -> Progress:
        if self.enabled:
            self._timer = threading.Timer(DELAY, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _show(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        with self._lock:
            if not self.enabled:  # ended while the timer fired
                return
            counted = [BarColumn(), MofNCompleteColumn()] if self.total is not None else []
            self._bar = Bar(TextColumn("[bold]{task.fields[title]}"), *counted, TextColumn("{task.description}"),
                            TimeElapsedColumn(), console=Console(file=sys.stderr), transient=True,
                            redirect_stdout=False)
            self._task = self._bar.add_task(self._text, total=self.total, completed=self._done, title=self.title)
            self._bar.start()

    def step(self, text: str) -> None:
        """The previous step is done; `text` is the one now running."""
        if not self.enabled:
            return
        with self._lock:
            if self._text:
                self._done += 1
            self._text = text
            if self._bar is not None:
                self._bar.update(self._task, completed=self._done, description=text)

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        with self._lock:
            self.enabled = False
            if self._timer is not None:
                self._timer.cancel()
            if self._bar is not None:
                self._bar.stop()
                self._bar = None
