//! The refresh state machine: which metadata call to make next, what its answer changes, and
//! which credentials are good to sign with right now.
//!
//! One call is in flight at a time. IMDS takes three in a row (token → role → credentials);
//! the container endpoint one. Fresh credentials are fetched [`REFRESH_BEFORE_SECS`] before
//! they expire, and the old ones keep serving until they actually expire. A failed refresh is
//! retried with exponential backoff ([`BACKOFF_MIN_SECS`] doubling up to [`BACKOFF_MAX_SECS`]).
//! Expired credentials are never handed out: requests then get a 503 that says why.

use super::fetch::{self, FetchRequest, Fetched};
use super::time::format_iso8601;
use super::{AwsCredentials, CredentialSource, MetadataService};
use crate::error::{ApiError, ErrorType};

/// Fetch new credentials this long before the current ones expire.
pub const REFRESH_BEFORE_SECS: u64 = 300;
/// Short-lived credentials are refreshed halfway through their life, but at most this late.
const MAX_EARLY_REFRESH_SECS: u64 = 60;
/// Credentials without an `Expiration` (some container endpoints) are fetched again this often.
const NO_EXPIRY_REFRESH_SECS: u64 = 900;
pub const BACKOFF_MIN_SECS: u64 = 1;
pub const BACKOFF_MAX_SECS: u64 = 60;
/// A call with no answer this long after its own timeout counts as failed.
const STALL_GRACE_SECS: u64 = 5;

/// Credentials for signing, and how they stay fresh.
pub struct CredentialsProvider {
    source: CredentialSource,
    held: Option<Held>,
    phase: Phase,
    /// When `Idle`: the earliest time of the next fetch.
    next_fetch_at: u64,
    /// Failed attempts since the last success (drives the backoff).
    failures: u32,
}

struct Held {
    credentials: AwsCredentials,
    expires_at: Option<u64>,
    /// Whether their expiry has been reported (once).
    expiry_reported: bool,
}

enum Phase {
    Idle,
    /// The next call of a sequence, to be made at the next `poll`.
    Ready(Step),
    InFlight {
        step: Step,
        /// The call as a log line names it.
        call: String,
        deadline: u64,
    },
}

enum Step {
    ImdsToken,
    ImdsRole { token: String },
    ImdsCredentials { token: String, role: String },
    Container,
}

/// What an answer (or its absence) changed, for one log line.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A step of a sequence succeeded; `poll` has the next call.
    Continue,
    Refreshed {
        service: &'static str,
        access_key_id: String,
        expires_at: Option<u64>,
        refresh_in_secs: u64,
    },
    Failed {
        service: &'static str,
        reason: String,
        retry_in_secs: u64,
        /// Until when the credentials held keep serving (`Some(None)`: no expiry).
        serving_until: Option<Option<u64>>,
    },
    /// The credentials held expired before new ones arrived.
    Expired {
        service: &'static str,
        access_key_id: String,
        at: u64,
    },
    /// An answer nobody waited for (a call from before a reconfiguration).
    Ignored,
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Continue | Event::Ignored => Ok(()),
            Event::Refreshed {
                service,
                access_key_id,
                expires_at,
                refresh_in_secs,
            } => {
                write!(
                    f,
                    "AWS credentials from {service}: access key {access_key_id}"
                )?;
                if let Some(at) = expires_at {
                    write!(f, ", valid until {}", format_iso8601(*at))?;
                }
                write!(f, ", next refresh in {refresh_in_secs} s")
            }
            Event::Failed {
                service,
                reason,
                retry_in_secs,
                serving_until,
            } => {
                write!(
                    f,
                    "AWS credentials from {service} failed: {reason}; retrying in {retry_in_secs} s; "
                )?;
                match serving_until {
                    Some(Some(at)) => write!(
                        f,
                        "the current credentials stay in use until {}",
                        format_iso8601(*at)
                    ),
                    Some(None) => f.write_str("the current credentials stay in use"),
                    None => f.write_str("requests are answered 503 until credentials arrive"),
                }
            }
            Event::Expired {
                service,
                access_key_id,
                at,
            } => write!(
                f,
                "AWS credentials from {service} (access key {access_key_id}) expired at {}; \
                 requests are answered 503 until new ones arrive",
                format_iso8601(*at)
            ),
        }
    }
}

