#!/usr/bin/env bash
# schemathesis (PyPI) against openapi.yaml and a live `latchkey serve` on SQLite (issue 10,
# item 5), once with each kind of key (operator, tenant admin, tenant app): no 5xx, every status
# documented, every body matching its schema, the right content type. Part of `make test-long`;
# SCHEMATHESIS_SECS (default 120) bounds each run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${SCHEMATHESIS_SECS:-120}"
bin="${LATCHKEY_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/latchkey}"
venv="$HOME/.cache/latchkey/schemathesis-venv"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q schemathesis
fi
dir="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
api="$(free_port)"
ops="$(free_port)"
export LATCHKEY__SERVER__API_ADDR="127.0.0.1:$api" LATCHKEY__SERVER__OPS_ADDR="127.0.0.1:$ops" \
  LATCHKEY__LOG__LEVEL=error LATCHKEY__AUTH__ALLOW_INSECURE_LOOPBACK_URLS=true
cd "$dir"
"$bin" serve > serve.out 2> serve.err &
pid=$!
for _ in $(seq 1 200); do
  curl -fs "http://127.0.0.1:$ops/healthz" > /dev/null && break
  sleep 0.1
done
operator="$(grep -o 'lk_[A-Za-z0-9_]*' serve.out | head -1)"
tenant="$("$bin" tenant create Schemathesis --json)"
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$tenant" "$1"; }
status=0
for role in operator admin app; do
  case "$role" in
    operator) key="$operator" ;;
    admin) key="$(field admin_key)" ;;
    app) key="$(field app_key)" ;;
  esac
  echo "schemathesis: $role key, ${secs}s"
  "$venv/bin/schemathesis" run "$root/openapi.yaml" --url "http://127.0.0.1:$api" \
    --header "Authorization: $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing --max-time "$secs" --workers 1 \
    --suppress-health-check all --warnings off || status=1
done
if grep -q panicked serve.err; then
  echo "latchkey panicked:"; cat serve.err; status=1
fi
exit "$status"
