#!/usr/bin/env bash
# Lints a SAM template the way CloudFormation will see it: expand the SAM transform offline,
# then run cfn-lint on the result (plain cfn-lint misses errors the transform raises).
# Linting the project's template also proves the lint still bites: every fixture
# infra/tests/broken-*.yaml must be rejected.
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

if [ "$(realpath "$template")" = "$root/template.yaml" ] && [ "${LINT_FIXTURES:-1}" = 1 ]; then
  for fixture in "$root"/infra/tests/broken-*.yaml; do
    if LINT_FIXTURES=0 "$0" "$fixture" >"$out/$(basename "$fixture" .yaml).log" 2>&1; then
      echo "lint-template accepted a broken fixture: $fixture" >&2
      exit 1
    fi
    echo "rejected, as it must be: infra/tests/$(basename "$fixture") ($(grep -m1 -E '^(SAM error|[EW][0-9]{4})' "$out/$(basename "$fixture" .yaml).log" || echo 'see log'))"
  done
fi