impl CredentialsProvider {
    pub fn new(source: CredentialSource) -> Self {
        let held = match &source {
            CredentialSource::Static { credentials, .. } => Some(Held {
                credentials: credentials.clone(),
                expires_at: None,
                expiry_reported: false,
            }),
            _ => None,
        };
        CredentialsProvider {
            source,
            held,
            phase: Phase::Idle,
            next_fetch_at: 0,
            failures: 0,
        }
    }

    /// Fixed credentials (or none), never refreshed.
    pub fn fixed(credentials: Option<AwsCredentials>) -> Self {
        CredentialsProvider::new(match credentials {
            Some(credentials) => CredentialSource::Static {
                credentials,
                origin: "caller",
            },
            None => CredentialSource::None,
        })
    }

    pub fn source(&self) -> &CredentialSource {
        &self.source
    }

    /// The credentials to sign with at `now`: never expired ones.
    pub fn current(&self, now: u64) -> Option<&AwsCredentials> {
        self.held
            .as_ref()
            .filter(|h| h.expires_at.is_none_or(|at| now < at))
            .map(|h| &h.credentials)
    }

    /// The 503 answered while [`current`](Self::current) has nothing.
    pub fn unavailable(&self) -> ApiError {
        let Some(service) = self.service_name() else {
            return ApiError::new(
                503,
                ErrorType::Api,
                "the gateway has no AWS credentials configured",
            )
            .with_code("no_credentials");
        };
        let message = if self.held.is_some() {
            format!(
                "the gateway has no valid AWS credentials: the last ones from {service} expired \
                 and refreshing them has failed so far; retry shortly"
            )
        } else {
            format!(
                "the gateway has no AWS credentials yet: {service} has not provided them so far; \
                 retry shortly"
            )
        };
        ApiError::new(503, ErrorType::Api, message)
            .with_code("no_credentials")
            .with_retry_after(1)
    }

    fn service(&self) -> Option<&MetadataService> {
        match &self.source {
            CredentialSource::Imds(s) | CredentialSource::Container(s) => Some(s),
            CredentialSource::None | CredentialSource::Static { .. } => None,
        }
    }

