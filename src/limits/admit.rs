//! One request against the limits: admitted (requests counted at once, tokens and spend
//! checked), or refused with the limit it is over; once the answer is complete, its tokens and
//! cost are charged.
//!
//! Requests are counted when admitted, with a capped compare-and-swap, so a requests-per-minute
//! limit is never passed. Tokens and spend are only known when Bedrock has answered, so a
//! request is admitted while its caller is still under those limits and charged afterwards:
//! requests admitted together can take a caller past a token or spend limit by what they use
//! themselves, and no further (the bound `docs/rate-limits.md` states and the tests check).

use super::counter::{self, SharedStore, StoreError, Window};
use super::rules::{Limit, Limits, Measure};
use crate::error::{ApiError, ErrorType};
use crate::usage::Usage;

/// Where one kind of limit stands for a caller: the `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the window resets.
    pub resets_in: u64,
}

impl Quota {
    /// The tighter of two quotas (the one with less left).
    fn tighter(a: Option<Quota>, b: Quota) -> Quota {
        match a {
            Some(a) if a.remaining <= b.remaining => a,
            _ => b,
        }
    }
}

/// An admitted request: what its answer will be charged on, and where its caller stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admission {
    /// The records (shared-data keys) the answer's tokens and cost are charged to.
    charges: Vec<String>,
    /// Where the caller's request limit stands after this request.
    pub requests: Option<Quota>,
    /// Where the caller's token limit stands before this request's tokens.
    pub tokens: Option<Quota>,
}

impl Admission {
    /// Whether anything limits this request (and so whether there are headers to write).
    pub fn is_limited(&self) -> bool {
        self.requests.is_some() || !self.charges.is_empty()
    }

    /// The OpenAI `x-ratelimit-*` headers for the limits that hold this request.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (quota, names) in [
            (
                self.requests,
                [
                    "x-ratelimit-limit-requests",
                    "x-ratelimit-remaining-requests",
                    "x-ratelimit-reset-requests",
                ],
            ),
            (
                self.tokens,
                [
                    "x-ratelimit-limit-tokens",
                    "x-ratelimit-remaining-tokens",
                    "x-ratelimit-reset-tokens",
                ],
            ),
        ] {
            if let Some(q) = quota {
                let [limit, remaining, reset] = names;
                out.push((limit, q.limit.to_string()));
                out.push((remaining, q.remaining.to_string()));
                out.push((reset, duration(q.resets_in)));
            }
        }
        out
    }

    /// Charge what the answer used: its tokens, and its cost in micro-USD, to every token and
    /// spend slot of each record (one read and one write per record). Every record is tried;
    /// the first store failure is returned.
    pub fn charge(
        &self,
        store: &mut dyn SharedStore,
        usage: &Usage,
        cost_micro_usd: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        let tokens = usage.prompt_tokens().saturating_add(usage.output_tokens);
        if tokens == 0 && cost_micro_usd == 0 {
            return Ok(());
        }
        let mut result = Ok(());
        for key in &self.charges {
            let charged = counter::update(store, key, &WINDOWS, now, |counts| {
                for ((measure, _), count) in SLOTS.iter().zip(counts.iter_mut()) {
                    let amount = match measure {
                        Measure::Tokens => tokens,
                        Measure::MicroUsd => cost_micro_usd,
                        Measure::Requests => 0,
                    };
                    *count = count.saturating_add(amount);
                }
                true
            });
            if let Err(e) = charged {
                result = result.and(Err(e));
            }
        }
        result
    }
}

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Over `limit`, which stands at `used`; its window resets in `retry_after` seconds.
    Over {
        limit: Limit,
        used: u64,
        retry_after: u64,
    },
    /// A spend limit covers the model, and the model has no price to count it with.
    Unpriced,
    /// The shared counters failed (the request is refused rather than let through uncounted).
    Store(StoreError),
}

impl Refused {
    /// Where the limit a refusal is over stands, for the refusal's `x-ratelimit-*` headers.
    pub fn admission(&self) -> Option<Admission> {
        let Refused::Over {
            limit,
            used,
            retry_after,
        } = self
        else {
            return None;
        };
        let quota = Some(Quota {
            limit: limit.max,
            remaining: limit.max.saturating_sub(*used),
            resets_in: *retry_after,
        });
        match limit.measure {
            Measure::Requests => Some(Admission {
                requests: quota,
                ..Admission::default()
            }),
            Measure::Tokens => Some(Admission {
                tokens: quota,
                ..Admission::default()
            }),
            Measure::MicroUsd => None,
        }
    }

