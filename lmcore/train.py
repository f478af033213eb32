"""Training: Muon + AdamW (or AdamW alone) on batches drawn from an encoded corpus on disk.

`train()` runs one process's share of a run (DDP under torchrun, see lmcore/distributed.py)
and reports through `on_event`: {"event": "start"}, "phase" (compiling, training,
evaluating, saving), "step" (every `log_every` steps), "pace" (progress and ETA, about once
a second between them), "eval", "sample", "checkpoint", and a final "done". It stops at
`max_steps`, at `max_seconds` of wall clock (periodic evaluations included, and the final
one fitted inside: training stops early by the time the periodic ones foretell for it, so
"3 minutes" means 3 minutes), or when `should_cancel()` turns true; each of these stops
saves a checkpoint in `checkpoint_dir` that `resume=True` continues exactly (a resumed run
keeps counting steps and seconds from where it stopped). Tokens/s and tokens seen count
the real tokens trained on: a conversation row's padding is not counted.
Progress, evaluation cadence and ETA: lmcore/pace.py; the clocks and the lines between
evaluations: lmcore/meter.py. Batches: lmcore/batches.py.

Optimizers and schedule: lmcore/optim.py. Linear warmup over `warmup_steps`, then a decay to
`min_lr_ratio` x the peak (cosine, or linear over the last `warmdown` of the run), driven
by progress = max(step / max_steps, elapsed / max_seconds). A run limited only by time
therefore decays against the clock and always ends at the low learning rate, whatever the
machine's speed; the price is that such a run is not bit-reproducible (its learning rates
depend on timing). Runs limited by steps are deterministic given the seed: each step's global
batch comes from a generator seeded by (seed, step, micro-batch), each rank taking its rows,
and dropout masks from (seed, rank, step); so resuming needs no saved RNG state, and N
processes x batch b train exactly as 1 process x batch N*b does (tests/lmcore/test_ddp.py).

On CUDA: bf16 autocast, TF32 matmuls, fused AdamW (the "adamw" recipe), optional torch.compile. A NaN loss or an
out-of-memory error ends the run with an LmcoreError saying what to change; the last good
checkpoint stays as it was.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from lmcore import device as devices
from lmcore import distributed
from lmcore.batches import Batches, TextBatches, get_batch
from lmcore.chatdata import ChatData
from lmcore.checkpoint import load_optimizer, save_checkpoint
from lmcore.config import TrainConfig
from lmcore.data import EncodedCorpus, check_compatible
from lmcore.errors import LmcoreError
from lmcore.evaluate import EvalResult, token_byte_lengths
from lmcore.finetune import ChatBatches, load_weights, starting_model
from lmcore.lora import param_counts
from lmcore.meter import Meter
from lmcore.model import GPT, GPTConfig
from lmcore.optim import lr_factor, make_optimizer
from lmcore.pace import eval_due, progress_of
from lmcore.tokenizer import Tokenizer
from lmcore.verdict import barely_trained

__all__ = ["TrainConfig", "TrainResult", "eval_due", "get_batch", "progress_of", "train"]

EventCallback = Callable[[dict[str, Any]], None]


@dataclass
class TrainResult:
    step: int
    val_loss: float
    val_bpb: float
    tokens_per_s: float  # real training tokens (all ranks) per second of this session's steps
    seconds: float  # wall clock of the whole run, resumed sessions included
    params: int
    reason: str  # "max_steps" | "max_seconds" | "cancelled"
    checkpoint: str
    world_size: int = 1
    replicas: list[str] = field(default_factory=list)  # a digest of each rank's final weights
    train_seconds: float = 0.0  # of `seconds`, in training steps (no start-up, no evaluation)
    tokens: int = 0  # real tokens trained on, resumed sessions included
    warning: str = ""  # lmcore/verdict.py: why the run barely trained, and what to do; "" if not

    def to_event(self) -> dict[str, Any]:
        return {"event": "done", **asdict(self)}


class _Run:
    """One session of a run: the model, its optimizer, its batches and the counters a resume
    restores."""

    def __init__(self, model_config, cfg, corpus, chat, tokenizer, out_dir, resume, ctx, device):
        self.cfg, self.tokenizer, self.ctx, self.device = cfg, tokenizer, ctx, device
        self.out_dir = Path(out_dir)
        self.step, self.prior_seconds, self.tokens_seen, self.prior_train = 0, 0.0, 0, 0.0
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        self.model = GPT(model_config).to(device)
        # Fine-tuning: the parent's weights; LoRA: then a frozen base and an adapter to train.
        self.lora = starting_model(self.model, cfg, tokenizer, resume) if cfg.init_from else None
        self.optimizer = make_optimizer(self.model, cfg, device)  # over the trainable weights
        # Each group's peak learning rate, from the config (also when resuming): the schedule
        # scales these (lmcore/optim.py).
        self.peak_lrs = [group["lr"] for group in self.optimizer.param_groups]
        if resume:
            self._restore()
        compiled = torch.compile(self.model) if cfg.compile else self.model
        self.ddp_model = distributed.wrap(compiled, ctx, device)
        context = model_config.context
        bos_id = tokenizer.special_id(cfg.bos_token) if cfg.bos_token else None
        self.chat = chat is not None
        self.batches: Batches = (
            ChatBatches(chat, corpus.split("train") if corpus else None, cfg.text_ratio, context)
            if chat is not None
            else TextBatches(corpus, context, cfg.sample_prompts, cfg.seed, bos_id)
        )
        self.byte_lengths = token_byte_lengths(
            tokenizer.bytes_table(), tokenizer.special_tokens.values()
        )
        self.tokens_per_step = cfg.batch_size * cfg.grad_accum * model_config.context
        self.tokens_per_step *= ctx.world_size

    def _restore(self) -> None:
        ck = load_weights(self.model, self.out_dir, self.tokenizer, "the checkpoint's",
                          merge_adapter=False)  # fmt: skip
        load_optimizer(self.out_dir, self.optimizer)
        self.step = ck.step
        self.prior_seconds = float(ck.state.get("elapsed_seconds", 0.0))
        self.prior_train = float(ck.state.get("train_seconds", 0.0))
        self.tokens_seen = int(ck.state.get("tokens_seen", 0))

    def train_step(self, lr_scale: float) -> tuple[torch.Tensor, int]:
        """Forward/backward over grad_accum micro-batches, then one optimizer update with
        every group's learning rate at its peak x `lr_scale`.

        Returns the loss averaged over the micro-batches and the ranks (a tensor on the
        device: reading it is a GPU sync, left to the caller), and the real tokens the step
        trained on, all ranks together (padding not counted)."""
        cfg, ctx, device = self.cfg, self.ctx, self.device
        torch.manual_seed(hash((cfg.seed, ctx.rank, self.step)) % 2**62)  # dropout masks
        for group, peak in zip(self.optimizer.param_groups, self.peak_lrs, strict=True):
            group["lr"] = peak * lr_scale
        total, real = torch.zeros((), device=device), 0
        for micro in range(cfg.grad_accum):
            seed = (cfg.seed, self.step, micro)
            x, y, n = self.batches.batch(cfg.batch_size, seed, (ctx.rank, ctx.world_size), device)
            real += n
            # Under DDP, all-reduce the gradients once, after the last micro-batch.
            skip_sync = ctx.enabled and micro < cfg.grad_accum - 1
            sync = self.ddp_model.no_sync() if skip_sync else contextlib.nullcontext()
            with sync, devices.autocast(device):
                _, loss = self.ddp_model(x, y)
                (loss / cfg.grad_accum).backward()
            total += loss.detach()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        # Text windows are full on every rank; conversation rows differ from rank to rank.
        real = int(distributed.sum_floats(ctx, [real], device)[0]) if self.chat else (
            real * ctx.world_size)  # fmt: skip
        self.tokens_seen += real
        return distributed.mean(self.ctx, total / cfg.grad_accum), real

    def evaluate(self, max_tokens: int | None) -> tuple[EvalResult, dict[str, EvalResult]]:
        """Overall and per-corpus results. Every rank scores its share of each corpus's
        validation windows (or held-out conversations) and the totals are summed."""
        ctx = self.ctx
        mine = self.batches.evaluate(self.model, self.byte_lengths, self.cfg.batch_size,
                                     max_tokens, (ctx.rank, ctx.world_size))  # fmt: skip
        per_corpus = {}
        for name, totals in mine.items():
            nats, n, nbytes = distributed.sum_floats(ctx, list(totals), self.device)
            per_corpus[name] = EvalResult.from_totals(nats, int(n), int(nbytes))
        overall = sum(per_corpus.values(), EvalResult.from_totals(0.0, 0, 0))
        return overall, per_corpus

    def samples(self) -> list[tuple[str, str]]:
        return self.batches.samples(self.model, self.tokenizer, self.cfg.sample_tokens)

    def save(self, elapsed: float, train_seconds: float, metrics: dict[str, Any]) -> str:
        state = {"elapsed_seconds": elapsed, "train_seconds": train_seconds,
                 "tokens_seen": self.tokens_seen}  # fmt: skip
        path = save_checkpoint(
            self.out_dir, self.model, self.tokenizer, train_config=self.cfg.to_dict(),
            step=self.step, metrics=metrics, state=state, optimizer=self.optimizer,
            carried=self.batches.data.carried if self.chat else None,  # its parent's template
            lora_section=self.lora,
        )  # fmt: skip
        return str(path)


def train(
    model_config: GPTConfig,
    cfg: TrainConfig,
    corpus: EncodedCorpus | None,
    tokenizer: Tokenizer,
    checkpoint_dir: str | Path,
    *,
    chat: ChatData | None = None,
    resume: bool = False,
    on_event: EventCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train (or resume) a model, checkpointing into `checkpoint_dir`; see the module docstring.

    The main loop: each iteration rank 0 decides whether to stop (limits, cancel, NaN) and
    how far the schedule has progressed, all ranks take one step, and when `eval_due` says
    so (lmcore/pace.py) all ranks evaluate (each its share) and rank 0 samples and
    checkpoints. The "step" loss is the mean over micro-batches and ranks. `seconds` is plain
    wall clock.
    """
    cfg.validate()
    check_compatible(model_config, corpus, chat, tokenizer)
    # The checkpoint records the data's document convention (a fine-tune keeps its parent's).
    cfg.bos_token = corpus.bos_token if chat is None else chat.bos_token
    cfg.chat = chat is not None
    device = devices.resolve_device(cfg.device, distributed.context_from_env().local_rank)
    ctx = distributed.init_distributed(device.type)
    devices.configure(device)
    emit = on_event if (on_event is not None and ctx.is_main) else (lambda event: None)
    run = _Run(model_config, cfg, corpus, chat, tokenizer, checkpoint_dir, resume, ctx, device)
    first_step, loss_value = run.step, None
    params, trainable = param_counts(run.model)  # a LoRA adapter is not counted in params
    emit({"event": "start", "step": run.step, "params": params, "trainable_params": trainable,
          "tokens_per_step": run.tokens_per_step, "device": str(device),
          "world_size": ctx.world_size, "resumed": resume,
          "threads": torch.get_num_threads()})  # fmt: skip
    meter = Meter(run, emit)
    meter.phase_to("compiling" if cfg.compile else "training")
    since, last_eval = None, run.step  # progress and step where the last evaluation ended
    try:
        while True:
            elapsed = meter.elapsed()
            progress = meter.progress(elapsed)
            reason = _stop_reason(cfg, run.step, elapsed, should_cancel, loss_value, meter.reserve)
            progress, reason = distributed.sync_control(ctx, progress, reason, device)
            if reason:
                break
            since = progress if since is None else since
            scale = lr_factor(cfg, run.step, progress)
            t0 = time.perf_counter()
            loss, tokens = run.train_step(scale)
            # Every rank must agree: rank 0's synced progress, plus this step (the same on all).
            # The last step's report comes after the loop, on the whole validation split.
            after = max(progress, progress_of(cfg, run.step, 0.0))
            evaluate_now = eval_due(cfg, run.step, since, after, last_eval)
            evaluate_now = evaluate_now and run.step != cfg.max_steps
            # A resumed session reports its first step too: the resume shows on the curve.
            logged = run.step % cfg.log_every == 0 or (resume and run.step == first_step + 1)
            if device.type == "cpu" or logged or evaluate_now:
                loss_value = loss.item()  # a GPU sync: on CUDA only when reported
            meter.stepped(time.perf_counter() - t0, tokens)
            meter.phase_to("training")  # after compiling
            meter.report(loss_value, cfg.lr * scale, logged)
            if evaluate_now and math.isfinite(loss_value):  # loss_value is the same on every rank
                _report(run, meter, cfg.eval_tokens, loss_value)
                meter.phase_to("training")
                since, last_eval = None, run.step
    except torch.OutOfMemoryError:
        raise LmcoreError(
            f"out of GPU memory at batch size {cfg.batch_size} x context {model_config.context}: "
            "lower --batch-size (raise grad_accum to keep the batch), --context or the preset"
        ) from None
    if reason == "nan":
        raise LmcoreError(
            f"the loss became NaN or infinite by step {run.step}: training diverged. Try a lower "
            f"learning rate (--lr, now {cfg.lr:g}) or more warmup; the last good checkpoint is kept"
        )
    # A cancelled run should stop promptly: score a bounded sample rather than the whole split.
    final_tokens = cfg.eval_tokens if reason == "cancelled" else None
    metrics = _report(run, meter, final_tokens, loss_value, final=True)
    replicas = distributed.replica_digests(ctx, run.model)
    if len(set(replicas)) > 1:
        raise LmcoreError(
            f"the {ctx.world_size} processes ended with different weights: {replicas}"
        )
    result = TrainResult(
        step=run.step, val_loss=metrics.get("val_loss", math.nan),
        val_bpb=metrics.get("val_bpb", math.nan),
        tokens_per_s=round(meter.session_tokens / max(meter.session_train, 1e-9), 1),
        seconds=round(meter.elapsed(), 2), params=params, reason=reason,
        checkpoint=str(run.out_dir), world_size=ctx.world_size, replicas=replicas,
        train_seconds=round(meter.train_seconds, 2), tokens=run.tokens_seen,
    )  # fmt: skip
    result.warning = barely_trained(
        steps=result.step, val_loss=result.val_loss, vocab_size=model_config.vocab_size,
        reason=reason, seconds=result.seconds, tokens_per_s=result.tokens_per_s,
        max_steps=cfg.max_steps, max_seconds=cfg.max_seconds,
    )  # fmt: skip
    emit(result.to_event())
    return result