    fn service_name(&self) -> Option<&'static str> {
        match &self.source {
            CredentialSource::Imds(_) => Some("EC2 instance metadata (IMDS)"),
            CredentialSource::Container(_) => Some("the container credentials endpoint"),
            CredentialSource::None | CredentialSource::Static { .. } => None,
        }
    }

    /// The next call to make, if one is due; it is then in flight until its answer comes.
    pub fn poll(&mut self, now: u64) -> Option<FetchRequest> {
        self.service()?;
        let step = match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Ready(step) => step,
            Phase::Idle if now >= self.next_fetch_at => match self.source {
                CredentialSource::Imds(_) => Step::ImdsToken,
                _ => Step::Container,
            },
            other => {
                self.phase = other;
                return None;
            }
        };
        let service = self.service()?;
        let request = match &step {
            Step::ImdsToken => fetch::imds_token(service),
            Step::ImdsRole { token } => fetch::imds_role(service, token),
            Step::ImdsCredentials { token, role } => fetch::imds_credentials(service, token, role),
            Step::Container => fetch::container_credentials(service),
        };
        self.phase = Phase::InFlight {
            step,
            call: request.describe(),
            deadline: now
                .saturating_add(request.timeout_ms.div_ceil(1000))
                .saturating_add(STALL_GRACE_SECS),
        };
        Some(request)
    }

    /// Called on every timer tick, before [`poll`](Self::poll): a call the host lost (no
    /// answer well past its timeout) counts as failed, and credentials that just expired are
    /// reported once.
    pub fn check(&mut self, now: u64) -> Option<Event> {
        if let Phase::InFlight { call, deadline, .. } = &self.phase
            && now >= *deadline
        {
            let reason = format!("{call}: no answer");
            return Some(self.fail(now, reason));
        }
        let service = self.service_name()?;
        let held = self.held.as_mut()?;
        let at = held.expires_at.filter(|at| now >= *at)?;
        if held.expiry_reported {
            return None;
        }
        held.expiry_reported = true;
        Some(Event::Expired {
            service,
            access_key_id: held
                .credentials
                .access_key_id()
                .unwrap_or_default()
                .to_string(),
            at,
        })
    }

    /// The host could not make the call at all (e.g. no such cluster).
    pub fn on_dispatch_failed(&mut self, now: u64, why: &str) -> Event {
        match &self.phase {
            Phase::InFlight { call, .. } => {
                let reason = format!("{call}: the proxy cannot make the call ({why})");
                self.fail(now, reason)
            }
            _ => Event::Ignored,
        }
    }

    /// The answer to the call in flight: `status` is `None` when there was none (connection
    /// failure or reset).
    pub fn on_response(&mut self, status: Option<u16>, body: &[u8], now: u64) -> Event {
        let Phase::InFlight { step, call, .. } = std::mem::replace(&mut self.phase, Phase::Idle)
        else {
            return Event::Ignored;
        };
        let Some(status) = status else {
            return self.fail(
                now,
                format!("{call}: no answer (connection failed or reset)"),
            );
        };
        if body.len() > fetch::MAX_ANSWER_BYTES {
            return self.fail(now, format!("{call}: the answer is over 64 KiB"));
        }
        if status != 200 {
            let hint = match (&step, status) {
                (Step::ImdsToken, 403) => " (IMDS is disabled or the hop limit is too low)",
                (Step::ImdsToken, 405) => " (the metadata service does not support IMDSv2)",
                (Step::ImdsRole { .. } | Step::ImdsCredentials { .. }, 401) => {
                    " (the IMDS session token was refused)"
                }
                (Step::ImdsRole { .. }, 404) => " (no IAM role is attached to this instance)",
                (_, 503) => " (the service is unreachable or unavailable)",
                // Envoy answers its own 504 when the call's timeout passes.
                (_, 504) => " (no answer within the timeout)",
                _ => "",
            };
            let detail = match step {
                Step::Container => fetch::container_error(body)
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            return self.fail(now, format!("{call} answered {status}{hint}{detail}"));
        }
        let next = match step {
            Step::ImdsToken => fetch::parse_imds_token(body).map(|token| Step::ImdsRole { token }),
            Step::ImdsRole { token } => {
                fetch::parse_imds_role(body).map(|role| Step::ImdsCredentials { token, role })
            }
            Step::ImdsCredentials { .. } => {
                return match fetch::parse_credentials(body, true) {
                    Ok(fetched) => self.succeed(fetched, now),
                    Err(e) => self.fail(now, format!("{call}: {e}")),
                };
            }
            Step::Container => {
                return match fetch::parse_credentials(body, false) {
                    Ok(fetched) => self.succeed(fetched, now),
                    Err(e) => self.fail(now, format!("{call}: {e}")),
                };
            }
        };
        match next {
            Ok(step) => {
                self.phase = Phase::Ready(step);
                Event::Continue
            }
            Err(e) => self.fail(now, format!("{call}: {e}")),
        }
    }

    fn succeed(&mut self, fetched: Fetched, now: u64) -> Event {
        let service = self.service_name().unwrap_or("");
        if let Some(at) = fetched.expires_at
            && at <= now
        {
            return self.fail(
                now,
                format!(
                    "the credentials returned expired at {} (is the clock right?)",
                    format_iso8601(at)
                ),
            );
        }
        let refresh_at = match fetched.expires_at {
            Some(at) => {
                let life = at - now;
                let early = (life / 2).clamp(1, MAX_EARLY_REFRESH_SECS);
                at.saturating_sub(REFRESH_BEFORE_SECS)
                    .max(now.saturating_add(early))
            }
            None => now.saturating_add(NO_EXPIRY_REFRESH_SECS),
        };
        let access_key_id = fetched
            .credentials
            .access_key_id()
            .unwrap_or_default()
            .to_string();
        self.held = Some(Held {
            credentials: fetched.credentials,
            expires_at: fetched.expires_at,
            expiry_reported: false,
        });
        self.failures = 0;
        self.next_fetch_at = refresh_at;
        self.phase = Phase::Idle;
        Event::Refreshed {
            service,
            access_key_id,
            expires_at: fetched.expires_at,
            refresh_in_secs: refresh_at - now,
        }
    }

    fn fail(&mut self, now: u64, reason: String) -> Event {
        self.failures = self.failures.saturating_add(1);
        let retry_in_secs = backoff_secs(self.failures);
        self.next_fetch_at = now.saturating_add(retry_in_secs);
        self.phase = Phase::Idle;
        let serving_until = self
            .held
            .as_ref()
            .filter(|h| h.expires_at.is_none_or(|at| now < at))
            .map(|h| h.expires_at);
        Event::Failed {
            service: self.service_name().unwrap_or(""),
            reason,
            retry_in_secs,
            serving_until,
        }
    }
}

