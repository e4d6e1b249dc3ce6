#!/usr/bin/env bash
# The container image, checked as `make test` runs it: builds the Containerfile with buildah on
# a base made from Debian packages (scripts/image-base.sh: no registry is reachable here), then
# runs the release binary inside it (`buildah run --isolation chroot`): --version, and validate on
# the example desired-state file; checks the image's user (65532), that it has no shell and
# carries the CA certificates; and runs one pass of the daemon as uid 65532 on a read-only bind
# of the image's root with only /tmp writable.
#
# Storage is private to the clone (.tools/containers, vfs), so nothing outside it changes.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
binary="${SWITCHYARD_RELEASE:-${CARGO_TARGET_DIR:-$HOME/.cache/switchyard-target}/release/switchyard}"
[[ -x "$binary" ]] || { echo "image check: no release binary at $binary (cargo build --release first)" >&2; exit 1; }
command -v buildah >/dev/null \
    || { echo "image check: buildah is missing (apt-get install buildah; .ci/run does)" >&2; exit 1; }

store="$root/.tools/containers"
export BUILDAH_ARGS="--storage-driver vfs --root $store/root --runroot $store/run"
read -r -a b <<<"$BUILDAH_ARGS"
image=localhost/switchyard:check
work="$(mktemp -d)"
container=""
ro=""
cleanup() {
    if [[ -n "$ro" ]]; then
        umount "$ro/tmp" 2>/dev/null || true
        umount "$ro" 2>/dev/null || true
    fi
    [[ -z "$container" ]] || buildah "${b[@]}" rm "$container" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "image check: $*" >&2; exit 1; }

echo "== base image from Debian packages"
base="$(scripts/image-base.sh)"

echo "== buildah build -f Containerfile (BASE=$base)"
mkdir -p "$work/context"
install -m 0555 "$binary" "$work/context/switchyard"
buildah "${b[@]}" build --quiet --isolation chroot --pull=never --build-arg "BASE=$base" \
    -f Containerfile -t "$image" "$work/context" >/dev/null

user="$(buildah "${b[@]}" inspect --type image --format '{{.OCIv1.Config.User}}' "$image")"
[[ "$user" == "65532:65532" ]] || fail "the image runs as '$user', not 65532:65532"
entrypoint="$(buildah "${b[@]}" inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' "$image")"
[[ "$entrypoint" == '[/usr/local/bin/switchyard]' ]] || fail "entrypoint is $entrypoint"

container="$(buildah "${b[@]}" from --pull=never "$image")"
buildah "${b[@]}" copy --quiet "$container" config/switchyard.yaml /etc/switchyard/switchyard.yaml >/dev/null
mnt="$(buildah "${b[@]}" mount "$container")"
for shell in bin/sh bin/bash bin/dash usr/bin/sh usr/bin/bash usr/bin/dash; do
    [[ ! -e "$mnt/$shell" ]] || fail "the image has a shell: /$shell"
done
[[ -s "$mnt/etc/ssl/certs/ca-certificates.crt" ]] || fail "no CA certificates at /etc/ssl/certs/ca-certificates.crt"

echo "== buildah run --isolation chroot: --version (by name: the image's PATH finds it)"
version="$(buildah "${b[@]}" run --isolation chroot "$container" -- switchyard --version)"
echo "$version"
[[ "$version" == "switchyard $(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)"* ]] \
    || fail "--version printed '$version'"

echo "== buildah run --isolation chroot: validate (config/switchyard.yaml, via SWITCHYARD_CONFIG)"
buildah "${b[@]}" run --isolation chroot "$container" -- /usr/local/bin/switchyard validate

echo "== read-only root: one pass of the daemon as uid 65532, only /tmp writable"
# The simulated cloud needs no network; port 0 keeps clear of anything listening here.
sed 's/^  listen: .*/  listen: 127.0.0.1:0/' config/demo.yaml >"$work/demo.yaml"
grep -q '^  listen: 127.0.0.1:0$' "$work/demo.yaml" || fail "config/demo.yaml has no controller.listen to override"
buildah "${b[@]}" copy --quiet "$container" "$work/demo.yaml" /etc/switchyard/demo.yaml >/dev/null
ro="$work/ro"
mkdir -p "$ro"
mount --bind "$mnt" "$ro"
mount -o remount,bind,ro "$ro"
mount -t tmpfs -o size=16m tmpfs "$ro/tmp"
if touch "$ro/usr/local/bin/probe" 2>/dev/null; then fail "the read-only bind is writable"; fi
timeout 60 chroot --userspec=65532:65532 "$ro" /usr/local/bin/switchyard run --once \
    --config /etc/switchyard/demo.yaml >"$work/once.log" 2>&1 \
    || { cat "$work/once.log" >&2; fail "run --once failed on a read-only root"; }
echo "run --once: exit 0"
echo "image check: passed"
