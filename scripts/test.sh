#!/usr/bin/env bash
# The README's test command (`npm test`): set up, then run every test ring. Integration tests
# start their own real nats-server and redis-server on free loopback ports and stop them by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
# chromium only for the tests: the browser client's run in it (playwright-core downloads no browser).
CHATFABRIC_EXTRA_PACKAGES="chromium ${CHATFABRIC_EXTRA_PACKAGES:-}" bash scripts/setup.sh
export PATH="$PATH:/usr/sbin"
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
node node_modules/vitest/vitest.mjs run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# One plain closing line that any CI can read.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
' "$report" 2>/dev/null || true
exit $status
