//! `cargo xtask ci`: the checks CI runs, cheapest first. `.ci/run` installs the
//! system packages these need on a bare machine and then calls this.
//!
//! `cargo xtask ci --skip STEP[,STEP…]` leaves steps out (for local use).

use crate::{run_cmd, workspace_root};
use anyhow::Result;
use std::process::Command;
use std::time::Instant;

/// The `omnivox` binary with CUDA: serve's `cuda` feature turns on runtime's,
/// which turns on model's and codec's, so this builds every crate's CUDA code.
/// A build, not a check: it links (NVRTC compiles kernels at run time, so
/// neither a GPU nor the CUDA toolkit is needed here).
const CUDA_BUILD: &[&str] = &["build", "-p", "omnivox-serve", "--features", "cuda"];

/// The OpenAI-SDK conformance suite against a running server of `kind`
/// (`scripted`: the scripted test engine; `omnivox`: `omnivox serve` on the
/// demo model).
fn conformance(root: &std::path::Path, kind: &str) -> Command {
    let mut c = Command::new(root.join("tools/conformance/run.sh"));
    c.current_dir(root).env("OMNIVOX_CONFORMANCE_SERVER", kind);
    c
}

pub fn run(args: &[String]) -> Result<()> {
    let root = workspace_root();
    let skip: Vec<String> = args
        .iter()
        .position(|a| a == "--skip")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let cargo = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO"));
        c.current_dir(&root).args(args);
        c
    };
    let steps: Vec<(&str, Command)> = vec![
        ("fmt", cargo(&["fmt", "--all", "--", "--check"])),
        ("deps", cargo(&["xtask", "deps"])),
        (
            "clippy",
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        ),
        ("test", cargo(&["test", "--workspace"])),
        ("cuda", cargo(CUDA_BUILD)),
        ("conformance", conformance(&root, "scripted")),
        ("conformance-demo", conformance(&root, "omnivox")),
    ];
    let total = Instant::now();
    for (name, mut cmd) in steps {
        if skip.iter().any(|s| s == name) {
            eprintln!("== {name}: skipped");
            continue;
        }
        let t = Instant::now();
        eprintln!("== {name}");
        run_cmd(&mut cmd)?;
        eprintln!("== {name}: ok in {:.0} s", t.elapsed().as_secs_f64());
    }
    eprintln!(
        "== ci: all steps passed in {:.0} s",
        total.elapsed().as_secs_f64()
    );
    Ok(())
}
