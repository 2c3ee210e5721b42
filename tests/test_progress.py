"""The progress bar of a check or render a person waits on: on a terminal after a second, never in CI, in a
pipe, with TERM=dumb, or on standard output.

A terminal on standard error is a pseudo-terminal here, as a person's shell gives one. `obsgen check` of a small
tree takes its seconds in promtool and amtool, so the bar shows its steps there; a step that outlasts the delay
shows it on a terminal and nothing at all with `CI` set, `TERM=dumb` or standard error a pipe.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, require_tool

from obsgen import progress


def _run(args: list[str], env: dict[str, str], terminal: bool) -> tuple[str, str, int]:
    """stdout (a pipe) and stderr (a pseudo-terminal, or a pipe) of one run, bounded in time."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("CI", "OBSGEN_PROGRESS_DELAY")} | {"TERM": "xterm", "COLUMNS": "200"} | env
    if not terminal:
        proc = subprocess.run(args, capture_output=True, text=True, env=full_env, timeout=300, cwd=ROOT)
        return proc.stdout, proc.stderr, proc.returncode
    master, slave = pty.openpty()
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, env=full_env,
                          cwd=ROOT) as proc:
        os.close(slave)
        seen = b""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every holder of the terminal's other end has closed it
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        os.close(master)
        out = proc.stdout.read().decode() if proc.stdout else ""
        code = proc.wait(timeout=60)
    return out, seen.decode("utf-8", "replace"), code


SMALL = """
version: 1
project: {name: corner-shop}
channels: {ops: {type: webhook, url: "http://hooks.example:8080/alerts"}}
routing: {default: ops}
services:
  - name: till
    scrape: {static: ["till:9100"]}
    thresholds:
      - {indicator: error_rate, warning: 2%, critical: 10%}
"""

# A step that outlasts DELAY, run as `obsgen check` runs its steps.
SLOW = [sys.executable, "-c", "import time\nfrom obsgen.progress import Progress, wanted\n"
        "with Progress('obsgen check out', None, wanted(quiet=False)) as p:\n"
        "    p.step('promtool test rules (3 files)')\n    time.sleep(1.6)\nprint('done')"]


def test_obsgen_check_shows_its_steps_on_a_terminal(tmp_path: Path) -> None:
    require_tool("promtool")
    spec = tmp_path / "corner-shop.yaml"
    spec.write_text(SMALL)
    subprocess.run([sys.executable, "-m", "obsgen", "render", str(spec), "-o", str(tmp_path / "out"), "--quiet"],
                   check=True, cwd=ROOT, timeout=120)
    # at once: on an idle machine this small check can be done within the second the bar waits by default
    out, err, code = _run([sys.executable, "-m", "obsgen", "check", "--allow-missing", str(tmp_path / "out")],
                          {"OBSGEN_PROGRESS_DELAY": "0"}, terminal=True)
    assert code == 0, out + err
    assert "obsgen check" in err and "promtool" in err, err[-2000:]  # the bar, on standard error
    assert "obsgen check" in out and "promtool" not in out.split("\n")[0]  # the table, on standard output


def test_the_bar_is_for_a_terminal_only() -> None:
    out, err, code = _run(SLOW, {}, terminal=True)
    assert code == 0 and out == "done\n" and "promtool test rules (3 files)" in err, (out, err)
    for env, terminal in (({"CI": "true"}, True), ({"TERM": "dumb"}, True), ({}, False)):
        out, err, code = _run(SLOW, env, terminal)
        assert code == 0 and out == "done\n" and err == "", (env, terminal, out, err)


def test_quick_work_shows_nothing_and_off_is_off(capfd: pytest.CaptureFixture[str]) -> None:
    with progress.Progress("quick", 3, enabled=True) as p:  # done long before DELAY
        p.step("one")
        p.step("two")
    with progress.Progress("off", 3, enabled=False) as p:
        p.step("one")
        time.sleep(progress.DELAY + 0.3)
        p.step("two")
    captured = capfd.readouterr()
    assert captured.out == captured.err == ""
    assert not progress.wanted(quiet=True)


def _many(n: int) -> str:
    """A spec of `n` services of their own (several seconds to render, anywhere)."""
    services = "".join(f"""
  - name: shop-{i}
    scrape: {{static: ["shop-{i}:8080"]}}
    thresholds:
      - {{indicator: error_rate, warning: 2%, critical: 10%}}
    slos:
      - {{name: availability, objective: 99.5, sli: {{type: availability}}}}
""" for i in range(n))
    return SMALL.split("services:")[0] + "services:" + services


def test_a_render_shows_its_families_and_quiet_shows_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "many.yaml"
    spec.write_text(_many(150))
    render = [sys.executable, "-m", "obsgen", "render", str(spec), "-o"]
    out, err, code = _run([*render, str(tmp_path / "out")], {"OBSGEN_PROGRESS_DELAY": "0"}, terminal=True)
    assert code == 0, out + err
    assert "obsgen render" in err and "of 150 services" in err, err[-2000:]  # on standard error
    assert "obsgen rendered" in out and "of 150 services" not in out  # the summary, on standard output
    out, err, code = _run([*render, str(tmp_path / "quiet"), "--quiet"], {"OBSGEN_PROGRESS_DELAY": "0"},
                          terminal=True)
    assert code == 0 and out == "" and err == "", (out, err)
