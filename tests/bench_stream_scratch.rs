#![allow(clippy::unwrap_used)]
use bedrock_filter::translate::chat::response::CompletionMeta;
use bedrock_filter::translate::chat::stream::ConverseStreamTranslator;
use std::hint::black_box;
static STREAM: &[u8] = include_bytes!("../target/bench/requests/converse-stream-600.bin");
#[test]
#[ignore]
fn stream_only() {
    let meta = CompletionMeta {
        id: "chatcmpl-1".into(),
        created: 1,
        model: "m".into(),
    };
    let mut out = Vec::with_capacity(STREAM.len() * 2);
    let start = std::time::Instant::now();
    let n = 3000;
    for _ in 0..n {
        let mut t = ConverseStreamTranslator::new(meta.clone(), true, Default::default());
        out.clear();
        for piece in STREAM.chunks(16384) {
            t.feed(piece, &mut out);
        }
        t.finish(&mut out);
        black_box(&out);
    }
    let per = start.elapsed() / n;
    println!(
        "stream-600: {:?} per stream, {:.0} MB/s",
        per,
        STREAM.len() as f64 / per.as_secs_f64() / 1e6
    );
}
