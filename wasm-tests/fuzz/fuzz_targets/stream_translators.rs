//! ConverseStream, InvokeModel (Anthropic, Nova) and Messages stream translators fed the input
//! in pieces whose sizes the input's first byte chooses.
#![no_main]
use bedrock_filter::bedrock::Family;
use bedrock_filter::translate::chat::ToolNames;
use bedrock_filter::translate::chat::invoke::InvokeStreamTranslator;
use bedrock_filter::translate::chat::response::CompletionMeta;
use bedrock_filter::translate::chat::stream::ConverseStreamTranslator;
use bedrock_filter::translate::messages::MessagesStreamTranslator;
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
