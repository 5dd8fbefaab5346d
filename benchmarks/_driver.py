"""What every benchmark driver shares: the JSON-lines output and reading VmRSS.

Drivers run as scripts (``python benchmarks/<driver>.py <bench> <n>``), so this module is
imported from the script's own directory.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence

Emit = Callable[[str, int, str, float, str], None]


def make_emit(impl: str) -> Emit:
    """An ``emit(bench, n, metric, value, unit)`` printing one result line for ``impl``."""

    def emit(bench: str, n: int, metric: str, value: float, unit: str) -> None:
        line = {"impl": impl, "bench": bench, "n": n, "metric": metric, "value": value}
        print(json.dumps({**line, "unit": unit}), flush=True)

    return emit


def rss_bytes(pid: int | str = "self") -> int:
    """The resident set size of a process (this one by default), from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of a sorted, non-empty sequence: the smallest
    value with at least ``q`` of the values at or below it (so p99 of 100 values is the
    99th, and the max is ``q=1``)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]
