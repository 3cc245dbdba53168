#!/usr/bin/env bash
# End to end on the real data: a 3-shard local cluster (real node and router processes),
# `orderstore import` of the whole Online Retail file through liborderstore, then
# - stats: 25,900 orders, every shard within ±10% of the mean;
# - export: 25,900 documents whose line counts and sums of quantity and quantity × unit
#   price equal those computed straight from the CSV (tools/verify-export.py).
set -euo pipefail
cli=${OSTORE_CLI_BIN:?}; src=${OSTORE_SOURCE_ROOT:?}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/ostore-e2e.XXXXXX")
cleanup() { "$cli" local down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
base=$(python3 "$here/free_ports.py" 4)
"$cli" local up --dir "$dir" --shards 3 --base-port "$base"
"$cli" import --dir "$dir" "$src/data/online-retail.csv.xz"
"$cli" stats --dir "$dir" --json > "$dir/stats.json"
python3 - "$dir/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
total = s["total_orders"]
assert total == 25900, f"total_orders {total} != 25900"
counts = [sh["orders"] for sh in s["shards"]]
assert len(counts) == 3 and sum(counts) == total, counts
mean = total / len(counts)
for c in counts:
    assert abs(c - mean) <= 0.10 * mean, f"shard count {c} not within 10% of mean {mean:.0f}: {counts}"
assert sum(sh["slots"] for sh in s["shards"]) == 4096
print(f"stats ok: {counts} total {total}")
PY
"$cli" export --dir "$dir" > "$dir/export.jsonl"
python3 "$src/tools/verify-export.py" "$src/data/online-retail.csv.xz" "$dir/export.jsonl"
echo "import/export end to end: ok"
