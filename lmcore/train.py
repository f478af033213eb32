"""Training: Muon + AdamW (or AdamW alone) on batches drawn from an encoded corpus on disk.

`train()` runs one process's share of a run (DDP under torchrun, see lmcore/distributed.py)
and reports through `on_event`: {"event": "start"}, "step", "eval", "sample", "checkpoint",
and a final "done". It stops at `max_steps`, at `max_seconds` of wall clock (periodic
evaluation included, so "3 minutes" means 3 minutes), or when `should_cancel()` turns true;
each of these stops saves a checkpoint in `checkpoint_dir` that `resume=True` continues
exactly (a resumed run keeps counting steps and seconds from where it stopped).

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

import numpy as np
import torch

from lmcore import device as devices
from lmcore import distributed
from lmcore.chatdata import ChatData
from lmcore.checkpoint import load_checkpoint, load_optimizer, save_checkpoint
from lmcore.config import EVALS_PER_RUN, TrainConfig
from lmcore.data import EncodedCorpus, check_compatible
from lmcore.errors import LmcoreError
from lmcore.evaluate import EvalResult, evaluate, token_byte_lengths
from lmcore.finetune import ChatBatches, starting_model
from lmcore.lora import param_counts
from lmcore.model import GPT, GPTConfig
from lmcore.optim import lr_factor, make_optimizer
from lmcore.tokenizer import Tokenizer

EventCallback = Callable[[dict[str, Any]], None]


@dataclass
class TrainResult:
    step: int
    val_loss: float
    val_bpb: float
    tokens_per_s: float  # training tokens (all ranks) per second of training steps
    seconds: float  # wall clock of the whole run, resumed sessions included
    params: int
    reason: str  # "max_steps" | "max_seconds" | "cancelled"
    checkpoint: str
    world_size: int = 1
    replicas: list[str] = field(default_factory=list)  # a digest of each rank's final weights

    def to_event(self) -> dict[str, Any]:
        return {"event": "done", **asdict(self)}


def progress_of(cfg: TrainConfig, step: int, elapsed: float) -> float:
    """Fraction of the run done, by whichever limit is closer."""
    by_steps = step / cfg.max_steps if cfg.max_steps else 0.0
    by_time = elapsed / cfg.max_seconds if cfg.max_seconds else 0.0
    return max(by_steps, by_time)


def eval_due(cfg: TrainConfig, step: int, before: float, after: float) -> bool:
    """Every `eval_every` steps; without it, each time progress crosses 1/EVALS_PER_RUN
    (the last crossing is the final evaluation's). Example: eval_due(cfg, 7, 0.09, 0.11)."""
    if cfg.eval_every is not None:
        return step % cfg.eval_every == 0
    tenths = math.floor(after * EVALS_PER_RUN)
    return tenths > math.floor(before * EVALS_PER_RUN) and tenths < EVALS_PER_RUN


def get_batch(
    data: np.ndarray,
    batch_size: int,
    context: int,
    seed: tuple[int, ...],
    device: torch.device,
    shard: tuple[int, int] = (0, 1),
) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's rows of a global batch: random windows of context + 1 tokens, as inputs and
    next-token targets. The global batch (batch_size x world rows) depends only on `seed`, so
    N processes x batch b see exactly the rows 1 process x batch N*b sees, in the same order.
    """
    rank, world = shard
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(data) - context, size=batch_size * world)
    mine = starts[rank * batch_size : (rank + 1) * batch_size]
    rows = np.stack([data[s : s + context + 1] for s in mine]).astype(np.int64)  # (B, T+1)
    batch = torch.from_numpy(rows)
    if device.type == "cuda":
        batch = batch.pin_memory().to(device, non_blocking=True)
    return batch[:, :-1], batch[:, 1:]  # (B, T), (B, T)


class _Run:
    """One session of a run: the model, its optimizer and the counters a resume restores."""

    def __init__(self, model_config, cfg, corpus, chat, tokenizer, out_dir, resume, ctx, device):
        self.cfg, self.tokenizer, self.ctx, self.device = cfg, tokenizer, ctx, device
        self.out_dir = Path(out_dir)
        self.step, self.prior_seconds, self.tokens_seen = 0, 0.0, 0
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
        self.train_data = corpus.split("train") if corpus is not None else None
        self.val_segments = corpus.val_segments() if chat is None else []
        context = model_config.context
        self.chat = ChatBatches(chat, self.train_data, cfg.text_ratio, context) if chat else None
        self.byte_lengths = token_byte_lengths(
            tokenizer.bytes_table(), tokenizer.special_tokens.values()
        )
        self.bos_id = tokenizer.special_id(cfg.bos_token) if cfg.bos_token else None
        self.tokens_per_step = cfg.batch_size * cfg.grad_accum * model_config.context
        self.tokens_per_step *= ctx.world_size

    def _restore(self) -> None:
        ck = load_checkpoint(self.out_dir, self.device, merge_adapter=False)
        if ck.model_config != self.model.config:
            raise LmcoreError(
                f"{self.out_dir}: the checkpoint's model config differs from this run's"
            )
        if ck.tokenizer.to_str() != self.tokenizer.to_str():
            raise LmcoreError(f"{self.out_dir}: the checkpoint was trained with another tokenizer")
        self.model.load_state_dict(ck.model.state_dict())
        load_optimizer(self.out_dir, self.optimizer)
        self.step = ck.step
        self.prior_seconds = float(ck.state.get("elapsed_seconds", 0.0))
        self.tokens_seen = int(ck.state.get("tokens_seen", 0))

    def train_step(self, lr_scale: float) -> torch.Tensor:
        """Forward/backward over grad_accum micro-batches, then one optimizer update with
        every group's learning rate at its peak x `lr_scale`.

        Returns the loss averaged over the micro-batches and the ranks (a tensor on the
        device: reading it is a GPU sync, left to the caller)."""
        cfg, ctx, device = self.cfg, self.ctx, self.device
        torch.manual_seed(hash((cfg.seed, ctx.rank, self.step)) % 2**62)  # dropout masks
        for group, peak in zip(self.optimizer.param_groups, self.peak_lrs, strict=True):
            group["lr"] = peak * lr_scale
        context = self.model.config.context
        total = torch.zeros((), device=device)
        for micro in range(cfg.grad_accum):
            seed = (cfg.seed, self.step, micro)
            shard = (ctx.rank, ctx.world_size)
            if self.chat is not None:
                x, y = self.chat.batch(cfg.batch_size, seed, shard, device)
            else:
                x, y = get_batch(self.train_data, cfg.batch_size, context, seed, device, shard)
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
        self.tokens_seen += self.tokens_per_step
        return distributed.mean(self.ctx, total / cfg.grad_accum)

    def evaluate(self, max_tokens: int | None) -> tuple[EvalResult, dict[str, EvalResult]]:
        """Overall and per-corpus results. Every rank scores its share of each corpus's
        validation windows and the totals are summed; a bounded evaluation shares max_tokens
        among the corpora by their validation sizes (each gets at least one window)."""
        ctx, context = self.ctx, self.model.config.context
        total = sum(len(tokens) for _, tokens in self.val_segments) or 1
        shard = (ctx.rank, ctx.world_size)
        mine = {}
        if self.chat is not None:  # held-out conversations, scored on the replies only
            mine = self.chat.evaluate(self.model, self.byte_lengths, self.cfg.batch_size,
                                      max_tokens, shard)  # fmt: skip
        for name, tokens in self.val_segments:
            share = None if max_tokens is None else max(max_tokens * len(tokens) // total, context)
            r = evaluate(self.model, tokens, self.byte_lengths, batch_size=self.cfg.batch_size,
                         max_tokens=share, shard=shard)  # fmt: skip
            mine[name] = (r.nats, r.tokens, r.bytes)
        per_corpus = {}
        for name, totals in mine.items():
            nats, n, nbytes = distributed.sum_floats(ctx, list(totals), self.device)
            per_corpus[name] = EvalResult.from_totals(nats, int(n), int(nbytes))
        overall = sum(per_corpus.values(), EvalResult.from_totals(0.0, 0, 0))
        return overall, per_corpus

    def samples(self) -> list[tuple[str, str]]:
        """(prompt, continuation) for each fixed prompt, at temperature 0.8 with a fixed seed;
        in a chat run, (question, reply) for a few held-out conversations."""
        if self.chat is not None:
            return self.chat.samples(self.model, self.tokenizer, self.cfg.sample_tokens)
        out = []
        generator = torch.Generator(self.device).manual_seed(self.cfg.seed)
        self.model.eval()
        for prompt in self.cfg.sample_prompts:
            ids = self.tokenizer.encode(prompt)[-(self.model.config.context // 2) :]
            ids = [self.bos_id, *ids] if self.bos_id is not None else ids
            if ids:
                idx = torch.tensor([ids], dtype=torch.long, device=self.device)  # (1, T)
                new = self.model.generate(idx, self.cfg.sample_tokens, 0.8, generator)
                out.append((prompt, self.tokenizer.decode(new[0, len(ids) :].tolist())))
        self.model.train()
        return out

    def save(self, elapsed: float, metrics: dict[str, Any]) -> str:
        state = {"elapsed_seconds": elapsed, "tokens_seen": self.tokens_seen}
        path = save_checkpoint(
            self.out_dir, self.model, self.tokenizer, train_config=self.cfg.to_dict(),
            step=self.step, metrics=metrics, state=state, optimizer=self.optimizer,
            carried=self.chat.data.carried if self.chat else None,  # its parent's template...
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
    how far the schedule has progressed, all ranks take one step, and every `eval_every`
    steps (or each tenth of the run, see `eval_due`) all ranks evaluate (each its share) and
    rank 0 samples and checkpoints. The "step" loss is the mean over micro-batches and ranks.
    `seconds` is plain wall clock.
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
    first_step = run.step
    params, trainable = param_counts(run.model)  # a LoRA adapter is not counted in params
    emit({"event": "start", "step": run.step, "params": params, "trainable_params": trainable,
          "tokens_per_step": run.tokens_per_step, "device": str(device),
          "world_size": ctx.world_size, "resumed": resume,
          "threads": torch.get_num_threads()})  # fmt: skip
    started = time.perf_counter()
    clock = lambda: run.prior_seconds + time.perf_counter() - started  # noqa: E731
    train_seconds, window_seconds, window_tokens, loss_value = 0.0, 0.0, 0, None
    before: float | None = None  # progress after the previous step, for eval_due
    try:
        while True:
            elapsed = clock()
            progress = progress_of(cfg, run.step, elapsed)
            reason = _stop_reason(cfg, run.step, elapsed, should_cancel, loss_value)
            progress, reason = distributed.sync_control(ctx, progress, reason, device)
            if reason:
                break
            scale = lr_factor(cfg, run.step, progress)
            lr = cfg.lr * scale  # reported: the AdamW groups' rate
            t0 = time.perf_counter()
            loss = run.train_step(scale)
            # Every rank must agree: rank 0's synced progress, plus this step (the same on all).
            # The last step's report comes after the loop, on the whole validation split.
            after = max(progress, progress_of(cfg, run.step, 0.0))
            evaluate_now = eval_due(
                cfg, run.step, before if before is not None else progress, after
            )
            evaluate_now, before = evaluate_now and run.step != cfg.max_steps, after
            report_due = run.step % cfg.log_every == 0 or evaluate_now
            if device.type == "cpu" or report_due:
                loss_value = loss.item()  # a GPU sync: on CUDA only when reported
            dt = time.perf_counter() - t0
            train_seconds, window_seconds = train_seconds + dt, window_seconds + dt
            window_tokens += run.tokens_per_step
            if run.step % cfg.log_every == 0 or (resume and run.step == first_step + 1):
                # A resumed session reports its first step too: the resume shows on the curve.
                emit({"event": "step", "step": run.step, "loss": loss_value, "lr": lr,
                      "tokens_per_s": round(window_tokens / window_seconds, 1),
                      "seconds": round(elapsed, 2), "eta_s": _eta(elapsed, progress)})  # fmt: skip
                window_seconds, window_tokens = 0.0, 0
            if evaluate_now and math.isfinite(loss_value):  # loss_value is the same on every rank
                _report(run, emit, clock(), cfg.eval_tokens, loss_value)
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
    metrics = _report(run, emit, clock(), final_tokens, loss_value)
    replicas = distributed.replica_digests(ctx, run.model)
    if len(set(replicas)) > 1:
        raise LmcoreError(
            f"the {ctx.world_size} processes ended with different weights: {replicas}"
        )
    result = TrainResult(
        step=run.step, val_loss=metrics.get("val_loss", math.nan),
        val_bpb=metrics.get("val_bpb", math.nan),
        tokens_per_s=round(run.tokens_per_step * (run.step - first_step) / max(train_seconds, 1e-9), 1),
        seconds=round(clock(), 2), params=params, reason=reason,
        checkpoint=str(run.out_dir), world_size=ctx.world_size, replicas=replicas,
    )  # fmt: skip
    emit(result.to_event())
    return result


def _stop_reason(cfg, step, elapsed, should_cancel, loss_value) -> str:
    if loss_value is not None and not math.isfinite(loss_value):
        return "nan"
    if cfg.max_steps is not None and step >= cfg.max_steps:
        return "max_steps"
    if cfg.max_seconds is not None and elapsed >= cfg.max_seconds:
        return "max_seconds"
    if should_cancel is not None and should_cancel():
        return "cancelled"
    return ""


def _eta(elapsed: float, progress: float) -> float | None:
    return round(elapsed * (1.0 - progress) / progress, 1) if progress > 0 else None


def _report(
    run: _Run, emit: EventCallback, elapsed: float, max_tokens, loss_value
) -> dict[str, Any]:
    """Evaluate (every rank, its share), then sample and checkpoint (rank 0); returns the
    metrics stored with the checkpoint. The other ranks go on to the next step's collective
    and wait there for the samples and the save only: seconds, not an evaluation's minutes."""
    result, per_corpus = run.evaluate(max_tokens)
    if not run.ctx.is_main:
        return {}
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
    path = run.save(elapsed, metrics)
    emit({"event": "checkpoint", "step": run.step, "path": path})
    return metrics
