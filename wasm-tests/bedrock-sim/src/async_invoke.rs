//! StartAsyncInvoke, GetAsyncInvoke and ListAsyncInvokes: invocations kept in memory.
//!
//! An invocation starts `InProgress`; the first GetAsyncInvoke of it still says so, every
//! later one reports it `Completed` (with `endTime`). A `clientRequestToken` seen before
//! (in the same region) answers the same ARN when the rest of the request is the same,
//! and a `ConflictException` when it differs. Nothing is written to S3.

use base64::Engine as _;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::converse::parse_json_body;
use crate::errors::AwsError;
use crate::model_id::check_model_id;
use crate::shapes::{Model, Violation, violations_message};
use crate::util::{format_iso8601_ms, parse_iso8601_ms, percent_decode};

/// The account in the ARNs the simulator makes.
pub const ACCOUNT: &str = "123456789012";
/// ListAsyncInvokes page size without `maxResults`.
pub const DEFAULT_PAGE_SIZE: usize = 10;

/// A valid StartAsyncInvoke request.
#[derive(Debug, Clone, PartialEq)]
pub struct StartRequest {
    token: Option<String>,
    /// The foundation or provisioned model: `foundation-model/<id>` (to put in an ARN of
    /// the request's region) or a whole model ARN.
    model: ModelRef,
    output_data_config: Value,
    /// The request without its token: what a repeated token must match.
    fingerprint: Value,
}

#[derive(Debug, Clone, PartialEq)]
enum ModelRef {
    Foundation(String),
    Arn(String),
}

impl ModelRef {
    fn arn(&self, region: &str) -> String {
        match self {
            ModelRef::Foundation(id) => format!("arn:aws:bedrock:{region}::foundation-model/{id}"),
            ModelRef::Arn(a) => a.clone(),
        }
    }
}

fn check(shape: &str, v: &Value) -> Result<(), AwsError> {
    match violations_message(&Model::runtime().validate(shape, v)) {
        Some(m) => Err(AwsError::validation(m)),
        None => Ok(()),
    }
}

/// Validates a StartAsyncInvoke body against the API model, then its `modelId`: a
/// foundation model (ID, cross-region profile ID, or ARN) or a provisioned model ARN, as
/// the response's `modelArn` can only name those.
pub fn parse_start(body: &[u8]) -> Result<StartRequest, AwsError> {
    let v = parse_json_body(body)?;
    if !v.is_object() {
        return Err(AwsError::malformed("#: expected type: JSONObject"));
    }
    check("StartAsyncInvokeRequest", &v)?;
    let model_id = v.get("modelId").and_then(Value::as_str).unwrap_or("");
    let info = check_model_id(model_id)?;
    let model = if !model_id.starts_with("arn:") {
        ModelRef::Foundation(info.base.clone())
    } else if model_id.contains(":foundation-model/") || model_id.contains(":provisioned-model/") {
        ModelRef::Arn(model_id.to_owned())
    } else if model_id.contains(":inference-profile/") {
        ModelRef::Foundation(info.base.clone())
    } else {
        return Err(AwsError::validation(format!(
            "The provided model identifier is invalid. StartAsyncInvoke takes a foundation model or a provisioned model, not {model_id}."
        )));
    };
    let mut fingerprint = v.clone();
    let token = fingerprint
        .as_object_mut()
        .and_then(|o| o.remove("clientRequestToken"))
        .and_then(|t| t.as_str().map(str::to_owned));
    Ok(StartRequest {
        token,
        model,
        output_data_config: v.get("outputDataConfig").cloned().unwrap_or(Value::Null),
        fingerprint,
    })
}

/// Validates the `{invocationArn}` label (decoded) against the API model.
pub fn parse_arn(label: Option<&str>) -> Result<String, AwsError> {
    let Some(arn) = label else {
        return Err(AwsError::validation(
            "The invocationArn in the path is not a valid percent-encoded string.",
        ));
    };
    let violations =
        Model::runtime().validate_member("InvocationArn", &json!(arn), "invocationArn");
    match violations_message(&violations) {
        Some(m) => Err(AwsError::validation(m)),
        None => Ok(arn.to_owned()),
    }
}

/// A valid ListAsyncInvokes query.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    submit_after_ms: Option<i64>,
    submit_before_ms: Option<i64>,
    status: Option<String>,
    max_results: usize,
    /// The sort key of the last item of the previous page.
    after_key: Option<(i64, u64)>,
    ascending: bool,
}

