#!/usr/bin/env bash
# deploy/systemd/switchyard.service, checked as `make test` runs it: `systemd-analyze verify`
# must print nothing at all (it warns about unknown keys and still exits 0), and the offline
# security review must rate its exposure at most 2.0 ("OK").
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
unit=deploy/systemd/switchyard.service
switchyard="${SWITCHYARD:-${CARGO_TARGET_DIR:-$HOME/.cache/switchyard-target}/debug/switchyard}"
[[ -x "$switchyard" ]] || { echo "unit check: no switchyard binary at $switchyard (cargo build first)" >&2; exit 1; }
command -v systemd-analyze >/dev/null \
    || { echo "unit check: systemd-analyze is missing (apt-get install systemd; .ci/run does)" >&2; exit 1; }
grep -q '^ExecStart=/usr/local/bin/switchyard run ' "$unit" \
    || { echo "unit check: $unit must start /usr/local/bin/switchyard run" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# verify also checks that ExecStart's program exists: point it at the binary just built.
sed "s|/usr/local/bin/switchyard|$switchyard|" "$unit" >"$work/switchyard.service"

echo "== systemd-analyze verify $unit"
if ! systemd-analyze verify "$work/switchyard.service" >"$work/verify.txt" 2>&1 \
    || [[ -s "$work/verify.txt" ]]; then
    sed "s|$work/||" "$work/verify.txt" >&2
    echo "unit check: systemd-analyze verify complained about $unit" >&2
    exit 1
fi
echo "== systemd-analyze security --offline"
systemd-analyze security --offline=yes --threshold=20 "$work/switchyard.service" >"$work/security.txt" 2>&1 \
    || { cat "$work/security.txt" >&2; echo "unit check: $unit exposes more than 2.0" >&2; exit 1; }
grep 'Overall exposure' "$work/security.txt"
echo "unit check: passed"
