//! `omnivox serve` and `omnivox run`: flags (clap), configuration merging
//! and start-up messages.

pub mod run;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::config::ServeConfig;
use crate::engine_factory::{self, EngineSpec};
use crate::lifecycle;
use crate::state::AppState;

/// omnivox: a self-hosted, OpenAI-compatible speech-to-speech server.
#[derive(Debug, Parser)]
#[command(name = "omnivox", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the OpenAI-compatible API.
    Serve(ServeArgs),
    /// Run one spoken turn from the terminal.
    Run(run::RunArgs),
}

/// `omnivox serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// `demo` (a tiny random model, the default), a checkpoint directory, or
    /// a Hugging Face repo id.
    #[arg(long)]
    pub model: Option<String>,
    /// Address to bind (default 127.0.0.1: this machine only).
    #[arg(long)]
    pub host: Option<String>,
    /// Port (default 8000).
    #[arg(long)]
    pub port: Option<u16>,
    /// An accepted API key (repeatable). Also OMNIVOX_API_KEYS / OMNIVOX_API_KEY.
    #[arg(long = "api-key")]
    pub api_keys: Vec<String>,
    /// Config file (default: ./omnivox.toml when it exists).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// `cpu` or `cuda:N`.
    #[arg(long)]
    pub device: Option<String>,
    /// The thinker's weights: `none` (dense), `int8` (per channel) or `nf4`
    /// (bitsandbytes' NormalFloat4, double quant), quantized at load.
    #[arg(long)]
    pub quantization: Option<omnivox_runtime::engine::Quantization>,
}

/// Logs to stderr; `RUST_LOG` overrides the default `info`.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Runs a parsed command line.
pub async fn main(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Run(args) => run::main(args).await,
    }
}

/// Defaults < config file < environment < flags.
pub fn resolve_config(
    args: &ServeArgs,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<ServeConfig> {
    let default_file = PathBuf::from("omnivox.toml");
    let mut config = match &args.config {
        Some(path) => ServeConfig::load(path)?,
        None if default_file.is_file() => ServeConfig::load(&default_file)?,
        None => ServeConfig::default(),
    };
    config.add_env_keys(env);
    if let Some(m) = &args.model {
        config.model.model = m.clone();
    }
    if let Some(h) = &args.host {
        config.server.host = h.clone();
    }
    if let Some(p) = args.port {
        config.server.port = p;
    }
    if let Some(d) = &args.device {
        config.model.device = d.clone();
    }
    if let Some(q) = args.quantization {
        config.model.quantization = q;
    }
    config.server.api_keys.extend(args.api_keys.iter().cloned());
    config.validate()?;
    engine_factory::check_device(&config.model.device)?;
    Ok(config)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = resolve_config(&args, |k| std::env::var(k).ok())?;
    let spec = EngineSpec {
        model: config.model.model.clone(),
        device: config.model.device.clone(),
        quantization: config.model.quantization,
    };
    let engine = engine_factory::build_engine(&spec).await?;
    let addr = format!("{}:{}", config.server.host, config.server.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot bind {addr}"))?;
    let state = AppState::new(engine, config);
    let local = listener.local_addr()?;
    announce(&state, local);
    lifecycle::serve(listener, state, lifecycle::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Logs what an operator must know at start-up: the address, an open
/// server, a non-local bind, the demo model.
pub fn announce(state: &AppState, addr: SocketAddr) {
    for line in startup_notes(state, addr) {
        tracing::warn!("{line}");
    }
    tracing::info!(
        model = %state.models().snapshot,
        ids = ?state.models().ids,
        "listening on http://{addr}"
    );
}

/// The start-up warnings, one per line.
pub fn startup_notes(state: &AppState, addr: SocketAddr) -> Vec<String> {
    let mut notes = Vec::new();
    if state.keys().is_open() {
        let bar = "!".repeat(72);
        notes.push(bar.clone());
        notes.push(format!(
            "!! NO API KEYS CONFIGURED: the API at http://{addr} is OPEN to anyone who can reach it."
        ));
        notes.push(
            "!! Set --api-key, OMNIVOX_API_KEY(S) or [server] api_keys in omnivox.toml.".to_owned(),
        );
        notes.push(bar);
    }
    if !addr.ip().is_loopback() {
        notes.push(format!(
            "bound to {addr}: reachable from other machines (the default is 127.0.0.1)"
        ));
    }
    if state.info().is_demo {
        notes.push(
            "serving the DEMO model: tiny random weights; its replies are noise. Use --model DIR|HF_REPO_ID for a real checkpoint."
                .to_owned(),
        );
    }
    notes
}
