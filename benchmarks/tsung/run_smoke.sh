#!/usr/bin/env bash
# Tsung smoke test against a trouper chat server, on loopback.
#
#   bash benchmarks/tsung/run_smoke.sh          (from anywhere; needs root or sudo for apt)
#
# 1. installs Debian's tsung (1.7) if `tsung` is missing;
# 2. starts benchmarks/tsung/server.py (trouper endpoint, rooms:lobby, a broadcast every
#    0.5 s) on a free 127.0.0.1 port; the server stops by itself after 90 s at most;
# 3. runs benchmarks/tsung/smoke.xml against it (port substituted) with `tsung -n`
#    (no web GUI), bounded by `timeout`;
# 4. stops the server (SIGTERM; it reports how many joins it served) and reads the
#    statistics of tsung.log; exits 0 only if the server saw every join, every user
#    connected (websocket_succ), joined and got a broadcast (two <match> hits each), no
#    nomatch/error counters appeared and every session finished.
# Logs stay in the work directory it prints (tsung.log, the controller log, server.log).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
USERS=5            # must match maxnumber in smoke.xml
TSUNG_TIMEOUT=60   # seconds for the whole tsung run (the scenario itself is bounded at 30 s)

if ! command -v tsung >/dev/null 2>&1; then
  echo "tsung not found: installing Debian's tsung" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y tsung >&2
fi

WORK="$(mktemp -d /tmp/tsung-smoke.XXXXXX)"
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
cleanup() { stop_server; }
trap cleanup EXIT

PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
sed "s/port=\"4000\"/port=\"$PORT\"/" benchmarks/tsung/smoke.xml >"$WORK/smoke.xml"

PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" benchmarks/tsung/server.py \
  --port "$PORT" --interval 0.5 --lifetime 90 >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 100); do
  grep -q "^listening" "$WORK/server.out" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "server died:" >&2; cat "$WORK/server.log" >&2; exit 1; }
  sleep 0.1
done
grep -q "^listening" "$WORK/server.out" || { echo "server did not start" >&2; exit 1; }
echo "trouper server on 127.0.0.1:$PORT (pid $SERVER_PID); work directory $WORK" >&2

set +e
timeout --kill-after=10 "$TSUNG_TIMEOUT" tsung -n -l "$WORK/log/" -f "$WORK/smoke.xml" start \
  >"$WORK/tsung.out" 2>&1
TSUNG_STATUS=$?
set -e
cat "$WORK/tsung.out" >&2
if [ "$TSUNG_STATUS" -ne 0 ]; then
  echo "FAILED: tsung exited with status $TSUNG_STATUS (124: timed out)" >&2
  exit 1
fi

stop_server
cat "$WORK/server.log" >&2
JOINS="$(sed -n 's/^server: \([0-9]*\) joins.*/\1/p' "$WORK/server.log")"
if [ "${JOINS:-0}" -lt "$USERS" ]; then
  echo "FAILED: the server counted ${JOINS:-no} joins, expected $USERS" >&2
  exit 1
fi

STATS="$(find "$WORK/log" -name tsung.log | head -n 1)"
if [ -z "$STATS" ]; then
  echo "FAILED: no tsung.log under $WORK/log" >&2
  exit 1
fi
echo "tsung log: $STATS" >&2

# tsung.log holds one block of "stats: <name> <value in this interval> <total or more>"
# lines per interval; a counter's last field in its last line is its running total.
"$PYTHON" - "$STATS" "$USERS" <<'PY'
import sys

path, users = sys.argv[1], int(sys.argv[2])
totals: dict[str, float] = {}
for line in open(path):
    parts = line.split()
    if len(parts) >= 4 and parts[0] == "stats:":
        name = parts[1]
        # counters: "stats: name interval total"; samples: "stats: name n mean ... count"
        totals[name] = float(parts[3]) if len(parts) == 4 else totals.get(name, 0) + float(parts[2])
shown = {k: v for k, v in sorted(totals.items()) if "{" not in k and k not in ("users", "connected")}
print("tsung totals:", ", ".join(f"{k}={v:g}" for k, v in shown.items()))
problems = []
if totals.get("websocket_succ", 0) != users:
    problems.append(f"websocket_succ {totals.get('websocket_succ', 0):g}, expected {users}")
if totals.get("match", 0) != 2 * users:
    problems.append(f"match {totals.get('match', 0):g}, expected {2 * users} (join + broadcast)")
if totals.get("finish_users_count", 0) != users:
    problems.append(f"finish_users_count {totals.get('finish_users_count', 0):g}, expected {users}")
bad = {k: v for k, v in totals.items() if (k == "nomatch" or k.startswith("error")) and v}
if bad or totals.get("websocket_fail", 0):
    problems.append(f"failures: {bad or {'websocket_fail': totals['websocket_fail']}}")
if problems:
    print("FAILED: " + "; ".join(problems))
    sys.exit(1)
print(f"OK: {users} users connected, joined rooms:lobby, received a broadcast and closed")
PY
