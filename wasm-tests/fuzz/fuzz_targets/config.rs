//! Plugin configuration parsing and validation.
#![no_main]
use bedrock_filter::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let env = |_: &str| None;
    let _ = Config::parse(data, &env);
});
