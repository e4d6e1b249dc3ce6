#!/usr/bin/env bash
# Makes a distroless-like base image from Debian packages, for machines that reach Debian's
# archive but no image registry (CI here): glibc (libc6), libgcc_s (libgcc-s1), the CA
# certificates, /etc/passwd with uid 65532 "nonroot", a sticky /tmp. No shell, no package manager.
#
#   scripts/image-base.sh [NAME]    (default localhost/switchyard-base:debian12)
#
# Needs buildah and apt-get (run `apt-get update` once first). BUILDAH_ARGS (e.g.
# "--storage-driver vfs --root DIR --runroot DIR") goes to every buildah call.
set -euo pipefail

name="${1:-localhost/switchyard-base:debian12}"
read -r -a buildah_args <<<"${BUILDAH_ARGS:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
mkdir -p "$rootfs" "$work/debs"
# apt-get download drops to the _apt user where it can.
chmod 0755 "$work" && chmod 0777 "$work/debs"

(cd "$work/debs" && apt-get download -qq libc6 libgcc-s1 ca-certificates)
for deb in "$work"/debs/*.deb; do
    dpkg-deb --extract "$deb" "$rootfs"
done

# What update-ca-certificates would write: the Mozilla bundle, one file.
mkdir -p "$rootfs/etc/ssl/certs"
cat "$rootfs"/usr/share/ca-certificates/mozilla/*.crt >"$rootfs/etc/ssl/certs/ca-certificates.crt"
# Neither documentation nor the packages' scripts belong in a runtime image.
rm -rf "$rootfs"/usr/share/{doc,man,lintian,locale,info} "$rootfs"/usr/sbin "$rootfs"/etc/ca-certificates*
for shell in bin/sh bin/bash bin/dash usr/bin/sh usr/bin/bash usr/bin/dash; do
    [[ ! -e "$rootfs/$shell" ]] || { echo "image-base: $shell in the base" >&2; exit 1; }
done

cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
nonroot:x:65532:
GROUP
mkdir -p "$rootfs/tmp" "$rootfs/home/nonroot"
chmod 1777 "$rootfs/tmp"
chown 65532:65532 "$rootfs/home/nonroot"

container="$(buildah "${buildah_args[@]}" from scratch)"
trap 'buildah "${buildah_args[@]}" rm "$container" >/dev/null; rm -rf "$work"' EXIT
buildah "${buildah_args[@]}" copy --quiet "$container" "$rootfs" / >/dev/null
buildah "${buildah_args[@]}" config --user 65532:65532 --workingdir /home/nonroot \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --label org.opencontainers.image.description="libc6, libgcc-s1 and ca-certificates from Debian $(cat /etc/debian_version 2>/dev/null || echo '?')" \
    "$container"
buildah "${buildah_args[@]}" commit --quiet --rm "$container" "$name" >/dev/null
trap 'rm -rf "$work"' EXIT
echo "$name"