/// 1, 2, 4, … seconds, at most [`BACKOFF_MAX_SECS`].
fn backoff_secs(failures: u32) -> u64 {
    let doublings = failures.saturating_sub(1).min(16);
    (BACKOFF_MIN_SECS << doublings).min(BACKOFF_MAX_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{Secret, format_iso8601};
    use crate::sigv4;

    const T0: u64 = 1_800_000_000;
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzSECRET";
    const TOKEN: &str = "session-token-SECRET";

    fn imds() -> CredentialsProvider {
        CredentialsProvider::new(CredentialSource::Imds(MetadataService {
            cluster: "imds".into(),
            authority: "169.254.169.254".into(),
            path: String::new(),
            authorization: None,
            timeout_ms: 2000,
        }))
    }

    fn container() -> CredentialsProvider {
        CredentialsProvider::new(CredentialSource::Container(MetadataService {
            cluster: "container_credentials".into(),
            authority: "169.254.170.2".into(),
            path: "/v2/credentials/abc".into(),
            authorization: Some(Secret("container-auth-SECRET".into())),
            timeout_ms: 2000,
        }))
    }

    fn answer(akid: &str, expires_at: u64) -> Vec<u8> {
        format!(
            r#"{{"Code":"Success","LastUpdated":"2027-01-15T08:00:00Z","Type":"AWS-HMAC","AccessKeyId":"{akid}","SecretAccessKey":"{SECRET}","Token":"{TOKEN}","Expiration":"{}"}}"#,
            format_iso8601(expires_at)
        )
        .into_bytes()
    }

    fn akid(p: &CredentialsProvider, now: u64) -> Option<&str> {
        p.current(now).and_then(AwsCredentials::access_key_id)
    }

    /// Run one whole IMDS sequence at `now`, answering the credentials call with `creds`.
    fn imds_round(p: &mut CredentialsProvider, now: u64, creds: &[u8]) -> Event {
        let put = p.poll(now).expect("token call due");
        assert_eq!(
            put.describe(),
            "PUT http://169.254.169.254/latest/api/token"
        );
        assert_eq!(
            p.on_response(Some(200), b"imds-TOKEN", now),
            Event::Continue
        );
        let role = p.poll(now).expect("role call");
        assert_eq!(role.header("x-aws-ec2-metadata-token"), Some("imds-TOKEN"));
        assert_eq!(
            p.on_response(Some(200), b"gateway-role\n", now),
            Event::Continue
        );
        let get = p.poll(now).expect("credentials call");
        assert_eq!(
            get.header(":path"),
            Some("/latest/meta-data/iam/security-credentials/gateway-role")
        );
        assert_eq!(get.header("x-aws-ec2-metadata-token"), Some("imds-TOKEN"));
        p.on_response(Some(200), creds, now)
    }

    #[test]
    fn first_fetch_goes_token_role_credentials() {
        let mut p = imds();
        assert_eq!(p.current(T0), None);
        let put = p.poll(T0).unwrap();
        assert_eq!(put.cluster, "imds");
        assert_eq!(
            put.header("x-aws-ec2-metadata-token-ttl-seconds"),
            Some("21600")
        );
        assert!(p.poll(T0).is_none(), "one call at a time");
        assert_eq!(p.on_response(Some(200), b"imds-TOKEN", T0), Event::Continue);
        assert!(p.poll(T0).is_some());
        assert_eq!(
            p.on_response(Some(200), b"gateway-role", T0),
            Event::Continue
        );
        assert!(p.poll(T0).is_some());
        let ev = p.on_response(Some(200), &answer("ASIAFIRST", T0 + 3600), T0);
        assert_eq!(
            ev,
            Event::Refreshed {
                service: "EC2 instance metadata (IMDS)",
                access_key_id: "ASIAFIRST".into(),
                expires_at: Some(T0 + 3600),
                refresh_in_secs: 3300,
            }
        );
        assert_eq!(akid(&p, T0), Some("ASIAFIRST"));
        let Some(AwsCredentials::Keys(k)) = p.current(T0) else {
            panic!()
        };
        assert_eq!(k.session_token.as_deref(), Some(TOKEN));
        assert!(
            p.poll(T0 + 1).is_none(),
            "nothing due until the refresh time"
        );
    }

    #[test]
    fn refreshes_before_expiry_and_serves_old_credentials_meanwhile() {
        let mut p = imds();
        imds_round(&mut p, T0, &answer("ASIAFIRST", T0 + 3600));
        assert!(p.poll(T0 + 3299).is_none());
        let at = T0 + 3300;
        assert!(p.poll(at).is_some(), "refresh 5 minutes before expiry");
        assert_eq!(
            akid(&p, at),
            Some("ASIAFIRST"),
            "old credentials while refreshing"
        );
        p.on_response(Some(200), b"imds-TOKEN", at);
        p.poll(at);
        p.on_response(Some(200), b"gateway-role", at);
        p.poll(at);
        let ev = p.on_response(Some(200), &answer("ASIASECOND", at + 3600), at);
        assert!(matches!(ev, Event::Refreshed { .. }), "{ev:?}");
        assert_eq!(akid(&p, at), Some("ASIASECOND"));
    }

    #[test]
    fn short_lived_credentials_refresh_halfway() {
        let mut p = imds();
        let ev = imds_round(&mut p, T0, &answer("ASIASHORT", T0 + 20));
        assert!(
            matches!(
                ev,
                Event::Refreshed {
                    refresh_in_secs: 10,
                    ..
                }
            ),
            "{ev:?}"
        );
        let mut p = imds();
        let ev = imds_round(&mut p, T0, &answer("ASIASHORT", T0 + 200));
        assert!(
            matches!(
                ev,
                Event::Refreshed {
                    refresh_in_secs: 60,
                    ..
                }
            ),
            "{ev:?}"
        );
    }

    #[test]
    fn server_down_backs_off_keeps_serving_until_expiry_then_503() {
        let mut p = imds();
        imds_round(&mut p, T0, &answer("ASIAFIRST", T0 + 400));
        let mut now = T0 + 100;
        let mut delays = Vec::new();
        for _ in 0..9 {
            assert!(p.poll(now).is_some(), "retry due at {now}");
            let ev = p.on_response(Some(503), b"upstream connect error", now);
            let Event::Failed {
                retry_in_secs,
                serving_until,
                reason,
                ..
            } = ev
            else {
                panic!("{ev:?}")
            };
            assert_eq!(
                reason,
                "PUT http://169.254.169.254/latest/api/token answered 503 (the service is unreachable or unavailable)"
            );
            assert_eq!(serving_until, Some(Some(T0 + 400)));
            assert!(p.poll(now + retry_in_secs - 1).is_none(), "backing off");
            delays.push(retry_in_secs);
            now += retry_in_secs;
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(akid(&p, T0 + 399), Some("ASIAFIRST"));
        assert_eq!(
            p.current(T0 + 400),
            None,
            "expired credentials are never used"
        );
        let e = p.unavailable();
        assert_eq!(
            (e.status, e.code.as_deref(), e.retry_after),
            (503, Some("no_credentials"), Some(1))
        );
        assert!(e.message.contains("expired"), "{}", e.message);
        // The service comes back: the backoff resets.
        assert!(p.poll(now).is_some());
        p.on_response(Some(200), b"imds-TOKEN", now);
        p.poll(now);
        p.on_response(Some(200), b"gateway-role", now);
        p.poll(now);
        let ev = p.on_response(Some(200), &answer("ASIABACK", now + 3600), now);
        assert!(matches!(ev, Event::Refreshed { .. }), "{ev:?}");
        assert_eq!(akid(&p, now), Some("ASIABACK"));
        assert!(p.poll(now + 1).is_none());
    }

    #[test]
    fn no_answer_and_lost_calls_count_as_failures() {
        let mut p = imds();
        p.poll(T0);
        let ev = p.on_response(Some(504), b"upstream request timeout", T0);
        assert!(
            matches!(&ev, Event::Failed { reason, .. } if reason.ends_with("answered 504 (no answer within the timeout)")),
            "{ev:?}"
        );
        let mut p = imds();
        p.poll(T0);
        let ev = p.on_response(None, b"", T0);
        assert!(
            matches!(&ev, Event::Failed { reason, retry_in_secs: 1, serving_until: None, .. }
                if reason.contains("no answer (connection failed or reset)")),
            "{ev:?}"
        );
        assert!(p.poll(T0 + 1).is_some());
        assert_eq!(p.check(T0 + 7), None, "2 s timeout + 5 s grace not over");
        let ev = p.check(T0 + 8).unwrap();
        assert!(
            matches!(&ev, Event::Failed { reason, retry_in_secs: 2, .. } if reason.ends_with(": no answer")),
            "{ev:?}"
        );
        // The late answer is no longer awaited.
        assert_eq!(
            p.on_response(Some(200), b"imds-TOKEN", T0 + 9),
            Event::Ignored
        );
        assert!(p.poll(T0 + 10).is_some());
        let ev = p.on_dispatch_failed(T0 + 10, "BadArgument");
        assert!(
            matches!(&ev, Event::Failed { reason, .. } if reason.contains("the proxy cannot make the call (BadArgument)")),
            "{ev:?}"
        );
    }

    #[test]
    fn malformed_answers_fail_and_nothing_is_served() {
        for (status, body, expected) in [
            (
                200,
                &br#"{"Code":"Success","AccessKeyId":"ASIA","#[..],
                "the credentials answer is not the expected JSON",
            ),
            (
                200,
                br#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"EC2 cannot assume the role"}"#,
                r#"answered Code "AssumeRoleUnauthorizedAccess": EC2 cannot assume the role"#,
            ),
            (
                200,
                br#"{"Code":"Success","AccessKeyId":"ASIA","SecretAccessKey":"s","Token":"t"}"#,
                "the credentials answer has no Expiration",
            ),
            (404, b"Not Found", "answered 404"),
        ] {
            let mut p = imds();
            p.poll(T0);
            p.on_response(Some(200), b"imds-TOKEN", T0);
            p.poll(T0);
            p.on_response(Some(200), b"gateway-role", T0);
            p.poll(T0);
            let ev = p.on_response(Some(status), body, T0);
            let Event::Failed {
                reason,
                serving_until: None,
                ..
            } = &ev
            else {
                panic!("{ev:?}")
            };
            assert!(reason.contains(expected), "{reason}");
            assert!(
                reason.starts_with(
                    "GET http://169.254.169.254/latest/meta-data/iam/security-credentials/gateway-role"
                ),
                "{reason}"
            );
            assert_eq!(p.current(T0), None);
            let e = p.unavailable();
            assert_eq!((e.status, e.retry_after), (503, Some(1)));
            assert!(
                e.message.contains("no AWS credentials yet"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn imds_step_failures_say_which_step() {
        let mut p = imds();
        p.poll(T0);
        let ev = p.on_response(Some(403), b"", T0);
        assert!(
            matches!(&ev, Event::Failed { reason, .. } if reason.ends_with("answered 403 (IMDS is disabled or the hop limit is too low)")),
            "{ev:?}"
        );
        p.poll(T0 + 1);
        p.on_response(Some(200), b"imds-TOKEN", T0 + 1);
        p.poll(T0 + 1);
        let ev = p.on_response(Some(404), b"", T0 + 1);
        assert!(
            matches!(&ev, Event::Failed { reason, .. } if reason.ends_with("(no IAM role is attached to this instance)")),
            "{ev:?}"
        );
        p.poll(T0 + 3);
        p.on_response(Some(200), b"imds-TOKEN", T0 + 3);
        p.poll(T0 + 3);
        let ev = p.on_response(Some(200), b"", T0 + 3);
        assert!(
            matches!(&ev, Event::Failed { reason, .. } if reason.contains("empty role list")),
            "{ev:?}"
        );
    }

    #[test]
    fn already_expired_credentials_are_refused() {
        let mut p = imds();
        let ev = imds_round(&mut p, T0, &answer("ASIAOLD", T0));
        assert!(
            matches!(&ev, Event::Failed { reason, serving_until: None, .. } if reason.contains("expired at")),
            "{ev:?}"
        );
        assert_eq!(p.current(T0), None);
    }

    #[test]
    fn container_endpoint_one_call_with_authorization() {
        let mut p = container();
        let get = p.poll(T0).unwrap();
        assert_eq!(
            get.describe(),
            "GET http://169.254.170.2/v2/credentials/abc"
        );
        assert_eq!(get.cluster, "container_credentials");
        assert_eq!(get.header("authorization"), Some("container-auth-SECRET"));
        let ev = p.on_response(
            Some(401),
            br#"{"code":"AccessDenied","message":"invalid authorization token"}"#,
            T0,
        );
        assert!(
            matches!(&ev, Event::Failed { reason, .. } if reason.ends_with("answered 401: AccessDenied: invalid authorization token")),
            "{ev:?}"
        );
        p.poll(T0 + 1).unwrap();
        let body = format!(
            r#"{{"AccessKeyId":"ASIACONT","SecretAccessKey":"{SECRET}","Token":"{TOKEN}","Expiration":"{}","RoleArn":"arn:aws:iam::123456789012:role/r"}}"#,
            format_iso8601(T0 + 3600)
        );
        let ev = p.on_response(Some(200), body.as_bytes(), T0 + 1);
        assert!(
            matches!(
                ev,
                Event::Refreshed {
                    service: "the container credentials endpoint",
                    ..
                }
            ),
            "{ev:?}"
        );
        assert_eq!(akid(&p, T0 + 1), Some("ASIACONT"));
        // An answer without Expiration serves until replaced, refreshed every 15 minutes.
        let mut p = container();
        p.poll(T0);
        let ev = p.on_response(
            Some(200),
            br#"{"AccessKeyId":"AKIANOEXP","SecretAccessKey":"s"}"#,
            T0,
        );
        assert!(
            matches!(
                ev,
                Event::Refreshed {
                    expires_at: None,
                    refresh_in_secs: 900,
                    ..
                }
            ),
            "{ev:?}"
        );
        assert_eq!(akid(&p, T0 + 100_000), Some("AKIANOEXP"));
    }

    #[test]
    fn static_and_missing_credentials_never_fetch() {
        let keys = AwsCredentials::Keys(sigv4::Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: SECRET.into(),
            session_token: None,
        });
        let mut p = CredentialsProvider::fixed(Some(keys));
        assert!(p.poll(T0).is_none());
        assert_eq!(akid(&p, u64::MAX), Some("AKID"));
        let mut p = CredentialsProvider::fixed(None);
        assert!(p.poll(T0).is_none());
        assert_eq!(p.current(T0), None);
        let e = p.unavailable();
        assert_eq!(
            (e.message.as_str(), e.retry_after),
            ("the gateway has no AWS credentials configured", None)
        );
    }

    #[test]
    fn log_lines_never_carry_secrets() {
        let mut p = imds();
        let mut lines = vec![imds_round(&mut p, T0, &answer("ASIAFIRST", T0 + 400)).to_string()];
        p.poll(T0 + 100);
        lines.push(
            p.on_response(Some(500), TOKEN.as_bytes(), T0 + 100)
                .to_string(),
        );
        let mut c = container();
        c.poll(T0);
        lines.push(
            c.on_response(
                Some(200),
                br#"{"AccessKeyId":"A","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG+bPxRfiCYzSECRET"#,
                T0,
            )
            .to_string(),
        );
        assert_eq!(
            lines[0],
            format!(
                "AWS credentials from EC2 instance metadata (IMDS): access key ASIAFIRST, valid until {}, next refresh in 100 s",
                format_iso8601(T0 + 400)
            )
        );
        assert!(
            lines[1].contains("the current credentials stay in use until"),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].contains("requests are answered 503 until credentials arrive"),
            "{}",
            lines[2]
        );
        for line in &lines {
            assert!(
                !line.contains("SECRET") && !line.contains("imds-TOKEN"),
                "{line}"
            );
        }
    }

    /// Metadata answers are untrusted bytes: mutated seeds at every step never panic, and a step
    /// that fails leaves nothing expired or half-read in use.
    #[test]
    fn hostile_answers_never_panic() {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % bound.max(1) as u64).unwrap()
        };
        let seeds: [&[u8]; 4] = [
            b"imds-TOKEN",
            b"gateway-role\nother",
            &answer("ASIAFIRST", T0 + 3600),
            br#"{"code":"AccessDenied","message":"no"}"#,
        ];
        let tokens: [&[u8]; 8] = [b"\"", b"{", b"}", b"\xff", b"\n", b"-", b"9", b"+99:99"];
        for i in 0..3000 {
            let seed = seeds[i % seeds.len()];
            let mut body = seed.to_vec();
            for _ in 0..1 + next(4) {
                let at = next(body.len() + 1);
                match next(3) {
                    0 => body.truncate(at),
                    1 => {
                        if let Some(b) = body.get_mut(at) {
                            *b = u8::try_from(next(256)).unwrap();
                        }
                    }
                    _ => {
                        let t = tokens[next(tokens.len())];
                        body.splice(at..at, t.iter().copied());
                    }
                }
            }
            let mut p = if i % 2 == 0 { imds() } else { container() };
            let now = T0 + u64::try_from(i).unwrap();
            for _ in 0..3 {
                if p.poll(now).is_none() {
                    break;
                }
                let status = [200, 200, 200, 404, 503][next(5)];
                if p.on_response(Some(status), &body, now) != Event::Continue {
                    break;
                }
            }
            if let Some(AwsCredentials::Keys(k)) = p.current(now) {
                assert!(!k.access_key_id.is_empty() && !k.secret_access_key.is_empty());
            }
            let text = String::from_utf8_lossy(&body);
            let _ = crate::credentials::parse_iso8601(&text);
        }
    }
}
