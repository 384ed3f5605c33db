#!/usr/bin/env bash
# Reproduces the figures in BENCHMARKS.md on this machine: builds latchkey,
# then for each case starts a fresh `latchkey dev` server and runs
# `latchkey bench` against it from the same machine, writing each report
# (text and JSON) to $OUT.
#
#   scripts/benchmarks.sh                 # every case (about 15 minutes)
#   scripts/benchmarks.sh es256-peak      # one case; see the list below
#
# PostgreSQL cases need LATCHKEY_TEST_POSTGRES_URL (a scratch schema is
# created and dropped) and psql. Set DURATION to change the measured time
# per case, HALF_RATE for the half-load case, DELIVERY_CONCURRENCY for the
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
  limits "$db"
}

# limits DB: keeps the abuse limits running on every flow without letting
# them refuse one: each bench user logs in again every few seconds, so the
# resend cooldown is 1s (not off) and the hourly and daily caps are at
# their maximum (not off); the bench's phone numbers share their prefixes
# (+1 AAA 555-01NN), so the SMS per prefix are not capped (the SMS daily
# budget is unlimited by default). The API caches an app for 2 s: nothing
# has called it yet.
limits() {
  local app
  app=$(sed -n 's/.*"app_id": *"\([^"]*\)".*/\1/p' "$OUT/work/creds.json")
  LATCHKEY_SECRET=${LATCHKEY_SECRET:-benchmark-secret-benchmark-secret-0123} LATCHKEY_DATABASE_URL=$1 \
    "$LK" apps update "$app" --resend-cooldown 1s --sends-per-hour 1000 --sends-per-day 1000 \
    --sms-prefix-per-hour 0 >/dev/null
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
# bench's sinks, read from there, then exchanged. 16 virtual users by
# default: the server admits sends up to 40 % of its bound on requests in
# flight (25 of 64 on 2 CPUs), and more virtual users meet 503s, which
# distort a comparison.
case_email_peak()    { server ES256 sqlite sinks;   bench email-peak    --users 10000 --concurrency "$DC" --duration "$DURATION" --logout=false --flows otp-email; stop; }
case_sms_peak()      { server ES256 sqlite sinks;   bench sms-peak      --users 10000 --concurrency "$DC" --duration "$DURATION" --logout=false --flows otp-sms; stop; }
case_link_peak()     { server ES256 sqlite sinks;   bench link-peak     --users 10000 --concurrency "$DC" --duration "$DURATION" --logout=false --flows magic-link; stop; }
case_pg_email_peak() { server ES256 postgres sinks; bench pg-email-peak --users 10000 --concurrency "$DC" --duration "$DURATION" --logout=false --flows otp-email; stop; }
# email-vs-direct: the direct and the email passcode flows on one server,
# back to back, and the ratio of their rates.
case_email_vs_direct() {
  server ES256 sqlite sinks
  bench email-vs-direct-direct --users 10000 --concurrency "$DC" --duration "$DURATION" --logout=false --flows otp-direct
  bench email-vs-direct-email  --users 10000 --concurrency "$DC" --duration "$DURATION" --logout=false --flows otp-email --seed=false
  stop
  local direct email
  direct=$(per_second email-vs-direct-direct) email=$(per_second email-vs-direct-email)
  awk -v d="$direct" -v e="$email" 'BEGIN { printf "email-vs-direct: otp-email %.1f/s, otp-direct %.1f/s: ratio %.2f\n", e, d, (d > 0 ? e / d : 0) }' |
    tee "$OUT/email-vs-direct.txt"
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
  email-peak sms-peak link-peak pg-email-peak email-vs-direct"
for c in ${1:-$CASES}; do
  "case_${c//-/_}"
done
