#!/usr/bin/env bash
# Checks that a passcode send takes as long for an identifier that names no
# user as for one that does, with hide-unknown-users on (SEC-31): a real
# `latchkey serve` on SQLite, delivering through a webhook, answers 1,000
# interleaved pairs of sends, and a Mann-Whitney U test must not tell the two
# apart (p > 0.01). It prints both medians and the p-value.
#
#   scripts/timing.sh                     # 1,000 pairs
#   PAIRS=5000 scripts/timing.sh          # more
#
# It measures the machine as much as the code: run it on a quiet machine,
# and run it again before believing a failure. CI does not run it.
set -euo pipefail
cd "$(dirname "$0")/.."
LATCHKEY_TIMING_PAIRS=${PAIRS:-1000} exec go test -tags timing -run '^TestSendTimingParity$' -count=1 -v ./cmd/latchkey
