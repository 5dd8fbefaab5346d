#!/usr/bin/env bash
# Run ONE BEAM actor benchmark measurement.
#
#   benchmarks/beam/run_beam.sh <bench> <n>
#
# <bench>: spawn | spawn_hibernated | fanout | pingpong | call |
#          send_1to1 | send_nto1
# Prints one JSON object per line on stdout (see actors_bench.erl);
# diagnostics go to stderr. run_module.sh compiles and runs it (emulator
# flags: +S 2:2, +P 4000000).
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/run_module.sh" actors_bench "$@"
