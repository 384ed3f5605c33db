#!/usr/bin/env bash
# Reproduces the figures in BENCHMARKS.md on this machine: builds latchkey,
# then for each case starts a fresh `latchkey dev` server and runs
# `latchkey bench` against it from the same machine, writing each report
# (text and JSON) to $OUT.
#
#   scripts/benchmarks.sh                 # every case (about 25 minutes)
#   scripts/benchmarks.sh es256-peak      # one case; see the list below
#
# PostgreSQL cases need LATCHKEY_TEST_POSTGRES_URL (a scratch schema is
# created and dropped) and psql. Set DURATION to change the measured time
# per case, HALF_RATE for the half-load case, ROUNDS for the turns of the
# cases that compare two runs (2), DELIVERY_CONCURRENCY for the
# virtual users of the email and SMS cases. The server logs every request
# at info level, as in production. The email and SMS cases point the server
# at the sinks `latchkey bench` runs: SMTP on $SMTP_SINK, Twilio's API on
# $SMS_SINK.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-bench-results}
DURATION=${DURATION:-20s}
PORT=${PORT:-7095}
SMTP_SINK=${SMTP_SINK:-127.0.0.1:2525}
SMS_SINK=${SMS_SINK:-127.0.0.1:8026}
DC=${DELIVERY_CONCURRENCY:-16}
mkdir -p "$OUT"
go build -o "$OUT/latchkey" ./cmd/latchkey
LK="$OUT/latchkey"

# server ALG STORE [sinks]: starts a dev server on a fresh database, leaves
# its PID in SERVER_PID and its demo credentials in $OUT/work/creds.json.
# With "sinks" it sends email over SMTP and SMS through Twilio's API to the
# bench's sinks instead of keeping them in the dev inbox.
server() {
  local alg=$1 store=$2 delivery=()
  if [ "${3:-}" = sinks ]; then
    delivery=(LATCHKEY_EMAIL_PROVIDER=smtp "LATCHKEY_SMTP_URL=smtp://$SMTP_SINK?starttls=off"
      LATCHKEY_EMAIL_FROM=login@bench.latchkey.test
      LATCHKEY_SMS_PROVIDER=twilio "LATCHKEY_TWILIO_API_URL=http://$SMS_SINK"
      LATCHKEY_TWILIO_ACCOUNT_SID=AC00000000000000000000000000000000 LATCHKEY_TWILIO_AUTH_TOKEN=bench
      LATCHKEY_TWILIO_FROM=+15005550006)
  fi
  rm -rf "$OUT/work" && mkdir -p "$OUT/work"
  local db="sqlite:$OUT/work/latchkey-dev.db"
  if [ "$store" = postgres ]; then
    : "${LATCHKEY_TEST_POSTGRES_URL:?set LATCHKEY_TEST_POSTGRES_URL for the PostgreSQL cases}"
    SCHEMA="lk_bench_$$"
    psql "$LATCHKEY_TEST_POSTGRES_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE; CREATE SCHEMA $SCHEMA" >/dev/null
    local sep='?'; case "$LATCHKEY_TEST_POSTGRES_URL" in *\?*) sep='&';; esac
    db="$LATCHKEY_TEST_POSTGRES_URL${sep}search_path=$SCHEMA"
  fi
  LATCHKEY_SECRET=${LATCHKEY_SECRET:-benchmark-secret-benchmark-secret-0123} \
  LATCHKEY_ADDR=127.0.0.1:$PORT LATCHKEY_SIGNING_ALG=$alg LATCHKEY_DATABASE_URL=$db \
    env "${delivery[@]}" "$LK" dev > "$OUT/work/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  if [ "$store" = postgres ]; then
    mv latchkey-dev.demo-app.json "$OUT/work/creds.json" # dev mode keeps it in the working directory
  else
    cp "$OUT/work/latchkey-dev.db.demo-app.json" "$OUT/work/creds.json"
  fi
  DB=$db
  limits
}

# limits: keeps the abuse limits running on every flow without letting
# them refuse one: each bench user logs in again every few seconds, so the
# resend cooldown is 1s (not off) and the hourly and daily caps are at
# their maximum (not off); the bench's phone numbers share their prefixes
# (+1 AAA 555-01NN), so the SMS per prefix are not capped (the SMS daily
# budget is unlimited by default). The API caches an app for 2 s: nothing
# has called it yet.
limits() {
  local app
  app=$(sed -n 's/.*"app_id": *"\([^"]*\)".*/\1/p' "$OUT/work/creds.json")
  apps_update "$app" --resend-cooldown 1s --sends-per-hour 1000 --sends-per-day 1000 --sms-prefix-per-hour 0
}

# apps_update APP FLAGS...: `latchkey apps update` on the current server's
# database.
apps_update() {
  LATCHKEY_SECRET=${LATCHKEY_SECRET:-benchmark-secret-benchmark-secret-0123} LATCHKEY_DATABASE_URL=$DB \
    "$LK" apps update "$@" >/dev/null
}

