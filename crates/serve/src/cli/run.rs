//! `omnivox run`: one spoken turn from the terminal. The transcript is
//! printed as it is generated; the speech is written to `--out`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use futures::StreamExt;
use omnivox_runtime::api::{
    AudioInput, ChatTask, ContentPart, Engine, Event, GenerateRequest, Message, OutputMode, Role,
    SamplingParams, SpeechOutput, Task, ToolChoice,
};

use crate::audio_io;
use crate::catalog::VoiceResolver;
use crate::config::Limits;
use crate::engine_factory::{self, EngineSpec};
use crate::wire::unions::Voice;

/// `omnivox run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// `demo`, a checkpoint directory, or a Hugging Face repo id.
    #[arg(long, default_value = "demo")]
    pub model: String,
    /// The question, as audio (wav, mp3, flac, ogg/opus, webm, …).
    #[arg(long)]
    pub input: PathBuf,
    /// Text to send along with the audio.
    #[arg(long)]
    pub text: Option<String>,
    /// A voice name (`alloy`, … or one of the model's own).
    #[arg(long, default_value = "alloy")]
    pub voice: String,
    /// Speech tempo, 0.25–4.0.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f32,
    /// Where to write the spoken answer; the extension picks the format
    /// (wav, mp3, flac, opus, ogg).
    #[arg(long, default_value = "answer.wav")]
    pub out: PathBuf,
    /// `cpu` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The thinker's weights: `none`, `int8` or `nf4`.
    #[arg(long, default_value = "none")]
    pub quantization: omnivox_runtime::engine::Quantization,
}

pub(super) async fn main(args: RunArgs) -> anyhow::Result<()> {
    let spec = EngineSpec {
        model: args.model.clone(),
        device: args.device.clone(),
        quantization: args.quantization,
    };
    let engine = engine_factory::build_engine(&spec).await?;
    wait_until_ready(engine.as_ref()).await?;
    let mut stdout = std::io::stdout();
    let summary = run_turn(engine.as_ref(), &args, &mut stdout).await?;
    writeln!(stdout)?;
    tracing::info!(
        out = %args.out.display(),
        seconds = summary.audio_secs,
        "wrote the spoken answer"
    );
    Ok(())
}

/// Waits while the weights load; a failed load is the error.
async fn wait_until_ready(engine: &dyn Engine) -> anyhow::Result<()> {
    use omnivox_runtime::api::Readiness;
    loop {
        match engine.readiness() {
            Readiness::Ready => return Ok(()),
            Readiness::Failed { reason } => anyhow::bail!("the model failed to load: {reason}"),
            Readiness::Loading { .. } => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}

/// What one turn produced.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnSummary {
    pub transcript: String,
    pub audio_secs: f64,
}

/// Runs one turn on `engine`: decodes `--input`, prints the transcript to
/// `out` as it arrives, writes the audio to `--out`.
pub async fn run_turn(
    engine: &dyn Engine,
    args: &RunArgs,
    out: &mut impl Write,
) -> anyhow::Result<TurnSummary> {
    let bytes = std::fs::read(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let limits = Limits::default();
    let samples =
        audio_io::decode_input(&bytes, None, &limits, limits.max_audio_seconds, "--input")
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let voice = VoiceResolver::new(engine.info(), &BTreeMap::new())
        .resolve(&Voice::Name(args.voice.clone()), "--voice")
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    if !(0.25..=4.0).contains(&args.speed) {
        bail!("--speed must be between 0.25 and 4.0");
    }
    let format = out_format(&args.out)?;
    let mut events = engine
        .submit(turn_request(samples, args, voice))
        .await
        .map_err(|e| anyhow::anyhow!("the engine refused the turn: {e}"))?;
    let (mut transcript, mut audio) = (String::new(), Vec::new());
    while let Some(event) = events.next().await {
        match event {
            Event::TextDelta(t) => {
                write!(out, "{t}")?;
                out.flush()?;
                transcript.push_str(&t);
            }
            Event::AudioChunk(c) => audio.extend_from_slice(&c.samples),
            Event::Finished(_) => break,
            Event::Error(e) => bail!("generation failed: {e}"),
            _ => {}
        }
    }
    let encoded =
        audio_io::encode_whole(&audio, format).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    std::fs::write(&args.out, encoded)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    Ok(TurnSummary {
        transcript,
        audio_secs: audio.len() as f64 / f64::from(omnivox_runtime::api::OUTPUT_SAMPLE_RATE),
    })
}

/// The engine request for one spoken turn.
fn turn_request(samples: Vec<f32>, args: &RunArgs, voice: String) -> GenerateRequest {
    let mut content = vec![ContentPart::Audio(AudioInput::new(samples))];
    if let Some(t) = &args.text {
        content.push(ContentPart::Text(t.clone()));
    }
    GenerateRequest {
        request_id: crate::ids::new_id("run-"),
        task: Task::Chat(ChatTask {
            messages: vec![Message {
                content,
                ..Message::text(Role::User, "")
            }],
            tools: Vec::new(),
            tool_choice: ToolChoice::None,
            parallel_tool_calls: false,
        }),
        sampling: SamplingParams::default(),
        output: OutputMode::Speech(SpeechOutput {
            voice,
            speed: args.speed,
        }),
    }
}

/// The format `--out`'s extension names.
fn out_format(path: &std::path::Path) -> anyhow::Result<omnivox_audio::Format> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("wav")
        .to_ascii_lowercase();
    match omnivox_audio::Format::from_label(&ext) {
        Ok(f) if f.can_encode() => Ok(f),
        _ => bail!("cannot write `.{ext}`: use .wav, .mp3, .flac, .opus or .ogg"),
    }
}
