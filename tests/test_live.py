"""The live check on the real Alertmanager: the quickstart and the routing spec of test_route_proof pass,
quiet hours hold both ways (`now` inside and outside the interval, one run each: the check places one
Alertmanager at one `now`), and a configuration without inhibition, without its quiet hours or with a
swapped receiver fails.

Every run starts its own Alertmanagers; they all run side by side, so the module takes about the
quickstart's group_wait (30s) plus a few seconds. The routing spec waits 1s.
"""

from __future__ import annotations

import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import require_tool
from e2e_support import listening_pids, runnable_alertmanager
from test_route_proof import ROUTING_SPEC, copy_of, edit_yaml, render_spec

from obsgen.check_result import Result
from obsgen.live import Alertmanager, in_quiet_hours_interval, live_check, shift_interval

NEW_YORK = ZoneInfo("America/New_York")
INSIDE = datetime(2030, 1, 9, 12, 0, tzinfo=NEW_YORK)  # a Wednesday noon: inside 08:00-20:00 mon-fri
OUTSIDE = datetime(2030, 1, 12, 12, 0, tzinfo=NEW_YORK)  # a Saturday noon


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> str:
    binary = require_tool("alertmanager")
    work = tmp_path_factory.mktemp("alertmanager")
    runnable = runnable_alertmanager(binary, work)
    if runnable == binary:
        return binary
    # that build reads its default templates from ./assets, so it must start in `work`
    wrapper = work / "alertmanager-in-workdir"
    wrapper.write_text(f'#!/bin/sh\ncd {shlex.quote(str(work))} && exec {shlex.quote(runnable)} "$@"\n', "utf-8")
    wrapper.chmod(0o755)
    return str(wrapper)


def drop_inhibition(cfg: dict[str, Any]) -> None:
    assert cfg.pop("inhibit_rules")


def drop_quiet_hours(cfg: dict[str, Any]) -> None:
    """money-slack's warnings are notified at any hour."""
    [route] = [r for r in cfg["route"]["routes"] if r["receiver"] == "money-slack"]
    assert route.pop("active_time_intervals")


def swap_receiver(cfg: dict[str, Any]) -> None:
    """ledger's (team finance) critical alerts go to core's Slack instead of finance's Teams."""
    [route] = [r for r in cfg["route"]["routes"]
               if r["receiver"] == "finance-teams" and 'severity="critical"' in r["matchers"]]
    route["receiver"] = "core-slack"


@pytest.fixture(scope="module")
def runs(alertmanager: str, rendered_examples: dict[str, Path],
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Result]]:
    spec_out = render_spec(ROUTING_SPEC, tmp_path_factory.mktemp("live-spec"))
    variants: dict[str, tuple[Path, datetime | None]] = {
        "quickstart": (rendered_examples["quickstart"], None),
        "inside": (spec_out, INSIDE),
        "outside": (spec_out, OUTSIDE),
    }
    for name, breaks, now in (("no-inhibition", drop_inhibition, INSIDE),
                              ("no-quiet-hours", drop_quiet_hours, OUTSIDE),
                              ("swapped", swap_receiver, INSIDE)):
        out = copy_of(spec_out, tmp_path_factory.mktemp(name))
        edit_yaml(out / "alertmanager/alertmanager.yml", breaks)
        variants[name] = (out, now)
    with ThreadPoolExecutor(len(variants)) as pool:
        futures = {name: pool.submit(live_check, out, alertmanager, now) for name, (out, now) in variants.items()}
        return {name: future.result(timeout=180) for name, future in futures.items()}


def by_aspect(results: list[Result]) -> dict[str, Result]:
    assert all(r.tool == "alertmanager (live)" for r in results), results
    return {r.target.removeprefix("alertmanager/alertmanager.yml ").strip("()"): r for r in results}


# --------------------------------------------------------------------------- what passes


def test_the_quickstart_passes_live(runs: dict[str, list[Result]]) -> None:
    got = by_aspect(runs["quickstart"])
    assert set(got) == {"delivery", "inhibition", "quiet hours"}
    for aspect in ("delivery", "inhibition"):
        assert got[aspect].status == "passed", got[aspect].output
    assert "each receiver got exactly the alerts routed to it" in got["delivery"].output
    # warnings of alerts whose critical fires, and the SLO's ticket under its page
    assert "alerts inhibited as the spec intends" in got["inhibition"].output
    # the clock decides the branch; at the interval's very edge the check says so instead of guessing
    quiet = got["quiet hours"]
    inside = in_quiet_hours_interval({"weekdays": ["monday:friday"], "times": ["09:00-18:00"],
                                      "timezone": "Europe/Berlin"}, datetime.now(UTC))
    if quiet.status == "skipped":
        assert "starts or ends during the check" in quiet.output
    else:
        assert quiet.status == "passed", quiet.output
        assert ("is inside business-hours" if inside else "is outside business-hours") in quiet.output
    assert set(quiet.files) >= {"proof/routes.json", "alertmanager/alertmanager.yml",
                                "alertmanager/templates/obsgen.tmpl"}


