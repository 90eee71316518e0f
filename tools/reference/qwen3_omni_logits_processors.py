"""Reference fixture for the token-choice logits processors the thinker and
talker use, as transformers 5.24's ``generate`` applies them.

``logits_processors/cases.json``: a seeded logits row over a 64-token
vocabulary, a token history (prompt + generated ids, with repeats), and for
each combination of parameters the row after transformers' processors:
``RepetitionPenaltyLogitsProcessor``, ``SuppressTokensLogitsProcessor``, then
(when sampling) ``TemperatureLogitsWarper``, ``TopKLogitsWarper``,
``TopPLogitsWarper`` and ``MinPLogitsWarper`` — built by
``GenerationMixin._get_logits_processor`` from a ``GenerationConfig``, so the
order is transformers' own. Removed tokens are ``-inf`` (written as null).
"""

from __future__ import annotations

import torch
from common import Fixture, only_requested
from transformers import GenerationConfig
from transformers.generation.utils import GenerationMixin

NAME = "logits_processors"
VOCAB = 64
HISTORY = [3, 17, 17, 42, 5, 3, 60, 17]
CASES = {
    "greedy": dict(do_sample=False),
    "repetition": dict(do_sample=False, repetition_penalty=1.3),
    "suppress": dict(do_sample=False, suppress_tokens=[7, 11, 63]),
    "repetition_suppress": dict(do_sample=False, repetition_penalty=0.8, suppress_tokens=[17]),
    "temperature": dict(do_sample=True, temperature=0.7, top_k=0, top_p=1.0),
    "top_k": dict(do_sample=True, temperature=1.0, top_k=5, top_p=1.0),
    "top_p": dict(do_sample=True, temperature=1.0, top_k=0, top_p=0.8),
    "min_p": dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, min_p=0.1),
    "everything": dict(do_sample=True, temperature=0.9, top_k=20, top_p=0.7, min_p=0.05,
                       repetition_penalty=1.05, suppress_tokens=[1, 2]),
    "talker_like": dict(do_sample=True, temperature=0.9, top_k=50, top_p=1.0, repetition_penalty=1.05),
}


def processors(cfg: GenerationConfig):
    """transformers' own list, as ``generate`` builds it (decoder-only, no logits bias)."""

    class Stub(GenerationMixin):
        def __init__(self):
            self.config = type("C", (), {"is_encoder_decoder": False, "vocab_size": VOCAB})()
            self.generation_config = cfg
            self.device = torch.device("cpu")

    procs = Stub()._get_logits_processor(generation_config=cfg, input_ids_seq_length=len(HISTORY),
                                         encoder_input_ids=None, prefix_allowed_tokens_fn=None,
                                         logits_processor=None, device="cpu")
    return procs


def main() -> None:
    if not only_requested(NAME):
        return
    with Fixture(NAME, __file__, seed=5, params={"vocab": VOCAB, "history": HISTORY, "cases": CASES}) as fx:
        gen = torch.Generator().manual_seed(5)
        logits = torch.randn(VOCAB, generator=gen) * 2.0
        logits[9] = logits[10]  # a tie
        ids = torch.tensor([HISTORY])
        out = {}
        for name, params in CASES.items():
            cfg = GenerationConfig(**params)
            procs = processors(cfg)
            row = procs(ids, logits[None].clone())[0]
            out[name] = {"params": params, "processors": [type(p).__name__ for p in procs],
                         "logits": [None if v == float("-inf") else float(v) for v in row.tolist()]}
        fx.save_json({"vocab": VOCAB, "history": HISTORY, "logits": logits.tolist(), "cases": out}, "cases.json")


if __name__ == "__main__":
    main()
