//! `cargo xtask audio-files`: regenerate the peer-made audio test files in
//! `crates/audio/tests/data/`.
//!
//! The signal is speech from espeak-ng; every file is then made by the tool
//! that real clients use (ffmpeg, opusenc, lame, flac), with bit-exact flags
//! and fixed serial numbers so that the same tool versions give the same
//! bytes. `manifest.json` records each file's command, size and SHA-256 and
//! the tool versions. The tests decode these files with our decoders and
//! compare against ffmpeg's decoding of the same bytes, so a regenerated file
//! needs no other update. Keep the folder well under 2 MB.

use crate::workspace_root;
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The sentence espeak-ng speaks (about 1.6 s are kept).
const TEXT: &str = "Omnivox reads speech in every format a client sends.";

/// ffmpeg's common flags: quiet, overwrite.
const FF: &[&str] = &["-nostdin", "-hide_banner", "-v", "error", "-y"];
/// ffmpeg's output flags (after the input): no metadata, bit-exact output.
const FF_OUT: &[&str] = &[
    "-fflags",
    "+bitexact",
    "-flags:a",
    "+bitexact",
    "-map_metadata",
    "-1",
];

/// One file: its name, how it is made (`{src}`, `{stereo}` and `{out}` are
/// substituted), and whether the tool writes to stdout (a pipe, as a live
/// client would) rather than to a seekable file.
struct Spec {
    name: &'static str,
    tool: &'static str,
    args: &'static str,
    piped: bool,
}

const fn spec(name: &'static str, tool: &'static str, args: &'static str) -> Spec {
    Spec {
        name,
        tool,
        args,
        piped: false,
    }
}

const fn piped(name: &'static str, tool: &'static str, args: &'static str) -> Spec {
    Spec {
        name,
        tool,
        args,
        piped: true,
    }
}

const SPECS: &[Spec] = &[
    spec(
        "wav_u8_8k.wav",
        "ffmpeg",
        "-i {src} -t 0.5 -ar 8000 -c:a pcm_u8 {out}",
    ),
    spec(
        "wav_s16_44k_stereo.wav",
        "ffmpeg",
        "-i {stereo} -t 0.4 -ar 44100 -c:a pcm_s16le {out}",
    ),
    spec(
        "wav_s24_48k.wav",
        "ffmpeg",
        "-i {src} -t 0.3 -ar 48000 -c:a pcm_s24le {out}",
    ),
    spec(
        "wav_s32_16k.wav",
        "ffmpeg",
        "-i {src} -t 0.4 -ar 16000 -c:a pcm_s32le {out}",
    ),
    spec(
        "wav_f32_24k.wav",
        "ffmpeg",
        "-i {src} -t 0.4 -ar 24000 -c:a pcm_f32le {out}",
    ),
    spec(
        "wav_f64_16k.wav",
        "ffmpeg",
        "-i {src} -t 0.3 -ar 16000 -c:a pcm_f64le {out}",
    ),
    spec(
        "wav_ext_6ch.wav",
        "ffmpeg",
        "-i {src} -t 0.2 -ar 16000 -af pan=5.1|c0=c0|c1=0.8*c0|c2=0.6*c0|c3=0.1*c0|c4=0.4*c0|c5=0.2*c0 -c:a pcm_s16le {out}",
    ),
    spec(
        "wav_mulaw_8k.wav",
        "ffmpeg",
        "-i {src} -t 0.5 -ar 8000 -c:a pcm_mulaw {out}",
    ),
    spec(
        "wav_alaw_8k.wav",
        "ffmpeg",
        "-i {src} -t 0.5 -ar 8000 -c:a pcm_alaw {out}",
    ),
    piped(
        "wav_streamed.wav",
        "ffmpeg",
        "-i {src} -t 0.4 -ar 16000 -c:a pcm_s16le -f wav pipe:1",
    ),
    spec(
        "speech.mp3",
        "lame",
        "--silent --noreplaygain -m m -b 32 {src} {out}",
    ),
    spec(
        "speech_id3.mp3",
        "ffmpeg",
        "-i {src} -c:a libmp3lame -b:a 48k -metadata title=omnivox -id3v2_version 3 {out}",
    ),
    spec(
        "speech.flac",
        "flac",
        "--silent --force --no-padding --no-seektable -5 -o {out} {src}",
    ),
    spec(
        "speech_ogg.oga",
        "flac",
        "--silent --force --ogg --serial-number=7 --no-padding -o {out} {src}",
    ),
    spec(
        "speech.opus",
        "opusenc",
        "--quiet --serial 1 --bitrate 24 {src} {out}",
    ),
    spec(
        "speech_stereo.opus",
        "opusenc",
        "--quiet --serial 2 --bitrate 32 {stereo} {out}",
    ),
    spec(
        "speech.webm",
        "ffmpeg",
        "-i {src} -c:a libopus -b:a 24k -f webm {out}",
    ),
    piped(
        "speech_piped.webm",
        "ffmpeg",
        "-i {src} -c:a libopus -b:a 24k -f webm pipe:1",
    ),
    spec(
        "speech_vorbis.ogg",
        "ffmpeg",
        "-i {src} -c:a libvorbis -q:a 0 {out}",
    ),
    spec(
        "speech.aac",
        "ffmpeg",
        "-i {src} -c:a aac -b:a 32k -f adts {out}",
    ),
    spec("speech.m4a", "ffmpeg", "-i {src} -c:a aac -b:a 32k {out}"),
    spec(
        "speech_24k.pcm16",
        "ffmpeg",
        "-i {src} -t 0.8 -ar 24000 -f s16le {out}",
    ),
    spec(
        "speech_8k.ulaw",
        "ffmpeg",
        "-i {src} -ar 8000 -f mulaw {out}",
    ),
    spec(
        "speech_8k.alaw",
        "ffmpeg",
        "-i {src} -ar 8000 -f alaw {out}",
    ),
];

