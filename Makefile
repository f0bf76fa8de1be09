# Two commands matter: `make demo` (the main job end to end on the local stack) and
# `make test` (every test). Both install what they need on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := python3
LOCAL := target/local

.PHONY: help tools demo bench-provisioning bench-month bench-reconcile test test-rust lint fmt-check lint-template local-up local-down package

help:
	@echo "make demo           run the integration end to end on the local stack"
	@echo "make test           every test (format, lints, unit, integration, template lint)"
	@echo "make local-up       start moto, the simulators and the local runner; writes $(LOCAL)/env"
	@echo "make local-down     stop what local-up started"
	@echo "make lint-template  expand the SAM transform offline and cfn-lint the result"
	@echo "make package        build every function for arm64 (cargo-lambda), check and zip each bootstrap"
	@echo "make bench-month    the simulated month, judged by the oracle (also bench-provisioning, -tickets,"
	@echo "                    -usage, -reconcile, -coldstart)"
	@echo "make bench-cost     a month's AWS bill at 1,000 and 10,000 companies, steady and with a migration"

# Project-local Python tools (moto server, SAM translator, cfn-lint).
$(VENV)/.installed: infra/requirements.txt
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	touch $@

tools: $(VENV)/.installed
	@command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
	@rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt
	@./infra/install-browser.sh

fmt-check:
	cargo fmt --all -- --check

lint: tools fmt-check
	cargo clippy --workspace --all-targets --locked -- -D warnings

lint-template: tools
	./infra/lint-template.sh template.yaml
	@if ./infra/lint-template.sh infra/tests/broken-template.yaml >/dev/null 2>&1; then \
		echo "lint-template accepted a broken template"; exit 1; \
	else echo "broken template rejected, as it must be"; fi

local-up: tools
	./infra/local-up.sh

local-down:
	./infra/local-down.sh

# Unit tests need nothing; integration tests need moto (started here, stopped after), which
# enforces each function's template role; afterwards every granted action must have been used.
test-rust: tools
	./infra/local-up.sh
	set -a; source $(LOCAL)/env; set +a; \
	cargo build --workspace --bins --locked && \
	cargo test --workspace --locked && \
	$(VENV)/bin/python infra/local_iam.py check template.yaml $(LOCAL)/iam-record.jsonl; \
	rc=$$?; ./infra/local-down.sh; exit $$rc

test: lint test-rust lint-template
	@echo "all tests passed"

# Paced and burst at the local runner's 8 instances per consumer (and CW_MAX_CONCURRENCY 4),
# a 500-company burst (a migration), then the same at the template's defaults
# (ConsumerConcurrency 2, ConnectWiseMaxConcurrency 2).
BENCH_PROVISIONING := cargo run --quiet --locked -p local-runner -- bench-provisioning --latency-ms 100
bench-provisioning: tools
	export RUNNER_INSTANCES=8; ./infra/local-up.sh && \
	set -a && source $(LOCAL)/env && set +a && \
	$(BENCH_PROVISIONING) --companies 50 --pace-ms 1000 && \
	$(BENCH_PROVISIONING) --companies 50 && \
	$(BENCH_PROVISIONING) --companies 500; rc=$$?; ./infra/local-down.sh; [ $$rc = 0 ] || exit $$rc
	export RUNNER_INSTANCES=2 CW_MAX_CONCURRENCY=2; ./infra/local-up.sh && \
	set -a && source $(LOCAL)/env && set +a && \
	$(BENCH_PROVISIONING) --companies 50 --pace-ms 1000 && \
	$(BENCH_PROVISIONING) --companies 50 && \
	$(BENCH_PROVISIONING) --companies 500; rc=$$?; ./infra/local-down.sh; exit $$rc

# Each function's init (process start to its first invocation request) against a fake Lambda
# Runtime API, host release builds, with the sizes of `make package`'s arm64 zips.
.PHONY: bench-coldstart
bench-coldstart: package
	cargo build --release --quiet --locked -p webhook -p provisioner -p ticket-sync -p reconciler \
		-p alert-poller -p usage-push -p usage-shard-worker
	./infra/local-up.sh
	set -a; source $(LOCAL)/env; set +a; \
	cargo run --quiet --locked -p local-runner -- bench-coldstart; rc=$$?; ./infra/local-down.sh; exit $$rc

