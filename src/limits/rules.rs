//! The `limits` section: which counters a caller's requests to a model are held to.
//!
//! Each rule names the callers it is for (none: every caller that no other rule names — the
//! default) and optionally narrows itself to models, as `allowed_models` does. Every caller has
//! counters of its own: a default rule gives each caller it covers the same allowance, not one
//! shared between them.

use serde::Deserialize;

use super::counter::Window;
use crate::access::{ANONYMOUS, ModelPattern};
use crate::error::ConfigError;

/// One entry of `limits` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimit {
    /// Caller names from `callers` (or `anonymous` when none are configured); absent: every
    /// caller no other rule names.
    #[serde(default)]
    pub callers: Option<Vec<String>>,
    /// Aliases or Bedrock IDs, exact or with a trailing `*`; absent: every model.
    #[serde(default)]
    pub models: Option<Vec<String>>,
    #[serde(default)]
    pub requests_per_minute: Option<u64>,
    /// Input + output tokens, cache reads and writes included.
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
    #[serde(default)]
    pub tokens_per_day: Option<u64>,
    /// USD, from the models' `pricing`.
    #[serde(default)]
    pub usd_per_day: Option<f64>,
    #[serde(default)]
    pub usd_per_month: Option<f64>,
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Requests,
    /// Input + output + cache read + cache write tokens, as Bedrock reports them.
    Tokens,
    /// Estimated cost in millionths of a USD.
    MicroUsd,
}

impl Measure {
    pub fn label(self) -> &'static str {
        match self {
            Measure::Requests => "requests",
            Measure::Tokens => "tokens",
            Measure::MicroUsd => "micro_usd",
        }
    }
}

/// One limit: at most `max` of `measure` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub measure: Measure,
    pub window: Window,
    pub max: u64,
}

impl Limit {
    /// How the limit is named in refusals (`tokens per minute (TPM)`, as OpenAI names them).
    pub fn describe(&self) -> &'static str {
        match (self.measure, self.window) {
            (Measure::Requests, _) => "requests per minute (RPM)",
            (Measure::Tokens, Window::Minute) => "tokens per minute (TPM)",
            (Measure::Tokens, _) => "tokens per day (TPD)",
            (Measure::MicroUsd, Window::Month) => "spend per month (USD)",
            (Measure::MicroUsd, _) => "spend per day (USD)",
        }
    }
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `None`: the default rule, for callers no rule names.
    pub callers: Option<Vec<String>>,
    /// Empty: every model.
    pub models: Vec<ModelPattern>,
    /// The patterns as written, joined: part of every counter key of the rule.
    models_key: String,
    pub limits: Vec<Limit>,
}

impl Rule {
    /// Whether the rule covers a model named `alias` by the client, `model_id` on Bedrock.
    pub fn covers(&self, alias: &str, model_id: &str) -> bool {
        self.models.is_empty()
            || self
                .models
                .iter()
                .any(|p| p.matches(alias) || p.matches(model_id))
    }

    /// Whether the rule counts spend (and so needs the model's price).
    pub fn counts_spend(&self) -> bool {
        self.limits.iter().any(|l| l.measure == Measure::MicroUsd)
    }

    /// The shared-data key of the record that holds a caller's counters for this rule (one
    /// slot per measure and window, [`super::admit::SLOTS`]). Rules with the same models share
    /// it: they count the same requests.
    pub fn key(&self, caller: &str) -> String {
        format!("bedrock_limit|{caller}|{}", self.models_key)
    }
}

/// The `limits` section, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    rules: Vec<Rule>,
}

