#!/usr/bin/env bash
# Checks deploy/monitoring with promtool: the alerting rules load, their unit tests pass, and
# every query of the Grafana dashboard parses as PromQL (Grafana's variables filled in).
# PROMTOOL names the binary when it is not `promtool` on the PATH.
set -euo pipefail
cd "$(dirname "$0")"
promtool="${PROMTOOL:-promtool}"

"$promtool" check rules alerts.yaml
"$promtool" test rules alerts.test.yaml

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# Each dashboard query becomes a recording rule, so `promtool check rules` parses it.
python3 - signgate-dashboard.json >"$scratch/dashboard-queries.yaml" <<'PY'
import json, sys

def exprs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from exprs(item)

with open(sys.argv[1]) as f:
    queries = list(exprs(json.load(f)))
if not queries:
    sys.exit("the dashboard has no queries")
print("groups:\n  - name: dashboard\n    rules:")
for i, query in enumerate(queries):
    query = query.replace("$__rate_interval", "5m")
    for variable in ("$job", "$instance", "$vendor"):
        query = query.replace(variable, ".*")
    if "$" in query:
        sys.exit(f"unknown Grafana variable in: {query}")
    print(f"      - record: dashboard:query_{i}\n        expr: {json.dumps(query)}")
PY
echo "dashboard: $(grep -c 'record:' "$scratch/dashboard-queries.yaml") queries"
"$promtool" check rules "$scratch/dashboard-queries.yaml"
