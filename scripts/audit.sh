#!/usr/bin/env bash
# Dependency audit: cargo-audit checks Cargo.lock against the RustSec
# advisory database, offline. CI reaches no git host, so the database is a
# local copy of its data (the crates/ and rust/ trees), never fetched here:
#
#   RUSTSEC_ADVISORY_DB=DIR scripts/audit.sh   (a copy or clone anywhere)
#   scripts/audit.sh                           (../shared/rustsec-advisory-db)
#
# Fails on any vulnerability that .cargo/audit.toml does not ignore by ID (each
# ignore says why it does not apply), and on unmaintained or unsound crates.
# Yanked crates are reported, not denied: that check reads cargo's local
# crates.io index cache, which differs between machines.
# cargo-audit 0.22 reads a plain directory with --no-fetch (no git repository
# needed) and checks a database's age only when it fetches, so no --stale.
# Installs cargo-audit when missing (a release build: about 15 minutes on two
# cores).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
db="${RUSTSEC_ADVISORY_DB:-$root/../shared/rustsec-advisory-db}"

if [ ! -d "$db/crates" ]; then
    echo "no RustSec advisory database at $db (it needs its crates/ tree):" >&2
    echo "set RUSTSEC_ADVISORY_DB to a copy of github.com/rustsec/advisory-db" >&2
    exit 1
fi
newest="$(grep -rhoE '^date = "[0-9-]+"' "$db/crates" "$db/rust" 2>/dev/null | sort | tail -n 1 | tr -dc '0-9-')"
echo "advisory database: $db (newest advisory $newest)"

if ! cargo audit --version >/dev/null 2>&1; then
    cargo install cargo-audit --locked
fi

cd "$root"
cargo audit --db "$db" --no-fetch --deny unmaintained --deny unsound
