#!/usr/bin/env bash
# The full test suite (`npm test`): static checks, unit tests, integration tests against
# real rootless podman and a real Docker engine, the editor tests in a real code-server, and
# the quick benchmark so it cannot rot.
# Needs root (it drives the rootless test user and its own dockerd) and a host prepared by
# scripts/setup-host.sh, which the README's first command and .ci/run both run.
set -euo pipefail
cd "$(dirname "$0")/.."
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

step() { printf '\n==> %s\n' "$*"; }
mocha_run() {  # name, config: run a mocha suite, keep its output for the totals
  local name=$1; shift
  step "$name"
  set +e; npx mocha "$@" 2>&1 | tee "$results/$name.log"; local rc=${PIPESTATUS[0]}; set -e
  return "$rc"
}

step "lint + typecheck"
npm run -s lint
npm run -s typecheck
step "build"
npm run -s build

status=0
mocha_run unit --config .mocharc.unit.json || status=1
if [ "$(id -u)" != 0 ]; then
  echo "integration tests need root: they run podman as the rootless test user and start dockerd (sudo npm test)" >&2
  exit 1
fi
mocha_run integration --config .mocharc.integration.json || status=1
# The editor: the extension-host suite through runTests() and the Playwright UI test, both
# in a real code-server (scripts/code-server.sh, run by setup-host.sh, installs it).
mocha_run e2e --no-config --node-option import=tsx --timeout 600000 --slow 60000 'test/e2e/**/*.test.ts' || status=1

step "benchmark (quick)"
npm run -s bench -- --quick || status=1

# Each stage's own summary is the last "N passing" of its log (and a "N failing" after it):
# earlier ones are nested runs printed through, e.g. the bridge's deliberately failing check.
summary() { awk '$2 == "passing" {p = $1; f = 0} $2 == "failing" {f = $1} END {print p + 0, f + 0}' "$1"; }
passed=0; failed=0
for log in "$results"/*.log; do
  read -r p f < <(summary "$log")
  passed=$((passed + p)); failed=$((failed + f))
done
printf '\n%s passed, %s failed\n' "${passed:-0}" "${failed:-0}"
[ "${passed:-0}" -gt 0 ] || { echo "no test ran" >&2; exit 1; }
exit "$status"
