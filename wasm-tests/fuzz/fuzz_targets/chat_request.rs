//! OpenAI chat / embeddings request translation and the gateway's prepare, on arbitrary bytes.
#![no_main]
use bedrock_filter::config::Config;
use bedrock_filter::gateway::{AwsCredentials, ClientRequest, Endpoint, Gateway};
use bedrock_filter::{chat, embeddings, sigv4};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = chat::to_converse(data);
    let _ = embeddings::to_invoke(data, &Default::default(), &embeddings::model_as_given);
    let env = |_: &str| None;
    if let Ok(cfg) = Config::parse(
        br#"{"region":"us-east-1","models":{"inv":{"id":"anthropic.claude-3-haiku-20240307-v1:0","api":"invoke"}}}"#,
        &env,
    ) {
        let creds = AwsCredentials::Keys(sigv4::Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "s".into(),
            session_token: None,
        });
        let mut gw = Gateway::new(cfg, Some(creds));
        let client = ClientRequest { path: "/v1/chat/completions", content_type: None, body: data };
        for endpoint in [Endpoint::ChatCompletions, Endpoint::Embeddings, Endpoint::Messages] {
            let _ = gw.prepare(endpoint, &client, 1_700_000_000);
        }
    }
});
