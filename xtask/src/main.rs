//! omnivox's one task runner: `cargo xtask <command>`.
//!
//! Cheapest checks first; CI calls the same commands a person runs.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

mod audio_files;
mod bench;
mod ci;
mod deps;
mod fixtures;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  fixtures [NAME…]     regenerate reference fixtures with torch/transformers (tools/reference/)
  audio-files          regenerate the committed peer-made audio test files (ffmpeg, opusenc, lame, flac)
  bench [WHAT…]        run the benchmarks and print figures for docs/benchmarks.md
  deps                 check the dependency direction of docs/architecture.md
  ci                   run the checks CI runs (fmt, clippy, dependency direction, tests, cuda build)
";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        bail!("no command given");
    };
    match cmd.as_str() {
        "fixtures" => fixtures::run(rest),
        "audio-files" => audio_files::run(rest),
        "bench" => bench::run(rest),
        "ci" => ci::run(rest),
        "deps" => deps::run(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            eprint!("{USAGE}");
            bail!("unknown command `{other}`")
        }
    }
}

/// The workspace root (the folder holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command, failing with its name when it exits non-zero.
pub fn run_cmd(cmd: &mut std::process::Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd.status()?;
    if !status.success() {
        bail!("command failed ({status}): {cmd:?}");
    }
    Ok(())
}
