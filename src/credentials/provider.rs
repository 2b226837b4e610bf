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
#[path = "provider_tests.rs"]
mod tests;