stop() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  if [ -n "${SCHEMA:-}" ]; then
    psql "$LATCHKEY_TEST_POSTGRES_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null
    SCHEMA=
  fi
}
trap stop EXIT

# bench NAME ARGS...: runs latchkey bench against the current server.
bench() {
  local name=$1; shift
  echo "== $name"
  "$LK" bench --url "http://127.0.0.1:$PORT" --credentials "$OUT/work/creds.json" \
    --smtp-sink "$SMTP_SINK" --sms-sink "$SMS_SINK" \
    --server-pid "$SERVER_PID" --quiet --json "$OUT/$name.json" "$@" | tee "$OUT/$name.txt"
}

# per_second NAME: the completed flows per second of a report.
per_second() { sed -n 's/^  "per_second": \([0-9.]*\).*/\1/p' "$OUT/$1.json"; }

case_es256_peak()   { server ES256 sqlite;   bench es256-peak   --users 10000 --concurrency 128 --duration "$DURATION" --logout=false --ceiling; stop; }
case_rs256_peak()   { server RS256 sqlite;   bench rs256-peak   --users 10000 --concurrency 64  --duration "$DURATION" --logout=false --ceiling; stop; }
case_eddsa_peak()   { server EdDSA sqlite;   bench eddsa-peak   --users 10000 --concurrency 128 --duration "$DURATION" --logout=false --ceiling; stop; }
case_es256_half()   { server ES256 sqlite;   bench es256-half   --users 10000 --rate "${HALF_RATE:-1350}" --concurrency 64 --duration "$DURATION" --logout=false; stop; }
case_es256_mixed()  { server ES256 sqlite;   bench es256-mixed  --users 10000 --concurrency 64 --duration "$DURATION" --flows otp-direct,otp-email-inbox,link,refresh; stop; }
# The flows users run: the code or link delivered by email or SMS to the
# bench's sinks, read from there, then exchanged; DELIVERY_CONCURRENCY (16)
# virtual users.
case_email_peak()    { server ES256 sqlite sinks;   bench email-peak    --users 10000 --concurrency "$DC" --duration "$DURATION" --logout=false --flows otp-email; stop; }
case_sms_peak()      { server ES256 sqlite sinks;   bench sms-peak      --users 10000 --concurrency "$DC" --duration "$DURATION" --logout=false --flows otp-sms; stop; }
case_link_peak()     { server ES256 sqlite sinks;   bench link-peak     --users 10000 --concurrency "$DC" --duration "$DURATION" --logout=false --flows magic-link; stop; }
case_pg_email_peak() { server ES256 postgres sinks; bench pg-email-peak --users 10000 --concurrency "$DC" --duration "$DURATION" --logout=false --flows otp-email; stop; }

# mean_rate PREFIX N: the mean of the rates of reports PREFIX-1 .. PREFIX-N.
mean_rate() {
  local sum=0 i
  for i in $(seq 1 "$2"); do sum=$(awk -v s="$sum" -v r="$(per_second "$1-$i")" 'BEGIN { print s + r }'); done
  awk -v s="$sum" -v n="$2" 'BEGIN { print s / n }'
}

# versus NAME STORE: the direct and the email passcode flows on one server,
# taking turns (direct, email, direct, email... ROUNDS of each, 2 by
# default), and the ratio of their mean rates.
versus() {
  local name=$1 rounds=${ROUNDS:-2} i
  server ES256 "$2" sinks
  for i in $(seq 1 "$rounds"); do
    bench "$name-direct-$i" --users 10000 --concurrency "$DC" --duration "$DURATION" --logout=false --flows otp-direct --seed="$([ "$i" = 1 ] && echo true || echo false)"
    bench "$name-email-$i"  --users 10000 --concurrency "$DC" --duration "$DURATION" --logout=false --flows otp-email --seed=false
  done
  stop
  local direct email
  direct=$(mean_rate "$name-direct" "$rounds") email=$(mean_rate "$name-email" "$rounds")
  awk -v n="$name" -v d="$direct" -v e="$email" -v c="$DC" \
    'BEGIN { printf "%s (%d virtual users): otp-email %.1f/s, otp-direct %.1f/s: ratio %.2f\n", n, c, e, d, (d > 0 ? e / d : 0) }' |
    tee "$OUT/$name.txt"
}
case_email_vs_direct()    { versus email-vs-direct sqlite; }
case_pg_email_vs_direct() { versus pg-email-vs-direct postgres; }