/// A configured model as the validation of `limits` needs it.
pub struct PricedModel<'a> {
    pub alias: &'a str,
    pub id: &'a str,
    pub priced: bool,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules that hold `caller`: the ones that name it, or else the default ones.
    pub fn rules_of<'s>(&'s self, caller: &str) -> impl Iterator<Item = &'s Rule> {
        let named = self.rules.iter().any(|r| {
            r.callers
                .as_ref()
                .is_some_and(|c| c.iter().any(|n| n == caller))
        });
        self.rules.iter().filter(move |r| match &r.callers {
            Some(names) => names.iter().any(|n| n == caller),
            None => !named,
        })
    }

    /// Every record a caller can be charged on, once each, so each is created at load.
    pub fn keys_of(&self, caller: &str) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for key in self.rules_of(caller).map(|r| r.key(caller)) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys
    }

    /// Validate `limits` against the callers (`[]` when none are configured) and models of
    /// the configuration, adding one error per problem to `errors`.
    pub fn from_raw(
        raw: Vec<RawLimit>,
        callers: &[&str],
        models: &[PricedModel<'_>],
        errors: &mut Vec<ConfigError>,
    ) -> Limits {
        let mut rules = Vec::with_capacity(raw.len());
        for (i, r) in raw.into_iter().enumerate() {
            let mut problem = |suffix: &str, message: String| {
                errors.push(ConfigError {
                    field: format!("limits[{i}]{suffix}"),
                    message,
                });
            };
            if let Some(names) = &r.callers {
                if names.is_empty() {
                    problem(
                        ".callers",
                        "must name at least one caller (leave it out for the default rule)".into(),
                    );
                }
                for name in names {
                    let known = if callers.is_empty() {
                        name == ANONYMOUS
                    } else {
                        callers.contains(&name.as_str())
                    };
                    if !known {
                        problem(
                            ".callers",
                            format!(
                                "{name:?} is not a caller of `callers` (with no callers \
                                 configured, every request is `{ANONYMOUS}`)"
                            ),
                        );
                    }
                }
            }
            let mut patterns = Vec::new();
            for (j, text) in r.models.iter().flatten().enumerate() {
                if text.contains([',', '|']) {
                    // Both separate the parts of counter keys.
                    problem(
                        &format!(".models[{j}]"),
                        format!("{text:?}: `,` and `|` cannot be part of a model name here"),
                    );
                    continue;
                }
                match ModelPattern::parse(text) {
                    Ok(p) => patterns.push(p),
                    Err(m) => problem(&format!(".models[{j}]"), m),
                }
            }
            if r.models.as_ref().is_some_and(Vec::is_empty) {
                problem(
                    ".models",
                    "must name at least one model (leave it out for every model)".into(),
                );
            }
            let mut limits = Vec::new();
            let counts = [
                (
                    "requests_per_minute",
                    Measure::Requests,
                    Window::Minute,
                    r.requests_per_minute,
                ),
                (
                    "tokens_per_minute",
                    Measure::Tokens,
                    Window::Minute,
                    r.tokens_per_minute,
                ),
                (
                    "tokens_per_day",
                    Measure::Tokens,
                    Window::Day,
                    r.tokens_per_day,
                ),
            ];
            for (field, measure, window, value) in counts {
                match value {
                    Some(0) => problem(
                        &format!(".{field}"),
                        "must be at least 1 (a caller that may not call at all is one whose \
                         allowed_models leave the model out)"
                            .into(),
                    ),
                    Some(max) => limits.push(Limit {
                        measure,
                        window,
                        max,
                    }),
                    None => {}
                }
            }
            for (field, window, value) in [
                ("usd_per_day", Window::Day, r.usd_per_day),
                ("usd_per_month", Window::Month, r.usd_per_month),
            ] {
                let Some(usd) = value else { continue };
                match micro_usd(usd) {
                    Some(max) => limits.push(Limit {
                        measure: Measure::MicroUsd,
                        window,
                        max,
                    }),
                    None => problem(
                        &format!(".{field}"),
                        "must be a positive number of USD, at least 0.000001".into(),
                    ),
                }
            }
            if limits.is_empty() {
                problem(
                    "",
                    "sets no limit: give requests_per_minute, tokens_per_minute, \
                     tokens_per_day, usd_per_day or usd_per_month"
                        .into(),
                );
            }
            let models_key = r
                .models
                .as_ref()
                .map_or_else(|| "*".to_string(), |m| m.join(","));
            let rule = Rule {
                callers: r.callers,
                models: patterns,
                models_key,
                limits,
            };
            if rule.counts_spend() {
                for m in models.iter().filter(|m| !m.priced) {
                    if rule.covers(m.alias, m.id) {
                        problem(
                            "",
                            format!(
                                "counts spend, and the model {:?} it covers has no `pricing`: \
                                 give the model its prices, or narrow the rule's `models`",
                                m.alias
                            ),
                        );
                    }
                }
            }
            rules.push(rule);
        }
        Limits { rules }
    }
}

