"""Every benchmark runs at its --quick size in the test suite, so none of them rots.

This is not a performance test: it checks that each implementation (trouper, BEAM, the
naive trio baseline, the alternative servers) runs every bench and reports every metric
it promises.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_benchmark_runs_at_quick_size_for_every_implementation(tmp_path: Path) -> None:
    results = tmp_path / "quick.json"
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "run.py"),
            "--quick",
            "--strict",
            "--out",
            "-",
            "--json",
            str(results),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(results.read_text())
    text = json.dumps(report)
    for impl in ("trouper", "beam", "trio-task", "beam-pg", "beam-registry", "trio-websocket"):
        assert f'"{impl}"' in text, f"{impl} produced no results"
    for suite in ("actors", "supervision", "pubsub", "websocket", "transports", "scale"):
        assert suite in report["suites"], f"the {suite} suite did not run"
