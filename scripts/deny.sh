#!/usr/bin/env bash
# `cargo deny --offline check` (advisories, licenses, bans, sources; deny.toml) against the
# RustSec advisory database snapshot that ships beside the repository
# (../shared/supply-chain/advisory-db.bundle, or SWITCHYARD_ADVISORY_BUNDLE). A finding in the
# snapshot is real; an absence is as of the snapshot's date.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bundle="${SWITCHYARD_ADVISORY_BUNDLE:-$root/../shared/supply-chain/advisory-db.bundle}"
# The directory name cargo-deny derives from the default database URL.
db="$root/.tools/advisory-dbs/advisory-db-3157b0e258782691"

command -v cargo-deny >/dev/null \
    || { echo "deny: cargo-deny is missing (cargo install cargo-deny --locked --version 0.20.2; .ci/run does)" >&2; exit 1; }
[[ -f "$bundle" ]] || { echo "deny: no advisory database snapshot at $bundle" >&2; exit 1; }

# A fresh clone whenever the snapshot changes.
want="$(git bundle list-heads "$bundle" | awk 'NR == 1 {print $1}')"
if [[ "$(git -C "$db" rev-parse HEAD 2>/dev/null || true)" != "$want" ]]; then
    rm -rf "$db"
    mkdir -p "$(dirname "$db")"
    git -c init.defaultBranch=main clone -q "$bundle" "$db"
fi

cargo fetch --locked -q
cargo deny --offline check
