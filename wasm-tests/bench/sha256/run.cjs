// Runs the SHA-256 bench compiled to wasm32-wasip1 under node's V8 (make bench-sha256).
const fs = require('node:fs');
const { WASI } = require('node:wasi');

const wasi = new WASI({ version: 'preview1', args: [], env: {}, preopens: {}, returnOnExit: true });
const mod = new WebAssembly.Module(fs.readFileSync(process.argv[2]));
process.exitCode = wasi.start(new WebAssembly.Instance(mod, wasi.getImportObject()));