const TOOLS: &[(&str, &str)] = &[
    ("espeak-ng", "--version"),
    ("ffmpeg", "-version"),
    ("lame", "--version"),
    ("flac", "--version"),
    ("opusenc", "--version"),
];

pub fn run(_args: &[String]) -> Result<()> {
    let root = workspace_root();
    let data = root.join("crates/audio/tests/data");
    std::fs::create_dir_all(&data)?;
    let versions = tool_versions()?;
    let tmp = std::env::temp_dir().join(format!("omnivox-audio-files-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;

    // The signal: espeak-ng speech, cut to 1.6 s, 22.05 kHz mono 16-bit.
    let raw = tmp.join("espeak.wav");
    exec(
        Command::new("espeak-ng")
            .args(["-v", "en-us", "-s", "165", "-w"])
            .arg(&raw)
            .arg(TEXT),
    )?;
    let src = data.join("speech_22k.wav");
    let src_cmd = "-i espeak.wav -t 1.6 -ac 1 -ar 22050 -c:a pcm_s16le speech_22k.wav";
    ffmpeg(&[
        "-i",
        path(&raw)?,
        "-t",
        "1.6",
        "-ac",
        "1",
        "-ar",
        "22050",
        "-c:a",
        "pcm_s16le",
        path(&src)?,
    ])?;
    // A stereo version whose right channel is the left at half level, delayed 2 ms.
    let stereo = tmp.join("stereo.wav");
    ffmpeg(&[
        "-i",
        path(&src)?,
        "-af",
        "pan=stereo|c0=c0|c1=0.5*c0,adelay=0|2",
        "-c:a",
        "pcm_s16le",
        path(&stereo)?,
    ])?;

    let mut manifest = BTreeMap::new();
    manifest.insert(
        "speech_22k.wav".to_string(),
        entry(
            &src,
            &format!("espeak-ng -v en-us -s 165 \"{TEXT}\"; ffmpeg {src_cmd}"),
        )?,
    );
    for s in SPECS {
        let out = data.join(s.name);
        make(s, &src, &stereo, &out)?;
        let shown = s
            .args
            .replace("{src}", "speech_22k.wav")
            .replace("{stereo}", "stereo.wav")
            .replace("{out}", s.name);
        let shown = if s.piped {
            format!("{} {shown} > {}", s.tool, s.name)
        } else {
            format!("{} {shown}", s.tool)
        };
        manifest.insert(s.name.to_string(), entry(&out, &shown)?);
    }
    let _ = std::fs::remove_dir_all(&tmp);

    let total: u64 = manifest
        .values()
        .map(|e| e["bytes"].as_u64().unwrap_or(0))
        .sum();
    let doc = serde_json::json!({
        "generated_by": "cargo xtask audio-files (xtask/src/audio_files.rs)",
        "text": TEXT,
        "tools": versions,
        "total_bytes": total,
        "files": manifest,
    });
    std::fs::write(
        data.join("manifest.json"),
        serde_json::to_string_pretty(&doc)? + "\n",
    )?;
    eprintln!(
        "wrote {} files, {total} bytes, to {}",
        manifest.len(),
        data.display()
    );
    if total > 2_000_000 {
        bail!("the audio test files total {total} bytes; keep them under 2 MB");
    }
    Ok(())
}

/// Runs one spec, writing `out`.
fn make(s: &Spec, src: &Path, stereo: &Path, out: &Path) -> Result<()> {
    let mut args: Vec<String> = Vec::new();
    if s.tool == "ffmpeg" {
        args.extend(FF.iter().map(|a| a.to_string()));
    }
    for a in s.args.split_whitespace() {
        let is_input = matches!(a, "{src}" | "{stereo}");
        args.push(match a {
            "{src}" => path(src)?.to_string(),
            "{stereo}" => path(stereo)?.to_string(),
            "{out}" => path(out)?.to_string(),
            other => other.to_string(),
        });
        if is_input && s.tool == "ffmpeg" {
            args.extend(FF_OUT.iter().map(|a| a.to_string()));
        }
    }
    let mut cmd = Command::new(s.tool);
    cmd.args(&args);
    if s.piped {
        let output = cmd
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running {}", s.tool))?;
        if !output.status.success() {
            bail!("{} failed making {}", s.tool, s.name);
        }
        std::fs::write(out, output.stdout)?;
        return Ok(());
    }
    exec(&mut cmd)
}

/// ffmpeg with one input (`args[0..2]` is `-i FILE`).
fn ffmpeg(args: &[&str]) -> Result<()> {
    let (input, rest) = args.split_at(2);
    exec(
        Command::new("ffmpeg")
            .args(FF)
            .args(input)
            .args(FF_OUT)
            .args(rest),
    )
}

fn exec(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("running {cmd:?} (is it installed?)"))?;
    if !status.success() {
        bail!("command failed ({status}): {cmd:?}");
    }
    Ok(())
}

fn path(p: &Path) -> Result<&str> {
    p.to_str()
        .with_context(|| format!("non-UTF-8 path {}", p.display()))
}

fn entry(file: &PathBuf, command: &str) -> Result<serde_json::Value> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let sha = Sha256::digest(&bytes);
    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    Ok(serde_json::json!({ "command": command, "bytes": bytes.len(), "sha256": hex }))
}

/// The first line each tool prints about its version; fails naming a missing tool.
fn tool_versions() -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (tool, flag) in TOOLS {
        let o = Command::new(tool).arg(flag).output().with_context(|| {
            format!("`{tool}` is needed to make the audio test files (apt: ffmpeg opus-tools lame flac espeak-ng)")
        })?;
        let text =
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        out.insert(
            tool.to_string(),
            text.lines().next().unwrap_or("").trim().to_string(),
        );
    }
    Ok(out)
}
