#!/usr/bin/env bash
# Latchkey and Supabase Auth side by side: the same email passcode login
# (a returning user asks for a code, the server emails it over SMTP to the
# bench's loopback sink, the bench reads the code from the mail and
# exchanges it for tokens), driven by the same load tool (`latchkey bench`)
# against both servers on the same PostgreSQL, interleaved: for each
# concurrency, ROUNDS rounds of Latchkey then Supabase Auth. It prints,
# per concurrency, each server's flows/s, p50 and p99, its CPU per flow and
# PostgreSQL's (every backend of the postmaster, those that exited
# included, over the measured period), and the ratios; every report lands
# in $OUT.
#
#   SUPABASE_AUTH_BIN=/path/to/auth scripts/compare-supabase.sh
#
# Without SUPABASE_AUTH_BIN (or with one that is not an executable) it
# skips, and exits 0.
#
# Building Supabase Auth (GoTrue; the figures in BENCHMARKS.md are of
# v2.196.0, Go 1.26):
#
#   git clone --branch v2.196.0 --depth 1 https://github.com/supabase/auth supabase-auth-src
#   cd supabase-auth-src
#   go build -buildvcs=false -ldflags "-X github.com/supabase/auth/internal/utilities.Version=v2.196.0" -o ../supabase-auth-bin/auth .
#   cp -r migrations ../supabase-auth-bin/
#
# Its migrations are read from $SUPABASE_AUTH_MIGRATIONS, by default the
# migrations directory beside the binary.
#
# What the script sets up, on the PostgreSQL at $PG (trust authentication,
# a superuser; PostgreSQL must run on this machine for its CPU to be read):
# two scratch databases, created and dropped here, one per server.
#   - Latchkey: `latchkey dev` on the first, ES256, its email provider SMTP
#     to the bench's sink; the demo app's abuse limits raised as in
#     scripts/benchmarks.sh (on, never refusing); every other setting
#     its default.
#   - Supabase Auth: an `auth` schema in the second, `auth migrate`, then
#     `auth serve` with its SMTP server the bench's sink, its pool tuned as
#     Latchkey's (32 connections, kept idle: by default it keeps none and
#     opens a connection per query), the per-user email interval at 1s and
#     the hourly email cap out of reach (on, never refusing), and a
#     magic-link email template that carries the code ({{ .Token }}; its
#     default one carries only a link), served over HTTP as it requires.
#   - The same 10,000 users bench-<i>@bench.latchkey.test in both, seeded
#     through each server's API by the first run against it.
#
# Settings: CONCURRENCY ("8 64"), ROUNDS (2), DURATION (20s), WARMUP (2s),
# USERS (10000), LOGOUT (false: the flow ends with the tokens), OUT
# (bench-results/supabase), PG (postgres://postgres@127.0.0.1:5432), the
# ports LK_PORT (7195; its metrics take the next one), SB_PORT (9199),
# TEMPLATE_PORT (9198) and SMTP_SINK (127.0.0.1:2625), and POOL (32).
# Needs psql, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

SUPABASE_AUTH_BIN=${SUPABASE_AUTH_BIN:-}
if [ -z "$SUPABASE_AUTH_BIN" ] || [ ! -x "$SUPABASE_AUTH_BIN" ]; then
  echo "compare-supabase: skipped: Supabase Auth is not available (set SUPABASE_AUTH_BIN to a built auth binary; this script's header says how to build it)"
  exit 0
fi
SUPABASE_AUTH_BIN=$(cd "$(dirname "$SUPABASE_AUTH_BIN")" && pwd)/$(basename "$SUPABASE_AUTH_BIN")
SUPABASE_AUTH_MIGRATIONS=${SUPABASE_AUTH_MIGRATIONS:-$(dirname "$SUPABASE_AUTH_BIN")/migrations}
for tool in psql curl python3; do
  command -v "$tool" >/dev/null || { echo "compare-supabase: needs $tool" >&2; exit 1; }
done
[ -d "$SUPABASE_AUTH_MIGRATIONS" ] || { echo "compare-supabase: no Supabase Auth migrations at $SUPABASE_AUTH_MIGRATIONS (set SUPABASE_AUTH_MIGRATIONS)" >&2; exit 1; }

