#!/usr/bin/env bash
# The Helm chart, checked as `make test` runs it (docs/operations.md describes the chart):
#   helm lint --strict, and helm template, for each set of values below;
#   every rendered built-in object against Kubernetes' schemas (kubernetes-validate --strict,
#   offline, for the oldest and the newest Kubernetes it knows); the monitoring objects against
#   the Prometheus Operator's CRD schemas; the desired-state file inside the rendered ConfigMap
#   through `switchyard validate`; values.schema.json against `switchyard schema`.
# The insta snapshot of the default rendering is tests/chart.rs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="$(scripts/tools.sh)"
helm="$bin/helm"
switchyard="${SWITCHYARD:-${CARGO_TARGET_DIR:-$HOME/.cache/switchyard-target}/debug/switchyard}"
[[ -x "$switchyard" ]] || { echo "chart check: no switchyard binary at $switchyard (cargo build first)" >&2; exit 1; }
chart=charts/switchyard
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "== values.schema.json embeds \`switchyard schema\`"
"$switchyard" schema >"$out/desired-state.schema.json"
python3 scripts/chart/values_schema.py --check "$out/desired-state.schema.json"

# Each rendering: its values, whether the cluster serves the Prometheus Operator's API, and what
# must (not) be rendered.
monitoring="--set serviceMonitor.enabled=true --set prometheusRule.enabled=true"
declare -A sets=(
    [default]=""
    [monitoring]="$monitoring"
    [no-operator]="$monitoring"
    [single]="--set replicaCount=1 --set leaderElection.enabled=false"
    [example]="-f $chart/examples/aws.yaml"
)
declare -A apis=([default]=1 [monitoring]=1 [no-operator]=0 [single]=1 [example]=1)
declare -A expect=(
    [default]="--expect Deployment ConfigMap ServiceAccount Service PodDisruptionBudget --absent ServiceMonitor PrometheusRule"
    [monitoring]="--expect ServiceMonitor PrometheusRule --rules $chart/files/switchyard.rules.yaml"
    [no-operator]="--absent ServiceMonitor PrometheusRule"
    [single]="--expect Deployment --absent PodDisruptionBudget"
    [example]="--expect ServiceMonitor PrometheusRule PodDisruptionBudget --rules $chart/files/switchyard.rules.yaml"
)
versions=(1.27.0 1.37.0)

# One rendering, every check; returns 1 at its first failure (the caller goes on to the next).
check() {
    local name="$1" objects passed version api=()
    ((apis[$name])) && api=(--api-versions monitoring.coreos.com/v1)
    echo "== $name: helm lint --strict, helm template"
    # shellcheck disable=SC2086 # the value sets are words
    "$helm" lint --strict --quiet "$chart" ${sets[$name]} >"$out/lint.txt" 2>&1 \
        || { cat "$out/lint.txt" >&2; return 1; }
    # shellcheck disable=SC2086
    "$helm" template switchyard "$chart" --namespace switchyard "${api[@]}" ${sets[$name]} \
        >"$out/$name.yaml" || return 1
    # shellcheck disable=SC2086
    "$bin/../venv/bin/python" scripts/chart/rendered.py "$out/$name.yaml" "$out/$name" \
        ${expect[$name]} || return 1

    objects="$(grep -c '^kind:' "$out/$name/kubernetes.yaml")"
    for version in "${versions[@]}"; do
        "$bin/kubernetes-validate" --strict --kubernetes-version "$version" \
            "$out/$name/kubernetes.yaml" >"$out/validate.txt" 2>&1 \
            || { cat "$out/validate.txt" >&2; return 1; }
        passed="$(grep -c ' passed for resource ' "$out/validate.txt" || true)"
        if [[ "$passed" != "$objects" ]]; then
            cat "$out/validate.txt" >&2
            echo "chart check: $name: $passed of $objects objects passed on Kubernetes $version" >&2
            return 1
        fi
    done
    echo "$objects Kubernetes objects valid on Kubernetes ${versions[*]}"
    node scripts/chart/validate_monitoring.mjs "$bin/../npm/node_modules" \
        "$out/$name/monitoring.json" || return 1
    "$switchyard" validate --config "$out/$name/switchyard.yaml" || return 1
}

failed=()
for name in default monitoring no-operator single example; do
    check "$name" || failed+=("$name")
done
if ((${#failed[@]})); then
    echo "chart check: FAILED for: ${failed[*]}" >&2
    exit 1
fi
echo "chart check: passed"