/// USD as whole millionths, when positive and representable.
fn micro_usd(usd: f64) -> Option<u64> {
    let micro = (usd * 1_000_000.0).round();
    (micro.is_finite() && (1.0..1.0e18).contains(&micro)).then_some(micro as u64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The configured models of the limits tests: Claude with a price, Nova without.
    pub(crate) const MODELS: [PricedModel<'static>; 2] = [
        PricedModel {
            alias: "claude",
            id: "anthropic.claude-3-haiku-20240307-v1:0",
            priced: true,
        },
        PricedModel {
            alias: "nova",
            id: "amazon.nova-lite-v1:0",
            priced: false,
        },
    ];

    fn problems(json: &str, callers: &[&str]) -> Vec<String> {
        let raw: Vec<RawLimit> = serde_json::from_str(json).unwrap();
        let mut errors = Vec::new();
        Limits::from_raw(raw, callers, &MODELS, &mut errors);
        errors
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    #[test]
    fn every_problem_is_named_by_its_field() {
        let errors = problems(
            r#"[{"callers":["x"],"requests_per_minute":0},
                {"callers":[],"models":[],"tokens_per_day":5},
                {"models":["a*b"]},
                {"usd_per_day":-1,"usd_per_month":0},
                {"models":["nov*"],"usd_per_month":5},
                {"models":["claude"],"usd_per_day":1.5},
                {"models":["a,b"],"requests_per_minute":1}]"#,
            &["a"],
        );
        let expect = [
            "limits[0].callers: \"x\" is not a caller",
            "limits[0].requests_per_minute: must be at least 1",
            "limits[0]: sets no limit",
            "limits[1].callers: must name at least one caller",
            "limits[1].models: must name at least one model",
            "limits[2].models[0]: \"a*b\": `*` is only allowed at the end",
            "limits[2]: sets no limit",
            "limits[3].usd_per_day: must be a positive number",
            "limits[3].usd_per_month: must be a positive number",
            "limits[3]: sets no limit",
            "limits[4]: counts spend, and the model \"nova\" it covers has no `pricing`",
            "limits[6].models[0]: \"a,b\": `,` and `|` cannot be part of a model name here",
        ];
        assert_eq!(errors.len(), expect.len(), "{errors:#?}");
        for (e, want) in errors.iter().zip(expect) {
            assert!(e.starts_with(want), "{e} / {want}");
        }
        // Without callers, the one caller is `anonymous`.
        assert!(problems(r#"[{"callers":["anonymous"],"tokens_per_day":5}]"#, &[]).is_empty());
        assert_eq!(
            problems(r#"[{"callers":["a"],"tokens_per_day":5}]"#, &[]).len(),
            1
        );
        // Unknown members are refused, as everywhere in the configuration.
        assert!(serde_json::from_str::<Vec<RawLimit>>(r#"[{"rpm":5}]"#).is_err());
    }

    #[test]
    fn one_record_per_caller_and_rule_models() {
        let raw: Vec<RawLimit> = serde_json::from_str(
            r#"[{"models":["claude*","nova"],"requests_per_minute":5,"usd_per_month":2}]"#,
        )
        .unwrap();
        let l = Limits::from_raw(raw, &[], &[], &mut Vec::new());
        assert_eq!(
            l.keys_of("anonymous"),
            ["bedrock_limit|anonymous|claude*,nova"]
        );
    }
}
