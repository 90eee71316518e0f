"""transformers' side of `cargo xtask bench code2wav`.

Loads the random Code2Wav checkpoint (released Qwen3-Omni-30B-A3B shape)
that the Rust bench wrote — the same weights — in f32 on the CPU, and times
what `crates/codec/benches/code2wav.rs` times on the same codes:

- ``forward``: the whole utterance in one call (the reference's forward);
- ``chunked_decode``: ``chunked_decode(codes)`` with its defaults (300 / 25),
  what ``generate`` calls — one chunk, so the same work as ``forward``, for
  utterances up to 300 frames.

transformers has no incremental decoder, so these are the figures the Rust
streamed cases are compared with too.

Prints one JSON object: {"frames": n, "samples": m, "forward": seconds,
"chunked_decode": seconds, "threads": t, "versions": {...}} with medians.

Usage: bench_code2wav.py CHECKPOINT_DIR [--frames 25] [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
import transformers
from transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe import Qwen3OmniMoeCode2Wav


def codes(frames: int, q: int) -> torch.Tensor:
    """The frame-major codes of the Rust bench, as [1, q, frames]."""
    flat = [((i // q) * 7919 + (i % q) * 131 + 13) % 2048 for i in range(frames * q)]
    return torch.tensor(flat).reshape(frames, q).T.unsqueeze(0).contiguous()


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
    ap.add_argument("checkpoint")
    ap.add_argument("--frames", type=int, default=25)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    model, info = Qwen3OmniMoeCode2Wav.from_pretrained(
        args.checkpoint, dtype=torch.float32, output_loading_info=True
    )
    bad = {k: v for k, v in info.items() if v}
    if bad:
        raise SystemExit(f"checkpoint does not fit Qwen3OmniMoeCode2Wav: {bad}")
    model = model.eval()
    c = codes(args.frames, model.config.num_quantizers)
    with torch.inference_mode():
        samples = model(c).shape[-1]
        out = {
            "frames": args.frames,
            "samples": samples,
            "forward": timed(lambda: model(c), 1, args.reps),
            "chunked_decode": timed(lambda: model.chunked_decode(c), 1, args.reps),
            "threads": torch.get_num_threads(),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
