//! `cargo xtask fixtures [NAME…]`: regenerate the reference fixtures.
//!
//! Runs every script in `tools/reference/` (or those named) with the pinned
//! torch/transformers. The interpreter is `$OMNIVOX_REF_PYTHON` when set, else
//! a venv at `tools/reference/.venv` made and filled from
//! `tools/reference/requirements.txt` on first use. Each script writes
//! `fixtures/<name>/` and its `manifest.json` (see `tools/reference/common.py`);
//! afterwards every manifest is checked, as `cargo test -p xtask` does.

use crate::{run_cmd, workspace_root};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn run(args: &[String]) -> Result<()> {
    let root = workspace_root();
    if args.iter().any(|a| a == "--check") {
        return check_all(&root);
    }
    let python = python(&root)?;
    let scripts = scripts(&root, args)?;
    for script in &scripts {
        run_cmd(
            Command::new(&python)
                .arg(script)
                .current_dir(&root)
                .env("PYTHONHASHSEED", "0")
                .env("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
                .env("HF_HUB_OFFLINE", "1"),
        )?;
    }
    check_all(&root)
}

/// The reference scripts to run: all of `tools/reference/*.py` but `common.py`,
/// or those whose stem is named.
fn scripts(root: &Path, names: &[String]) -> Result<Vec<PathBuf>> {
    let dir = root.join("tools/reference");
    let mut all: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .filter(|p| {
            !p.file_stem()
                .is_some_and(|s| s == "common" || s.to_string_lossy().starts_with("bench"))
        })
        .collect();
    all.sort();
    if names.is_empty() {
        return Ok(all);
    }
    let mut picked = Vec::new();
    for n in names {
        match all
            .iter()
            .find(|p| p.file_stem().is_some_and(|s| s == n.as_str()))
        {
            Some(p) => picked.push(p.clone()),
            None => bail!("no script tools/reference/{n}.py"),
        }
    }
    Ok(picked)
}

/// The interpreter with the pinned reference libraries.
pub fn python(root: &Path) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("OMNIVOX_REF_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = root.join("tools/reference/.venv");
    let py = venv.join("bin/python");
    let req = root.join("tools/reference/requirements.txt");
    let stamp = venv.join(".requirements.sha256");
    let want = hex(&Sha256::digest(std::fs::read(&req)?));
    if py.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == want) {
        return Ok(py);
    }
    run_cmd(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    run_cmd(
        Command::new(&py)
            .args(["-m", "pip", "install", "-q", "-r"])
            .arg(&req),
    )?;
    std::fs::write(&stamp, want)?;
    Ok(py)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex(&Sha256::digest(bytes)))
}

#[derive(serde::Deserialize)]
struct Manifest {
    sources: BTreeMap<String, String>,
    files: BTreeMap<String, String>,
}

/// Checks every `fixtures/*/manifest.json`: each source script and each file
/// must still hash to what the manifest records. Returns every mismatch at once.
pub fn check_all(root: &Path) -> Result<()> {
    let fixtures = root.join("fixtures");
    let mut problems = Vec::new();
    let mut n = 0;
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(&fixtures) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect(),
        Err(_) => Vec::new(),
    };
    dirs.sort();
    for dir in dirs {
        let manifest_path = dir.join("manifest.json");
        let name = dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Ok(text) = std::fs::read_to_string(&manifest_path) else {
            problems.push(format!("fixtures/{name}: no manifest.json"));
            continue;
        };
        let m: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("fixtures/{name}/manifest.json"))?;
        n += 1;
        for (src, want) in &m.sources {
            match sha256_file(&root.join(src)) {
                Ok(got) if &got == want => {}
                Ok(_) => problems.push(format!("fixtures/{name}: {src} changed since the fixture was made; run `cargo xtask fixtures`")),
                Err(_) => problems.push(format!("fixtures/{name}: its script {src} is gone")),
            }
        }
        for (file, want) in &m.files {
            match sha256_file(&dir.join(file)) {
                Ok(got) if &got == want => {}
                Ok(_) => problems.push(format!("fixtures/{name}/{file} differs from its manifest")),
                Err(_) => problems.push(format!("fixtures/{name}/{file} is missing")),
            }
        }
        let on_disk = files_under(&dir)?;
        for f in on_disk
            .iter()
            .filter(|f| f.as_str() != "manifest.json" && !m.files.contains_key(*f))
        {
            problems.push(format!("fixtures/{name}/{f} is not in its manifest"));
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} stale fixture problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    eprintln!("{n} fixture manifest(s) match their scripts and files");
    Ok(())
}

fn files_under(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    /// Fails when a committed fixture no longer matches the script that made
    /// it, or was edited by hand.
    #[test]
    fn fixtures_match_their_scripts() {
        super::check_all(&crate::workspace_root()).unwrap();
    }
}
