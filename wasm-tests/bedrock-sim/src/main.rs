//! bedrock-sim: an AWS Bedrock Runtime simulator, strict like the real service, for the
//! bedrock-filter end-to-end tests and the offline demo. See README.md.

mod async_invoke;
mod auth;
mod converse;
mod count_tokens;
mod errors;
mod guardrail;
mod invoke;
mod model_id;
mod reply;
mod rules;
mod script;
mod server;
mod shapes;
mod stream;
mod util;

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::auth::{AuthConfig, Credential};
use crate::server::State;

const USAGE: &str = "usage: bedrock-sim [--listen 127.0.0.1:0] [--region us-east-1]... \
[--credentials AKID:SECRET[:SESSION_TOKEN]]... [--bearer-token TOKEN]... \
[--max-skew-secs 300] [--no-auth]";

struct Config {
    listen: SocketAddr,
    auth: AuthConfig,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Config>, String> {
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut auth = AuthConfig {
        regions: Vec::new(),
        credentials: Vec::new(),
        bearer_tokens: Vec::new(),
        max_skew_secs: 300,
        no_auth: false,
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                listen = v
                    .parse()
                    .map_err(|e| format!("--listen {v:?}: {e} (want IP:PORT)"))?;
            }
            "--region" => auth.regions.push(value("--region")?),
            "--credentials" => auth
                .credentials
                .push(Credential::parse(&value("--credentials")?)?),
            "--bearer-token" => {
                let t = value("--bearer-token")?;
                if t.is_empty() {
                    return Err("--bearer-token must not be empty".into());
                }
                auth.bearer_tokens.push(t);
            }
            "--max-skew-secs" => {
                let v = value("--max-skew-secs")?;
                auth.max_skew_secs = v
                    .parse::<u32>()
                    .map_err(|e| format!("--max-skew-secs {v:?}: {e}"))?
                    .into();
            }
            "--no-auth" => auth.no_auth = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if auth.regions.is_empty() {
        auth.regions.push("us-east-1".into());
    }
    Ok(Some(Config { listen, auth }))
}

async fn run(cfg: Config) -> Result<(), String> {
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "LISTENING {addr}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))?;
    }
    let a = &cfg.auth;
    eprintln!(
        "bedrock-sim: regions {:?}, {} credential(s), {} bearer token(s), max skew {}s{}",
        a.regions,
        a.credentials.len(),
        a.bearer_tokens.len(),
        a.max_skew_secs,
        if a.no_auth { ", NO AUTH" } else { "" }
    );
    if !a.no_auth && a.credentials.is_empty() && a.bearer_tokens.is_empty() {
        eprintln!(
            "bedrock-sim: warning: no --credentials, --bearer-token or --no-auth: every Bedrock request will be rejected"
        );
    }
    let state = Arc::new(State::new(cfg.auth));
    serve(listener, state).await
}

/// Accepts connections until SIGINT/SIGTERM.
async fn serve(listener: TcpListener, state: Arc<State>) -> Result<(), String> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = tokio::signal::ctrl_c() => { eprintln!("bedrock-sim: SIGINT, exiting"); return Ok(()); }
            _ = term.recv() => { eprintln!("bedrock-sim: SIGTERM, exiting"); return Ok(()); }
        };
        let (stream, _peer) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: report and keep serving.
                eprintln!("bedrock-sim: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        server::spawn_connection(stream, state.clone());
    }
}

fn main() -> ExitCode {
    let cfg = match parse_args(std::env::args().skip(1)) {
        Ok(Some(c)) => c,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("bedrock-sim: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    util::seed_rng();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bedrock-sim: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(cfg));
    // Don't wait for open connections: a stop signal means stop.
    rt.shutdown_timeout(std::time::Duration::from_millis(50));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bedrock-sim: {e}");
            ExitCode::FAILURE
        }
    }
}
