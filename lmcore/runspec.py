"""A training run as one JSON file: everything `python -m lmcore train --config` needs.

    {"out": "run/", "tokenizer": "tok/", "preset": "tiny",
     "data": {"inputs": ["corpus.txt"], "val_fraction": 0.1},
     "model": {"n_layer": 4}, "train": {"grad_accum": 2, "warmup_steps": 20, "max_steps": 500},
     "resume": false}

`model` and `train` hold `GPTConfig` / `TrainConfig` fields (accumulation, warmup, schedule,
evaluation, seed, device, ...) laid over the preset's (`model.vocab_size` comes from the
tokenizer; a resolved file that spells it out must match it). `data.dir` is the encoded corpus (default OUT/data), made from `data.inputs`
before training. Relative paths are relative to the file. The CLI's flags are overrides of
the same fields, so the file is the one place every option lives.

At launch the resolved spec (every field spelled out) is written to OUT/run.json, so a resume
needs only the run directory: `python -m lmcore train --out OUT --resume`. A resume keeps the
model and the recipe; only the fields in RESUMABLE may change (a new recipe is a new run).
The format only: lmcore/preparation.py makes the tokenizer and the encoded corpus a spec
names. Torch-free. (The training supervisor, workers/training.py, writes the file as plain
JSON and never imports this module.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lmcore.config import GPTConfig, LoRAConfig, TrainConfig
from lmcore.errors import LmcoreError
from lmcore.presets import PRESETS, configs_from_preset
from lmcore.tokenizer import Tokenizer

RUN_FILE = "run.json"
CHECKPOINT_SUBDIR = "checkpoint"  # lmcore.checkpoint.CHECKPOINT_SUBDIR (which imports torch)
TOP_KEYS = ("out", "tokenizer", "preset", "data", "model", "train", "resume", "finetune")
RESUMABLE = ("max_steps", "max_seconds", "eval_every", "eval_tokens", "log_every", "device")


@dataclass
class DataSpec:
    inputs: list[str] = field(default_factory=list)  # text files, encoded once before training
    dir: str | None = None  # the encoded corpus; None = OUT/data
    val_fraction: float = 0.1


@dataclass
class FineTuneSpec:
    """A chat fine-tuning run (lmcore/finetune.py): the model and tokenizer are the parent's."""

    init_from: str  # the parent: a checkpoint or run directory
    chat_data: list[str] = field(default_factory=list)  # conversation JSONL files
    dir: str | None = None  # the rendered conversations; None = OUT/chat-data
    text_ratio: float = 0.0  # share of batch rows drawn from data.inputs (text) instead
    # LoRA (lmcore/lora.py): {"r", "alpha", "dropout", "targets"}; None trains every weight
    lora: dict[str, Any] | None = None


@dataclass
class RunSpec:
    out: Path
    tokenizer: Path
    model: GPTConfig
    train: TrainConfig
    data: DataSpec = field(default_factory=DataSpec)
    resume: bool = False
    finetune: FineTuneSpec | None = None

    @property
    def chat_dir(self) -> Path:
        return (
            Path(self.finetune.dir)
            if self.finetune and self.finetune.dir
            else self.out / "chat-data"
        )

    @property
    def data_dir(self) -> Path:
        return Path(self.data.dir) if self.data.dir else self.out / "data"

    @property
    def checkpoint_dir(self) -> Path:
        return self.out / CHECKPOINT_SUBDIR

    def to_dict(self) -> dict[str, Any]:
        """Paths absolute, but the data directory relative to OUT when inside it: a run
        directory moved elsewhere still finds its encoded corpus."""
        out, data_dir = self.out.resolve(), self.data_dir.resolve()
        inside = data_dir.is_relative_to(out)
        data = {"inputs": [str(Path(p).resolve()) for p in self.data.inputs],
                "dir": str(data_dir.relative_to(out) if inside else data_dir),
                "val_fraction": self.data.val_fraction}  # fmt: skip
        spec = {"out": str(out), "tokenizer": str(self.tokenizer.resolve()), "data": data,
                "model": self.model.to_dict(), "train": self.train.to_dict(),
                "resume": self.resume}  # fmt: skip
        if self.finetune is not None:
            ft = self.finetune
            spec["finetune"] = {"init_from": str(Path(ft.init_from).resolve()),
                                "chat_data": [str(Path(p).resolve()) for p in ft.chat_data],
                                "dir": str(self.chat_dir.resolve()), "text_ratio": ft.text_ratio,
                                "lora": self.train.lora}  # fmt: skip
        return spec

    def save(self) -> Path:
        """Write OUT/run.json (atomically); `resume` is saved as false: it is a request."""
        self.out.mkdir(parents=True, exist_ok=True)
        path, tmp = self.out / RUN_FILE, self.out / f".{RUN_FILE}.tmp"
        tmp.write_text(json.dumps({**self.to_dict(), "resume": False}, indent=2) + "\n", "utf-8")
        tmp.replace(path)
        return path


