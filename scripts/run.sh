#!/usr/bin/env bash
# `make run`: start Latchkey on the embedded SQLite default in ./latchkey-data, creating a first
# tenant (and printing its keys, once) when there is none yet.
set -euo pipefail
bin=${LATCHKEY_BIN:-target/debug/latchkey}
if [ "$("$bin" tenant list --json)" = "[]" ]; then
  echo "Creating your first tenant (its keys are shown once — copy them now):"
  "$bin" tenant create "My first tenant"
  echo
else
  echo "Tenants already exist in ./latchkey-data (their keys were shown when they were created)."
  echo "Create another with: $bin tenant create \"Name\""
  echo
fi
exec "$bin" serve
