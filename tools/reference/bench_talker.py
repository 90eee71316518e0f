"""transformers' side of `cargo xtask bench talker`.

Loads the random talker checkpoint the Rust bench wrote
(`crates/model/benches/qwen3_omni_talker.rs`: Qwen3-Omni-30B-A3B's
``talker_config`` with a stated number of talker layers, per-expert tensors as
the Hub stores them, BF16) into ``Qwen3OmniMoeTalkerForConditionalGeneration``
in f32 on the CPU — the experts fused as transformers 5 holds them — and times
what ``Qwen3OmniMoeForConditionalGeneration.generate`` does per codec frame:
``talker.generate`` greedy with the always-suppressed ids and the 1.05
repetition penalty, each talker token followed by the code predictor's own
``generate`` for the 15 residual codes.

A frame's time is ``(t(F + 1 tokens) - t(1 token)) / F`` after a prompt of
CONTEXT rows (the 1-token run is the prefill alone), medians over repetitions.

For a batch of B sequences (``--batch 1,8``) the prompt, the trailing text and
the pad row are B rows each, as the full ``generate`` batches them; a step then
makes B frames.

Prints one JSON object: {"frame_s": {"1": seconds per step, "8": ...},
"prefill_s": {...}, "frames": F, "context": CONTEXT, "layers": n, "threads": n,
"versions": {...}}.

Usage: bench_talker.py CHECKPOINT_DIR [--frames 16] [--context 64] [--reps 5] [--batch 1,8]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
from pathlib import Path

import torch
import transformers
from safetensors.torch import load_file
from transformers.models.qwen3_omni_moe.configuration_qwen3_omni_moe import Qwen3OmniMoeTalkerConfig
from transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe import Qwen3OmniMoeTalkerForConditionalGeneration

EXPERT = re.compile(r"^(.*\.mlp\.experts)\.(\d+)\.(gate|up|down)_proj\.weight$")


def load(checkpoint: Path) -> Qwen3OmniMoeTalkerForConditionalGeneration:
    cfg = Qwen3OmniMoeTalkerConfig(**json.loads((checkpoint / "config.json").read_text()))
    model = Qwen3OmniMoeTalkerForConditionalGeneration(cfg).eval()
    stored = {k: v.float() for k, v in load_file(str(checkpoint / "model.safetensors")).items()}
    state, experts = {}, {}
    for name, t in stored.items():
        m = EXPERT.match(name)
        if m:
            experts.setdefault(m.group(1), {}).setdefault(int(m.group(2)), {})[m.group(3)] = t
        else:
            state[name] = t
    for prefix, per in experts.items():
        ids = sorted(per)
        state[f"{prefix}.gate_up_proj"] = torch.stack([torch.cat([per[e]["gate"], per[e]["up"]], 0) for e in ids])
        state[f"{prefix}.down_proj"] = torch.stack([per[e]["down"] for e in ids])
    model.load_state_dict(state, strict=True)
    return model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--batch", default="1,8")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    model = load(Path(args.checkpoint))
    cfg = model.config
    hidden, vocab = cfg.text_config.hidden_size, cfg.text_config.vocab_size
    suppressed = [i for i in range(vocab - 1024, vocab) if i != cfg.codec_eos_token_id]
    out = {"frames": args.frames, "context": args.context, "layers": cfg.text_config.num_hidden_layers,
           "threads": torch.get_num_threads(), "frame_s": {}, "prefill_s": {},
           "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}
    for batch in [int(b) for b in args.batch.split(",") if b]:
        gen = torch.Generator().manual_seed(0)
        prompt = torch.randn(batch, args.context, hidden, generator=gen) * 0.5
        trailing = torch.randn(batch, args.frames, hidden, generator=gen) * 0.5
        pad = torch.randn(batch, 1, hidden, generator=gen) * 0.5
        mask = torch.ones(batch, args.context, dtype=torch.long)

        def run(tokens: int) -> None:
            model.generate(inputs_embeds=prompt, attention_mask=mask, trailing_text_hidden=trailing,
                           tts_pad_embed=pad, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                           repetition_penalty=1.05, eos_token_id=cfg.codec_eos_token_id,
                           suppress_tokens=suppressed, output_hidden_states=True, return_dict_in_generate=True)

        def timed(tokens: int) -> float:
            run(tokens)  # warm-up
            samples = []
            for _ in range(args.reps):
                t = time.perf_counter()
                run(tokens)
                samples.append(time.perf_counter() - t)
            return statistics.median(samples)

        with torch.inference_mode():
            prefill = timed(1)
            total = timed(args.frames + 1)
        # Seconds per step of the whole batch: each step makes one frame per sequence.
        out["frame_s"][str(batch)] = (total - prefill) / args.frames
        out["prefill_s"][str(batch)] = prefill
    print(json.dumps(out))

if __name__ == "__main__":
    main()
