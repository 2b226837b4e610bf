// Runs a wasm32-wasip1 test binary under node's V8 (the engine behind Envoy's wasm runtime), to
// see what the core costs as wasm, away from Envoy. Not part of `make bench`:
//   cargo test --release --target wasm32-wasip1 --test bench --no-run
//   node wasm-tests/bench/run-wasi.cjs target/wasm32-wasip1/release/deps/bench-*.wasm --ignored --nocapture
// The binary imports proxy-wasm host functions (the library links them); the bench never calls
// them, so they are stubs that throw.
const fs = require('node:fs');
const { WASI } = require('node:wasi');

const file = process.argv[2];
// The request shapes `make bench` writes (target/bench/requests), when BENCH_REQUESTS_DIR names
// them: the bench reads them through a WASI preopen of that directory.
const dir = process.env.BENCH_REQUESTS_DIR;
const wasi = new WASI({ version: 'preview1', args: [file, ...process.argv.slice(3)],
                        env: dir ? { BENCH_REQUESTS_DIR: dir } : {},
                        preopens: dir ? { [dir]: dir } : {}, returnOnExit: true });
const mod = new WebAssembly.Module(fs.readFileSync(file));
const env = {};
for (const i of WebAssembly.Module.imports(mod)) {
  if (i.module === 'env') env[i.name] = () => { throw new Error(`${i.name} called`); };
}
const instance = new WebAssembly.Instance(mod, { ...wasi.getImportObject(), env });
// The test binary also exports `_initialize` (from the cdylib), which WASI.start refuses.
const { memory, _start } = instance.exports;
process.exitCode = wasi.start({ exports: { memory, _start } });
