"""Token-id parity fixture: a tiny byte-level BPE with Qwen2's pipeline.

Trains a ~1200-token BPE with the `tokenizers` library using exactly the
normaliser (NFC), pre-tokeniser (Qwen2's split regex + ByteLevel without
prefix space) and decoder (ByteLevel) of transformers' `Qwen2Tokenizer`, adds
Qwen3-Omni's added tokens (special and not), saves it with
`save_pretrained`, reloads it with `AutoTokenizer.from_pretrained` (the path a
checkpoint takes: transformers rebuilds the pipeline in Python from the
vocabulary and merges) and records ids and decodes for varied text.

Writes fixtures/tokenizer_bpe/: tokenizer.json, tokenizer_config.json and
cases.json ({special_tokens_map, cases: [{text, ids, ids_with_special,
decoded, decoded_skip}]}).

`build_tokenizer()` is imported by chat_templates.py and processor.py.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Fixture, only_requested, sha256_file  # noqa: E402

NAME = "tokenizer_bpe"
SEED = 0
VOCAB_SIZE = 1200

# transformers' models/qwen2/tokenization_qwen2.py PRETOKENIZE_REGEX
PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# Qwen3-Omni's added tokens (text, special), in vocabulary order.
ADDED_TOKENS = [
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
    ("<|object_ref_start|>", True), ("<|object_ref_end|>", True), ("<|box_start|>", True),
    ("<|box_end|>", True), ("<|quad_start|>", True), ("<|quad_end|>", True),
    ("<|vision_start|>", True), ("<|vision_end|>", True), ("<|vision_pad|>", True),
    ("<|image_pad|>", True), ("<|video_pad|>", True), ("<tool_call>", False),
    ("</tool_call>", False), ("<|fim_prefix|>", False), ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False), ("<|fim_pad|>", False), ("<|repo_name|>", False),
    ("<|file_sep|>", False), ("<tool_response>", False), ("</tool_response>", False),
    ("<think>", False), ("</think>", False), ("<|audio_start|>", True), ("<|audio_end|>", True),
    ("<tts_pad>", True), ("<tts_text_bos>", True), ("<tts_text_eod>", True),
    ("<tts_text_bos_single>", True), ("<|audio_pad|>", True),
]

# The named tokens of Qwen3-Omni's tokenizer_config.json.
MODEL_SPECIFIC = {
    "audio_token": "<|audio_pad|>", "audio_bos_token": "<|audio_start|>",
    "audio_eos_token": "<|audio_end|>", "image_token": "<|image_pad|>",
    "video_token": "<|video_pad|>", "vision_bos_token": "<|vision_start|>",
    "vision_eos_token": "<|vision_end|>",
}

CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's a classic pangram; don't you think?",
    "I'm sure they'll say we've done it, and you'd agree — wouldn't you?",
    "Omnivox listens, thinks and speaks: audio in, text and speech out, streamed or whole.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))  # 5\n",
    "for (int i = 0; i < n; ++i) { total += values[i] * 2.5f; }\r\n",
    '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}',
    "<tool_call>\n{\"name\": \"search\", \"arguments\": {\"query\": \"rust tokenizers\"}}\n</tool_call>",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 2024 3.14159 -273.15 1e10 0x1F 1,000,000.",
    "今天天气很好，我们去公园散步吧。语音助手可以听懂你说的话。",
    "日本語のテキストも少し含めます。ひらがなとカタカナと漢字。",
    "한국어 문장도 조금 넣습니다. 안녕하세요!",
    "Привет, мир! Это тестовая строка на русском языке.",
    "مرحبا بالعالم، هذا نص عربي قصير.",
    "नमस्ते दुनिया, यह हिंदी का एक वाक्य है।",
    "Ça va? Voilà — naïve café, crème brûlée, Straße, smørrebrød, Ångström.",
    "Emoji: 😀 🎉 👩‍👩‍👧 🇫🇷 👍🏽 ❤️ and more 🚀🚀🚀.",
    "Tabs\tand  double  spaces   and trailing spaces   \n\n\nblank lines above.",
    "ALL CAPS SHOUTING IT'S LOUD. Mixed CaSe WoRdS.",
    "URLs like https://example.com/path?q=1&lang=en#top and emails a.b@c.io.",
    "Markdown **bold**, _italic_, `code`, > quote, - list item, 1. numbered.",
]


def corpus(rng: random.Random) -> list[str]:
    """The fixed sentences, plus seeded pseudo-words to give BPE more merges."""
    lines = list(CORPUS) * 3
    letters = "abcdefghijklmnopqrstuvwxyzéèüöäñ"
    for _ in range(400):
        words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9)))
                 for _ in range(rng.randint(3, 12))]
        lines.append(" ".join(words) + rng.choice([".", "!", "?", ",", "\n"]))
    return lines


def train_backend():
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tk = Tokenizer(models.BPE())
    tk.normalizer = normalizers.NFC()
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, min_frequency=2, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[],
    )
    tk.train_from_iterator(corpus(random.Random(SEED)), trainer=trainer)
    return tk


def build_tokenizer():
    """The tiny Qwen-style tokenizer as transformers' Qwen2Tokenizer."""
    from tokenizers import AddedToken
    from transformers import Qwen2Tokenizer

    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    backend = train_backend()
    model = json.loads(backend.to_str())["model"]
    tok = Qwen2Tokenizer(
        vocab=model["vocab"], merges=[tuple(m) for m in model["merges"]],
        unk_token=None, bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        errors="replace", model_max_length=65536, clean_up_tokenization_spaces=False,
        split_special_tokens=False, extra_special_tokens=dict(MODEL_SPECIFIC),
    )
    tok.add_tokens([AddedToken(t, special=s, normalized=False) for t, s in ADDED_TOKENS])
    return tok


