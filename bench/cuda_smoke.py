"""CUDA smoke test: the paths a CPU cannot exercise, checked on one GPU in about a minute.

Prints one JSON object `{"pass", "device", ..., "checks": {name: {"pass", ...numbers}}}` and
exits 1 when any check fails (2 on bad arguments).

    python3 bench/cuda_smoke.py --data tinyshakespeare.txt             # the GPU (default cuda)
    .venv/bin/python bench/cuda_smoke.py --device cpu                  # dry run, tiny sizes

Checks, in order, on one model trained here (bench/train.py's `prepare`: a tokenizer and the
encoded corpus, 10% held out):
- train: `lmcore.train.train`, the small preset for 300 steps under bf16 autocast, fused AdamW
  and torch.compile (CUDA; the dry run: a tiny model, no compile): ends at max_steps, loss
  finite and falling, and the checkpoint it saved loads on the device.
- precision: parameters and logits stay fp32 while the continuous-batching KV cache is bf16
  under autocast (fp32 on CPU), keys and values alike, so that a slot takes the bytes the
  gpu_infer worker budgets it at. (CUDA autocast runs `rms_norm` in fp32, which would leave the
  query/key-normed keys fp32 next to bf16 values: 1.5x the budget.)
- greedy / sampling: `Engine` (KV cache, slot cache, sliding window; a batch of seeds for
  sampling) against `reference_generate` (a full forward per token), as
  tests/lmcore/test_engine.py compares them on the CPU. On CUDA both run in bf16 with
  different kernels, so logprobs may differ by rounding and a token may differ where two
  choices are within that rounding: such a divergence passes only when the reference's
  margin there (greedy: the logprob gap; sampling: the uniform's distance to the CDF
  boundary between the two ids) is within the tolerance; later tokens are not compared.
- score_vs_evaluate: `lmcore.score.score` and `lmcore.evaluate.evaluate` on the same ids
  (tests/lmcore/test_score.py): equal token and byte counts, loss and bpb within tolerance.
- checkpoint_to_cpu: the checkpoint the GPU run saved, loaded on the GPU and on the CPU, gives
  the same fp32 logits (TF32 off for the comparison), and the val loss the run reported
  reproduces on the CPU (val_loss_on_cpu).
- resume_on_cpu: the run resumes on the CPU from that checkpoint and its optimizer state
  (fused AdamW's on CUDA) through `train(..., resume=True)`, for one more step.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from bench.train import DATA, Recorder, prepare  # noqa: E402
from lmcore.checkpoint import load_checkpoint  # noqa: E402
from lmcore.device import autocast, resolve_device  # noqa: E402
from lmcore.engine import Engine, Request, reference_generate  # noqa: E402
from lmcore.evaluate import evaluate, token_byte_lengths  # noqa: E402
from lmcore.presets import configs_from_preset  # noqa: E402
from lmcore.sampling import SamplingParams, make_generator  # noqa: E402
from lmcore.scheduler import Scheduler, SchedulerConfig  # noqa: E402
from lmcore.score import bos_id_for, score  # noqa: E402
from lmcore.slotcache import slot_bytes  # noqa: E402
from lmcore.train import train  # noqa: E402

# Per device type: preset and overrides, generation lengths and tolerances. CUDA trains the
# small preset as bench/train.py does, only shorter, so that its compiled graphs are in
# inductor's cache when bench/train.py runs next (bench/gpu.sh); context 256: the greedy run
# slides its window. The CPU dry run: a 2-layer model that trains in seconds on one core.
SIZES = {
    "cuda": dict(preset="small", vocab=None, model={}, train=dict(max_steps=300),
                 greedy_tokens=300, sample_tokens=200, sample_seeds=(1, 2, 3, 4),
                 logprob_tol=0.1, cdf_tol=0.02, rel_tol=2e-3, logits_atol=2e-3),
    "cpu": dict(preset="tiny", vocab=512, model=dict(context=64, n_layer=2, n_head=2,
                                                      d_model=64),
                train=dict(batch_size=8, max_steps=40, lr=3e-3, warmup_steps=5),
                greedy_tokens=100, sample_tokens=40, sample_seeds=(1, 2),
                logprob_tol=1e-4, cdf_tol=1e-6, rel_tol=1e-5, logits_atol=1e-4),
}  # fmt: skip


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Smoke:
    """Runs the checks in order; a check that raises is recorded as failed with its error."""

    def __init__(self, args: argparse.Namespace, device: torch.device, workdir: Path) -> None:
        self.args, self.device, self.workdir = args, device, workdir
        self.size = SIZES[device.type]
        self.checks: dict[str, dict] = {}

    def check(self, name: str, fn: Callable[[], dict]) -> None:
        log(f"[smoke] {name}")
        started = time.perf_counter()
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001  (a smoke test reports every failure)
            traceback.print_exc(file=sys.stderr)
            result = {"pass": False, "error": f"{type(exc).__name__}: {exc}"}
        result["seconds"] = round(time.perf_counter() - started, 2)
        self.checks[name] = result
        log(f"[smoke] {name}: {json.dumps(result)}")

    # --- training ---------------------------------------------------------------------------
    def train(self) -> dict:
        size = self.size
        self.tokenizer, self.corpus, setup = prepare(
            size["preset"], self.workdir, self.args.data, size["vocab"]
        )
        compile_ = self.device.type == "cuda" if self.args.compile is None else self.args.compile
        self.model_config, self.train_config = configs_from_preset(
            size["preset"], self.tokenizer.vocab_size, size["model"], **size["train"],
            eval_every=10**9, log_every=1, sample_prompts=[], device=self.device.type,
            compile=compile_,
        )  # fmt: skip
        self.run_dir = self.workdir / "run"
        recorder = Recorder("smoke-train")
        result = train(self.model_config, self.train_config, self.corpus, self.tokenizer,
                       self.run_dir, on_event=recorder)  # fmt: skip
        losses = [e["loss"] for e in recorder.of("step")]
        first, last = np.mean(losses[:5]), np.mean(losses[-5:])
        started = recorder.of("start")[0]
        self.val_loss = result.val_loss
        self.ck = load_checkpoint(self.run_dir, self.device)  # saved by the run, on its device
        return {
            "pass": result.reason == "max_steps" and result.step == self.train_config.max_steps
            and all(math.isfinite(x) for x in losses) and last < first
            and started["device"].startswith(self.device.type),
            "device": started["device"], "compile": compile_, "steps": result.step,
            "loss_first5": round(float(first), 4), "loss_last5": round(float(last), 4),
            "val_loss": round(result.val_loss, 4), "val_bpb": round(result.val_bpb, 4),
            "tokens_per_s": result.tokens_per_s, "params": result.params,
            "first_step_wall_s": recorder.of("step")[0]["wall_s"], **setup,
        }  # fmt: skip

    # --- precision --------------------------------------------------------------------------
    def precision(self) -> dict:
        model, table = self.ck.model, self.ck.tokenizer.bytes_table()
        scheduler = Scheduler(model, table, SchedulerConfig(max_batch=2))
        scheduler.submit([1, 2, 3], SamplingParams(max_new_tokens=4, seed=0))
        while not scheduler.idle:
            scheduler.step()
        cache = scheduler.cache
        with torch.inference_mode(), autocast(self.device):
            logits, _ = model(torch.tensor([[1, 2, 3]], device=self.device))
        expected = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        # What a slot really takes, against what the gpu_infer worker counts against its
        # memory budget for one (workers/inference.py: 2 bytes an element on CUDA, else 4).
        # Storage grows with the sequences (lmcore/slotcache.py): scaled to the full context.
        held = sum(t.numel() * t.element_size() for t in (*cache.k, *cache.v)) // cache.slots
        allocated = held * cache.max_len // cache.capacity
        budgeted = slot_bytes(model.config, 2 if self.device.type == "cuda" else 4)
        return {
            "pass": cache.k[0].dtype == cache.v[0].dtype == expected
            and logits.dtype == torch.float32 and allocated == budgeted
            and all(p.dtype == torch.float32 for p in model.parameters()),
            "kv_cache_dtypes": {"k": str(cache.k[0].dtype), "v": str(cache.v[0].dtype)},
            "expected_kv_dtype": str(expected), "logits_dtype": str(logits.dtype),
            "param_dtypes": sorted({str(p.dtype) for p in model.parameters()}),
            "slot_bytes_allocated": allocated, "slot_bytes_budgeted": budgeted,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
        }  # fmt: skip

    # --- generation -------------------------------------------------------------------------
    def prompt(self, n: int, offset: int = 0) -> list[int]:
        val = self.corpus.split("val")
        return [int(t) for t in val[offset : offset + n]]

    def greedy(self) -> dict:
        model = self.ck.model
        params = SamplingParams(max_new_tokens=self.size["greedy_tokens"], temperature=0)
        engine = Engine(model, self.ck.tokenizer.bytes_table())
        prompt = self.prompt(40)
        events = [e for e in engine.generate(prompt, params) if e["event"] == "token"]
        reference = reference_generate(model, prompt, params)
        return self.compare(events, reference, None)

    def sampling(self) -> dict:
        model, seeds = self.ck.model, self.size["sample_seeds"]
        engine = Engine(model, self.ck.tokenizer.bytes_table())
        params = [SamplingParams(max_new_tokens=self.size["sample_tokens"], seed=s) for s in seeds]
        prompts = [self.prompt(10 + 7 * i, 100 * i) for i in range(len(seeds))]
        events = list(engine.generate_batch([Request(p, q) for p, q in zip(prompts, params,
                                                                          strict=True)]))  # fmt: skip
        rows = {}
        for i, (prompt, p) in enumerate(zip(prompts, params, strict=True)):
            mine = [e for e in events if e["event"] == "token" and e["stream"] == i]
            rows[f"seed_{p.seed}"] = self.compare(mine, reference_generate(model, prompt, p),
                                                  uniforms_of(p.seed, len(mine)))  # fmt: skip
        return {"pass": all(r["pass"] for r in rows.values()), "streams": rows}

    def compare(self, events: list[dict], reference: list, uniforms: list[float] | None) -> dict:
        """Engine token events against reference steps; see the module docstring."""
        tol = self.size["logprob_tol"]
        same = 0
        while same < min(len(events), len(reference)) and events[same]["id"] == reference[same].id:
            same += 1
        diffs = [abs(e["logprob"] - r.logprobs[e["id"]].item())
                 for e, r in zip(events[:same], reference[:same], strict=True)]  # fmt: skip
        out = {"tokens": len(reference), "engine_tokens": len(events), "equal_prefix": same,
               "max_logprob_diff": max(diffs, default=0.0), "logprob_tol": tol}  # fmt: skip
        equal = same == len(events) == len(reference)
        if not equal and same < min(len(events), len(reference)):
            ours, theirs = events[same]["id"], reference[same].id
            lp = reference[same].logprobs.double()
            if uniforms is None:  # greedy: how far the engine's pick is from the argmax
                margin, limit = (lp[theirs] - lp[ours]).item(), tol
            else:  # sampling: the uniform's distance to the CDF boundary between the picks
                cdf = lp.exp().cumsum(0)
                boundary = cdf[min(ours, theirs)] / cdf[-1]
                margin, limit = abs(uniforms[same] - boundary.item()), self.size["cdf_tol"]
            out.update(diverged_at=same, margin=margin, margin_tol=limit)
            near_tie = margin <= limit
        else:
            near_tie = False
        out["pass"] = out["max_logprob_diff"] <= tol and (equal or near_tie)
        return out

    # --- scoring ----------------------------------------------------------------------------
    def score_vs_evaluate(self) -> dict:
        model, table = self.ck.model, self.ck.tokenizer.bytes_table()
        ids = self.prompt(4 * model.config.context + 17, 5)  # several windows and a short one
        bos = bos_id_for(self.ck.train_config, self.ck.tokenizer.special_tokens)
        scored = score(model, table, ids, bos_id=bos)
        seq = np.array(ids if bos is None else [bos, *ids])
        lengths = token_byte_lengths(table, self.ck.tokenizer.special_tokens.values())
        ev = evaluate(model, seq, lengths, batch_size=3)
        loss = -scored["total_logprob"] / scored["scored"]
        rel = self.size["rel_tol"]
        return {
            "pass": ev.tokens == scored["scored"] and ev.bytes == scored["bytes"]
            and math.isclose(loss, ev.loss, rel_tol=rel)
            and math.isclose(scored["bpb"], ev.bpb, rel_tol=rel),
            "tokens": ev.tokens, "bytes": ev.bytes, "score_loss": loss, "evaluate_loss": ev.loss,
            "score_bpb": scored["bpb"], "evaluate_bpb": ev.bpb, "rel_tol": rel,
            "rel_diff": abs(loss - ev.loss) / ev.loss,
        }  # fmt: skip

    # --- checkpoint across devices ----------------------------------------------------------
    def checkpoint_to_cpu(self) -> dict:
        here, cpu = self.ck.model, load_checkpoint(self.run_dir, "cpu").model
        x = torch.tensor([self.prompt(here.config.context, 3)])  # (1, T)
        precision = torch.get_float32_matmul_precision()  # "high" (TF32) after training
        torch.set_float32_matmul_precision("highest")  # fp32 on both sides for the comparison
        try:
            with torch.inference_mode():
                a = here(x.to(self.device))[0].cpu()
                b = cpu(x)[0]
        finally:
            torch.set_float32_matmul_precision(precision)
        atol = self.size["logits_atol"]
        diff = (a - b).abs().max().item()
        return {"pass": diff <= atol, "max_logit_diff_fp32": diff, "atol": atol,
                "logit_scale": b.abs().max().item()}  # fmt: skip

    def val_loss_on_cpu(self) -> dict:
        """The run's final val loss (computed on its device) reproduces on the CPU."""
        model = load_checkpoint(self.run_dir, "cpu").model
        lengths = token_byte_lengths(self.tokenizer.bytes_table(),
                                     self.tokenizer.special_tokens.values())  # fmt: skip
        results = [evaluate(model, tokens, lengths, batch_size=self.train_config.batch_size)
                   for _, tokens in self.corpus.val_segments()]  # fmt: skip
        total = sum(results[1:], results[0])
        rel = max(self.size["rel_tol"], 1e-2 if self.device.type == "cuda" else 0.0)
        return {"pass": math.isclose(total.loss, self.val_loss, rel_tol=rel),
                "run_val_loss": self.val_loss, "cpu_val_loss": total.loss, "rel_tol": rel,
                "tokens": total.tokens}  # fmt: skip

    def resume_on_cpu(self) -> dict:
        """The run, checkpointed on its device with its optimizer state, resumes on the CPU
        for one more step (a copy of the run: the resumed run saves over its checkpoint)."""
        copy = self.workdir / "resumed"
        shutil.copytree(self.run_dir, copy)
        steps = self.train_config.max_steps
        cfg = replace(self.train_config, device="cpu", compile=False, max_steps=steps + 1)
        recorder = Recorder("smoke-resume")
        result = train(self.model_config, cfg, self.corpus, self.tokenizer, copy, resume=True,
                       on_event=recorder)  # fmt: skip
        start = recorder.of("start")[0]
        loss = recorder.of("step")[-1]["loss"]
        return {"pass": start["device"] == "cpu" and start["step"] == steps
                and result.step == steps + 1 and math.isfinite(loss),
                "resumed_from_step": start["step"], "steps": result.step, "loss": loss}  # fmt: skip


