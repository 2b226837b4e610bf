//! Tiny Proxy-Wasm guests assembled byte by byte, for testing the host itself.

pub fn leb(mut n: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

pub fn name(s: &str, out: &mut Vec<u8>) {
    leb(s.len() as u32, out);
    out.extend_from_slice(s.as_bytes());
}

pub fn section(id: u8, content: Vec<u8>, out: &mut Vec<u8>) {
    out.push(id);
    leb(content.len() as u32, out);
    out.extend(content);
}

const I32: u8 = 0x7f;
const I64: u8 = 0x7e;

fn func_type(params: &[u8], results: &[u8], out: &mut Vec<u8>) {
    out.push(0x60);
    leb(params.len() as u32, out);
    out.extend_from_slice(params);
    leb(results.len() as u32, out);
    out.extend_from_slice(results);
}

/// A hostcall to import: its name and parameter types (`'i'` i32, `'I'` i64); all return i32.
pub type Hostcall<'a> = (&'a str, &'a str);

/// A guest that imports `hostcalls` from `env` and exports each as `call_<name>` taking only
/// i32s (i64 parameters sign-extended), plus a bump allocator from 64 KiB, 4 pages of memory,
/// `proxy_on_context_create`, `proxy_on_vm_start` / `proxy_on_configure` answering true, and
/// the 0.2.1 marker.
pub fn hostcall_harness(hostcalls: &[Hostcall<'_>]) -> Vec<u8> {
    hostcall_harness_marked(hostcalls, "proxy_abi_version_0_2_1")
}

/// The same guest declaring the ABI version with `marker`.
pub fn hostcall_harness_marked(hostcalls: &[Hostcall<'_>], marker: &str) -> Vec<u8> {
    let n = hostcalls.len() as u32;
    let mut m = b"\0asm\x01\0\0\0".to_vec();

    // Types: per hostcall its import type and its wrapper type, then the fixed four.
    let mut types = Vec::new();
    leb(2 * n + 4, &mut types);
    for (_, sig) in hostcalls {
        let import: Vec<u8> = sig
            .chars()
            .map(|c| if c == 'I' { I64 } else { I32 })
            .collect();
        func_type(&import, &[I32], &mut types);
        func_type(&vec![I32; sig.len()], &[I32], &mut types);
    }
    let t_alloc = 2 * n;
    func_type(&[I32], &[I32], &mut types);
    let t_start = 2 * n + 1;
    func_type(&[I32, I32], &[I32], &mut types);
    let t_create = 2 * n + 2;
    func_type(&[I32, I32], &[], &mut types);
    let t_marker = 2 * n + 3;
    func_type(&[], &[], &mut types);
    section(1, types, &mut m);

    let mut imports = Vec::new();
    leb(n, &mut imports);
    for (i, (hostcall, _)) in hostcalls.iter().enumerate() {
        name("env", &mut imports);
        name(hostcall, &mut imports);
        imports.push(0x00);
        leb(2 * i as u32, &mut imports);
    }
    section(2, imports, &mut m);

    // Functions: wrappers (indices n..2n), then allocate, vm_start, configure, create, marker.
    let mut funcs = Vec::new();
    leb(n + 5, &mut funcs);
    for i in 0..n {
        leb(2 * i + 1, &mut funcs);
    }
    for t in [t_alloc, t_start, t_start, t_create, t_marker] {
        leb(t, &mut funcs);
    }
    section(3, funcs, &mut m);
    section(5, vec![1, 0x00, 4], &mut m);
    // The heap pointer: a mutable i32 starting at 65536 (0x80 0x80 0x04 in signed LEB128).
    section(6, vec![1, I32, 0x01, 0x41, 0x80, 0x80, 0x04, 0x0b], &mut m);

    let mut exports = Vec::new();
    leb(n + 6, &mut exports);
    name("memory", &mut exports);
    exports.extend([0x02, 0]);
    for (i, (hostcall, _)) in hostcalls.iter().enumerate() {
        name(&format!("call_{hostcall}"), &mut exports);
        exports.push(0x00);
        leb(n + i as u32, &mut exports);
    }
    for (j, export) in [
        "proxy_on_memory_allocate",
        "proxy_on_vm_start",
        "proxy_on_configure",
        "proxy_on_context_create",
        marker,
    ]
    .iter()
    .enumerate()
    {
        name(export, &mut exports);
        exports.push(0x00);
        leb(2 * n + j as u32, &mut exports);
    }
    section(7, exports, &mut m);

    let mut code = Vec::new();
    leb(n + 5, &mut code);
    let mut body = |instructions: Vec<u8>| {
        let mut b = vec![0]; // no locals
        b.extend(instructions);
        b.push(0x0b);
        leb(b.len() as u32, &mut code);
        code.extend(b);
    };
    for (i, (_, sig)) in hostcalls.iter().enumerate() {
        let mut ins = Vec::new();
        for (j, c) in sig.chars().enumerate() {
            ins.push(0x20); // local.get j
            leb(j as u32, &mut ins);
            if c == 'I' {
                ins.push(0xac); // i64.extend_i32_s
            }
        }
        ins.push(0x10); // call i
        leb(i as u32, &mut ins);
        body(ins);
    }
    // allocate: old = heap; heap += size; old
    body(vec![0x23, 0, 0x23, 0, 0x20, 0, 0x6a, 0x24, 0]);
    body(vec![0x41, 1]); // vm_start: true
    body(vec![0x41, 1]); // configure: true
    body(vec![]); // context_create
    body(vec![]); // marker
    section(10, code, &mut m);
    m
}