# pg-profile: where PostgreSQL's time goes, per flow: the direct and the
# email passcode flows, 15 s each at 16 virtual users, each with the
# database's CPU per login (--database-pid: the postmaster and all its
# backends) and, when the server loads pg_stat_statements
# (shared_preload_libraries), its 25 costliest statements, reset before
# each flow, in $OUT/pg-profile-FLOW-statements.txt.
case_pg_profile() {
  local pg_pid flow statements=true
  pg_pid=$(head -1 "$(psql "$LATCHKEY_TEST_POSTGRES_URL" -Atc 'SHOW data_directory')/postmaster.pid")
  case "$(psql "$LATCHKEY_TEST_POSTGRES_URL" -Atc 'SHOW shared_preload_libraries')" in
    *pg_stat_statements*) psql "$LATCHKEY_TEST_POSTGRES_URL" -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null ;;
    *) echo "pg-profile: pg_stat_statements is not in shared_preload_libraries; measuring CPU only" >&2
       statements=false ;;
  esac
  server ES256 postgres sinks
  for flow in otp-direct otp-email; do
    bench "pg-profile-$flow-warmup" --users 10000 --concurrency 16 --duration 3s --logout=false --flows "$flow" \
      --seed="$([ "$flow" = otp-direct ] && echo true || echo false)" >/dev/null
    $statements && psql "$LATCHKEY_TEST_POSTGRES_URL" -qc "SELECT pg_stat_statements_reset()" >/dev/null
    bench "pg-profile-$flow" --users 10000 --concurrency 16 --duration 15s --warmup 0s --logout=false --flows "$flow" \
      --seed=false --database-pid "$pg_pid"
    $statements && psql "$LATCHKEY_TEST_POSTGRES_URL" -Atc "SELECT calls, round(total_exec_time::numeric, 1) AS total_ms,
      round(mean_exec_time::numeric, 3) AS mean_ms, regexp_replace(left(query, 120), '\s+', ' ', 'g')
      FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25" > "$OUT/pg-profile-$flow-statements.txt"
  done
  stop
}

# limits-cost: what the abuse limits cost a login: the direct flow at 64
# virtual users, with the demo app's limits on (never refusing, as in every
# case) and off, taking turns, ROUNDS of each.
case_limits_cost() {
  local rounds=${ROUNDS:-2} i app
  server ES256 sqlite
  app=$(sed -n 's/.*"app_id": *"\([^"]*\)".*/\1/p' "$OUT/work/creds.json")
  for i in $(seq 1 "$rounds"); do
    bench "limits-on-$i" --users 10000 --concurrency 64 --duration "$DURATION" --logout=false --seed="$([ "$i" = 1 ] && echo true || echo false)"
    apps_update "$app" --resend-cooldown 0 --sends-per-hour 0 --sends-per-day 0 --max-failures-per-minute 0
    sleep 3 # the API caches an app for 2 s
    bench "limits-off-$i" --users 10000 --concurrency 64 --duration "$DURATION" --logout=false --seed=false
    apps_update "$app" --resend-cooldown 1s --sends-per-hour 1000 --sends-per-day 1000 --max-failures-per-minute 1000
    sleep 3
  done
  stop
  awk -v on="$(mean_rate limits-on "$rounds")" -v off="$(mean_rate limits-off "$rounds")" \
    'BEGIN { printf "limits-cost: limits on %.1f logins/s, off %.1f/s: on/off %.3f\n", on, off, (off > 0 ? on / off : 0) }' |
    tee "$OUT/limits-cost.txt"
}
case_es256_sweep()  {
  server ES256 sqlite
  for rate in 400 800 1200 1600 2000 2400 2800 3200; do
    bench "es256-sweep-$rate" --users 10000 --rate "$rate" --concurrency 128 --duration 10s --logout=false --seed="$([ $rate = 400 ] && echo true || echo false)"
  done
  stop
}
case_es256_million() { server ES256 sqlite;  bench es256-million --users 1000000 --concurrency 128 --duration "$DURATION" --logout=false; stop; }
case_pg_es256_peak() { server ES256 postgres; bench pg-es256-peak --users 10000 --concurrency 128 --duration "$DURATION" --logout=false --ceiling; stop; }
# flat: a long run of logins of every kind that end their sessions, with a
# one-minute retention of delivered messages, sampling the database's size
# every 30 seconds: it levels off once the minute-by-minute purge keeps pace.
case_flat() {
  LATCHKEY_RECORD_RETENTION=1m server ES256 sqlite
  ( while kill -0 "$SERVER_PID" 2>/dev/null; do
      echo "$(date +%H:%M:%S) $(du -b "$OUT/work/latchkey-dev.db" | cut -f1) bytes"; sleep 30
    done ) > "$OUT/flat-size.txt" &
  bench flat --users 10000 --concurrency 64 --duration "${FLAT_DURATION:-6m}" --flows otp-direct,otp-email-inbox,link
  stop
  cat "$OUT/flat-size.txt"
}

CASES="es256-peak rs256-peak eddsa-peak es256-half es256-mixed es256-sweep pg-es256-peak es256-million flat
  email-peak sms-peak link-peak pg-email-peak email-vs-direct pg-email-vs-direct limits-cost pg-profile"
for c in ${1:-$CASES}; do
  "case_${c//-/_}"
done
