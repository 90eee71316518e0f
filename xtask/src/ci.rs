//! `cargo xtask ci`: the checks CI runs, cheapest first.

use crate::{run_cmd, workspace_root};
use anyhow::Result;
use std::process::Command;

pub fn run(_args: &[String]) -> Result<()> {
    let root = workspace_root();
    let cargo = || {
        let mut c = Command::new(env!("CARGO"));
        c.current_dir(&root);
        c
    };
    run_cmd(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run_cmd(Command::new(root.join(".ci/check-deps")).current_dir(&root))?;
    run_cmd(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run_cmd(cargo().args(["test", "--workspace"]))?;
    Ok(())
}
