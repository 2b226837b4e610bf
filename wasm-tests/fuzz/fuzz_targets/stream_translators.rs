//! ConverseStream, InvokeModel (Anthropic, Nova) and Messages stream translators fed the input
//! in pieces whose sizes the input's first byte chooses.
#![no_main]
use bedrock_filter::anthropic::MessagesStreamTranslator;
use bedrock_filter::chat::ToolNames;
use bedrock_filter::chat::invoke::{Family, InvokeStreamTranslator};
use bedrock_filter::chat::response::CompletionMeta;
use bedrock_filter::chat::stream::ConverseStreamTranslator;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&step, body)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let meta = CompletionMeta {
        id: "chatcmpl-f".into(),
        created: 1,
        model: "m".into(),
    };
    let mut out = Vec::new();
    let mut a = ConverseStreamTranslator::new(meta.clone(), true, ToolNames::default());
    let mut b =
        InvokeStreamTranslator::new(Family::Anthropic, meta.clone(), true, ToolNames::default());
    let mut c = InvokeStreamTranslator::new(Family::Nova, meta, false, ToolNames::default());
    let mut d = MessagesStreamTranslator::new("m");
    for piece in body.chunks(step) {
        a.feed(piece, &mut out);
        b.feed(piece, &mut out);
        c.feed(piece, &mut out);
        d.feed(piece, &mut out);
    }
    a.finish(&mut out);
    b.finish(&mut out);
    c.finish(&mut out);
    d.finish(&mut out);
});