def uniforms_of(seed: int, n: int) -> list[float]:
    """The uniforms a request with this seed draws, one per token (lmcore/sampling.py)."""
    g = make_generator(seed)
    return [torch.rand((), generator=g, dtype=torch.float64).item() for _ in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--data", type=Path, default=DATA, help="a text corpus to train on")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile training (default: on CUDA only)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=None, help="CPU intra-op threads")
    args = parser.parse_args()
    if not args.data.is_file():
        parser.error(f"{args.data}: no such corpus (pass --data)")
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    device = resolve_device(args.device)
    report = {"pass": False, "device": str(device), "torch": torch.__version__,
              "python": platform.python_version(),
              "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="cuda-smoke-") as tmp:
        smoke = Smoke(args, device, Path(tmp))
        smoke.check("train", smoke.train)
        if smoke.checks["train"].get("error") is None:  # the rest needs the trained checkpoint
            for name in ("precision", "greedy", "sampling", "score_vs_evaluate",
                         "checkpoint_to_cpu", "val_loss_on_cpu", "resume_on_cpu"):  # fmt: skip
                smoke.check(name, getattr(smoke, name))
    report.update(checks=smoke.checks, seconds=round(time.perf_counter() - started, 1))
    report["pass"] = len(smoke.checks) == 8 and all(c["pass"] for c in smoke.checks.values())
    print(json.dumps(report, indent=2))
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
