//! OpenAI chat / embeddings request translation and the pipeline's translate and sign steps,
//! on arbitrary bytes.
#![no_main]
use bedrock_filter::config::Config;
use bedrock_filter::credentials::{AwsCredentials, CredentialsProvider};
use bedrock_filter::pipeline::{ClientRequest, Endpoint, Worker};
use bedrock_filter::sigv4;
use bedrock_filter::translate::{chat, embeddings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = chat::request::parse(data)
        && let Ok(t) = chat::request::to_request(&req)
    {
        let _ = chat::request::converse_body(&t, data.len());
    }
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
        let mut w = Worker::with_provider(cfg, CredentialsProvider::fixed(Some(creds)));
        let client = ClientRequest { anthropic_beta: None, path: "/v1/chat/completions", content_type: None, body: data };
        for endpoint in [Endpoint::ChatCompletions, Endpoint::Embeddings, Endpoint::Messages] {
            if let Ok((mut req, _)) = w.translate(endpoint, &client, 1_700_000_000) {
                let _ = w.sign(&mut req, data, 1_700_000_000);
            }
        }
    }
});
