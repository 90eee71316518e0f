"""Log-mel parity fixture: transformers' WhisperFeatureExtractor called as
Qwen3-Omni's processor calls it.

`Qwen3OmniMoeProcessor.audio_kwargs` = {sampling_rate: 16000, padding: True,
truncation: False, return_attention_mask: True}: the batch is padded to its
longest clip and nothing is truncated or chunked, so a 5-minute clip is one
30000-frame matrix whose log floor comes from the whole clip.

The test signal is speech: one espeak-ng utterance resampled to 16 kHz with
sox (no dither, so it is bit-for-bit repeatable). Longer signals are built
from it deterministically, the same way in tests/logmel_parity.rs:
`x[i] = clip[i % L] * GAINS[(i // L) % 5]` in float32.

Writes fixtures/logmel/: reference.safetensors with `clip` (f32),
`mel_filters` (f64, [201, 128]) and per signal `feat_<name>` ([128, k] at
frames `frames_<name>`) and `mask_<name>` (frames kept); batch_a/batch_b for
a two-clip batch (all frames); cases.json with lengths and the error the
reference raises for too-short audio.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Fixture, only_requested  # noqa: E402

NAME = "logmel"
TEXT = "The quick brown fox jumps over the lazy dog. Omnivox listens, and then it answers."
GAINS = np.array([1.0, 0.8, 0.6, 0.9, 0.7], dtype=np.float32)
SIGNALS = {  # name -> samples
    "short_201": 201, "short_399": 399, "s1": 16_000, "s1_plus1": 16_001,
    "s29": 29 * 16_000, "s31_odd": 31 * 16_000 + 37, "m5": 5 * 60 * 16_000,
}
BATCH = (16_037, 40_000)
FRAMES_KEPT = 120  # frames stored per long signal


def espeak_clip() -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp) / "raw.wav", Path(tmp) / "16k.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "165", "-w", str(raw), TEXT], check=True)
        subprocess.run(["sox", "-D", str(raw), "-r", "16000", "-b", "16", "-c", "1", str(out)], check=True)
        with wave.open(str(out)) as w:
            assert w.getframerate() == 16000 and w.getsampwidth() == 2
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return pcm.astype(np.float32) / np.float32(32768.0)


def build(clip: np.ndarray, n: int) -> np.ndarray:
    i = np.arange(n)
    return (clip[i % len(clip)] * GAINS[(i // len(clip)) % len(GAINS)]).astype(np.float32)


def tool_versions() -> dict:
    def first_line(cmd):
        return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()
    return {"espeak-ng": first_line(["espeak-ng", "--version"]), "sox": first_line(["sox", "--version"])}


def main() -> None:
    if not only_requested(NAME):
        return
    from transformers import WhisperFeatureExtractor

    fe = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, hop_length=160, n_fft=400,
                                 padding_value=0.0, dither=0.0, return_attention_mask=True)
    call = {"sampling_rate": 16000, "padding": True, "truncation": False, "return_attention_mask": True}
    params = {"text": TEXT, "gains": GAINS.tolist(), "signals": SIGNALS, "batch": BATCH,
              "extractor_call": call, "tools": tool_versions()}
    with Fixture(NAME, __file__, seed=0, params=params) as fx:
        clip = espeak_clip()
        tensors = {"clip": clip, "mel_filters": np.asarray(fe.mel_filters, dtype=np.float64)}
        cases = {"clip_samples": len(clip), "signals": {}}
        for name, n in SIGNALS.items():
            out = fe([build(clip, n)], **call)
            feat, mask = out["input_features"][0], out["attention_mask"][0]
            t = feat.shape[1]
            if t <= 2 * FRAMES_KEPT:
                frames = np.arange(t)
            else:
                frames = np.unique(np.concatenate([np.linspace(0, t - 1, FRAMES_KEPT).astype(np.int64),
                                                   np.arange(3), np.arange(t - 3, t)]))
            tensors[f"feat_{name}"] = np.ascontiguousarray(feat[:, frames]).astype(np.float32)
            tensors[f"frames_{name}"] = frames.astype(np.int64)
            cases["signals"][name] = {"samples": n, "frames": int(t), "mask": int(mask.sum())}
        a, b = (build(clip, n) for n in BATCH)
        out = fe([a, b], **call)
        for key, i in (("batch_a", 0), ("batch_b", 1)):
            m = int(out["attention_mask"][i].sum())
            tensors[key] = np.ascontiguousarray(out["input_features"][i][:, :m]).astype(np.float32)
        cases["batch"] = {"samples": list(BATCH), "mask": out["attention_mask"].sum(-1).tolist(),
                          "padded_frames": int(out["input_features"].shape[2])}
        try:
            fe([build(clip, 200)], **call)
            cases["too_short"] = None
        except RuntimeError as e:
            cases["too_short"] = {"samples": 200, "error": str(e)}
        fx.save_tensors(tensors)
        fx.save_json(cases, "cases.json")


if __name__ == "__main__":
    main()