fn encode_token(key: (i64, u64)) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("sim1:{}:{}", key.0, key.1))
}

fn decode_token(token: &str) -> Option<(i64, u64)> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let rest = text.strip_prefix("sim1:")?;
    let (ms, seq) = rest.split_once(':')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// Parses and validates the query string: `submitTimeAfter`, `submitTimeBefore`
/// (ISO-8601), `statusEquals`, `maxResults` (1..1000), `nextToken`, `sortBy`
/// (`SubmissionTime`), `sortOrder` (`Ascending`, `Descending` by default). Other
/// parameters are ignored, as AWS does; a repeated one counts by its last value.
pub fn parse_list(query: Option<&str>) -> Result<ListQuery, AwsError> {
    let mut params: Map<String, Value> = Map::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (percent_decode(k), percent_decode(v)) else {
            return Err(AwsError::validation(format!(
                "The query parameter {pair} is not a valid percent-encoded string."
            )));
        };
        params.insert(k, Value::String(v));
    }
    let model = Model::runtime();
    let mut violations: Vec<Violation> = Vec::new();
    let text = |name: &str| params.get(name).and_then(Value::as_str);
    let timestamp = |name: &str, violations: &mut Vec<Violation>| -> Option<i64> {
        let raw = text(name)?;
        let parsed = parse_iso8601_ms(raw);
        if parsed.is_none() {
            violations.push(Violation::Constraint {
                path: name.to_owned(),
                value: raw.to_owned(),
                constraint: "Member must be a timestamp in ISO-8601 format".into(),
            });
        }
        parsed
    };
    let submit_after_ms = timestamp("submitTimeAfter", &mut violations);
    let submit_before_ms = timestamp("submitTimeBefore", &mut violations);
    for (name, shape) in [
        ("statusEquals", "AsyncInvokeStatus"),
        ("nextToken", "PaginationToken"),
        ("sortBy", "SortAsyncInvocationBy"),
        ("sortOrder", "SortOrder"),
    ] {
        if let Some(v) = params.get(name) {
            violations.extend(model.validate_member(shape, v, name));
        }
    }
    let mut max_results = DEFAULT_PAGE_SIZE;
    if let Some(raw) = text("maxResults") {
        match raw.parse::<i64>() {
            Ok(n) => {
                violations.extend(model.validate_member("MaxResults", &json!(n), "maxResults"));
                max_results = usize::try_from(n).unwrap_or(DEFAULT_PAGE_SIZE);
            }
            Err(_) => violations.push(Violation::Constraint {
                path: "maxResults".into(),
                value: raw.to_owned(),
                constraint: "Member must be an integer".into(),
            }),
        }
    }
    if let Some(m) = violations_message(&violations) {
        return Err(AwsError::validation(m));
    }
    let after_key = match text("nextToken") {
        None => None,
        Some(t) => Some(decode_token(t).ok_or_else(|| {
            AwsError::validation(format!(
                "The nextToken {t} is not valid: use a token a previous ListAsyncInvokes returned."
            ))
        })?),
    };
    Ok(ListQuery {
        submit_after_ms,
        submit_before_ms,
        status: text("statusEquals").map(str::to_owned),
        max_results,
        after_key,
        ascending: text("sortOrder") == Some("Ascending"),
    })
}

#[derive(Debug, Clone)]
struct Invocation {
    seq: u64,
    region: String,
    arn: String,
    model_arn: String,
    token: Option<String>,
    fingerprint: Value,
    status: &'static str,
    submit_ms: i64,
    last_modified_ms: i64,
    end_ms: Option<i64>,
    output_data_config: Value,
    gets: u32,
}

impl Invocation {
    fn key(&self) -> (i64, u64) {
        (self.submit_ms, self.seq)
    }

    /// The GetAsyncInvokeResponse / AsyncInvokeSummary members.
    fn to_json(&self) -> Value {
        let mut v = json!({
            "invocationArn": self.arn,
            "modelArn": self.model_arn,
            "status": self.status,
            "submitTime": format_iso8601_ms(self.submit_ms),
            "lastModifiedTime": format_iso8601_ms(self.last_modified_ms),
            "outputDataConfig": self.output_data_config,
        });
        if let Some(o) = v.as_object_mut() {
            if let Some(t) = &self.token {
                o.insert("clientRequestToken".into(), json!(t));
            }
            if let Some(end) = self.end_ms {
                o.insert("endTime".into(), json!(format_iso8601_ms(end)));
            }
        }
        v
    }
}

