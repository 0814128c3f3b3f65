"""The benchmarks' own verdicts (issue 19: each checks its targets and exits 1 when one is missed):
a target the run did not measure as the issue sets it counts as missed, and a packet the network
jail read after the last bot was checked still fails the run."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bench import common, loopback, overhead, persistence, startup


def level(cpu_ms: float, requests: float = 1.5) -> dict:
    return {"cpu_per_update_ms": cpu_ms, "requests_per_update": requests, "polls_per_update": 0.2}


def summed(flow: str) -> dict:
    """A run where every figure meets its target."""
    row = {"ofbot": level(0.5, 1.0), "echo-tuned": level(0.4, 1.0)}
    return {
        "flow": flow,
        "levels": {1: dict(row), 10: dict(row), 100: dict(row)},
        "steady": {"ofbot": {"p95_ms": 10.0}},
    }


def test_overhead_targets_are_met_only_by_a_run_of_the_renewal_flow():
    assert all(met for _, met in overhead.targets(summed("renewal"), [1, 10, 100]))
    # The verify flow is typed steps only (1 request each): it "met" the renewal flow's
    # round-trip target, and any other, before.
    checks = overhead.targets(summed("verify"), [1, 10, 100])
    assert checks and not any(met for _, met in checks), checks
    assert "renewal flow" in checks[0][0]


def test_overhead_requests_target_without_ofbot_at_10_people_is_missed():
    partial = summed("renewal")
    del partial["levels"][10]["ofbot"]
    checks = dict(overhead.targets(partial, [1, 10, 100]))
    assert checks["≤ 1.5 Bot API requests per update at 10 people: not measured"] is False


def way(startup_s: float = 0.5, rss: float = 100.0) -> dict:
    return {"startup": startup_s, "rss_peak": rss}


def test_startup_targets_need_both_ways_and_the_issues_data():
    both = {startup.WAYS[0]: way(), startup.WAYS[1]: way()}
    assert all(met for _, met in startup.targets(both, 10_000, 10_000))
    # One way left out (--bytecode with): its targets are missed, not absent.
    one = {startup.WAYS[0]: way()}
    checks = startup.targets(one, 10_000, 10_000)
    assert [met for _, met in checks] == [True, True, False, False], checks
    # A fast start with a small database says nothing of the target's 10 000 + 10 000.
    for clubs, conversations in ((10_000, 0), (100, 10_000)):
        checks = startup.targets(both, clubs, conversations)
        assert not any(met for _, met in checks), checks
    assert not all(met for _, met in startup.targets({startup.WAYS[0]: way(1.2)}, 10_000, 10_000))


def test_persistence_targets_at_fewer_than_10000_conversations_are_missed():
    assert all(met for _, met in persistence.targets(100, 10_000, 3000.0, 1.1))
    assert not any(met for _, met in persistence.targets(100, 1_000, 3000.0, 1.1))


@pytest.mark.parametrize(
    ("jail", "status"),
    [
        (SimpleNamespace(leaks=[]), 0),
        # Read by the jail's thread after the last bot's check (its `terminate`).
        (SimpleNamespace(leaks=[("tcp", "203.0.113.7", 443)]), 1),
        (None, 1),  # the jail could not be set up: sampling sockets only
    ],
)
def test_the_verdict_reads_the_jail_once_more(monkeypatch, capsys, jail, status):
    monkeypatch.setattr(loopback, "TRIED", True)
    monkeypatch.setattr(loopback, "JAIL", jail)
    assert common.verdict([("a target", True)]) == status
    if jail is not None and jail.leaks:
        assert "203.0.113.7:443" in capsys.readouterr().out


def test_the_jail_target_goes_into_the_figures_written_for_the_readme(monkeypatch):
    """bench/README.md shows the targets of the --json output: a run without the jail exited 1
    on "loopback-only traffic checked by the network jail" while its figures showed every
    target met."""
    monkeypatch.setattr(loopback, "TRIED", True)
    monkeypatch.setattr(loopback, "JAIL", None)
    written = common.with_jail_target([("a target", True)])
    assert written[-1] == ("loopback-only traffic checked by the network jail", False)
    monkeypatch.setattr(loopback, "TRIED", False)  # persistence: no bot, no jail tried
    assert common.with_jail_target([("a target", True)]) == [("a target", True)]
