//! Anthropic Messages API (/v1/messages) translation and its response pass-through.
#![no_main]
use bedrock_filter::anthropic;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = anthropic::to_invoke(data, 4096);
    let _ = anthropic::from_invoke(data, "m");
});
