"""Shared helpers for omnivox's reference fixtures.

Every script in this folder builds tiny, seeded, randomly initialised models
with the pinned torch/transformers (requirements.txt), saves them exactly as
``save_pretrained`` writes a Hub checkpoint, and records inputs and reference
outputs. Usage::

    from common import Fixture, seed_everything

    with Fixture("qwen2_tiny", __file__, seed=0, params=PARAMS) as fx:
        model.save_pretrained(fx.dir)            # the checkpoint, Hub layout
        fx.save_tensors({"input_ids": ids, "logits": logits})  # reference.safetensors

On exit the fixture's ``manifest.json`` records the script's and this file's
SHA-256, the library versions, the seed, the parameters and every file's
SHA-256. ``cargo test -p xtask`` fails when a manifest no longer matches its
script or its files (a stale or hand-edited fixture).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
MANIFEST = "manifest.json"
# Generated fixtures must stay small: each model well under 2 MB.
MAX_FIXTURE_BYTES = 2_500_000


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def versions() -> dict:
    import numpy
    import safetensors
    import torch
    import transformers

    out = {
        "python": ".".join(map(str, sys.version_info[:3])),
        "torch": torch.__version__.split("+")[0],
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": numpy.__version__,
    }
    try:
        import tokenizers

        out["tokenizers"] = tokenizers.__version__
    except ImportError:
        pass
    return out


class Fixture:
    """One fixture directory, ``fixtures/<name>/``, wiped and rewritten."""

    def __init__(self, name: str, script: str, seed: int, params: dict | None = None,
                 max_bytes: int = MAX_FIXTURE_BYTES):
        self.name = name
        self.script = Path(script).resolve()
        self.seed = seed
        self.params = params or {}
        self.max_bytes = max_bytes
        self.dir = FIXTURES / name
        self.extra: dict = {}

    def __enter__(self) -> "Fixture":
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        seed_everything(self.seed)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()

    def save_tensors(self, tensors: dict, filename: str = "reference.safetensors") -> Path:
        """Saves named tensors (torch or numpy) as safetensors, contiguous, on CPU."""
        import numpy as np
        import torch
        from safetensors.torch import save_file

        out = {}
        for k, v in tensors.items():
            if isinstance(v, np.ndarray):
                v = torch.from_numpy(v)
            out[k] = v.detach().cpu().contiguous()
        path = self.dir / filename
        save_file(out, str(path))
        return path

    def save_json(self, obj, filename: str) -> Path:
        path = self.dir / filename
        path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        return path

    def finish(self) -> None:
        files = {}
        total = 0
        for p in sorted(self.dir.rglob("*")):
            if p.is_file() and p.name != MANIFEST:
                rel = p.relative_to(self.dir).as_posix()
                files[rel] = sha256_file(p)
                total += p.stat().st_size
        if total > self.max_bytes:
            raise SystemExit(f"fixture {self.name} is {total} bytes, over its {self.max_bytes} limit")
        common = Path(__file__).resolve()
        manifest = {
            "name": self.name,
            "sources": {
                self.script.relative_to(ROOT).as_posix(): sha256_file(self.script),
                common.relative_to(ROOT).as_posix(): sha256_file(common),
            },
            "versions": versions(),
            "seed": self.seed,
            "params": self.params,
            "files": files,
            **self.extra,
        }
        (self.dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        print(f"wrote fixtures/{self.name} ({total} bytes, {len(files)} files)")


def only_requested(name: str) -> bool:
    """True when the fixture should be (re)generated: no filter, or named in OMNIVOX_FIXTURES."""
    wanted = os.environ.get("OMNIVOX_FIXTURES", "").split(",")
    wanted = [w for w in wanted if w]
    return not wanted or name in wanted
