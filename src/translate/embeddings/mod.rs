//! `POST /v1/embeddings` → Bedrock `InvokeModel` for Amazon Titan Text Embeddings and Cohere
//! Embed, and the answer back in OpenAI's format.
//!
//! [`to_invoke`] checks and translates the request and returns an [`EmbeddingsPlan`];
//! [`from_invoke`] uses the plan to translate the model's answer. Each model family is one
//! module with a `request` and a `response` function; adding a family means adding a module and
//! a [`Family`] variant.
//!
//! Extensions to OpenAI's request, for Cohere: `input_type` (`search_document`, `search_query`,
//! `classification`, `clustering`; default from [`EmbeddingsOptions`]) and `truncate`
//! (`NONE`, `START`, `END`; default: not sent, so Bedrock refuses over-long input as OpenAI
//! does). On Titan, `input_type` is ignored and `truncate` may only be `NONE`.

mod cohere;
mod request;
mod titan;
mod vector;

pub use request::{COHERE_INPUT_TYPES, EncodingFormat};

use crate::bedrock::Family;
use crate::bedrock::path::{Operation, model_path};
use crate::error::ApiError;
use crate::usage::Usage;

/// `Content-Type` and `Accept` of the InvokeModel call: every family here speaks JSON.
pub const CONTENT_TYPE: &str = "application/json";

/// Settings of one embeddings translation beyond the request itself. The pipeline uses the
/// defaults: the configuration has no embeddings options yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddingsOptions {
    /// Cohere `input_type` when the request has none. Default `search_document`. The
    /// configuration should check it against [`COHERE_INPUT_TYPES`].
    pub cohere_input_type: String,
    /// The family of the model, for IDs that do not reveal it (application inference profile
    /// ARNs). `None`: detect it from the model ID.
    pub family_override: Option<Family>,
}

/// Maps the client's `model` to the Bedrock ID to call (an alias's ID, or the name itself);
/// the family is detected from the result. An `Err` (e.g. a model not allowed) is answered.
pub type ResolveModel<'r> = &'r dyn Fn(&str) -> Result<String, ApiError>;

/// The client's `model` is the Bedrock ID.
pub fn model_as_given(model: &str) -> Result<String, ApiError> {
    Ok(model.to_string())
}

impl Default for EmbeddingsOptions {
    fn default() -> Self {
        EmbeddingsOptions {
            cohere_input_type: "search_document".to_string(),
            family_override: None,
        }
    }
}

/// What the translation produced.
#[derive(Debug)]
pub struct EmbeddingsCall {
    /// The model as the client named it (echoed back in the answer).
    pub client_model: String,
    /// The Bedrock model ID, inference profile ID or ARN to put in the path.
    pub model_id: String,
    /// The InvokeModel bodies (`Content-Type: application/json`): one, or one per input for
    /// models that embed one input per call (Titan).
    pub bodies: Vec<Vec<u8>>,
    pub plan: EmbeddingsPlan,
}

impl EmbeddingsCall {
    /// `/model/{modelId}/invoke`, encoded as the AWS SDKs do.
    pub fn path(&self) -> String {
        model_path(&self.model_id, Operation::InvokeModel)
    }
}

/// What [`from_invoke`] needs to translate the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddingsPlan {
    pub client_model: String,
    pub family: Family,
    pub encoding: EncodingFormat,
    /// How many vectors the answer must hold.
    pub inputs: usize,
}

/// Check an OpenAI embeddings request and translate it into an InvokeModel call.
pub fn to_invoke(
    body: &[u8],
    opts: &EmbeddingsOptions,
    resolve: ResolveModel<'_>,
) -> Result<EmbeddingsCall, ApiError> {
    let req = request::parse(body)?;
    let embed = req.validate()?;
    let model_id = resolve(embed.model)?;
    let model_id = model_id.as_str();
    let unsupported = || {
        ApiError::invalid(
            "model",
            format!(
                "`{}` is not a supported embedding model: use Amazon Titan Text Embeddings \
                 (amazon.titan-embed-text-v1, amazon.titan-embed-text-v2:0) or Cohere Embed \
                 (cohere.embed-english-v3, cohere.embed-multilingual-v3, cohere.embed-v4:0)",
                embed.model
            ),
        )
    };
    let family = opts
        .family_override
        .or_else(|| Family::of_model(model_id))
        .ok_or_else(unsupported)?;
    let bodies = match family {
        Family::TitanEmbedV1 => titan::requests(false, &embed)?,
        Family::TitanEmbedV2 => titan::requests(true, &embed)?,
        Family::CohereEmbedV3 => vec![cohere::request(false, &embed, &opts.cohere_input_type)?],
        Family::CohereEmbedV4 => vec![cohere::request(true, &embed, &opts.cohere_input_type)?],
        Family::Anthropic | Family::Nova => return Err(unsupported()),
    };
    Ok(EmbeddingsCall {
        client_model: embed.model.to_string(),
        model_id: model_id.to_string(),
        bodies,
        plan: EmbeddingsPlan {
            client_model: embed.model.to_string(),
            family,
            encoding: embed.encoding,
            inputs: embed.texts.len(),
        },
    })
}