    /// The answer to the client: 429 over a limit (`insufficient_quota` for a spend budget,
    /// `rate_limit_exceeded` otherwise), with `retry-after`.
    pub fn to_error(&self, caller: &str, model: &str) -> ApiError {
        match self {
            Refused::Over {
                limit,
                used,
                retry_after,
            } => {
                let wait = duration(*retry_after);
                let retry = u32::try_from(*retry_after).unwrap_or(u32::MAX);
                if limit.measure == Measure::MicroUsd {
                    return ApiError::new(
                        429,
                        ErrorType::InsufficientQuota,
                        format!(
                            "You exceeded your current quota: caller `{caller}` has used \
                             {} of its {} USD {} budget for model `{model}`. It resets in \
                             {wait}.",
                            usd(*used),
                            usd(limit.max),
                            if limit.window == counter::Window::Month {
                                "monthly"
                            } else {
                                "daily"
                            },
                        ),
                    )
                    .with_code("insufficient_quota")
                    .with_retry_after(retry);
                }
                ApiError::new(
                    429,
                    ErrorType::RateLimit,
                    format!(
                        "Rate limit reached for {} for caller `{caller}` on model `{model}`: \
                         Limit {}, Used {used}. Please try again in {wait}.",
                        limit.describe(),
                        limit.max,
                    ),
                )
                .with_code("rate_limit_exceeded")
                .with_retry_after(retry)
            }
            Refused::Unpriced => ApiError::invalid(
                "model",
                format!(
                    "caller `{caller}` has a spend limit, and the gateway has no price for \
                     model `{model}` to count it with: use a model of the configuration"
                ),
            )
            .with_code("model_not_priced"),
            Refused::Store(e) => ApiError::new(
                503,
                ErrorType::Api,
                match e {
                    StoreError::CasMismatch => {
                        "the gateway's rate-limit counters are too busy to count this request; \
                         retry"
                    }
                    StoreError::Unavailable => {
                        "the gateway cannot count this request against its rate limits"
                    }
                },
            )
            .with_code("limits_unavailable")
            .with_retry_after(1),
        }
    }
}

/// The slots of every record: what each counts, in which window. Every [`Limit`] has one.
pub const SLOTS: [(Measure, Window); 5] = [
    (Measure::Requests, Window::Minute),
    (Measure::Tokens, Window::Minute),
    (Measure::Tokens, Window::Day),
    (Measure::MicroUsd, Window::Day),
    (Measure::MicroUsd, Window::Month),
];

/// The windows of [`SLOTS`], in order: what [`counter`] reads and writes a record with.
pub const WINDOWS: [Window; 5] = [SLOTS[0].1, SLOTS[1].1, SLOTS[2].1, SLOTS[3].1, SLOTS[4].1];

/// The slot of a record that counts for `limit` (its index in [`SLOTS`]).
fn slot(limit: &Limit) -> usize {
    match (limit.measure, limit.window) {
        (Measure::Requests, _) => 0,
        (Measure::Tokens, Window::Minute) => 1,
        (Measure::Tokens, _) => 2,
        (Measure::MicroUsd, Window::Month) => 4,
        (Measure::MicroUsd, _) => 3,
    }
}