def _stop_reason(cfg, step, elapsed, should_cancel, loss_value, reserve=0.0) -> str:
    if loss_value is not None and not math.isfinite(loss_value):
        return "nan"
    if cfg.max_steps is not None and step >= cfg.max_steps:
        return "max_steps"
    if cfg.max_seconds is not None and elapsed >= cfg.max_seconds - reserve:
        return "max_seconds"
    if should_cancel is not None and should_cancel():
        return "cancelled"
    return ""


def _report(
    run: _Run, meter: Meter, max_tokens: int | None, loss_value: float | None,
    final: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Evaluate (every rank, its share), then sample and checkpoint (rank 0); returns the
    metrics stored with the checkpoint. The other ranks go on to the next step's collective
    and wait there for the samples and the save only: seconds, not an evaluation's minutes."""
    emit, t0 = meter.emit, time.perf_counter()
    meter.phase_to("evaluating")
    result, per_corpus = run.evaluate(max_tokens)
    if not run.ctx.is_main:
        return {}
    eval_seconds = time.perf_counter() - t0
    corpora = {name: {"val_loss": round(r.loss, 4), "val_bpb": round(r.bpb, 4),
                      "tokens": r.tokens, "bytes": r.bytes} for name, r in per_corpus.items()}  # fmt: skip
    emit({"event": "eval", "step": run.step, "val_loss": round(result.loss, 4),
          "val_bpb": round(result.bpb, 4), "tokens": result.tokens, "corpora": corpora})  # fmt: skip
    if not math.isfinite(result.loss):
        return {"val_loss": result.loss, "val_bpb": result.bpb}  # never overwrite a good checkpoint
    for prompt, text in run.samples():
        emit({"event": "sample", "step": run.step, "prompt": prompt, "text": text})
    metrics = {"val_loss": result.loss, "val_bpb": result.bpb, "eval_tokens": result.tokens,
               "eval_bytes": result.bytes, "train_loss": loss_value, "corpora": corpora}  # fmt: skip
    meter.phase_to("saving")
    path = run.save(meter.elapsed(), meter.train_seconds, metrics)
    emit({"event": "checkpoint", "step": run.step, "path": path})
    if not final:
        meter.evaluated(eval_seconds, result.tokens, time.perf_counter() - t0 - eval_seconds)
    return metrics