CONCURRENCY=${CONCURRENCY:-8 64}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-2s}
USERS=${USERS:-10000}
LOGOUT=${LOGOUT:-false}
OUT=${OUT:-bench-results/supabase}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
LK_PORT=${LK_PORT:-7195}
SB_PORT=${SB_PORT:-9199}
TEMPLATE_PORT=${TEMPLATE_PORT:-9198}
SMTP_SINK=${SMTP_SINK:-127.0.0.1:2625}
POOL=${POOL:-32}

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK="$OUT/work"
rm -rf "$WORK" && mkdir -p "$WORK/template"
go build -o "$OUT/latchkey" ./cmd/latchkey
LK="$OUT/latchkey"
LK_DB="lk_cmp_$$"
SB_DB="sb_cmp_$$"
LK_SECRET=benchmark-secret-benchmark-secret-0123
SB_JWT_SECRET=supabase-bench-jwt-secret-0123456789abcdef
SINK_HOST=${SMTP_SINK%:*}
SINK_PORT=${SMTP_SINK##*:}
LK_PID= SB_PID= TPL_PID=

psql_admin() { PGOPTIONS=--client-min-messages=warning psql "$PG/postgres?sslmode=disable" -v ON_ERROR_STOP=1 -qAt "$@"; }

cleanup() {
  for pid in $LK_PID $SB_PID $TPL_PID; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  psql_admin -c "DROP DATABASE IF EXISTS $LK_DB" -c "DROP DATABASE IF EXISTS $SB_DB" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# await_ready URL NAME: waits until the server answers URL.
await_ready() {
  for _ in $(seq 1 300); do
    curl -sf "$1" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "compare-supabase: $2 did not start; see $WORK" >&2
  exit 1
}

# PostgreSQL's postmaster, whose children are the backends of both servers.
PG_PID=${PG_PID:-$(head -1 "$(psql_admin -c 'SHOW data_directory')/postmaster.pid")}
kill -0 "$PG_PID" 2>/dev/null || { echo "compare-supabase: PostgreSQL's postmaster ($PG_PID) is not a process on this machine" >&2; exit 1; }
psql_admin -c "DROP DATABASE IF EXISTS $LK_DB" -c "CREATE DATABASE $LK_DB" \
  -c "DROP DATABASE IF EXISTS $SB_DB" -c "CREATE DATABASE $SB_DB" >/dev/null

start_latchkey() {
  local db="$PG/$LK_DB?sslmode=disable"
  (cd "$WORK" && exec env LATCHKEY_SECRET=$LK_SECRET LATCHKEY_ADDR=127.0.0.1:$LK_PORT \
    LATCHKEY_SIGNING_ALG=ES256 LATCHKEY_DATABASE_URL="$db" \
    LATCHKEY_EMAIL_PROVIDER=smtp "LATCHKEY_SMTP_URL=smtp://$SMTP_SINK?starttls=off" \
    LATCHKEY_EMAIL_FROM=login@bench.latchkey.test \
    "$LK" dev > "$WORK/latchkey.log" 2>&1) &
  LK_PID=$!
  await_ready "http://127.0.0.1:$LK_PORT/readyz" Latchkey
  mv "$WORK/latchkey-dev.demo-app.json" "$WORK/latchkey-creds.json" # dev mode writes it to its working directory
  local app
  app=$(sed -n 's/.*"app_id": *"\([^"]*\)".*/\1/p' "$WORK/latchkey-creds.json")
  LATCHKEY_SECRET=$LK_SECRET LATCHKEY_DATABASE_URL=$db \
    "$LK" apps update "$app" --resend-cooldown 1s --sends-per-hour 1000 --sends-per-day 1000 >/dev/null
}

start_supabase() {
  printf '%s\n' '<h2>Your sign-in code</h2>' '<p>Enter this code to sign in: {{ .Token }}</p>' > "$WORK/template/magic_link.html"
  python3 -m http.server --bind 127.0.0.1 --directory "$WORK/template" "$TEMPLATE_PORT" > "$WORK/template.log" 2>&1 &
  TPL_PID=$!
  await_ready "http://127.0.0.1:$TEMPLATE_PORT/magic_link.html" "the template server"
  psql "$PG/$SB_DB?sslmode=disable" -qc "CREATE SCHEMA auth" >/dev/null
  export GOTRUE_DB_DRIVER=postgres
  export GOTRUE_DB_DATABASE_URL="$PG/$SB_DB?sslmode=disable&search_path=auth"
  export GOTRUE_DB_MIGRATIONS_PATH=$SUPABASE_AUTH_MIGRATIONS
  export GOTRUE_DB_MAX_POOL_SIZE=$POOL GOTRUE_DB_MAX_IDLE_POOL_SIZE=$POOL
  export GOTRUE_API_HOST=127.0.0.1 PORT=$SB_PORT API_EXTERNAL_URL=http://127.0.0.1:$SB_PORT
  export GOTRUE_SITE_URL=http://localhost:8080 GOTRUE_JWT_SECRET=$SB_JWT_SECRET
  export GOTRUE_SMTP_HOST=$SINK_HOST GOTRUE_SMTP_PORT=$SINK_PORT GOTRUE_SMTP_ADMIN_EMAIL=login@bench.latchkey.test
  export GOTRUE_SMTP_MAX_FREQUENCY=1s GOTRUE_RATE_LIMIT_EMAIL_SENT=1000000
  export GOTRUE_MAILER_OTP_EXP=300 GOTRUE_MAILER_SUBJECTS_MAGIC_LINK="Your sign-in code"
  export GOTRUE_MAILER_TEMPLATES_MAGIC_LINK=http://127.0.0.1:$TEMPLATE_PORT/magic_link.html
  export GOTRUE_LOG_LEVEL=info
  "$SUPABASE_AUTH_BIN" migrate > "$WORK/supabase-migrate.log" 2>&1 ||
    { echo "compare-supabase: auth migrate failed; see $WORK/supabase-migrate.log" >&2; exit 1; }
  "$SUPABASE_AUTH_BIN" serve > "$WORK/supabase.log" 2>&1 &
  SB_PID=$!
  await_ready "http://127.0.0.1:$SB_PORT/health" "Supabase Auth"
}

start_latchkey
start_supabase
echo "Latchkey $("$LK" version 2>/dev/null | head -1) (pid $LK_PID), Supabase Auth $("$SUPABASE_AUTH_BIN" version 2>/dev/null | tail -1) (pid $SB_PID), PostgreSQL postmaster pid $PG_PID"

LK_SEED=true SB_SEED=true
# run NAME C TARGET: one measured run of the email flow.
run() {
  local name=$1 c=$2 target=$3 args=()
  if [ "$target" = latchkey ]; then
    args=(--url "http://127.0.0.1:$LK_PORT" --credentials "$WORK/latchkey-creds.json" --server-pid "$LK_PID" --seed="$LK_SEED")
    LK_SEED=false
  else
    args=(--target supabase --url "http://127.0.0.1:$SB_PORT" --supabase-jwt-secret "$SB_JWT_SECRET" --server-pid "$SB_PID" --seed="$SB_SEED")
    SB_SEED=false
  fi
  echo "== $name"
  "$LK" bench "${args[@]}" --flows otp-email --smtp-sink "$SMTP_SINK" --database-pid "$PG_PID" \
    --users "$USERS" --concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" --logout="$LOGOUT" \
    --quiet --json "$OUT/$name.json" > "$OUT/$name.txt"
  grep -E '^(otp-email|server|database|load tool) ' "$OUT/$name.txt" | sed 's/^/   /'
}

for c in $CONCURRENCY; do
  for round in $(seq 1 "$ROUNDS"); do
    run "latchkey-c$c-r$round" "$c" latchkey
    run "supabase-c$c-r$round" "$c" supabase
  done
done

# The table: each run, then the mean of the rounds per server, and the
# ratios of the means.
python3 - "$OUT" "$CONCURRENCY" "$ROUNDS" <<'EOF' | tee "$OUT/summary.md"
import json, sys
out, concurrency, rounds = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
names = {"latchkey": "Latchkey (PostgreSQL, ES256)", "supabase": "Supabase Auth (PostgreSQL, HS256)"}

def figures(path):
    r = json.load(open(path))
    f = r["flows"][0]
    srv = (r.get("server") or {}).get("cpu_ms_per_flow", float("nan"))
    db = (r.get("database") or {}).get("cpu_ms_per_flow", float("nan"))
    return {"rate": r["per_second"], "p50": f["latency"]["p50_ms"], "p99": f["latency"]["p99_ms"],
            "srv": srv, "db": db, "cpu": srv + db, "failed": r["failed"], "refused": r["refused"]}

def row(label, x):
    return "| %s | %.1f | %.1f ms | %.1f ms | %.2f ms | %.2f ms | %.2f ms | %d | %d |" % (
        label, x["rate"], x["p50"], x["p99"], x["srv"], x["db"], x["cpu"], x["failed"], x["refused"])

for c in concurrency:
    print("\n### %s virtual users\n" % c)
    print("| server (run) | flows/s | p50 | p99 | server CPU/flow | PostgreSQL CPU/flow | both | failed | refused |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    mean = {}
    for t in ("latchkey", "supabase"):
        runs = [figures("%s/%s-c%s-r%d.json" % (out, t, c, i)) for i in range(1, rounds + 1)]
        for i, x in enumerate(runs, 1):
            print(row("%s, round %d" % (names[t], i), x))
        m = {k: sum(x[k] for x in runs) / len(runs) for k in runs[0]}
        mean[t] = m
        print(row("**%s, mean**" % names[t], m))
    lk, sb = mean["latchkey"], mean["supabase"]
    print("\nLatchkey / Supabase Auth at %s virtual users: flows/s **%.2f×**; server + PostgreSQL CPU per flow **%.2f×** "
          "(server alone %.2f×, PostgreSQL alone %.2f×)" % (c, lk["rate"] / sb["rate"], lk["cpu"] / sb["cpu"],
                                                          lk["srv"] / sb["srv"], lk["db"] / sb["db"]))
EOF
echo
echo "Reports in $OUT (a .txt and a .json per run, summary.md; server logs in $WORK)"
