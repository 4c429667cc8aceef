#!/usr/bin/env bash
# The main job end to end against the built-in sandbox: onboard samples/users.csv into TeleCMI,
# then export the TeleCMI and Smartflo rosters. Needs no credentials and no network.
#   ROSTER_BIN       the binary (default target/release/roster)
#   DEMO_DIR         where the report and exports go (default target/demo)
#   ROSTER_BASE_URL  use an already running sandbox instead of starting one
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${ROSTER_BIN:-target/release/roster}
out=${DEMO_DIR:-target/demo}
mkdir -p "$out"

if [ -z "${ROSTER_BASE_URL:-}" ]; then
  source scripts/sandbox.sh
  start_sandbox "$out" --seed-smartflo 40
  echo "== sandbox running at $ROSTER_BASE_URL (pid $sandbox_pid)"
fi
export ROSTER_BASE_URL
export TELECMI_APP_ID=${TELECMI_APP_ID:-1111112} TELECMI_SECRET=${TELECMI_SECRET:-sandbox-secret}
export SMARTFLO_TOKEN=${SMARTFLO_TOKEN:-sandbox-token}

echo "== roster import samples/users.csv (upsert, 20 req/s, 4 in flight)"
status=0
"$bin" import samples/users.csv --mode upsert --rate 20 --concurrency 4 \
  --report "$out/results.csv" --failed "$out/failed.csv" --summary "$out/summary.json" || status=$?
# The sample holds a few deliberately invalid rows: exit 1 is the expected result.
if [ "$status" -gt 1 ]; then
  echo "import failed with exit $status" >&2
  exit "$status"
fi

echo "== roster export --provider telecmi"
"$bin" export --provider telecmi --output "$out/telecmi-roster.csv" --summary "$out/telecmi-export.json"
echo "== roster export --provider smartflo"
"$bin" export --provider smartflo --output "$out/smartflo-roster.csv" --summary "$out/smartflo-export.json"

cat <<TXT

== done (import exit $status: the sample's invalid rows are listed in the report)
   results report   $out/results.csv
   failed rows      $out/failed.csv   (fix and feed back: roster import $out/failed.csv)
   import summary   $out/summary.json
   TeleCMI roster   $out/telecmi-roster.csv
   Smartflo roster  $out/smartflo-roster.csv
TXT