/// Translate a successful InvokeModel answer, also returning the tokens it reported.
/// `input_tokens_header` is the value of `X-Amzn-Bedrock-Input-Token-Count`: Cohere's usage
/// comes from it (Titan's body has its own count); without it usage is 0. A body that is not
/// the expected answer is a 502.
pub fn from_invoke(
    body: &[u8],
    plan: &EmbeddingsPlan,
    input_tokens_header: Option<u64>,
) -> Result<(Vec<u8>, Usage), ApiError> {
    from_answers(
        &[Answer {
            body,
            input_tokens_header,
        }],
        plan,
    )
}

/// One InvokeModel answer: its body and `X-Amzn-Bedrock-Input-Token-Count`.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub body: &'a [u8],
    pub input_tokens_header: Option<u64>,
}

/// The answers of a request's calls, in input order, as one OpenAI list: one answer, or one
/// Titan answer per input with their token counts summed.
pub fn from_answers(
    answers: &[Answer<'_>],
    plan: &EmbeddingsPlan,
) -> Result<(Vec<u8>, Usage), ApiError> {
    let (vectors, tokens) = match plan.family {
        Family::TitanEmbedV1 | Family::TitanEmbedV2 => {
            let mut vectors = Vec::with_capacity(answers.len());
            let mut tokens = 0u64;
            for a in answers {
                let (v, count) = titan::response(a.body)?;
                vectors.push(v);
                tokens = tokens.saturating_add(count.or(a.input_tokens_header).unwrap_or(0));
            }
            (vectors, Some(tokens))
        }
        Family::CohereEmbedV3 | Family::CohereEmbedV4 => match answers {
            [one] => (
                cohere::response(one.body, plan.inputs)?,
                one.input_tokens_header,
            ),
            _ => return Err(ApiError::internal("Cohere answers a batch in one call")),
        },
        Family::Anthropic | Family::Nova => {
            return Err(ApiError::internal(format!(
                "{} is not an embedding family",
                plan.family.name()
            )));
        }
    };
    let tokens = tokens.unwrap_or(0);
    let usage = Usage {
        input_tokens: tokens,
        ..Usage::default()
    };
    vector::write_list(&vectors, plan.encoding, &plan.client_model, tokens).map(|out| (out, usage))
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::{Value, json};

    use super::*;
    use crate::error::ErrorType;

    fn call(req: Value, opts: &EmbeddingsOptions) -> EmbeddingsCall {
        to_invoke(&serde_json::to_vec(&req).unwrap(), opts, &model_as_given).unwrap()
    }

    fn body_of(req: Value) -> String {
        String::from_utf8(call(req, &EmbeddingsOptions::default()).bodies.concat()).unwrap()
    }

    fn err_of(req: Value) -> ApiError {
        to_invoke(
            &serde_json::to_vec(&req).unwrap(),
            &EmbeddingsOptions::default(),
            &model_as_given,
        )
        .unwrap_err()
    }

    fn plan(family: Family, encoding: EncodingFormat, inputs: usize) -> EmbeddingsPlan {
        EmbeddingsPlan {
            client_model: "my-model".to_string(),
            family,
            encoding,
            inputs,
        }
    }

    /// The f32s inside an OpenAI base64 embedding, as numpy's `frombuffer(…, dtype="<f4")` reads them.
    fn decode_f32(b64: &Value) -> Vec<u32> {
        let bytes = STANDARD.decode(b64.as_str().unwrap()).unwrap();
        assert_eq!(bytes.len() % 4, 0);
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]).to_bits())
            .collect()
    }

    fn bits(numbers: &[&str]) -> Vec<u32> {
        numbers
            .iter()
            .map(|n| n.parse::<f32>().unwrap().to_bits())
            .collect()
    }

    #[test]
    fn family_from_model_ids_profiles_and_arns() {
        let cases = [
            ("amazon.titan-embed-text-v1", Some(Family::TitanEmbedV1)),
            (
                "amazon.titan-embed-text-v1:2:8k",
                Some(Family::TitanEmbedV1),
            ),
            ("amazon.titan-embed-g1-text-02", Some(Family::TitanEmbedV1)),
            ("amazon.titan-embed-text-v2:0", Some(Family::TitanEmbedV2)),
            (
                "us.amazon.titan-embed-text-v2:0",
                Some(Family::TitanEmbedV2),
            ),
            ("cohere.embed-english-v3", Some(Family::CohereEmbedV3)),
            ("cohere.embed-multilingual-v3", Some(Family::CohereEmbedV3)),
            (
                "eu.cohere.embed-multilingual-v3",
                Some(Family::CohereEmbedV3),
            ),
            ("cohere.embed-v4:0", Some(Family::CohereEmbedV4)),
            ("us.cohere.embed-v4:0", Some(Family::CohereEmbedV4)),
            ("apac.cohere.embed-v4:0", Some(Family::CohereEmbedV4)),
            ("global.cohere.embed-v4:0", Some(Family::CohereEmbedV4)),
            (
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0",
                Some(Family::TitanEmbedV2),
            ),
            (
                "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.cohere.embed-v4:0",
                Some(Family::CohereEmbedV4),
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:custom-model/cohere.embed-english-v3/x1y2",
                Some(Family::CohereEmbedV3),
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
                None,
            ),
            ("amazon.titan-embed-image-v1", None),
            ("amazon.titan-embed-text-v3", None),
            ("cohere.command-r-v1:0", None),
            ("anthropic.claude-3-haiku-20240307-v1:0", None),
            ("text-embedding-3-small", None),
        ];
        for (id, want) in cases {
            assert_eq!(
                Family::of_model(id).filter(|f| f.is_embeddings()),
                want,
                "{id}"
            );
        }
    }

    #[test]
    fn titan_v2_request() {
        assert_eq!(
            body_of(
                json!({"model": "amazon.titan-embed-text-v2:0", "input": "hello", "dimensions": 512,
                       "encoding_format": "base64", "user": "u-1", "input_type": "search_query"})
            ),
            r#"{"inputText":"hello","dimensions":512,"normalize":true}"#
        );
        // A one-element list is one input; no `dimensions` leaves Titan's default.
        assert_eq!(
            body_of(
                json!({"model": "us.amazon.titan-embed-text-v2:0", "input": ["a \"q\"\n"],
                           "truncate": "NONE"})
            ),
            r#"{"inputText":"a \"q\"\n","normalize":true}"#
        );
    }

    #[test]
    fn titan_v1_request() {
        assert_eq!(
            body_of(json!({"model": "amazon.titan-embed-text-v1", "input": "hello"})),
            r#"{"inputText":"hello"}"#
        );
    }

    #[test]
    fn cohere_v3_request() {
        assert_eq!(
            body_of(json!({"model": "cohere.embed-english-v3", "input": ["a", "b"]})),
            r#"{"texts":["a","b"],"input_type":"search_document"}"#
        );
        assert_eq!(
            body_of(json!({"model": "cohere.embed-english-v3", "input": "q",
                           "input_type": "search_query", "truncate": "END"})),
            r#"{"texts":["q"],"input_type":"search_query","truncate":"END"}"#
        );
        // The configured default applies when the request names none.
        let opts = EmbeddingsOptions {
            cohere_input_type: "clustering".to_string(),
            ..EmbeddingsOptions::default()
        };
        let c = call(
            json!({"model": "cohere.embed-multilingual-v3", "input": ["x"]}),
            &opts,
        );
        assert_eq!(c.bodies, [br#"{"texts":["x"],"input_type":"clustering"}"#]);
    }

    #[test]
    fn cohere_v4_request() {
        assert_eq!(
            body_of(
                json!({"model": "us.cohere.embed-v4:0", "input": ["a", "b"], "dimensions": 256,
                           "truncate": "START", "input_type": "classification"})
            ),
            r#"{"texts":["a","b"],"input_type":"classification","truncate":"LEFT","embedding_types":["float"],"output_dimension":256}"#
        );
        assert_eq!(
            body_of(json!({"model": "cohere.embed-v4:0", "input": "a", "truncate": "END"})),
            r#"{"texts":["a"],"input_type":"search_document","truncate":"RIGHT","embedding_types":["float"]}"#
        );
    }

    #[test]
    fn model_ids_aliases_and_family_override() {
        let c = call(
            json!({"model": "us.cohere.embed-v4:0", "input": "a"}),
            &EmbeddingsOptions::default(),
        );
        assert_eq!(
            (c.client_model.as_str(), c.model_id.as_str(), c.plan.family),
            (
                "us.cohere.embed-v4:0",
                "us.cohere.embed-v4:0",
                Family::CohereEmbedV4
            )
        );
        assert_eq!(c.path(), "/model/us.cohere.embed-v4%3A0/invoke");

        let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3";
        let e = err_of(json!({"model": arn, "input": "a"}));
        assert_eq!(e.param.as_deref(), Some("model"));
        let opts = EmbeddingsOptions {
            family_override: Some(Family::TitanEmbedV2),
            ..EmbeddingsOptions::default()
        };
        let c = call(json!({"model": arn, "input": "a"}), &opts);
        assert_eq!(
            (c.model_id.as_str(), c.plan.family),
            (arn, Family::TitanEmbedV2)
        );
        assert_eq!(c.bodies, [br#"{"inputText":"a","normalize":true}"#]);

        let alias = |m: &str| {
            assert_eq!(m, "text-embedding-3-small");
            Ok("amazon.titan-embed-text-v1".to_string())
        };
        let c = to_invoke(
            &serde_json::to_vec(
                &json!({"model": "text-embedding-3-small", "input": "a", "encoding_format": "base64"}),
            )
            .unwrap(),
            &EmbeddingsOptions::default(),
            &alias,
        )
        .unwrap();
        assert_eq!(
            c.plan,
            EmbeddingsPlan {
                client_model: "text-embedding-3-small".to_string(),
                family: Family::TitanEmbedV1,
                encoding: EncodingFormat::Base64,
                inputs: 1,
            }
        );
        assert_eq!(c.model_id, "amazon.titan-embed-text-v1");
        assert_eq!(c.client_model, "text-embedding-3-small");
    }

    #[test]
    fn cohere_limits() {
        let many: Vec<String> = (0..96).map(|i| format!("t{i}")).collect();
        assert!(
            to_invoke(
                &serde_json::to_vec(&json!({"model": "cohere.embed-english-v3", "input": many}))
                    .unwrap(),
                &EmbeddingsOptions::default(),
                &model_as_given,
            )
            .is_ok()
        );
        let long = "é".repeat(2048);
        let c = call(
            json!({"model": "cohere.embed-english-v3", "input": [long]}),
            &EmbeddingsOptions::default(),
        );
        assert_eq!(c.plan.inputs, 1);
        // v4 has no per-text character limit of its own.
        let longer = "x".repeat(5000);
        assert!(
            to_invoke(
                &serde_json::to_vec(&json!({"model": "cohere.embed-v4:0", "input": longer}))
                    .unwrap(),
                &EmbeddingsOptions::default(),
                &model_as_given,
            )
            .is_ok()
        );
    }

    #[test]
    fn rejections_name_the_parameter() {
        let titan = "amazon.titan-embed-text-v2:0";
        let v1 = "amazon.titan-embed-text-v1";
        let v3 = "cohere.embed-english-v3";
        let v4 = "cohere.embed-v4:0";
        let ninety_seven: Vec<String> = (0..97).map(|i| format!("t{i}")).collect();
        let cases = [
            (json!({"input": "a"}), "model"),
            (json!({"model": " ", "input": "a"}), "model"),
            (json!({"model": "x".repeat(2049), "input": "a"}), "model"),
            (
                json!({"model": "text-embedding-3-small", "input": "a"}),
                "model",
            ),
            (json!({"model": titan}), "input"),
            (json!({"model": titan, "input": null}), "input"),
            (json!({"model": titan, "input": ""}), "input"),
            (json!({"model": titan, "input": []}), "input"),
            (json!({"model": titan, "input": 42}), "input"),
            (json!({"model": titan, "input": {"text": "a"}}), "input"),
            (json!({"model": titan, "input": [1, 2, 3]}), "input"),
            (json!({"model": v3, "input": [[1, 2], [3]]}), "input"),
            (json!({"model": v3, "input": ["a", ""]}), "input[1]"),
            (json!({"model": v3, "input": ["a", 7]}), "input[1]"),
            (json!({"model": v3, "input": ["a", null]}), "input[1]"),
            (json!({"model": v3, "input": ["a", ["b"]]}), "input[1]"),
            (json!({"model": v3, "input": ninety_seven}), "input"),
            (
                json!({"model": v3, "input": ["a", "x".repeat(2049)]}),
                "input[1]",
            ),
            (json!({"model": v3, "input": "x".repeat(2049)}), "input"),
            (
                json!({"model": titan, "input": "a", "encoding_format": "int8"}),
                "encoding_format",
            ),
            (
                json!({"model": titan, "input": "a", "dimensions": 0}),
                "dimensions",
            ),
            (
                json!({"model": titan, "input": "a", "dimensions": -256}),
                "dimensions",
            ),
            (
                json!({"model": titan, "input": "a", "dimensions": 768}),
                "dimensions",
            ),
            (
                json!({"model": titan, "input": "a", "dimensions": 1536}),
                "dimensions",
            ),
            (
                json!({"model": v1, "input": "a", "dimensions": 1536}),
                "dimensions",
            ),
            (
                json!({"model": v3, "input": "a", "dimensions": 1024}),
                "dimensions",
            ),
            (
                json!({"model": v4, "input": "a", "dimensions": 2048}),
                "dimensions",
            ),
            (
                json!({"model": v3, "input": "a", "input_type": "query"}),
                "input_type",
            ),
            (
                json!({"model": v3, "input": "a", "truncate": "end"}),
                "truncate",
            ),
            (
                json!({"model": titan, "input": "a", "truncate": "END"}),
                "truncate",
            ),
        ];
        for (req, param) in cases {
            let e = err_of(req.clone());
            assert_eq!(
                (e.status, e.kind, e.param.as_deref()),
                (400, ErrorType::InvalidRequest, Some(param)),
                "{req}: {e}"
            );
        }
    }

    #[test]
    fn titan_batches_become_one_body_per_input() {
        let c = call(
            json!({"model": "amazon.titan-embed-text-v2:0", "input": ["a", "b"], "dimensions": 256}),
            &EmbeddingsOptions::default(),
        );
        assert_eq!(
            c.bodies,
            [
                br#"{"inputText":"a","dimensions":256,"normalize":true}"#.to_vec(),
                br#"{"inputText":"b","dimensions":256,"normalize":true}"#.to_vec()
            ]
        );
        // Answered back in order, token counts summed.
        let p = plan(Family::TitanEmbedV2, EncodingFormat::Float, 2);
        let answers = [
            Answer {
                body: br#"{"embedding":[0.5],"inputTextTokenCount":1}"#,
                input_tokens_header: None,
            },
            Answer {
                body: br#"{"embedding":[-1]}"#,
                input_tokens_header: Some(4),
            },
        ];
        let (out, usage) = from_answers(&answers, &p).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["data"][1]["embedding"], json!([-1]));
        assert_eq!(
            (v["data"][1]["index"].clone(), usage.input_tokens),
            (json!(1), 5)
        );
        let too_many: Vec<String> = (0..=titan::MAX_INPUTS).map(|i| i.to_string()).collect();
        let e = err_of(json!({"model": "amazon.titan-embed-text-v2:0", "input": too_many}));
        assert_eq!(e.param.as_deref(), Some("input"));
    }

    #[test]
    fn unparseable_bodies_are_400_without_param() {
        for body in [&b"{"[..], b"{\"model\": 1}", b"{\"dimensions\": 1.5}"] {
            let e = to_invoke(body, &EmbeddingsOptions::default(), &model_as_given).unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, None), "{e}");
        }
    }

    #[test]
    fn titan_answer_as_floats_keeps_the_numbers_as_written() {
        let upstream = br#"{"embedding":[0.0361328125, -1.5E-3,2,-0.0],"inputTextTokenCount":3,
            "embeddingsByType":{"float":[0.0361328125,-1.5E-3,2,-0.0]}}"#;
        let out = from_invoke(
            upstream,
            &plan(Family::TitanEmbedV2, EncodingFormat::Float, 1),
            Some(99),
        )
        .unwrap()
        .0;
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0361328125,-1.5E-3,2,-0.0]}],"model":"my-model","usage":{"prompt_tokens":3,"total_tokens":3}}"#
        );
    }

    #[test]
    fn titan_answer_as_base64_is_little_endian_f32() {
        let upstream = br#"{"embedding":[1.0,-2.0,0.5],"inputTextTokenCount":2}"#;
        let out = from_invoke(
            upstream,
            &plan(Family::TitanEmbedV1, EncodingFormat::Base64, 1),
            None,
        )
        .unwrap()
        .0;
        // Same bytes as Python's base64.b64encode(struct.pack("<3f", 1.0, -2.0, 0.5)).
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AACAPwAAAMAAAAA/"}],"model":"my-model","usage":{"prompt_tokens":2,"total_tokens":2}}"#
        );

        // Numbers that are not exact in binary decode to exactly the f32 nearest to the text.
        let numbers = [
            "0.0361328125",
            "-0.0015",
            "0.1",
            "3.4028235e38",
            "1e-45",
            "-0.012345678",
        ];
        let upstream = format!(r#"{{"embedding":[{}]}}"#, numbers.join(","));
        let out = from_invoke(
            upstream.as_bytes(),
            &plan(Family::TitanEmbedV2, EncodingFormat::Base64, 1),
            Some(5),
        )
        .unwrap()
        .0;
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(decode_f32(&v["data"][0]["embedding"]), bits(&numbers));
        // No token count in the body: the header's.
        assert_eq!(v["usage"], json!({"prompt_tokens": 5, "total_tokens": 5}));
    }

    #[test]
    fn cohere_v3_answer_as_floats() {
        let upstream = br#"{"id":"e1","response_type":"embeddings_floats","texts":["a","b"],
            "embeddings":[[0.5,-0.25],[1e-3,0]]}"#;
        let out = from_invoke(
            upstream,
            &plan(Family::CohereEmbedV3, EncodingFormat::Float, 2),
            Some(7),
        )
        .unwrap()
        .0;
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-0.25]},{"object":"embedding","index":1,"embedding":[1e-3,0]}],"model":"my-model","usage":{"prompt_tokens":7,"total_tokens":7}}"#
        );
    }

    #[test]
    fn cohere_v4_answer_as_base64() {
        let upstream = br#"{"id":"e2","response_type":"embeddings_by_type","texts":["a","b"],
            "embeddings":{"float":[[0.1,0.2,0.3],[-0.4,0.5,-0.6]]}}"#;
        let out = from_invoke(
            upstream,
            &plan(Family::CohereEmbedV4, EncodingFormat::Base64, 2),
            None,
        )
        .unwrap()
        .0;
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["model"], "my-model");
        assert_eq!(v["usage"], json!({"prompt_tokens": 0, "total_tokens": 0}));
        assert_eq!(v["data"][1]["index"], 1);
        assert_eq!(v["data"][1]["object"], "embedding");
        assert_eq!(
            decode_f32(&v["data"][0]["embedding"]),
            bits(&["0.1", "0.2", "0.3"])
        );
        assert_eq!(
            decode_f32(&v["data"][1]["embedding"]),
            bits(&["-0.4", "0.5", "-0.6"])
        );
    }

    #[test]
    fn client_model_is_escaped_in_the_answer() {
        let p = EmbeddingsPlan {
            client_model: "a\"b\\c".to_string(),
            ..plan(Family::TitanEmbedV2, EncodingFormat::Float, 1)
        };
        let out = from_invoke(br#"{"embedding":[1]}"#, &p, None).unwrap().0;
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "a\"b\\c");
    }

    #[test]
    fn unreadable_answers_are_502() {
        let cases: [(&[u8], Family, usize); 9] = [
            (b"not json", Family::TitanEmbedV2, 1),
            (br#"{"inputTextTokenCount":1}"#, Family::TitanEmbedV2, 1),
            (br#"{"embedding":[]}"#, Family::TitanEmbedV1, 1),
            (br#"{"embedding":"AAAA"}"#, Family::TitanEmbedV1, 1),
            (br#"{"embedding":[1,null]}"#, Family::TitanEmbedV1, 1),
            (br#"{"embeddings":[[1]]}"#, Family::CohereEmbedV3, 2),
            (
                br#"{"embeddings":{"int8":[[1]]}}"#,
                Family::CohereEmbedV4,
                1,
            ),
            (br#"{"embeddings":[[1],"x"]}"#, Family::CohereEmbedV3, 2),
            (br#"{"message":"x"}"#, Family::CohereEmbedV3, 1),
        ];
        for (body, family, inputs) in cases {
            let e =
                from_invoke(body, &plan(family, EncodingFormat::Float, inputs), None).unwrap_err();
            assert_eq!(
                (e.status, e.kind, e.code.as_deref()),
                (502, ErrorType::Api, Some("bad_upstream_response")),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
