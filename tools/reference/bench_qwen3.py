"""transformers' side of `cargo xtask bench model`.

Loads the random Qwen3-0.6B-shaped checkpoint the Rust bench wrote (the same
weights), in f32 on the CPU with transformers' default attention (sdpa), and
measures what
`crates/model/benches/qwen3.rs` measures:

- decode step: one token after a prompt of CONTEXT tokens, through the KV
  cache, logits of that token (the cache is cropped back after each step, so
  every step sees the same context);
- prefill: a fresh prompt of N tokens, logits of the last token only
  (``logits_to_keep=1``, as ``generate`` does).

Prints one JSON object: {"decode_step": {"128": seconds}, "prefill": {...},
"threads": n, "versions": {...}} with medians.

Usage: bench_qwen3.py CHECKPOINT_DIR [--decode 128] [--prefill 128,512] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
import transformers
from transformers import DynamicCache, Qwen3ForCausalLM


def prompt(n: int) -> torch.Tensor:
    return torch.tensor([[(i * 7919 + 13) % 151_000 for i in range(n)]])


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
    ap.add_argument("--decode", default="128")
    ap.add_argument("--prefill", default="128,512")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # transformers' default attention on CPU (sdpa), in f32.
    model = Qwen3ForCausalLM.from_pretrained(args.checkpoint, dtype=torch.float32).eval()
    out = {"decode_step": {}, "prefill": {}, "threads": torch.get_num_threads(),
           "attention": model.config._attn_implementation,
           "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}
    with torch.inference_mode():
        for ctx in [int(x) for x in args.decode.split(",") if x]:
            cache = DynamicCache(config=model.config)
            model(prompt(ctx), cache=cache, use_cache=True, logits_to_keep=1)
            token = torch.tensor([[42]])

            def step():
                model(token, cache=cache, use_cache=True, logits_to_keep=1)
                cache.crop(-1)  # drop the token just added

            out["decode_step"][str(ctx)] = timed(step, 3, max(args.reps, 20))
        for n in [int(x) for x in args.prefill.split(",") if x]:
            ids = prompt(n)
            out["prefill"][str(n)] = timed(
                lambda: model(ids, use_cache=True, logits_to_keep=1), 1, args.reps
            )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