/// The invocations started so far.
#[derive(Debug, Default)]
pub struct AsyncStore {
    items: Vec<Invocation>,
    next_seq: u64,
}

impl AsyncStore {
    /// StartAsyncInvoke's answer: `{"invocationArn": ...}`, the same for a repeated
    /// token and request, a `ConflictException` for a repeated token and another request.
    pub fn start(
        &mut self,
        req: &StartRequest,
        region: &str,
        now_ms: i64,
    ) -> Result<Value, AwsError> {
        if let Some(token) = &req.token
            && let Some(prev) = self
                .items
                .iter()
                .find(|i| i.region == region && i.token.as_ref() == Some(token))
        {
            if prev.fingerprint == req.fingerprint {
                return Ok(json!({ "invocationArn": prev.arn }));
            }
            return Err(AwsError::new(
                400,
                "ConflictException",
                format!(
                    "The clientRequestToken {token} was already used for a different StartAsyncInvoke request."
                ),
            ));
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        let digest = Sha256::digest(format!("{seq}:{region}:{}", req.fingerprint).as_bytes());
        let id: String = hex::encode(digest).chars().take(12).collect();
        let arn = format!("arn:aws:bedrock:{region}:{ACCOUNT}:async-invoke/{id}");
        self.items.push(Invocation {
            seq,
            region: region.to_owned(),
            arn: arn.clone(),
            model_arn: req.model.arn(region),
            token: req.token.clone(),
            fingerprint: req.fingerprint.clone(),
            status: "InProgress",
            submit_ms: now_ms,
            last_modified_ms: now_ms,
            end_ms: None,
            output_data_config: req.output_data_config.clone(),
            gets: 0,
        });
        Ok(json!({ "invocationArn": arn }))
    }

    /// GetAsyncInvoke's answer. The first one of an invocation reports it `InProgress`,
    /// the later ones `Completed`. An unknown ARN is a ValidationException: the operation
    /// has no ResourceNotFoundException in the API model.
    pub fn get(&mut self, arn: &str, now_ms: i64) -> Result<Value, AwsError> {
        let Some(inv) = self.items.iter_mut().find(|i| i.arn == arn) else {
            return Err(AwsError::validation(format!(
                "The specified invocation ARN does not exist: {arn}"
            )));
        };
        inv.gets += 1;
        if inv.gets >= 2 && inv.status == "InProgress" {
            inv.status = "Completed";
            inv.end_ms = Some(now_ms);
            inv.last_modified_ms = now_ms;
        }
        Ok(inv.to_json())
    }

    /// ListAsyncInvokes' answer: the invocations of `region` that pass the filters,
    /// sorted by submission time, one page after the token's position.
    pub fn list(&self, q: &ListQuery, region: &str) -> Value {
        let mut matching: Vec<&Invocation> = self
            .items
            .iter()
            .filter(|i| i.region == region)
            .filter(|i| q.submit_after_ms.is_none_or(|t| i.submit_ms > t))
            .filter(|i| q.submit_before_ms.is_none_or(|t| i.submit_ms < t))
            .filter(|i| q.status.as_deref().is_none_or(|s| i.status == s))
            .collect();
        matching.sort_by_key(|i| i.key());
        if !q.ascending {
            matching.reverse();
        }
        let rest: Vec<&Invocation> = match q.after_key {
            None => matching,
            Some(k) => matching
                .into_iter()
                .filter(|i| {
                    if q.ascending {
                        i.key() > k
                    } else {
                        i.key() < k
                    }
                })
                .collect(),
        };
        let page: Vec<&Invocation> = rest.iter().take(q.max_results).copied().collect();
        let mut out = json!({
            "asyncInvokeSummaries": page.iter().map(|i| i.to_json()).collect::<Vec<_>>()
        });
        if rest.len() > page.len()
            && let Some(last) = page.last()
            && let Some(o) = out.as_object_mut()
        {
            o.insert("nextToken".into(), json!(encode_token(last.key())));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGION: &str = "us-east-1";

    fn start_body(token: Option<&str>, prompt: &str) -> Vec<u8> {
        let mut v = json!({
            "modelId": "amazon.nova-reel-v1:1",
            "modelInput": {"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": prompt}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://my-bucket/videos"}}
        });
        if let Some(t) = token {
            v["clientRequestToken"] = json!(t);
        }
        v.to_string().into_bytes()
    }

    fn valid(shape: &str, v: &Value) {
        let violations = Model::runtime().validate(shape, v);
        assert!(violations.is_empty(), "{shape}: {violations:?}\n{v}");
    }

    #[test]
    fn start_get_complete() {
        let mut store = AsyncStore::default();
        let req = parse_start(&start_body(Some("tok-1"), "a cat")).unwrap();
        let started = store.start(&req, REGION, 1_000).unwrap();
        valid("StartAsyncInvokeResponse", &started);
        let arn = started["invocationArn"].as_str().unwrap().to_owned();
        assert!(
            arn.starts_with("arn:aws:bedrock:us-east-1:123456789012:async-invoke/"),
            "{arn}"
        );
        assert_eq!(parse_arn(Some(&arn)).unwrap(), arn);

        let first = store.get(&arn, 2_000).unwrap();
        valid("GetAsyncInvokeResponse", &first);
        assert_eq!(first["status"], "InProgress");
        assert_eq!(first["submitTime"], "1970-01-01T00:00:01.000Z");
        assert_eq!(first["clientRequestToken"], "tok-1");
        assert_eq!(
            first["modelArn"],
            "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-reel-v1:1"
        );
        assert_eq!(
            first["outputDataConfig"],
            json!({"s3OutputDataConfig": {"s3Uri": "s3://my-bucket/videos"}})
        );
        assert!(first.get("endTime").is_none());
        let second = store.get(&arn, 3_000).unwrap();
        valid("GetAsyncInvokeResponse", &second);
        assert_eq!(second["status"], "Completed");
        assert_eq!(second["endTime"], "1970-01-01T00:00:03.000Z");
        assert_eq!(second["lastModifiedTime"], "1970-01-01T00:00:03.000Z");
        assert_eq!(
            store.get(&arn, 9_000).unwrap()["endTime"],
            second["endTime"]
        );
    }

    #[test]
    fn client_request_token_is_idempotent() {
        let mut store = AsyncStore::default();
        let req = parse_start(&start_body(Some("tok-1"), "a cat")).unwrap();
        let a = store.start(&req, REGION, 1).unwrap();
        let b = store.start(&req, REGION, 2).unwrap();
        assert_eq!(a, b);
        let other = parse_start(&start_body(Some("tok-1"), "a dog")).unwrap();
        let e = store.start(&other, REGION, 3).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "ConflictException"));
        assert!(e.error_type_header().starts_with("ConflictException:"));
        // Without a token (or another token) every start is new.
        let none = parse_start(&start_body(None, "a cat")).unwrap();
        let c = store.start(&none, REGION, 4).unwrap();
        let d = store.start(&none, REGION, 5).unwrap();
        assert_ne!(c, d);
        assert_ne!(a, c);
    }

    #[test]
    fn unknown_arn_is_a_validation_error() {
        let mut store = AsyncStore::default();
        let e = store
            .get(
                "arn:aws:bedrock:us-east-1:123456789012:async-invoke/abcdef123456",
                1,
            )
            .unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "ValidationException"));
        assert!(e.message.contains("does not exist"), "{}", e.message);
        let e = parse_arn(Some(
            "arn:aws:bedrock:us-east-1:123456789012:async-invoke/ABC",
        ))
        .unwrap_err();
        assert!(
            e.message.starts_with("1 validation error detected: Value 'arn:aws:bedrock:us-east-1:123456789012:async-invoke/ABC' at 'invocationArn' failed to satisfy constraint: Member must satisfy regular expression pattern"),
            "{}",
            e.message
        );
    }

    #[test]
    fn start_request_follows_the_model() {
        let bad = |v: Value| parse_start(v.to_string().as_bytes()).unwrap_err().message;
        let m = bad(json!({"modelId": "amazon.nova-reel-v1:1", "modelInput": {}}));
        assert!(
            m.contains("'outputDataConfig' failed to satisfy constraint: Member must not be null"),
            "{m}"
        );
        let m = bad(json!({"modelId": "amazon.nova-reel-v1:1", "modelInput": {},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "https://bucket/x"}}}));
        assert!(
            m.contains("'outputDataConfig.s3OutputDataConfig.s3Uri'"),
            "{m}"
        );
        let m = bad(json!({"modelId": "amazon.nova-reel-v1:1", "modelInput": {},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/x", "kms": "k"}}}));
        assert!(m.contains("extraneous key [kms]"), "{m}");
        let m = bad(
            json!({"modelId": "amazon.nova-reel-v1:1", "modelInput": {}, "clientRequestToken": "",
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/x"}}}),
        );
        assert!(m.contains("'clientRequestToken'"), "{m}");
        let m = bad(json!({"modelId": "not a model", "modelInput": {},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/x"}}}));
        assert!(m.contains("'modelId'"), "{m}");
        let m = bad(
            json!({"modelId": "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
            "modelInput": {}, "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/x"}}}),
        );
        assert!(
            m.starts_with("The provided model identifier is invalid."),
            "{m}"
        );
        let ok = parse_start(
            json!({"modelId": "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/a1b2c3d4e5f6",
                "modelInput": {}, "tags": [{"key": "team", "value": "ml"}],
                "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/x", "bucketOwner": "123456789012"}}})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            ok.model.arn("eu-west-1"),
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/a1b2c3d4e5f6"
        );
    }

    fn filled(n: i64) -> AsyncStore {
        let mut store = AsyncStore::default();
        for i in 0..n {
            let req = parse_start(&start_body(None, &format!("clip {i}"))).unwrap();
            store.start(&req, REGION, 1_000 * (i + 1)).unwrap();
        }
        store
    }

    fn arns(v: &Value) -> Vec<String> {
        v["asyncInvokeSummaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["submitTime"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn list_pages_through_everything() {
        let store = filled(7);
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let q = match &token {
                None => "maxResults=3".to_owned(),
                Some(t) => format!("maxResults=3&nextToken={t}"),
            };
            let page = store.list(&parse_list(Some(&q)).unwrap(), REGION);
            valid("ListAsyncInvokesResponse", &page);
            pages += 1;
            seen.extend(arns(&page));
            match page.get("nextToken").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        // Descending by default: newest first, each once.
        let expected: Vec<String> = (1..=7).rev().map(|i| format_iso8601_ms(i * 1000)).collect();
        assert_eq!(seen, expected);
        let asc = store.list(
            &parse_list(Some(
                "sortOrder=Ascending&sortBy=SubmissionTime&maxResults=2",
            ))
            .unwrap(),
            REGION,
        );
        assert_eq!(
            arns(&asc),
            [format_iso8601_ms(1000), format_iso8601_ms(2000)]
        );
        // Default page size.
        let store = filled(12);
        let page = store.list(&parse_list(None).unwrap(), REGION);
        assert_eq!(arns(&page).len(), DEFAULT_PAGE_SIZE);
        assert!(page.get("nextToken").is_some());
        // Another region sees nothing.
        let other = store.list(&parse_list(None).unwrap(), "eu-west-1");
        assert_eq!(other, json!({"asyncInvokeSummaries": []}));
    }

    #[test]
    fn list_filters() {
        let mut store = filled(4);
        let arn = store.items[1].arn.clone();
        store.get(&arn, 10_000).unwrap();
        store.get(&arn, 11_000).unwrap();
        let q = |s: &str| store.list(&parse_list(Some(s)).unwrap(), REGION);
        let done = q("statusEquals=Completed");
        assert_eq!(done["asyncInvokeSummaries"].as_array().unwrap().len(), 1);
        assert_eq!(done["asyncInvokeSummaries"][0]["invocationArn"], json!(arn));
        assert_eq!(arns(&q("statusEquals=InProgress")).len(), 3);
        // Timestamps percent-encoded as botocore sends them; bounds are exclusive.
        let window = q(
            "submitTimeAfter=1970-01-01T00%3A00%3A01Z&submitTimeBefore=1970-01-01T00%3A00%3A04.000000Z",
        );
        assert_eq!(
            arns(&window),
            [format_iso8601_ms(3000), format_iso8601_ms(2000)]
        );
    }

    #[test]
    fn list_query_validation() {
        let err = |s: &str| parse_list(Some(s)).unwrap_err().message;
        assert_eq!(
            err("maxResults=0"),
            "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
        assert!(err("maxResults=1001").contains("less than or equal to 1000"));
        assert!(err("maxResults=ten").contains("Member must be an integer"));
        assert!(
            err("statusEquals=Done")
                .contains("Member must satisfy enum value set: [InProgress, Completed, Failed]")
        );
        assert!(err("sortBy=Name").contains("'sortBy'"));
        assert!(err("sortOrder=Up").contains("'sortOrder'"));
        assert!(err("submitTimeAfter=yesterday").contains("'submitTimeAfter'"));
        assert!(err("nextToken=bogus").contains("nextToken"));
        assert!(err("maxResults=0&sortOrder=Up").starts_with("2 validation errors detected"));
        // Unknown parameters are ignored.
        assert_eq!(
            parse_list(Some("foo=bar")).unwrap().max_results,
            DEFAULT_PAGE_SIZE
        );
    }
}
