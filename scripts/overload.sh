#!/usr/bin/env bash
# Overload: what a server does when offered more than it can serve. Builds
# latchkey, starts a fresh `latchkey dev` server (SQLite, ES256), measures
# its peak with a closed loop, then offers a quarter of the peak (the
# unloaded latency), the peak and three times the peak in an open loop
# (arrivals on a fixed schedule, whatever the server's pace), and prints
# for each: the goodput (completed logins per second), p50 and p99 of the
# completed logins (the requests the server admitted), the flows refused
# with 503, the failures, and the server's peak RSS. Reports go to $OUT.
#
#   scripts/overload.sh                  # the peak, then 0.25x, 1x and 3x
#   PEAK=2700 scripts/overload.sh        # skip measuring the peak
#   PEAK_CONCURRENCY=64 scripts/overload.sh   # measure it with more virtual users (32)
#   scripts/overload.sh inflight-sweep   # peak against requests in flight, no bound
#
# The goal: at 3x, goodput at least 80 % of the peak, RSS under 200 MB,
# and the p50 of admitted logins near its unloaded value. The load tool
# runs on the same machine and takes CPU from the server at high rates:
# for figures worth publishing, run it on a quiet machine and say so.
# Set LATCHKEY_MAX_IN_FLIGHT to try another bound, DURATION for the time
# measured per point.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-overload-results}
DURATION=${DURATION:-20s}
PORT=${PORT:-7096}
mkdir -p "$OUT"
go build -o "$OUT/latchkey" ./cmd/latchkey
LK="$OUT/latchkey"

# server: a dev server on a fresh database; its PID in SERVER_PID.
server() {
  rm -rf "$OUT/work" && mkdir -p "$OUT/work"
  LATCHKEY_SECRET=${LATCHKEY_SECRET:-overload-secret-overload-secret-0123456} \
  LATCHKEY_ADDR=127.0.0.1:$PORT LATCHKEY_SIGNING_ALG=ES256 LATCHKEY_DATABASE_URL="sqlite:$OUT/work/latchkey-dev.db" \
    "$LK" dev > "$OUT/work/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  limits
}

# limits: keeps the abuse limits running on every login without letting
# them refuse one (as scripts/benchmarks.sh does): each bench user logs in
# again every few seconds, so the resend cooldown is 1s and the hourly and
# daily caps are at their maximum. A refusal here would count as a failure,
# not as the overload the script measures.
limits() {
  local app
  app=$(sed -n 's/.*"app_id": *"\([^"]*\)".*/\1/p' "$OUT/work/latchkey-dev.db.demo-app.json")
  LATCHKEY_SECRET=${LATCHKEY_SECRET:-overload-secret-overload-secret-0123456} \
    LATCHKEY_DATABASE_URL="sqlite:$OUT/work/latchkey-dev.db" \
    "$LK" apps update "$app" --resend-cooldown 1s --sends-per-hour 1000 --sends-per-day 1000 >/dev/null
}

stop() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}
trap stop EXIT

# bench NAME ARGS...: runs latchkey bench against the server, the JSON
# report in $OUT/NAME.json.
bench() {
  local name=$1; shift
  "$LK" bench --url "http://127.0.0.1:$PORT" --credentials "$OUT/work/latchkey-dev.db.demo-app.json" \
    --server-pid "$SERVER_PID" --users 10000 --logout=false --duration "$DURATION" --quiet \
    --json "$OUT/$name.json" "$@" > "$OUT/$name.txt"
}

# field NAME KEY: the first value of KEY in a report: the top level's for
# per_second, failed and refused; the first flow's for p50_ms and p99_ms;
# the server's for rss_peak_mb.
field() {
  grep -m1 "\"$2\":" "$OUT/$1.json" | sed 's/.*: *\([-0-9.e+]*\).*/\1/'
}

row() {
  printf '%-10s %9s %10s %10s %10s %9s %8s %9s\n' "$@"
}

# num VALUE DECIMALS: VALUE rounded.
num() { awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f", d, v }'; }

summary() {
  row "$1" "$(num "$(field "$1" per_second)" 0)" "$(num "$(field "$1" p50_ms)" 1)" "$(num "$(field "$1" p99_ms)" 1)" \
    "$(field "$1" refused)" "$(field "$1" failed)" "$(num "$(field "$1" rss_peak_mb)" 0)" "$2"
}

case_overload() {
  server
  if [ -z "${PEAK:-}" ]; then
    bench peak --concurrency "${PEAK_CONCURRENCY:-32}"
    PEAK=$(field peak per_second)
  fi
  PEAK=${PEAK%.*}
  for f in 0.25 1 3; do
    rate=$(awk -v p="$PEAK" -v f="$f" 'BEGIN { printf "%d", p * f }')
    # the first point seeds the users when the peak was not measured here
    bench "open-${f}x" --rate "$rate" --concurrency 256 --seed="$([ "$f" = 0.25 ] && echo true || echo false)"
  done
  stop
  echo "peak (closed loop, ${PEAK_CONCURRENCY:-32} virtual users): $PEAK logins/s; bound on requests in flight: ${LATCHKEY_MAX_IN_FLIGHT:-the default}"
  row point "goodput/s" "p50 ms" "p99 ms" refused failed "RSS MB" "offered/s"
  [ -f "$OUT/peak.json" ] && summary peak "closed"
  for f in 0.25 1 3; do
    summary "open-${f}x" "$(awk -v p="$PEAK" -v f="$f" 'BEGIN { printf "%d", p * f }')"
  done
  awk -v g="$(field open-3x per_second)" -v p="$PEAK" -v r="$(field open-3x rss_peak_mb)" \
    'BEGIN { printf "at 3x: goodput %.0f %% of the peak, peak RSS %s MB\n", 100 * g / p, r }'
}

# inflight-sweep: the closed-loop peak against requests in flight, with no
# bound, to see where throughput stops rising and only latency grows.
case_inflight_sweep() {
  LATCHKEY_MAX_IN_FLIGHT=1000000 server
  row point "goodput/s" "p50 ms" "p99 ms" refused failed "RSS MB" "in flight"
  for c in 8 16 32 64 128 256; do
    bench "inflight-$c" --concurrency "$c" --seed="$([ "$c" = 8 ] && echo true || echo false)"
    summary "inflight-$c" "$c"
  done
  stop
}

for c in ${1:-overload}; do
  "case_${c//-/_}"
done
