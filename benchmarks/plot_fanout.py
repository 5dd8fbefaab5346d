"""Plot broadcast time against subscribers from a run.py results file (a PNG).

Usage::

    .venv/bin/pip install -e '.[bench]'          # matplotlib
    .venv/bin/python benchmarks/plot_fanout.py benchmarks/results/fanout.json \\
        [more results files ...] --out benchmarks/results/fanout.png

Every (suite, impl) series of a ``broadcast_s``-like metric found in the files is drawn:
the median as a line with points, min-max as error bars, log-log axes. The ``fanout``
suite's ``broadcast_s`` (trouper and beam) is the headline; a ``cluster`` suite's
two-node figures appear next to it when its results file is given too.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

# metric names drawn, per suite: the time until every subscriber has the message
METRICS = {"broadcast_s", "cluster_broadcast_s", "fanout_s"}


def series(paths: list[Path]) -> dict[str, list[tuple[int, float, float, float]]]:
    """label -> sorted [(n, median, min, max)] for every plotted metric in the files."""
    found: dict[str, dict[int, tuple[float, float, float]]] = defaultdict(dict)
    for path in paths:
        doc = json.loads(path.read_text())
        for suite_name, suite in doc.get("suites", {}).items():
            if suite_name not in ("fanout", "cluster", "pubsub"):
                continue
            for result in suite.get("results", []):
                if result.get("metric") not in METRICS or result.get("median") is None:
                    continue
                label = f"{result['impl']} ({suite_name}: {result['bench']})"
                found[label][result["n"]] = (result["median"], result["min"], result["max"])
    return {
        label: sorted((n, *values) for n, values in points.items())
        for label, points in found.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fanout.png"))
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = series(args.results)
    if not drawn:
        raise SystemExit("no broadcast_s results in the given files")
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for label, points in sorted(drawn.items()):
        ns = [p[0] for p in points]
        medians = [p[1] for p in points]
        low = [p[1] - p[2] for p in points]
        high = [p[3] - p[1] for p in points]
        ax.errorbar(ns, medians, yerr=[low, high], marker="o", capsize=3, label=label)
    ax.axhline(2.0, color="grey", linestyle="--", linewidth=1)
    ax.text(ax.get_xlim()[0], 2.0, " target at 2M: 2 s", va="bottom", color="grey")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("subscribers of one topic")
    ax.set_ylabel("one broadcast until every subscriber has it (s)")
    ax.set_title("Fan-out: broadcast time against subscribers (2 cores)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
