#!/usr/bin/env bash
# Run ONE BEAM supervision benchmark measurement.
#
#   benchmarks/beam/run_beam_supervision.sh <bench> <n>
#
# <bench>: sup_children | restart
# Prints one JSON object per line on stdout (see supervision_bench.erl);
# diagnostics go to stderr. run_module.sh compiles and runs it (emulator
# flags: +S 2:2, +P 4000000 for 1M+ supervised children).
#
# Set SUPERVISION_BENCH_LOG=1 to keep OTP's supervisor reports (printed on
# stderr); by default they are switched off.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/run_module.sh" supervision_bench "$@"
