//! `cargo xtask deps`: proves the dependency direction of docs/architecture.md.
//!
//! For each crate, lists its normal (non-dev) dependency tree with every
//! feature enabled and fails if a forbidden package appears in it.

use crate::workspace_root;
use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::process::Command;

/// (crate, forbidden packages). A forbidden name matches a package exactly, or
/// any package starting with it when it ends in `*`.
const RULES: &[(&str, &[&str])] = &[
    (
        "omnivox-audio",
        &["burn*", "cubecl*", "tokio", "axum", "hyper", "omnivox-*"],
    ),
    (
        "omnivox-tokenizer",
        &[
            "tokio",
            "axum",
            "hyper",
            "omnivox-model",
            "omnivox-codec",
            "omnivox-runtime",
            "omnivox-serve",
            "omnivox-audio",
        ],
    ),
    (
        "omnivox-model",
        &[
            "tokio",
            "axum",
            "hyper",
            "omnivox-audio",
            "omnivox-tokenizer",
            "omnivox-codec",
            "omnivox-runtime",
            "omnivox-serve",
        ],
    ),
    (
        "omnivox-codec",
        &["tokio", "axum", "hyper", "omnivox-runtime", "omnivox-serve"],
    ),
    ("omnivox-runtime", &["axum", "hyper", "omnivox-serve"]),
];

pub fn run(_args: &[String]) -> Result<()> {
    let root = workspace_root();
    let mut failures = Vec::new();
    for (krate, forbidden) in RULES {
        let out = Command::new(env!("CARGO"))
            .current_dir(&root)
            .args([
                "tree",
                "--offline",
                "-p",
                krate,
                "-e",
                "normal",
                "--all-features",
                "--prefix",
                "none",
                "--format",
                "{p}",
            ])
            .output()
            .with_context(|| format!("cargo tree -p {krate}"))?;
        if !out.status.success() {
            bail!(
                "cargo tree -p {krate} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let packages: BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| name != krate)
            .collect();
        for name in &packages {
            if forbidden.iter().any(|f| matches(f, name)) {
                failures.push(format!("{krate} depends on {name}"));
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "dependency direction broken (see docs/architecture.md):\n  {}",
            failures.join("\n  ")
        );
    }
    eprintln!("dependency direction holds for {} crates", RULES.len());
    Ok(())
}

fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn patterns() {
        assert!(super::matches("burn*", "burn-ndarray"));
        assert!(super::matches("tokio", "tokio"));
        assert!(!super::matches("tokio", "tokio-util"));
    }
}
