//! The event-stream decoder, fed the input split at a position the input chooses.
#![no_main]
use bedrock_filter::eventstream::Decoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (a, b) = data.split_at(split);
    let mut d = Decoder::new();
    for piece in [a, b] {
        d.feed(piece);
        while let Ok(Some(_)) = d.next_frame() {}
    }
    let _ = d.finish();
});
