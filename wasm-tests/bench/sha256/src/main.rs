//! SHA-256 of a 128 KiB body, per implementation, in MB/s: run as wasm under node's V8 (the
//! engine of Envoy's wasm runtime) by `make bench-sha256`, or natively with `cargo run --release`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

fn measure(name: &str, hash: &dyn Fn(&[u8]) -> [u8; 32]) {
    let body = vec![0x5a_u8; 128 * 1024];
    for _ in 0..20 {
        black_box(hash(black_box(&body)));
    }
    let rounds = 400;
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(hash(black_box(&body)));
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "| {name} | {:.0} MB/s |",
        (body.len() * rounds) as f64 / secs / 1e6
    );
}

fn main() {
    let expected = sha2_10(b"abc");
    assert_eq!(sha2_11(b"abc"), expected);
    assert_eq!(hmac_sha256::Hash::hash(b"abc"), expected);
    println!("| SHA-256, 128 KiB body | speed |");
    println!("|---|---:|");
    measure("sha2 0.10 (the filter's)", &sha2_10);
    measure("sha2 0.11", &sha2_11);
    measure("hmac-sha256 1.x", &|d| hmac_sha256::Hash::hash(d));
}

fn sha2_10(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

fn sha2_11(data: &[u8]) -> [u8; 32] {
    use sha2_11::Digest;
    let digest = sha2_11::Sha256::digest(data);
    let mut out = [0; 32];
    out.copy_from_slice(&digest);
    out
}
