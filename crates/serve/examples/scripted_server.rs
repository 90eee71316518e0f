//! **Test-only server.** Runs omnivox's HTTP API over the runtime's
//! `ScriptedEngine` test double (deterministic scripted replies, a 440 Hz
//! tone for speech) so that the OpenAI-SDK conformance suite
//! (`tools/conformance/`) can drive every endpoint without a model. It is an
//! example, built only by `cargo build --example`, never part of the
//! `omnivox` binary; its model is listed as `omnivox-scripted`.
//!
//! ```text
//! cargo run -p omnivox-serve --example scripted_server -- [--config omnivox.toml] [--port 0] [--api-key KEY] [--pacing-ms 5]
//! ```
//!
//! Prints `LISTENING http://ADDR` on stdout once bound; SIGTERM drains and
//! exits like `omnivox serve`.

#![allow(clippy::print_stdout)] // The address line on stdout is this tool's interface.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use omnivox_runtime::testing::ScriptedEngine;
use omnivox_serve::config::ServeConfig;
use omnivox_serve::{AppState, cli, lifecycle};

fn main() -> anyhow::Result<()> {
    cli::init_tracing();
    let mut config = ServeConfig::default();
    config.server.port = 0;
    config.server.shutdown_grace_secs = 10;
    let mut pacing_ms = 5;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--config" => {
                let port = config.server.port;
                config = ServeConfig::load(std::path::Path::new(&value()?))?;
                config.server.port = port;
            }
            "--host" => config.server.host = value()?,
            "--port" => config.server.port = value()?.parse()?,
            "--api-key" => config.server.api_keys.push(value()?),
            "--pacing-ms" => pacing_ms = value()?.parse()?,
            "--grace-secs" => config.server.shutdown_grace_secs = value()?.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    config.validate()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let engine = ScriptedEngine::with_pacing(Duration::from_millis(pacing_ms));
        let addr = format!("{}:{}", config.server.host, config.server.port);
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        let state = AppState::new(Arc::new(engine), config);
        let local = listener.local_addr()?;
        cli::announce(&state, local);
        println!("LISTENING http://{local}");
        lifecycle::serve(listener, state, lifecycle::shutdown_signal()).await?;
        anyhow::Ok(())
    })
}
