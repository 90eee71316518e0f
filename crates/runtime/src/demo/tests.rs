//! The demo checkpoint: created deterministically, loadable by every loader
//! (thinker, talker, Code2Wav, tokenizer, template), and servable.

#![allow(clippy::unwrap_used)]

use super::*;
use omnivox_model::qwen3_omni::Qwen3OmniCheckpoint;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("omnivox-demo-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn digest(dir: &Path) -> Vec<(String, u64, u64)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                bytes.len() as u64,
                h,
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_demo_is_deterministic_small_and_complete() {
    let a = scratch("a");
    let b = scratch("b");
    let dir_a = ensure(&a).unwrap();
    let dir_b = ensure(&b).unwrap();
    assert_eq!(digest(&dir_a), digest(&dir_b), "same bytes on every run");
    let total: u64 = digest(&dir_a).iter().map(|f| f.1).sum();
    assert!(total < 24 << 20, "{total} bytes");
    // Reused, not rebuilt.
    let before = std::fs::metadata(dir_a.join("model.safetensors"))
        .unwrap()
        .modified()
        .unwrap();
    ensure(&a).unwrap();
    assert_eq!(
        std::fs::metadata(dir_a.join("model.safetensors"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    // Every part loads with nothing missing or left over.
    type B = omnivox_model::testing::NdArray;
    let device = Default::default();
    let ckpt = Qwen3OmniCheckpoint::open(&dir_a).unwrap();
    ckpt.load_thinker::<B>(&device).unwrap();
    Qwen3OmniTalker::<B>::from_checkpoint(&ckpt, &device).unwrap();
    let c2w = ckpt.config().code2wav_config.clone().unwrap();
    let codec = Code2Wav::<B>::load_from(ckpt.weights(), "code2wav", &c2w, &device).unwrap();
    assert_eq!(codec.samples_per_frame(), 1920);
    let processor = omnivox_tokenizer::Qwen3OmniProcessor::from_dir(&dir_a).unwrap();
    let tok = processor.tokenizer();
    let text = "Hello there, what is the weather in Paris?";
    assert_eq!(
        tok.decode(&tok.encode(text, false).unwrap(), false)
            .unwrap(),
        text
    );
    assert!(
        tok.encode(text, false).unwrap().len() < text.len() / 2,
        "merges compress English"
    );
    assert_eq!(
        tok.token_to_id("<|im_end|>"),
        Some(ckpt.config().im_end_token_id)
    );
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}
