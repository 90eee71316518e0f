"""transformers' side of `cargo xtask bench audio-encoder`.

Builds `Qwen3OmniMoeAudioEncoder` with the Hub checkpoint's audio config
(``thinker_config.audio_config`` of the JSON file given; random weights from
transformers' own initialisation — the values do not change the work), in f32
on the CPU with transformers' default attention implementation (SDPA), and
times what `crates/model/benches/qwen3_omni_audio_encoder.rs` times: one call
on one clip of N seconds (N * 100 mel frames of the same synthetic features).

Prints one JSON object: {"encode": {"10": seconds, ...}, "threads": n,
"attn_implementation": ..., "versions": {...}} with medians.

Usage: bench_audio_encoder.py CONFIG_JSON [--seconds 10,30] [--layers N] [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
import transformers
from transformers.models.qwen3_omni_moe.configuration_qwen3_omni_moe import Qwen3OmniMoeAudioEncoderConfig
from transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe import Qwen3OmniMoeAudioEncoder


def features(mels: int, frames: int) -> torch.Tensor:
    """The Rust bench's formula: sin(i * 0.001 + i % 7) over the mel-major matrix."""
    i = torch.arange(mels * frames, dtype=torch.float64)
    vals = (i.float() * 0.001 + (i % 7).float()).sin()
    return vals.reshape(mels, frames)


def timed(fn, warmup: int, reps: int) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--seconds", default="10,30")
    ap.add_argument("--layers", type=int, default=None)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    with open(args.config) as f:
        audio = dict(json.load(f)["thinker_config"]["audio_config"])
    if args.layers is not None:
        audio["encoder_layers"] = args.layers
    audio.pop("model_type", None)
    cfg = Qwen3OmniMoeAudioEncoderConfig(**{k: v for k, v in audio.items()
                                            if k in Qwen3OmniMoeAudioEncoderConfig.__dataclass_fields__})
    model = Qwen3OmniMoeAudioEncoder._from_config(cfg, dtype=torch.float32).eval()
    out = {"encode": {}, "threads": torch.get_num_threads(),
           "attn_implementation": model.config._attn_implementation,
           "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}
    with torch.inference_mode():
        for s in [int(x) for x in args.seconds.split(",") if x]:
            frames = s * 100
            feats = features(cfg.num_mel_bins, frames)
            lens = torch.tensor([frames])
            out["encode"][str(s)] = timed(lambda: model(feats, feature_lens=lens), 1, args.reps)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
