#!/usr/bin/env bash
# Run ONE BEAM pubsub benchmark measurement.
#
#   benchmarks/beam/run_beam_pubsub.sh <bench> <n>
#   PUBSUB_BENCH_BACKEND=registry benchmarks/beam/run_beam_pubsub.sh <bench> <n>
#
# <bench>: subscribe | broadcast | fanout (see pubsub_bench.erl)
# The backend is pg (OTP's process groups, the default) or registry
# (Elixir Registry's design, what Phoenix.PubSub uses on one node); the
# JSON lines name the implementation beam-pg or beam-registry. For the
# 2M-subscriber run:
#
#   benchmarks/beam/run_beam_pubsub.sh fanout 2000000
set -euo pipefail

BACKEND="${PUBSUB_BENCH_BACKEND:-pg}"
case "$BACKEND" in
    pg|registry) ;;
    *) echo "PUBSUB_BENCH_BACKEND must be pg or registry, not $BACKEND" >&2; exit 2 ;;
esac
export PUBSUB_BENCH_BACKEND="$BACKEND" BEAM_BENCH_IMPL="beam-$BACKEND"
exec bash "$(dirname "${BASH_SOURCE[0]}")/run_module.sh" pubsub_bench "$@"
