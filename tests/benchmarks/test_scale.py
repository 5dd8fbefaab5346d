"""The pure parts of the scale suite's harness (benchmarks/_scale.py, _driver.percentile):
how n is spread over processes, the latency summary, and the chaos run's invariant checks.
The processes themselves run in test_quick.py (``run.py --quick``)."""

from __future__ import annotations

import sys
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from _driver import percentile
from _scale import (
    Latencies,
    Tally,
    cluster_violations,
    latencies,
    median_of,
    spread,
    tally,
    unexplained_errors,
)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([1.0, 2.0, 3.0], 0.5) == 2.0


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_spread_100k_over_7_processes_of_at_most_15k() -> None:
    shares = spread(100_000, 15_000)
    assert len(shares) == 7
    assert sum(shares) == 100_000
    assert max(shares) <= 15_000
    assert max(shares) - min(shares) <= 1


def test_spread_uses_at_least_two_processes_but_never_more_than_n() -> None:
    assert spread(1_000, 15_000) == [500, 500]
    assert spread(3, 15_000) == [2, 1]
    assert spread(1, 15_000) == [1]


@given(st.integers(1, 500_000), st.integers(1, 20_000))
def test_spread_covers_n_evenly_within_the_limit(n: int, per_process: int) -> None:
    shares = spread(n, per_process)
    assert sum(shares) == n
    assert all(share >= 1 for share in shares)
    assert max(shares) - min(shares) <= 1
    assert max(shares) <= per_process


def test_latencies_are_measured_from_the_trigger() -> None:
    arrivals = [10.0 + k / 100 for k in range(1, 101)]  # 10.01 .. 11.00
    got = latencies(10.0, reversed(arrivals))
    assert got.p50 == pytest.approx(0.50)
    assert got.p99 == pytest.approx(0.99)
    assert got.max == pytest.approx(1.00)


def test_median_of_broadcasts_takes_each_figure_separately() -> None:
    runs = [Latencies(0.1, 0.9, 1.0), Latencies(0.3, 0.5, 3.0), Latencies(0.2, 0.7, 2.0)]
    assert median_of(runs) == Latencies(0.2, 0.7, 2.0)


# --- the chaos invariants ---------------------------------------------------------------------


def test_untouched_slots_with_every_broadcast_once_are_exact() -> None:
    seen = tally([(False, True, [1, 1, 1]), (False, True, [1, 1, 1])])
    assert (seen.untouched, seen.untouched_exact, seen.violations) == (2, 2, 0)


def test_an_untouched_slot_missing_a_broadcast_is_a_violation() -> None:
    seen = tally([(False, True, [1, 0, 1]), (False, True, [1, 1, 1])])
    assert (seen.untouched_exact, seen.missing, seen.violations) == (1, 1, 1)


def test_an_untouched_slot_with_a_duplicate_is_a_violation() -> None:
    seen = tally([(False, True, [1, 2, 1])])
    assert (seen.duplicates, seen.violations) == (1, 1)


def test_a_touched_slot_may_miss_broadcasts_but_must_be_joined_again() -> None:
    seen = tally([(True, True, [1, 0, 0]), (True, False, [1, 1, 0])])
    assert (seen.touched, seen.rejoined, seen.unjoined, seen.violations) == (2, 1, 1, 1)
    assert seen.missing == 0  # only untouched slots owe every broadcast


def test_a_touched_slot_with_a_duplicate_is_a_violation() -> None:
    seen = tally([(True, True, [1, 2, 0])])
    assert (seen.rejoined, seen.duplicates, seen.violations) == (1, 1, 1)


def test_an_untouched_slot_not_joined_counts_once() -> None:
    seen = tally([(False, False, [0, 0, 0])])
    assert (seen.unjoined, seen.missing, seen.violations) == (1, 3, 1)


def test_tallies_add_up_across_clients() -> None:
    total = Tally()
    total.add(tally([(False, True, [1]), (True, True, [0])]))
    total.add(attrs.asdict(tally([(False, True, [0])])))  # as it crosses a client's pipe
    assert (total.slots, total.untouched, total.touched, total.violations) == (3, 2, 1, 1)


def clean(**overrides: object) -> list[tuple[str, int]]:
    arguments: dict[str, object] = {
        "killed_channels": 10,
        "killed_connections": 4,
        "phx_errors": 10,
        "disconnects": 4,
        "restarts": {"node1: scale/chat": 0, "node1: scale/endpoint": 0},
        "nodes_down": [],
        **overrides,
    }
    seen = arguments.pop("seen", tally([(False, True, [1, 1]), (True, True, [1, 0])]))
    return cluster_violations(seen, **arguments)  # type: ignore[arg-type]


def test_a_clean_chaos_run_has_no_violations() -> None:
    assert clean() == []


def test_a_killed_connection_may_take_its_channels_phx_error_with_it() -> None:
    assert clean(phx_errors=6) == []  # 4 short: as many as the connections killed
    ((text, count),) = clean(phx_errors=5)
    assert count == 1 and "5 phx_error" in text


def test_crashes_nobody_caused_are_violations() -> None:
    (problem,) = clean(disconnects=6)
    assert problem[1] == 2 and "lost 6 connections" in problem[0]
    (problem,) = clean(phx_errors=11)
    assert problem[1] == 1 and "11 phx_error" in problem[0]


def test_a_restart_or_a_node_down_is_a_violation() -> None:
    problems = clean(restarts={"node2: scale/chat/shard0": 2}, nodes_down=["node3"])
    assert [count for _, count in problems] == [2, 1]


def test_slot_violations_are_counted_per_slot() -> None:
    seen = tally([(False, True, [1, 0]), (False, True, [2, 1]), (True, False, [])])
    ((text, count),) = clean(seen=seen)
    assert count == 3 and "3 client slots" in text


def test_error_logs_the_kills_explain_are_not_violations() -> None:
    events = {"error:child_terminated": 15, "error:crash_report": 5, "info:nodeup": 1}
    assert unexplained_errors("node1", events, killed_channels=10, killed_connections=5) == []


def test_an_extra_crash_or_another_error_is_a_violation() -> None:
    events = {"error:child_terminated": 16, "error:crash_report": 6, "error:bad_frame": 2}
    problems = unexplained_errors("node2", events, killed_channels=10, killed_connections=5)
    assert [count for _, count in problems] == [2, 1, 1]
    assert "node2 logged 2 error:bad_frame, the kills explain 0" in problems[0][0]


def test_missing_reports_of_kills_are_violations_too() -> None:
    problems = unexplained_errors("node1", {}, killed_channels=1, killed_connections=0)
    assert problems == [("node1 logged 0 error:child_terminated, the kills explain 1", 1)]