/// Admit a request of `caller` to the model the client named `alias` (`model_id` on Bedrock),
/// at `now` (unix seconds). `priced`: whether the model has a price.
///
/// Each record that holds the request is read once and, when it has a request limit, written
/// once: its token and spend limits checked and its request counted in one compare-and-swap.
pub fn admit(
    store: &mut dyn SharedStore,
    limits: &Limits,
    caller: &str,
    alias: &str,
    model_id: &str,
    priced: bool,
    now: u64,
) -> Result<Admission, Refused> {
    // Every record that holds this request, with its limits (the lowest, when two rules with
    // the same models set one twice).
    let mut records: Vec<(String, Vec<Limit>)> = Vec::new();
    for rule in limits
        .rules_of(caller)
        .filter(|r| r.covers(alias, model_id))
    {
        if rule.counts_spend() && !priced {
            return Err(Refused::Unpriced);
        }
        let key = rule.key(caller);
        let index = match records.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                records.push((key, Vec::new()));
                records.len() - 1
            }
        };
        let Some((_, held)) = records.get_mut(index) else {
            continue;
        };
        for limit in &rule.limits {
            match held.iter_mut().find(|l| slot(l) == slot(limit)) {
                Some(l) => l.max = l.max.min(limit.max),
                None => held.push(*limit),
            }
        }
    }
    let mut admission = Admission::default();
    let mut counted: Vec<&str> = Vec::new();
    for (key, held) in &records {
        let requests = held.iter().find(|l| l.measure == Measure::Requests);
        let mut over: Option<(Limit, u64)> = None;
        let result = counter::update(store, key, &WINDOWS, now, |counts| {
            over = held.iter().find_map(|l| {
                // Requests: this one would be one too many; tokens and spend: already used
                // up by earlier answers.
                let used = counts.get(slot(l)).copied().unwrap_or(0);
                (used >= l.max).then_some((*l, used))
            });
            match (over, requests.and_then(|_| counts.get_mut(0))) {
                (None, Some(count)) => {
                    *count = count.saturating_add(1);
                    true
                }
                _ => false,
            }
        });
        let refused = match (result, over) {
            (Ok(counts), None) => {
                if requests.is_some() {
                    counted.push(key);
                }
                for l in held {
                    let used = counts.get(slot(l)).copied().unwrap_or(0);
                    let quota = Quota {
                        limit: l.max,
                        remaining: l.max.saturating_sub(used),
                        resets_in: l.window.span(now).resets_in,
                    };
                    match l.measure {
                        Measure::Requests => {
                            admission.requests = Some(Quota::tighter(admission.requests, quota));
                        }
                        Measure::Tokens => {
                            admission.tokens = Some(Quota::tighter(admission.tokens, quota));
                        }
                        Measure::MicroUsd => {}
                    }
                }
                if held.iter().any(|l| l.measure != Measure::Requests) {
                    admission.charges.push(key.clone());
                }
                continue;
            }
            (Ok(_), Some((limit, used))) => Refused::Over {
                limit,
                used,
                retry_after: limit.window.span(now).resets_in,
            },
            (Err(e), _) => Refused::Store(e),
        };
        // Not admitted: the requests already counted for it are given back.
        for key in counted {
            let _ = counter::update(store, key, &WINDOWS, now, |counts| {
                match counts.first_mut() {
                    Some(count) => {
                        *count = count.saturating_sub(1);
                        true
                    }
                    None => false,
                }
            });
        }
        return Err(refused);
    }
    Ok(admission)
}