def save_and_reload(tok, out_dir: Path):
    """save_pretrained into out_dir (tokenizer files only), then load it back."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tok.save_pretrained(tmp)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            (out_dir / name).write_bytes((Path(tmp) / name).read_bytes())
    return AutoTokenizer.from_pretrained(str(out_dir))


TEXTS = [
    "", "Hello world", " leading space", "trailing space ", "  two leading",
    "Hello, world! How are you today?", "I'm here; they'll come; we've won; you'd see; it's; DON'T",
    "12345 678.90 -3e-5 1,000", "line one\nline two\n\nline four\r\nwindows\ttab",
    "   \n  \n", "a\n\n\n\nb", "!!!???...", "def f(x):\n    return x**2  # square\n",
    "今天天气很好", "日本語のテキスト", "안녕하세요", "Привет, мир!", "مرحبا", "नमस्ते दुनिया",
    "e\u0301 (decomposed é) and q\u0303 and \u1100\u1161 jamo", "Ångström Å Å",
    "😀🎉 👩‍👩‍👧 🇫🇷🇩🇪 👍🏽 ❤️", "\u2028\u2029\u00a0nbsp\u200bzwsp",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "hello<|im_end|>world", " <|im_end|> ", "<|im_start", "<tool_call>\n{\"a\": 1}\n</tool_call>",
    "<think>\nreasoning\n</think>\n\nanswer", "<|audio_start|><|audio_pad|><|audio_pad|><|audio_end|>",
    "<|AUDIO_PAD|> <| audio_pad |>", "Mixed 中文 and English with emoji 🚀 and numbers 42.",
    "x" * 300, "ab " * 50,
]


def main() -> None:
    if not only_requested(NAME):
        return
    with Fixture(NAME, __file__, seed=SEED,
                 params={"vocab_size": VOCAB_SIZE, "pretokenize_regex": PRETOKENIZE_REGEX}) as fx:
        tok = save_and_reload(build_tokenizer(), fx.dir)
        cases = []
        for text in TEXTS:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            cases.append({
                "text": text,
                "ids": ids,
                "ids_with_special": tok(text, add_special_tokens=True)["input_ids"],
                "decoded": tok.decode(ids, skip_special_tokens=False),
                "decoded_skip": tok.decode(ids, skip_special_tokens=True),
            })
        fx.save_json({"special_tokens_map": tok.special_tokens_map,
                      "vocab_size": len(tok), "cases": cases}, "cases.json")


if __name__ == "__main__":
    main()
