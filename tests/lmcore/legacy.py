"""Checkpoints in the layout lmcore saved before GPTConfig had architecture options.

tests/lmcore/data/legacy/NAME/ holds, as text, what such a checkpoint is: its `config.json`
(the old format: no option fields), its `tokenizer.json`, and `expected.json`: the old code's
tensor names and shapes, and what that code computed on `weights()` (greedy tokens, the last
position's logits, every position's log-sum-exp and argmax). `write_checkpoint` makes the
`model.safetensors` from the same formula, so no binary file is kept in the repository.

`expected.json` was made once by the code before the options (commit 0b31dba's parent):

    mkdir /tmp/oldlm && git archive 0b31dba^ lmcore | tar -x -C /tmp/oldlm
    cd /tmp/oldlm && PYTHONPATH=/tmp/oldlm /work/main/.venv/bin/python -c "import runpy; \\
        runpy.run_path('/work/main/tests/lmcore/legacy.py', run_name='__main__')"

(from /tmp/oldlm, so that `lmcore` is the old one; check `lmcore.model.__file__` if in doubt).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

DATA = Path(__file__).parent / "data" / "legacy"
NAMES = ("tied", "untied-gqa")
IDS = [87, 75, 72, 278, 68, 87, 283, 87, 72, 224, 87, 75, 72, 224, 260, 72, 72, 279, 15, 278,
       76, 87, 87, 131, 258, 299, 224, 276, 250, 226]  # fmt: skip
NEW_TOKENS = 16


def weights(tensors: list[tuple[str, list[int]]]) -> dict[str, torch.Tensor]:
    """Deterministic weights without a random generator: a hash of each element's index
    (fract(sin(k) * 43758.5453), the shader trick) centred and scaled like an initialisation."""
    out = {}
    for i, (name, shape) in enumerate(tensors):
        k = torch.arange(torch.Size(shape).numel(), dtype=torch.float64)
        noise = torch.frac(torch.sin(k * 12.9898 + 78.233 * (i + 1)) * 43758.5453).abs() - 0.5
        scale = 1.0 if name == "wte.weight" else 2 / shape[-1] ** 0.5
        out[name] = (noise * scale).to(torch.float32).reshape(shape).contiguous()
    return out


def write_checkpoint(name: str, directory: Path) -> dict:
    """The old-layout checkpoint `name` in `directory`; returns its expected.json."""
    expected = json.loads((DATA / name / "expected.json").read_text())
    directory.mkdir(parents=True, exist_ok=True)
    for file in ("config.json", "tokenizer.json"):
        shutil.copy(DATA / name / file, directory / file)
    save_file(weights(expected["tensors"]), str(directory / "model.safetensors"))
    return expected


def summary(model: torch.nn.Module) -> dict:
    """What the fixture pins: greedy tokens and logits on IDS."""
    ids = torch.tensor([IDS])
    with torch.no_grad():
        logits, _ = model(ids)
        greedy = model.generate(ids, NEW_TOKENS, temperature=0)
    return {
        "greedy": greedy[0].tolist(),
        "last_logits": logits[0, -1].tolist(),
        "logsumexp": torch.logsumexp(logits[0], -1).tolist(),
        "argmax": logits[0].argmax(-1).tolist(),
    }


def _make_expected() -> None:  # run with the old lmcore first on the path (see above)
    from lmcore.model import GPT, GPTConfig

    for name in NAMES:
        config = json.loads((DATA / name / "config.json").read_text())["model"]
        model = GPT(GPTConfig(**config)).eval()
        state = model.state_dict()
        if config["tie_weights"]:
            del state["lm_head.weight"]  # stored once, as wte.weight
        tensors = [[key, list(value.shape)] for key, value in sorted(state.items())]
        model.load_state_dict(weights(tensors), strict=not config["tie_weights"])
        expected = {"tensors": tensors, **summary(model)}
        (DATA / name / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    _make_expected()