demo: tools
	./infra/local-up.sh
	set -a; source $(LOCAL)/env; set +a; \
	RUST_LOG=warn cargo run --quiet --locked -p local-runner -- demo; rc=$$?; ./infra/local-down.sh; exit $$rc

# Alert-to-ticket latency and calls per alert on the local stack (not part of `make test`).
.PHONY: bench-tickets
bench-tickets: tools
	./infra/local-up.sh
	set -a; source $(LOCAL)/env; set +a; \
	cargo run --quiet --locked -p integration-tests --bin bench_tickets -- 120; rc=$$?; ./infra/local-down.sh; exit $$rc

# Release builds of every function for Lambda arm64: target/lambda/<bin>/bootstrap, zipped into
# target/lambda/arm64/<bin>.zip (infra/package.sh). cargo-lambda and zig come from PyPI.
$(VENV)/.package-installed: infra/requirements-package.txt $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements-package.txt
	touch $@

package: tools $(VENV)/.package-installed
	./infra/package.sh

# Usage push: cold and steady runs at 50 ms per call on production's schedule, time scaled
# by 4, then the cold push at 10,000 with a 500-company migration beside it (not part of
# `make test`; about 45 minutes).
.PHONY: bench-usage
bench-usage: tools
	./infra/local-up.sh
	set -a; source $(LOCAL)/env; set +a; \
	cargo run --release --quiet --locked -p integration-tests --bin bench_usage -- 1000 && \
	BENCH_SCALE=$${BENCH_SCALE:-2} cargo run --release --quiet --locked -p integration-tests --bin bench_usage -- 10000 && \
	BENCH_SCALE=$${BENCH_SCALE:-2} BENCH_MIGRATION=500 cargo run --release --quiet --locked -p integration-tests --bin bench_usage -- 10000; \
	rc=$$?; ./infra/local-down.sh; exit $$rc

# One steady reconciler cycle against 10,000 mapped companies (not part of `make test`).
.PHONY: bench-reconcile
bench-reconcile: tools
	./infra/local-up.sh
	set -a; source $(LOCAL)/env; set +a; \
	cargo run --release --quiet --locked -p integration-tests --bin bench_reconcile -- 10000; rc=$$?; ./infra/local-down.sh; exit $$rc

# The simulated month: 30 days of 15-minute cycles over 200 companies, 20% faults, 10% of
# callbacks lost, judged by the oracle (not part of `make test`, which runs 3 days over 20).
# moto runs without IAM checks here (the month is about correctness over time, and the
# roles are proven by `make test`). The `month` profile builds faster than release and runs
# as fast for this run, which waits on moto and on the scaled timeouts.
.PHONY: bench-month
bench-month: tools
	cargo build --profile month --quiet --locked -p integration-tests --bin bench_month
	INITIAL_NO_AUTH_ACTION_COUNT=1000000000 ./infra/local-up.sh
	set -a; source $(LOCAL)/env; set +a; \
	./target/month/bench_month 30 200; rc=$$?; ./infra/local-down.sh; exit $$rc

# A month's AWS bill at list prices (tests/integration/src/cost/prices.rs), per service, from
# counts measured on the local stack: a steady day and a migration day at 1,000 and 10,000
# companies (not part of `make test`). The `month` profile, as bench-month: optimised code,
# built faster than release. moto runs without IAM checks, as for bench-month (the functions'
# handlers run here with the operator's keys; the roles are proven by `make test`).
.PHONY: bench-cost
bench-cost: tools
	cargo build --profile month --quiet --locked -p integration-tests --bin bench_cost
	INITIAL_NO_AUTH_ACTION_COUNT=1000000000 ./infra/local-up.sh
	set -a; source $(LOCAL)/env; set +a; \
	./target/month/bench_cost 1000 10000; rc=$$?; ./infra/local-down.sh; exit $$rc