/// Seconds as OpenAI writes its reset headers (Go durations): `12s`, `6m0s`, `1h2m3s`.
pub fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Micro-USD as dollars with six decimals (integer formatting: no float code in the module).
fn usd(micro: u64) -> String {
    format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ConfigError;
    use crate::limits::counter::Window;
    use crate::limits::rules::RawLimit;
    use std::collections::HashMap;

    /// Shared data as proxy-wasm keeps it.
    #[derive(Default)]
    struct Store(HashMap<String, (Vec<u8>, u32)>);

    impl SharedStore for Store {
        fn get(&mut self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
            Ok(self.0.get(key).cloned())
        }
        fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
            let current = self.0.get(key).map(|(_, c)| *c);
            if let (Some(cas), Some(current)) = (cas, current)
                && cas != current
            {
                return Err(StoreError::CasMismatch);
            }
            self.0
                .insert(key.into(), (value.to_vec(), current.unwrap_or(0) + 1));
            Ok(())
        }
    }

    // 2026-12-07T10:00:15Z.
    const NOW: u64 = 1_796_637_615;

    fn limits(json: &str) -> Limits {
        let raw: Vec<RawLimit> = serde_json::from_str(json).unwrap();
        let models = crate::limits::rules::tests::MODELS;
        let mut errors: Vec<ConfigError> = Vec::new();
        let l = Limits::from_raw(raw, &["a", "b", "c"], &models, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        l
    }

    /// A slot of a record (`SLOTS` order) at `NOW`.
    fn used(store: &mut Store, key: &str, slot: usize) -> u64 {
        counter::read(store, key, &WINDOWS, NOW).unwrap()[slot]
    }

    fn usage(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        }
    }

    fn claude(store: &mut Store, l: &Limits, caller: &str, now: u64) -> Result<Admission, Refused> {
        admit(
            store,
            l,
            caller,
            "claude",
            "anthropic.claude-3-haiku-20240307-v1:0",
            true,
            now,
        )
    }

    #[test]
    fn requests_per_minute_are_exact_and_reset_with_the_minute() {
        let l = limits(r#"[{"requests_per_minute":3}]"#);
        let mut store = Store::default();
        for remaining in [2, 1, 0] {
            let a = claude(&mut store, &l, "a", NOW).unwrap();
            assert_eq!(
                a.requests,
                Some(Quota {
                    limit: 3,
                    remaining,
                    resets_in: 45
                })
            );
        }
        let refused = claude(&mut store, &l, "a", NOW + 10).unwrap_err();
        assert_eq!(
            refused,
            Refused::Over {
                limit: Limit {
                    measure: Measure::Requests,
                    window: Window::Minute,
                    max: 3
                },
                used: 3,
                retry_after: 35
            }
        );
        let e = refused.to_error("a", "claude");
        assert_eq!(
            (e.status, e.code.as_deref(), e.retry_after),
            (429, Some("rate_limit_exceeded"), Some(35))
        );
        assert!(
            e.message.contains("requests per minute (RPM)"),
            "{}",
            e.message
        );
        let headers = refused.admission().unwrap().headers();
        assert_eq!(
            headers,
            [
                ("x-ratelimit-limit-requests", "3".to_string()),
                ("x-ratelimit-remaining-requests", "0".to_string()),
                ("x-ratelimit-reset-requests", "35s".to_string()),
            ]
        );
        // Another caller under the same (default) rule has counters of its own.
        assert!(claude(&mut store, &l, "b", NOW).is_ok());
        // The next minute starts from zero.
        assert!(claude(&mut store, &l, "a", NOW + 45).is_ok());
    }

    #[test]
    fn tokens_are_charged_after_the_answer_and_overshoot_only_by_what_was_in_flight() {
        let l = limits(r#"[{"tokens_per_minute":1000}]"#);
        let mut store = Store::default();
        // 8 requests admitted at once while the caller is under its limit...
        let admitted: Vec<Admission> = (0..8)
            .map(|_| claude(&mut store, &l, "a", NOW).unwrap())
            .collect();
        assert_eq!(admitted[0].tokens.unwrap().remaining, 1000);
        assert_eq!(
            admitted[0].headers()[2],
            ("x-ratelimit-reset-tokens", "45s".to_string())
        );
        // ...each using 300 tokens: the caller ends at 2400, over by what the 8 used less
        // what was left when they were admitted, and no request is admitted after that.
        for a in &admitted {
            a.charge(&mut store, &usage(100, 200), 0, NOW + 1).unwrap();
        }
        let used = used(&mut store, &l.keys_of("a")[0], 1);
        assert_eq!(used, 2400);
        assert!(
            used < 1000 + 8 * 300,
            "overshoot bound: limit + in-flight × their tokens"
        );
        match claude(&mut store, &l, "a", NOW + 2).unwrap_err() {
            Refused::Over {
                used, retry_after, ..
            } => assert_eq!((used, retry_after), (2400, 43)),
            other => panic!("{other:?}"),
        }
        // Sequential requests stop at the first one that crosses.
        let mut store = Store::default();
        let mut answered = 0;
        while let Ok(a) = claude(&mut store, &l, "a", NOW) {
            a.charge(&mut store, &usage(100, 200), 0, NOW).unwrap();
            answered += 1;
            assert!(answered < 10);
        }
        assert_eq!(
            answered, 4,
            "3 × 300 = 900 < 1000, the fourth crosses to 1200"
        );
    }

    #[test]
    fn cache_reads_and_writes_count_as_tokens() {
        let l = limits(r#"[{"tokens_per_day":10}]"#);
        let mut store = Store::default();
        let a = claude(&mut store, &l, "a", NOW).unwrap();
        let u = Usage {
            input_tokens: 1,
            output_tokens: 2,
            cache_read_tokens: 3,
            cache_write_tokens: 4,
        };
        a.charge(&mut store, &u, 0, NOW).unwrap();
        let key = &l.keys_of("a")[0];
        assert_eq!(used(&mut store, key, 2), 10);
        assert!(claude(&mut store, &l, "a", NOW).is_err());
        // Tomorrow (UTC) the day starts over.
        assert!(claude(&mut store, &l, "a", NOW + 14 * 3600).is_ok());
    }

    #[test]
    fn spend_budgets_in_micro_usd_refuse_with_insufficient_quota() {
        let l = limits(r#"[{"models":["claude*","meta.*"],"usd_per_day":0.5,"usd_per_month":20}]"#);
        let mut store = Store::default();
        let a = claude(&mut store, &l, "a", NOW).unwrap();
        // No token or request limit: no headers, but charged.
        assert!(a.is_limited() && a.headers().is_empty());
        a.charge(&mut store, &usage(1, 1), 500_000, NOW).unwrap();
        let refused = claude(&mut store, &l, "a", NOW).unwrap_err();
        let e = refused.to_error("a", "claude");
        assert_eq!(
            (e.status, e.kind, e.code.as_deref()),
            (
                429,
                ErrorType::InsufficientQuota,
                Some("insufficient_quota")
            )
        );
        assert!(
            e.message
                .contains("0.500000 of its 0.500000 USD daily budget"),
            "{}",
            e.message
        );
        assert_eq!(e.retry_after, Some(14 * 3600 - 15));
        assert_eq!(refused.admission(), None);
        // A model without a price cannot be counted against a budget.
        let unpriced = admit(
            &mut store,
            &l,
            "b",
            "meta.llama3-70b",
            "meta.llama3-70b",
            false,
            NOW,
        );
        assert_eq!(unpriced, Err(Refused::Unpriced));
        assert_eq!(
            Refused::Unpriced.to_error("b", "meta.llama3-70b").status,
            400
        );
    }

    #[test]
    fn rules_narrowed_to_models_and_named_callers() {
        let l = limits(
            r#"[{"callers":["a"],"requests_per_minute":5},
                {"callers":["a"],"models":["claude*"],"requests_per_minute":1},
                {"requests_per_minute":2}]"#,
        );
        let mut store = Store::default();
        // `a`: one claude request per minute, five in all; the default rule is not `a`'s.
        assert!(claude(&mut store, &l, "a", NOW).is_ok());
        assert!(claude(&mut store, &l, "a", NOW).is_err());
        let nova =
            |store: &mut Store| admit(store, &l, "a", "nova", "amazon.nova-lite-v1:0", false, NOW);
        for _ in 0..4 {
            assert!(nova(&mut store).is_ok());
        }
        assert!(nova(&mut store).is_err());
        // The second claude request was counted on the five-per-minute record before the
        // claude record refused it, and given back: four nova requests still fit.
        let all = l
            .keys_of("a")
            .into_iter()
            .find(|k| k.ends_with("|*"))
            .unwrap();
        assert_eq!(used(&mut store, &all, 0), 5);
        // `b` and `c` each get the default two.
        for caller in ["b", "b", "c", "c"] {
            assert!(claude(&mut store, &l, caller, NOW).is_ok());
        }
        assert!(claude(&mut store, &l, "b", NOW).is_err());
        // A rule that covers no model of the request leaves it unlimited.
        let none = limits(r#"[{"models":["nova"],"requests_per_minute":1}]"#);
        let a = claude(&mut store, &none, "a", NOW).unwrap();
        assert!(!a.is_limited() && a.headers().is_empty());
    }

    #[test]
    fn the_tightest_limit_of_each_kind_is_the_header() {
        let l = limits(
            r#"[{"requests_per_minute":100,"tokens_per_minute":5000,"tokens_per_day":6000},
                {"models":["claude"],"requests_per_minute":10}]"#,
        );
        let mut store = Store::default();
        let a = claude(&mut store, &l, "a", NOW).unwrap();
        a.charge(&mut store, &usage(1000, 1000), 0, NOW).unwrap();
        let a = claude(&mut store, &l, "a", NOW + 60).unwrap();
        assert_eq!(
            a.headers(),
            [
                ("x-ratelimit-limit-requests", "10".to_string()),
                ("x-ratelimit-remaining-requests", "9".to_string()),
                ("x-ratelimit-reset-requests", "45s".to_string()),
                ("x-ratelimit-limit-tokens", "6000".to_string()),
                ("x-ratelimit-remaining-tokens", "4000".to_string()),
                ("x-ratelimit-reset-tokens", "13h58m45s".to_string()),
            ]
        );
    }

    #[test]
    fn durations_are_written_as_openai_writes_them() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(360), "6m0s");
        assert_eq!(duration(3661), "1h1m1s");
        assert_eq!(usd(1), "0.000001");
        assert_eq!(usd(12_345_678), "12.345678");
    }
}
