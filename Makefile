# bedrock-filter — `make run` starts Envoy with the filter; `make test` proves it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     ?= .venv
PY       := $(VENV)/bin/python
WASM     := target/wasm32-wasip1/release/bedrock_filter.wasm
SIM      := target/debug/bedrock-sim
PYTHON   ?= python3

.PHONY: help run test wasm sim venv target lint unit e2e bench bench-tools clean

help:
	@echo "make run    build the filter and start Envoy with it (bedrock-sim when no AWS credentials)"
	@echo "make test   lint, unit/vector/cross-check tests, wasm build, end-to-end tests in real Envoy"
	@echo "make wasm   build $(WASM)"
	@echo "make bench  native timings of the core, then Envoy + filter against bare Envoy (wrk, nginx)"

# Automatic toolchain installs are off on CI machines: add the wasm target explicitly.
target:
	@rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1

wasm: target
	cargo build --target wasm32-wasip1 --release --lib
	@ls -l $(WASM) | awk '{printf "bedrock_filter.wasm: %d bytes\n", $$5}'

sim:
	cargo build -p bedrock-sim

$(VENV)/.installed: wasm-tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r wasm-tests/requirements.txt
	touch $@

venv: $(VENV)/.installed

run: wasm sim venv
	$(PY) envoy/envoyctl.py

lint: target
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --target wasm32-wasip1 --lib -- -D warnings

unit:
	cargo test --workspace

e2e: wasm sim venv
	$(PY) -m pytest -q wasm-tests/e2e

test: lint unit e2e

# Not part of `make test` or CI: it takes minutes and wants a quiet machine.
# BENCH_SECONDS, BENCH_REPS, ... : see wasm-tests/bench/envoy_bench.py.
bench: wasm venv bench-tools
	cargo test --release --test bench -- --nocapture --ignored
	$(PY) wasm-tests/bench/envoy_bench.py

# The load generator and the canned upstream, from Debian's packages (needs root otherwise).
bench-tools:
	@missing=""; \
	command -v wrk >/dev/null || missing="wrk"; \
	command -v nginx >/dev/null || test -x /usr/sbin/nginx || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  apt-get install -y $$missing || { apt-get update && apt-get install -y $$missing; }; \
	fi

clean:
	cargo clean
	rm -rf $(VENV)