@pytest.mark.parametrize("variant", ["inside", "outside"])
def test_the_routing_spec_passes_live_inside_and_outside_quiet_hours(
        runs: dict[str, list[Result]], variant: str) -> None:
    got = by_aspect(runs[variant])
    assert [r.status for r in got.values()] == ["passed"] * 3, "\n".join(r.output for r in got.values())
    if variant == "inside":
        assert "now (Wednesday 2030-01-09 12:00 America/New_York) is inside business-hours" in got["quiet hours"].output
        assert "were notified" in got["quiet hours"].output
    else:
        assert "now (Saturday 2030-01-12 12:00 America/New_York) is outside business-hours" in got["quiet hours"].output
        assert "were not notified, muted by business-hours" in got["quiet hours"].output


# --------------------------------------------------------------------------- what must fail


def test_a_config_without_inhibition_fails_live(runs: dict[str, list[Result]]) -> None:
    got = by_aspect(runs["no-inhibition"])
    assert got["inhibition"].status == "failed"
    assert "ApiErrorRateHigh (prometheus/rules/api.yml)" in got["inhibition"].output
    assert "must be inhibited by ApiErrorRateHigh" in got["inhibition"].output
    assert "inhibitedBy: none; notified: core-slack" in got["inhibition"].output


def test_a_route_without_its_quiet_hours_fails_live(runs: dict[str, list[Result]]) -> None:
    got = by_aspect(runs["no-quiet-hours"])
    assert got["quiet hours"].status == "failed"
    assert "BillingLatencyP99High (prometheus/rules/billing.yml)" in got["quiet hours"].output
    assert ("outside business-hours, money-slack must be muted by it; money-slack was notified, mutedBy: none"
            in got["quiet hours"].output)
    assert got["delivery"].status == "failed"
    assert "money-slack only inside business-hours; now is outside" in got["delivery"].output


def test_a_swapped_receiver_fails_live(runs: dict[str, list[Result]]) -> None:
    got = by_aspect(runs["swapped"])
    assert got["delivery"].status == "failed"
    assert "LedgerErrorRateHigh (prometheus/rules/ledger.yml)" in got["delivery"].output
    assert "intended: finance-teams\n  notified: core-slack" in got["delivery"].output


def test_without_routes_json_the_live_check_fails(tmp_path: Path, rendered_examples: dict[str, Path],
                                                  alertmanager: str) -> None:
    out = copy_of(rendered_examples["quickstart"], tmp_path)
    (out / "proof/routes.json").unlink()
    [result] = live_check(out, alertmanager)
    assert result.status == "failed" and "re-render" in result.output


def test_each_alertmanager_answers_on_the_port_it_bound_itself(tmp_path: Path, rendered_examples: dict[str, Path],
                                                              alertmanager: str) -> None:
    """Side by side, each Alertmanager of the check is reached at the port its own log names, and that port's
    listener is that very process (the fixture's wrapper execs it): a port chosen for it beforehand could be
    taken by another server in between, which would then answer for it."""
    config = rendered_examples["quickstart"] / "alertmanager/alertmanager.yml"
    started = []
    try:
        for i in range(4):
            (tmp_path / str(i)).mkdir()
            started.append(Alertmanager(alertmanager, config, tmp_path / str(i)))
        for am in started:
            assert am.wait_ready(time.monotonic() + 30) is None
        ports = [int(am.url.rsplit(":", 1)[1]) for am in started]
        assert len(set(ports)) == 4, ports
        for am, port in zip(started, ports, strict=True):
            assert listening_pids(port) == {am.proc.pid}
    finally:
        for am in started:
            am.stop()


# --------------------------------------------------------------------------- placing the clock at `now`


def contains(entries: list[dict[str, Any]], when: datetime) -> bool:
    """Alertmanager's reading of weekday and time entries (times from start up to, not including, end)."""
    days = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
    for e in entries:
        local = when.astimezone(ZoneInfo(e.get("location", "UTC")))
        day, minute = days[(local.weekday() + 1) % 7], local.hour * 60 + local.minute
        spans = [w.split(":") for w in e.get("weekdays", ["sunday:saturday"])]
        if not any(days.index(s[0]) <= days.index(day) <= days.index(s[-1]) for s in spans):
            continue
        for t in e.get("times", [{"start_time": "00:00", "end_time": "24:00"}]):
            start, end = (int(x[:2]) * 60 + int(x[3:]) for x in (t["start_time"], t["end_time"]))
            if start <= minute < end:
                return True
    return False


@pytest.mark.parametrize("now", [INSIDE, OUTSIDE, datetime(2030, 1, 11, 19, 58, tzinfo=NEW_YORK),
                                 datetime(2030, 1, 7, 7, 59, tzinfo=NEW_YORK)])
def test_the_moved_interval_holds_at_the_clock_where_the_spec_holds_at_now(now: datetime) -> None:
    quiet = {"weekdays": ["monday:friday"], "times": ["08:00-20:00"], "timezone": "America/New_York"}
    rendered = [{"weekdays": ["monday:friday"], "times": [{"start_time": "08:00", "end_time": "20:00"}],
                 "location": "America/New_York"}]
    clock = datetime(2026, 3, 4, 23, 30, 17, tzinfo=UTC)
    moved = shift_interval(rendered, now, clock)
    # minute by minute over three days, across midnights and the weekend
    for minute in range(0, 3 * 1440, 7):
        step = timedelta(minutes=minute)
        assert contains(moved, clock + step) == in_quiet_hours_interval(quiet, now + step), now + step
