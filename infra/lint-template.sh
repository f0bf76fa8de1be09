#!/usr/bin/env bash
# Lints a SAM template the way CloudFormation will see it: expand the SAM transform offline,
# then run cfn-lint on the result (plain cfn-lint misses errors the transform raises).
# usage: lint-template.sh [template.yaml]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
template=${1:-$root/template.yaml}
venv=$root/.venv/bin
out=$root/target/lint
mkdir -p "$out"
expanded=$out/$(basename "$template" .yaml).expanded.json

"$venv/python" "$root/infra/sam_expand.py" "$template" > "$expanded"
"$venv/cfn-lint" --regions eu-west-1 us-east-1 -- "$template"
"$venv/cfn-lint" --regions eu-west-1 us-east-1 -- "$expanded"
echo "template ok: $template"
