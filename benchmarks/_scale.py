"""The pure parts of the ``scale`` suite (``scale_trouper.py``): sizes, latencies, invariants.

Nothing here does I/O, so tests/benchmarks/test_scale.py checks it directly: how n is
spread over processes, how per-broadcast latencies are summarised, and the crash-isolation
invariants of the ``chaos`` bench (a client socket that nothing touched got every broadcast
exactly once; a touched one is joined again and got none twice; the servers killed what the
clients saw and nothing else restarted).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from _driver import percentile


def spread(n: int, per_process: int, minimum: int = 2) -> list[int]:
    """``n`` split as evenly as possible over ``max(minimum, ceil(n / per_process))``
    processes (never more processes than ``n``), larger shares first."""
    if n < 1 or per_process < 1:
        raise ValueError(f"need n >= 1 and per_process >= 1, not {n}, {per_process}")
    count = min(n, max(minimum, math.ceil(n / per_process)))
    return [n // count + (1 if k < n % count else 0) for k in range(count)]


@attrs.frozen
class Latencies:
    """One broadcast: from its trigger until each client socket had it (seconds)."""

    p50: float
    p99: float
    max: float


def latencies(trigger: float, arrivals: Iterable[float]) -> Latencies:
    """Summarise the arrival times (same clock as ``trigger``) of one broadcast."""
    ordered = sorted(t - trigger for t in arrivals)
    return Latencies(percentile(ordered, 0.50), percentile(ordered, 0.99), ordered[-1])


def median_of(runs: Sequence[Latencies]) -> Latencies:
    """The median over several broadcasts of each figure (p50, p99, max)."""
    return Latencies(
        statistics.median(r.p50 for r in runs),
        statistics.median(r.p99 for r in runs),
        statistics.median(r.max for r in runs),
    )


# --- the chaos invariants --------------------------------------------------------------------


@attrs.define
class Tally:
    """What the client sockets saw in a chaos run, summed over slots (and over clients).

    A *slot* is one logical client: its socket is replaced when the server kills its
    connection. A slot is *touched* when its channel crashed (``phx_error``) or the server
    closed its socket; otherwise it is *untouched*. A slot *violates* the invariants when it
    is untouched and did not get every broadcast exactly once, or is not joined at the end,
    or is touched and got some broadcast twice.
    """

    slots: int = 0
    untouched: int = 0
    untouched_exact: int = 0  # untouched slots that got every broadcast exactly once
    touched: int = 0
    rejoined: int = 0  # touched slots joined again at the end
    missing: int = 0  # (untouched slot, broadcast) pairs never received
    duplicates: int = 0  # (slot, broadcast) pairs received more than once, any slot
    unjoined: int = 0  # slots not joined at the end
    violations: int = 0  # slots breaking an invariant (each counted once)

    def add(self, other: Tally | Mapping[str, Any]) -> None:
        values = attrs.asdict(other) if isinstance(other, Tally) else other
        for field in attrs.fields(Tally):
            setattr(self, field.name, getattr(self, field.name) + int(values[field.name]))


def tally(slots: Iterable[tuple[bool, bool, Sequence[int]]]) -> Tally:
    """Check each slot: ``(touched, joined_now, counts)``, where ``counts[k]`` is how many
    times broadcast ``k`` arrived on the slot's sockets."""
    out = Tally()
    for touched, joined, counts in slots:
        out.slots += 1
        twice = sum(1 for c in counts if c > 1)
        out.duplicates += twice
        bad = not joined
        if not joined:
            out.unjoined += 1
        if touched:
            out.touched += 1
            out.rejoined += joined
            bad = bad or twice > 0
        else:
            out.untouched += 1
            exact = all(c == 1 for c in counts)
            out.untouched_exact += exact
            out.missing += sum(1 for c in counts if c == 0)
            bad = bad or not exact
        out.violations += bad
    return out


def cluster_violations(
    seen: Tally,
    *,
    killed_channels: int,
    killed_connections: int,
    phx_errors: int,
    disconnects: int,
    restarts: Mapping[str, int],
    nodes_down: Sequence[str],
) -> list[tuple[str, int]]:
    """Every broken invariant of a chaos run, with how many times it broke; empty when all
    is well. Beyond the slots (``seen``): the clients saw crashes nobody caused (or missed
    caused ones), a supervised process restarted, a node is down.

    Every killed connection closes exactly one client socket. Every killed channel sends
    its client one ``phx_error``, unless its connection was killed before it could (so the
    shortfall is at most the connections killed).
    """
    problems = []
    if seen.violations:
        problems.append(
            (
                f"{seen.violations} client slots broke an invariant ({seen.missing} broadcasts "
                f"missing on untouched slots, {seen.duplicates} duplicates, {seen.unjoined} "
                "not joined at the end)",
                seen.violations,
            )
        )
    if disconnects != killed_connections:
        problems.append(
            (
                f"the clients lost {disconnects} connections, the servers killed "
                f"{killed_connections}",
                abs(disconnects - killed_connections),
            )
        )
    low, high = killed_channels - killed_connections, killed_channels
    if not low <= phx_errors <= high:
        problems.append(
            (
                f"the clients got {phx_errors} phx_error, the servers killed {killed_channels} "
                f"channels (and {killed_connections} connections)",
                low - phx_errors if phx_errors < low else phx_errors - high,
            )
        )
    problems.extend((f"{what} restarted {n} times", n) for what, n in restarts.items() if n)
    problems.extend((f"node {node} is down", 1) for node in nodes_down)
    return problems


def unexplained_errors(
    node: str, log_events: Mapping[str, int], killed_channels: int, killed_connections: int
) -> list[tuple[str, int]]:
    """Error-level log events on a node that its chaos process's kills do not explain.

    A killed channel is reported by its connection (``child_terminated``); a killed
    connection by the connections supervisor (``child_terminated``), and the channel it
    takes with it crashes (``crash_report``, reason ``killed``). Any other error, or more
    of these, means something else failed.
    """
    expected = {
        "error:child_terminated": killed_channels + killed_connections,
        "error:crash_report": killed_connections,
    }
    problems = []
    for event in sorted(set(expected) | {e for e in log_events if e.startswith("error:")}):
        got, want = log_events.get(event, 0), expected.get(event, 0)
        if got != want:
            problems.append(
                (f"{node} logged {got} {event}, the kills explain {want}", abs(got - want))
            )
    return problems
