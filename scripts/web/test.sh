#!/usr/bin/env bash
# The dashboard's checks: lint, type check, unit tests, the typed client
# against the server's OpenAPI document, the production build, then the
# end-to-end suite in headless Chromium against a real server fed by the
# generator. Usage: scripts/web/test.sh [path/to/vigilo]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIN="$(realpath "${1:-target/debug/vigilo}")"

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing Debian's chromium for the end-to-end tests"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "the end-to-end tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)" >&2
        exit 1
    fi
fi

cd web
echo "== npm ci"
npm ci --no-audit --no-fund
echo "== lint, type check"
npm run lint
npm run typecheck
echo "== unit tests (vitest)"
npm test
echo "== typed client matches the server's OpenAPI document"
spec="$(mktemp --suffix=.json)"
trap 'rm -f "$spec"' EXIT
"$BIN" openapi > "$spec"
VIGILO_OPENAPI="$spec" npm run api:check
echo "== build"
npm run build
echo "== end-to-end (headless chromium, real server)"
VIGILO_BIN="$BIN" npm run e2e
