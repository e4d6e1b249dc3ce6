#!/usr/bin/env bash
# Plays config/demo.yaml on the simulated cloud: starts the daemon, shows the runners' status as
# the three stories unfold, then points at the halt's log line and the metrics.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${SWITCHYARD:-target/debug/switchyard}"
config=config/demo.yaml
server=http://127.0.0.1:9254
seconds="${DEMO_SECONDS:-35}"
log="${DEMO_LOG:-${TMPDIR:-/tmp}/switchyard-demo.log}"

"$bin" run --config "$config" 2>"$log" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null || true' EXIT

cat <<MSG
switchyard demo: three runners on a simulated cloud (no AWS account needed).
  runner-a  blue -> green (revision 2): a successful blue/green deployment
  runner-b  blue -> green (revision 3, never healthy): fails after progressDeadline, rolls nothing live
  runner-c  green healthy but never deployed: halted, with the command that resolves it

While it runs, in another terminal:
  $bin status --server $server --watch
  curl -s $server/metrics | grep '^switchyard_'
  curl -s $server/api/v1/status
Daemon log: $log
MSG

for _ in $(seq 50); do
  curl -fsS "$server/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done

started=$(date +%s)
while (( $(date +%s) - started < seconds )); do
  sleep 5
  printf '\n--- after %ss ---\n' "$(( $(date +%s) - started ))"
  "$bin" status --server "$server" || true
done

printf '\n--- the halt, as logged (runner-c) ---\n'
grep -m1 'InactiveShardHealthyNotDeployed' "$log" || echo "(not logged yet)"
printf '\n--- a few metrics ---\n'
curl -fsS "$server/metrics" | grep -E '^switchyard_(deployments_total|runner_halted\{.*\} 1|runner_phase\{.*\} 1)' || true
printf '\nDone. The full daemon log is in %s\n' "$log"
