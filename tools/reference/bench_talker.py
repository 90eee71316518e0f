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

Each run generates F + 1 talker tokens after a prompt of CONTEXT rows. A
logits processor stamps the time at every talker token; the interval between
two stamps is one frame (the code predictor's residual codes of the previous
token, its next input row, one talker step). A frame's time is the median of
the F intervals of every repetition (after one untimed warm-up run); the
prefill's is the median time from the call to the first stamp.

For a batch of B sequences (``--batch 1,8``) the prompt, the trailing text and
the pad row are B rows each, as the full ``generate`` batches them; a step then
makes B frames.

The weights are copied into the model's own f32 parameters tensor by tensor
(one f32 copy in memory, so the released 20 layers fit), every entry of
``state_dict`` covered exactly once with its shape checked.

Prints one JSON object: {"frame_s": {"1": seconds per step, "8": ...},
"frame_s_quartiles": {"1": [q1, median, q3], ...}, "prefill_s": {...}, "frames": F, "reps": R, "context": CONTEXT, "layers": n,
"threads": n, "experts_implementation": ..., "versions": {...}}.

Usage: bench_talker.py CHECKPOINT_DIR [--frames 16] [--context 64] [--reps 5] [--batch 1,8] [--threads N]
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
from safetensors import safe_open
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.models.qwen3_omni_moe.configuration_qwen3_omni_moe import Qwen3OmniMoeTalkerConfig
from transformers.models.qwen3_omni_moe.modeling_qwen3_omni_moe import Qwen3OmniMoeTalkerForConditionalGeneration

EXPERT = re.compile(r"^(.*\.mlp\.experts)\.(\d+)\.(gate|up|down)_proj\.weight$")


def load(checkpoint: Path) -> Qwen3OmniMoeTalkerForConditionalGeneration:
    """The model in f32, filled in place tensor by tensor: one f32 copy of the
    weights in memory (the released 20 layers' experts alone are 12 GB in f32),
    and every parameter and buffer of ``state_dict`` covered exactly once, with
    its shape checked, as ``load_state_dict(strict=True)`` would."""
    cfg = Qwen3OmniMoeTalkerConfig(**json.loads((checkpoint / "config.json").read_text()))
    model = Qwen3OmniMoeTalkerForConditionalGeneration(cfg).eval()
    state = model.state_dict()
    covered: dict[str, int] = {}
    unexpected, wrong = [], []

    def put(key: str, target: torch.Tensor | None, t: torch.Tensor, parts: int = 1) -> None:
        if target is None:
            unexpected.append(key)
        elif target.shape != t.shape:
            wrong.append(f"{key}: {tuple(t.shape)} into {tuple(target.shape)}")
        else:
            target.copy_(t)
            covered[key] = covered.get(key, 0) + 1

    with torch.no_grad(), safe_open(str(checkpoint / "model.safetensors"), "pt") as f:
        for name in f.keys():
            t = f.get_tensor(name).float()
            m = EXPERT.match(name)
            if not m:
                put(name, state.get(name), t)
                continue
            prefix, e, kind = m.group(1), int(m.group(2)), m.group(3)
            if kind == "down":
                fused = state.get(f"{prefix}.down_proj")
                put(f"{prefix}.down_proj", None if fused is None else fused[e], t)
            else:
                fused = state.get(f"{prefix}.gate_up_proj")
                half = None if fused is None else fused.shape[1] // 2
                rows = None if fused is None else (fused[e, :half] if kind == "gate" else fused[e, half:])
                put(f"{prefix}.gate_up_proj", rows, t)
    experts = cfg.text_config.num_experts
    want = {k: (2 * experts if k.endswith(".gate_up_proj") else experts if k.endswith(".experts.down_proj") else 1)
            for k in state}
    missing = [f"{k} ({covered.get(k, 0)} of {n} parts)" for k, n in want.items() if covered.get(k, 0) != n]
    if missing or unexpected or wrong:
        raise ValueError(f"checkpoint mismatch: missing {missing}, unexpected {unexpected}, wrong shape {wrong}")
    return model


class Stamp(LogitsProcessor):
    """Records the time whenever the talker's logits for a token are ready."""

    def __init__(self, stamps: list[float]) -> None:
        self.stamps = stamps

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.stamps.append(time.perf_counter())
        return scores


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--batch", default="1,8")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load(Path(args.checkpoint))
    cfg = model.config
    hidden, vocab = cfg.text_config.hidden_size, cfg.text_config.vocab_size
    suppressed = [i for i in range(vocab - 1024, vocab) if i != cfg.codec_eos_token_id]
    out = {"frames": args.frames, "reps": args.reps, "context": args.context, "layers": cfg.text_config.num_hidden_layers,
           "threads": torch.get_num_threads(), "frame_s": {}, "frame_s_quartiles": {}, "prefill_s": {},
           "experts_implementation": getattr(model.config, "_experts_implementation", None),
           "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}
    for batch in [int(b) for b in args.batch.split(",") if b]:
        gen = torch.Generator().manual_seed(0)
        prompt = torch.randn(batch, args.context, hidden, generator=gen) * 0.5
        trailing = torch.randn(batch, args.frames, hidden, generator=gen) * 0.5
        pad = torch.randn(batch, 1, hidden, generator=gen) * 0.5
        mask = torch.ones(batch, args.context, dtype=torch.long)

        def run() -> list[float]:
            """Times of the call and of each talker token's logits."""
            stamps = [time.perf_counter()]
            model.generate(inputs_embeds=prompt, attention_mask=mask, trailing_text_hidden=trailing,
                           tts_pad_embed=pad, max_new_tokens=args.frames + 1, min_new_tokens=args.frames + 1,
                           do_sample=False, repetition_penalty=1.05, eos_token_id=cfg.codec_eos_token_id,
                           suppress_tokens=suppressed, output_hidden_states=True, return_dict_in_generate=True,
                           logits_processor=LogitsProcessorList([Stamp(stamps)]))
            if len(stamps) != args.frames + 2:
                raise RuntimeError(f"expected {args.frames + 1} talker tokens, stamped {len(stamps) - 1}")
            return stamps

        with torch.inference_mode():
            run()  # warm-up
            frames, prefills = [], []
            for _ in range(args.reps):
                stamps = run()
                prefills.append(stamps[1] - stamps[0])
                frames += [b - a for a, b in zip(stamps[1:], stamps[2:])]
        # Seconds per step of the whole batch: each step makes one frame per sequence.
        out["frame_s"][str(batch)] = statistics.median(frames)
        out["frame_s_quartiles"][str(batch)] = statistics.quantiles(frames, n=4)
        out["prefill_s"][str(batch)] = statistics.median(prefills)
    print(json.dumps(out))

if __name__ == "__main__":
    main()
