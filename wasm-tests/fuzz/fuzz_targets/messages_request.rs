//! Anthropic Messages API (/v1/messages) translation and its response pass-through.
#![no_main]
use bedrock_filter::translate::messages;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = messages::to_invoke(data, &|_| 4096, &[]);
    let _ = messages::from_invoke(data, "m");
});
