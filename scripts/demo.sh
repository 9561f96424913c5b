#!/usr/bin/env bash
# The main job on embedded defaults: sign and publish the bundled example plugins into a local
# registry, preflight the good and the broken examples against this host, then install, update,
# roll back and fail an update on purpose to show the automatic rollback, and run plugins in their
# sandboxes.
set -uo pipefail
home=${PLUGINOPS_HOME:-.pluginops}
export PLUGINOPS_HOME=$home

step() { printf '\n== %s\n' "$*"; }

step "This host"
pluginops host

rm -rf "$home/plugins" "$home"/journal.db* "$home/staging" "$home/locks" "$home/logs" \
  "$home/run" "$home"/approvals.db* "$home"/metering.db* "$home/audit.log" "$home/audit.lock" \
  "$home/registry" "$home/inject" "$home/policy.yaml" "$home/gates" "$home/gate-demo-registry"
if [ ! -f "$home/keys/signing.key" ]; then
  step "Creating a signing key"
  pluginops keygen || exit 1
fi

step "Publishing needs a release gate: refused for a plugin never gated"
pluginops publish examples/plugins/json-transform-v2 --registry "$home/gate-demo-registry"
[ $? -eq 1 ] || { echo "expected publish to refuse a plugin without a release gate"; exit 1; }

step "Publishing the example plugins (preflight first, dependencies first)"
# The bundled examples are gated by the test suite, not on this host: the demo's org policy makes
# the gate advisory, so each publish is allowed with a warning and an audit record.
printf 'version: 1\nrelease_gate: advisory\n' > "$home/policy.yaml"
pluginops publish examples/plugins/* || exit 1

step "Preflight of the example plugins, strict"
pluginops preflight examples/plugins/* --strict || exit 1

step "Preflight of the deliberately broken manifests (every finding code)"
pluginops preflight examples/broken/* > "$home/broken-preflight.txt"
rc=$?
grep -E '^\s+(error|warning|info) ' "$home/broken-preflight.txt" \
  | awk '{print $2}' | sort | uniq -c | sort -rn
tail -1 "$home/broken-preflight.txt"
[ "$rc" -eq 1 ] || { echo "expected the broken manifests to fail (exit 1), got $rc"; exit 1; }

step "Installing research-agent: its dependency summarizer-agent comes in the same transaction"
pluginops install research-agent || exit 1

step "Installing coverage-gate"
pluginops install coverage-gate || exit 1

step "Installing json-transform 1.2.0, then updating it to 2.0.0"
pluginops install json-transform@1.2.0 || exit 1
pluginops update json-transform || exit 1

step "Rolling back to 1.2.0 (kept on disk: no download)"
pluginops rollback json-transform || exit 1

step "An update whose health check fails (injected): rolled back automatically"
pluginops update json-transform --inject-failure health-check
[ $? -eq 1 ] || { echo "expected the injected failure to roll back (exit 1)"; exit 1; }

step "Running plugins in their sandboxes"
pluginops run json-transform --input '{"record": {"a": {"b": 7}}, "fields": {"x": "a.b"}}' || exit 1
printf '{"totals": {"covered_lines": 42, "num_statements": 50}}' > "$home/coverage.json"
pluginops run coverage-gate --input '{"report": "coverage.json", "min": 0.8}' \
  --input-file "coverage.json=$home/coverage.json" || exit 1
pluginops host | grep sandbox

step "Status and history"
pluginops status
pluginops history json-transform --limit 3

step "Fault injection on a live stack: an error spike pages within a minute"
echo "(starting Prometheus, Alertmanager, a webhook sink and the runtime on loopback; ~90 s)"
pluginops inject --local --scenario error-spike --keep "$home/inject" --record "$home" || exit 1

step "Golden harness: json-transform 2.0.0's lifecycle against a real runtime, and the compatibility matrix"
pluginops harness examples/plugins/json-transform-v2 --previous examples/plugins/json-transform || exit 1
pluginops matrix examples/plugins/json-transform examples/plugins/json-transform-v2 \
  --host examples/hosts/legacy-3.1.json --host examples/hosts/prerelease-2.9.json --execute \
  --out "$home/matrix" || exit 1

step "Evaluator: budgets, anomalies and trends of a synthetic fleet, and the weekly report"
python -m collector.synthetic --out "$home/demo-fleet.om" --plugins 12 --days 15 || exit 1
pluginops evaluate --openmetrics "$home/demo-fleet.om" || exit 1
pluginops report weekly --openmetrics "$home/demo-fleet.om" --out "$home/weekly" \
  --home "$home" || exit 1
sed -n '1,/## SLO compliance/p' "$home/weekly/report.md"

step "KPIs: the plan's targets, from this home's records (the rollbacks, the drill above)"
pluginops kpi

step "Where to look"
echo "registry:        $home/registry/index.json"
echo "journal:         $home/journal.db (pluginops history --format json)"
echo "logs:            $home/logs/<correlation id>.log"
echo "audit:           $home/audit.log (pluginops audit verify)"
echo "live stack:      $home/inject/error-spike/ (Prometheus and Alertmanager logs and TSDB,"
echo "                 runtime.log); rerun with: pluginops inject --local --scenario all"
echo "weekly report:   $home/weekly/report.md (and report.json, charts; the KPI scorecard last)"
echo "KPIs:            pluginops kpi; /ui/kpis; Grafana 'Pluginops / KPIs' (docs/kpis.md)"
echo "compatibility:   $home/matrix/matrix.md (and .json, .csv)"
echo "rules:           alerts/generated/rules.yml, alerts/generated/alertmanager.yml"
echo "metrics:         pluginops serve, then http://127.0.0.1:8080/metrics"
echo "admin UI:        pluginops token create --user you --role admin; pluginops serve;"
echo "                 then http://127.0.0.1:8080/ui/ (sign in with the token)"
echo "broken report:   $home/broken-preflight.txt"
echo "as JSON:         pluginops preflight examples/broken/* --format json"
echo "a prerelease host: pluginops preflight examples/broken/host-prerelease --host examples/hosts/prerelease-2.9.json"