def read_json(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise LmcoreError(f"{path}: cannot read ({exc.strerror})") from exc
    except ValueError as exc:
        raise LmcoreError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise LmcoreError(f"{path}: a run file is a JSON object")
    return raw


def merge(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`raw` with `overrides` (same shape; None values ignored) laid over it, one level deep.

    Giving either limit (max_steps, max_seconds) replaces both, as the presets do.
    Example: `merge({"train": {"lr": 1}}, {"train": {"lr": 2}}) == {"train": {"lr": 2}}`.
    """
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for key, value in overrides.items():
        if isinstance(value, dict):
            given = {k: v for k, v in value.items() if v is not None}
            section = out.setdefault(key, {})
            if not isinstance(section, dict):
                raise LmcoreError(f"{key} must be a JSON object")
            if key == "train" and {"max_steps", "max_seconds"} & set(given):
                section.pop("max_steps", None), section.pop("max_seconds", None)
            section.update(given)
        elif value is not None:
            out[key] = value
    return out


def resolve(raw: dict[str, Any], base_dir: Path | None = None) -> RunSpec:
    """A RunSpec from a run file's contents (flags already merged); see the module docstring."""
    _check_keys("run file", raw, TOP_KEYS)
    base = Path(base_dir or ".")
    out = _path(raw.get("out"), base, "out")
    if out is None:
        raise LmcoreError("no run directory: set out in the run file or pass --out RUN")
    resume = raw.get("resume", False)
    if not isinstance(resume, bool):
        raise LmcoreError(f"resume must be true or false, not {resume!r}")
    if resume:
        return _resumed(raw, out, base)
    if raw.get("finetune") is not None:
        return _finetune(raw, out, base)
    tokenizer = _path(raw.get("tokenizer"), base, "tokenizer")
    if tokenizer is None:
        raise LmcoreError("no tokenizer: set tokenizer in the run file or pass --tokenizer DIR")
    model, train = _section(raw, "model", GPTConfig), _section(raw, "train", TrainConfig)
    vocab = Tokenizer.load(tokenizer).vocab_size
    model = dict(model)
    if model.pop("vocab_size", vocab) != vocab:  # a saved run file spells it out
        raise LmcoreError(f"model.vocab_size must be the tokenizer's ({vocab}): leave it out")
    preset = raw.get("preset", "tiny")
    model_config, train_config = configs_from_preset(preset, vocab, model, **train)
    return RunSpec(out=out, tokenizer=tokenizer, model=model_config, train=train_config,
                   data=_data(raw.get("data"), base), resume=False)  # fmt: skip


def _resumed(raw: dict[str, Any], out: Path, base: Path) -> RunSpec:
    """The saved OUT/run.json, with the changes a resume allows; anything else must match."""
    saved_file = out / RUN_FILE
    if not saved_file.is_file():
        raise LmcoreError(f"{out}: no checkpoint to resume (no {RUN_FILE}: was the run started?)")
    saved = read_json(saved_file)
    model, train = _section(raw, "model", GPTConfig), _section(raw, "train", TrainConfig)
    changed = [f"model.{k}" for k, v in model.items() if saved["model"].get(k) != v]
    changed += [f"train.{k}" for k, v in train.items()
                if k not in RESUMABLE and saved["train"].get(k) != v]  # fmt: skip
    if "preset" in raw and raw["preset"] not in PRESETS:
        changed.append("preset")
    if changed:
        raise LmcoreError(
            f"a resume continues the same run: {', '.join(changed)} cannot change "
            f"(only {', '.join(RESUMABLE)} can)"
        )
    limits = {k: train[k] for k in RESUMABLE if k in train}
    merged = merge({"train": saved["train"]}, {"train": limits})["train"]
    train_config = TrainConfig.from_dict(merged)
    train_config.validate()
    data = _data(raw["data"], base) if raw.get("data") else _data(saved.get("data"), out)
    finetune = _finetune_section(saved["finetune"], out) if saved.get("finetune") else None
    return RunSpec(out=out, tokenizer=Path(saved["tokenizer"]),
                   model=GPTConfig(**saved["model"]), train=train_config, data=data,
                   resume=True, finetune=finetune)  # fmt: skip


def _finetune(raw: dict[str, Any], out: Path, base: Path) -> RunSpec:
    """A fine-tuning run: the parent's model and tokenizer, the preset's recipe with overrides
    (a fine-tuning recipe usually wants a lower lr and fewer steps: pass them)."""
    finetune = _finetune_section(raw["finetune"], base)
    parent = parent_dir(Path(finetune.init_from))
    saved = read_json(parent / "config.json")
    model = _section(raw, "model", GPTConfig)
    if set(model) - {"dropout"}:
        raise LmcoreError(
            "a fine-tuning run keeps the parent's model: only model.dropout may be set"
        )
    train = {**_section(raw, "train", TrainConfig), "init_from": str(parent),
             "text_ratio": finetune.text_ratio}  # fmt: skip
    model_config = GPTConfig(**{**saved["model"], **model})
    if finetune.lora is not None:  # spelled out, so that the run file says what it trains
        train["lora"] = LoRAConfig.from_dict(finetune.lora).resolved(model_config).to_dict()
    preset = raw.get("preset", "tiny")
    _, train_config = configs_from_preset(preset, model_config.vocab_size, {}, **train)
    data = _data(raw.get("data"), base)
    if finetune.text_ratio > 0 and not data.inputs:
        raise LmcoreError("finetune.text_ratio above 0 needs text corpora in data.inputs (--input)")
    return RunSpec(out=out, tokenizer=parent / "tokenizer.json", model=model_config,
                   train=train_config, data=data, finetune=finetune)  # fmt: skip


def _finetune_section(raw: Any, base: Path) -> FineTuneSpec:
    if not isinstance(raw, dict):
        raise LmcoreError(
            'finetune must be a JSON object: {"init_from", "chat_data", "text_ratio"}'
        )
    _check_keys("finetune", raw, [f.name for f in fields(FineTuneSpec)])
    init_from = _path(raw.get("init_from"), base, "finetune.init_from")
    if init_from is None:
        raise LmcoreError("finetune.init_from (--init-from CKPT): the checkpoint to start from")
    files = raw.get("chat_data", [])
    if isinstance(files, str) or not all(isinstance(p, str) for p in files):
        raise LmcoreError("finetune.chat_data must be a list of file paths")
    ratio = raw.get("text_ratio", 0.0)
    if not isinstance(ratio, int | float) or not 0 <= ratio < 1:
        raise LmcoreError(f"finetune.text_ratio must be in [0, 1), not {ratio!r}")
    directory = _path(raw.get("dir"), base, "finetune.dir")
    lora = raw.get("lora")
    if lora is not None:
        if not isinstance(lora, dict):
            raise LmcoreError('finetune.lora must be a JSON object: {"r", "alpha", "dropout", '
                              '"targets"}, or null')  # fmt: skip
        _check_keys("finetune.lora", lora, [f.name for f in fields(LoRAConfig)])
    return FineTuneSpec(init_from=str(init_from),
                        chat_data=[str(_path(p, base, "finetune.chat_data")) for p in files],
                        dir=str(directory) if directory else None, text_ratio=float(ratio),
                        lora=lora)  # fmt: skip


def parent_dir(path: Path) -> Path:
    """The checkpoint directory of a checkpoint or run directory (as lmcore.checkpoint finds
    it, without importing torch)."""
    for candidate in (path, path / CHECKPOINT_SUBDIR):
        if (candidate / "config.json").is_file() and (candidate / "tokenizer.json").is_file():
            return candidate
    raise LmcoreError(f"{path}: no checkpoint to fine-tune from (expected config.json)")


def _section(raw: dict[str, Any], name: str, config: type) -> dict[str, Any]:
    section = raw.get(name) or {}
    if not isinstance(section, dict):
        raise LmcoreError(f"{name} must be a JSON object of {config.__name__} fields")
    _check_keys(name, section, [f.name for f in fields(config)])
    return section


def _data(raw: Any, base: Path) -> DataSpec:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise LmcoreError('data must be a JSON object: {"inputs": [...], "dir", "val_fraction"}')
    _check_keys("data", raw, [f.name for f in fields(DataSpec)])
    inputs = raw.get("inputs", [])
    if isinstance(inputs, str) or not all(isinstance(p, str) for p in inputs):
        raise LmcoreError("data.inputs must be a list of file paths")
    fraction = raw.get("val_fraction", 0.1)
    if not isinstance(fraction, int | float) or not 0 < fraction < 1:
        raise LmcoreError(f"data.val_fraction must be in (0, 1), not {fraction!r}")
    directory = _path(raw.get("dir"), base, "data.dir")
    return DataSpec(inputs=[str(_path(p, base, "data.inputs")) for p in inputs],
                    dir=str(directory) if directory else None, val_fraction=fraction)  # fmt: skip


def _path(value: Any, base: Path, name: str) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise LmcoreError(f"{name} must be a path, not {value!r}")
    return base / Path(value).expanduser()


def _check_keys(where: str, raw: dict[str, Any], known) -> None:
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise LmcoreError(
            f"{where}: unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(known: {', '.join(known)})"
        )
