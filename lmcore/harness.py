"""lm-evaluation-harness over lmcore: the harness's `LM` answered in process by lmcore's model.

The harness (PyPI `lm_eval`) owns the tasks: it reads their datasets, builds the prompts,
few-shot contexts and metrics with their standard errors. `LmcoreLM` answers its three
questions with a loaded checkpoint and no HTTP (docs/architecture.md, "Evaluation"):
- `loglikelihood`: ln p(continuation | context) and whether greedy decoding would write it,
  over [BOS] + ids, exactly as `lmcore.score` scores a text, so the figures equal
  `python -m lmcore score` and the API's echo (within float noise: rows are batched). Rows
  are sorted by length and batched under a bound on the logits held at once.
- `loglikelihood_rolling`: the harness's own disjoint windows of the model's context.
- `generate_until`: lmcore's engine, greedy unless the task samples, with the task's stop
  strings; up to 32 prompts decode together.
Chat mode renders each prompt with the version's own template (`chat_config.template_for`: an
imported ChatML or Llama-3 model with its own, lmcore's fine-tunes with lmcore's layout)
through `lmcore.chat.render`, so a prompt's ids are those the playground and the API send:
special tokens only from the template's text, never from a task's text. The harness passes
prompts as text, so each rendered prompt's ids are kept under its text; a continuation is
encoded on its own after them (the reply's tokens as the model writes them after its
prompt), not by the harness's split of the joined text, which would move the generation
prompt's trailing newline into the reply.

This is the only lmcore module that imports `lm_eval`, and nothing else imports it at import
time: the web process never loads the harness. User task files are made safe before they
get here (`lmcore.taskfiles`); the harness's Jinja environment is swapped for a sandboxed one
so that a template cannot reach Python objects either.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import datasets
import lm_eval.utils
import torch
from jinja2 import BaseLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from lm_eval.api.model import TemplateLM
from lm_eval.evaluator import evaluate as harness_evaluate
from lm_eval.tasks import TaskManager

from lmcore.chat import render, reply_end_ids
from lmcore.chat_config import template_for, text_end_ids
from lmcore.checkpoint import Checkpoint
from lmcore.config import SamplingParams
from lmcore.device import autocast
from lmcore.documents import bos_id_for
from lmcore.engine import MAX_NEW_TOKENS, Engine, Request
from lmcore.errors import LmcoreError

LOGITS_PER_BATCH = 1 << 25  # floats of logits held at once (128 MiB)
MAX_ROWS = 64
GENERATE_BATCH = 32
Progress = Callable[[int, int], None]  # (requests done, requests in this call); may raise

_sandbox = ImmutableSandboxedEnvironment(
    loader=BaseLoader, undefined=StrictUndefined, keep_trailing_newline=True
)
_sandbox.filters["regex_replace"] = lm_eval.utils.regex_replace
lm_eval.utils.env = _sandbox  # every prompt template renders in the sandbox
datasets.disable_progress_bars()  # a worker's log and the CLI's stderr are no terminal


class LmcoreLM(TemplateLM):
    """A checkpoint as the harness's model; `chat` renders prompts with its chat template."""

    def __init__(self, checkpoint: Checkpoint, *, chat: bool = False,
                 on_progress: Progress | None = None) -> None:  # fmt: skip
        super().__init__()
        self.model, self.tok = checkpoint.model, checkpoint.tokenizer
        self.bos_id = bos_id_for(checkpoint.train_config, self.tok.special_tokens)
        self.context = self.model.config.context
        self.chat = chat
        self.template = template_for(checkpoint.config, self.tok) if chat else None
        if chat and self.template is None:
            raise LmcoreError("this model has no chat template: evaluate it without chat")
        self._prompts: dict[str, list[int]] = {}  # a rendered chat prompt's text -> its ids
        self.on_progress = on_progress or (lambda done, total: None)
        self.bytes_table = self.tok.bytes_table()
        self._device = next(self.model.parameters()).device
        # The model's own end ids (lmcore/chat_config.py): its template's, an import's eos ids.
        end_ids = (reply_end_ids(self.tok, self.template) if chat
                   else text_end_ids(checkpoint.config, self.tok))  # fmt: skip
        self.engine = Engine(self.model, self.bytes_table, end_ids=end_ids, bos_id=self.bos_id)

    # --- tokens ----------------------------------------------------------------------------
    @property
    def eot_token_id(self) -> int:
        return self.tok.eot_id if self.tok.eot_id is not None else 0

    @property
    def prefix_token_id(self) -> int:
        return self.bos_id if self.bos_id is not None else self.eot_token_id

    def tok_encode(
        self, string: str, add_special_tokens: bool | None = None, **_: Any
    ) -> list[int]:
        """A task's text never becomes special ids (chat prompts: `apply_chat_template`)."""
        return self.tok.encode(string)

    def _with_bos(self, ids: list[int]) -> list[int]:
        return [self.bos_id, *ids] if self.bos_id is not None and ids[:1] != [self.bos_id] else ids

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """The harness's split of context and continuation, the context after [BOS]: what
        `lmcore.score` conditions a text on. A chat prompt: its rendered ids, then the
        continuation's own (module docstring)."""
        if context in self._prompts:
            return self._prompts[context], self.tok_encode(continuation)
        context_ids, continuation_ids = super()._encode_pair(context, continuation)
        return self._with_bos(context_ids), continuation_ids

    # --- the harness's three questions ------------------------------------------------------
    def loglikelihood(self, requests: Sequence[Any], disable_tqdm: bool = True) -> list[tuple[float, bool]]:  # fmt: skip
        return super().loglikelihood(list(requests), disable_tqdm=True)  # progress: on_progress

    def _loglikelihood_tokens(self, requests: Sequence[tuple[Any, list[int], list[int]]],
                              disable_tqdm: bool = False, **_: Any) -> list[tuple[float, bool]]:  # fmt: skip
        rows = []
        for _key, context, continuation in requests:
            if not continuation:
                raise LmcoreError("a harness request asked to score an empty continuation")
            seq = list(context) + list(continuation)
            rows.append((seq[-(self.context + 1) :], min(len(continuation), self.context)))
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i][0]))
        out: list[tuple[float, bool]] = [(0.0, False)] * len(rows)
        done = 0
        for batch in _batches(order, [len(rows[i][0]) for i in order], self._rows_for):
            for i, answer in zip(batch, self._score_rows([rows[i] for i in batch]), strict=True):
                out[i] = answer
            done += len(batch)
            self.on_progress(done, len(rows))
        return out

    def _rows_for(self, length: int) -> int:
        return max(1, min(MAX_ROWS, LOGITS_PER_BATCH // (length * self.model.config.vocab_size)))

    @torch.inference_mode()
    def _score_rows(self, rows: list[tuple[list[int], int]]) -> list[tuple[float, bool]]:
        """(sum of ln p of each row's last n tokens, all of them greedy) for rows (ids, n)."""
        width = max(len(seq) for seq, _ in rows) - 1
        x = torch.zeros((len(rows), width), dtype=torch.long)  # (B, T), right-padded
        for r, (seq, _) in enumerate(rows):
            x[r, : len(seq) - 1] = torch.tensor(seq[:-1])
        with autocast(self._device):
            logits, _ = self.model(x.to(self._device))  # (B, T, V) float32
        answers = []
        for r, (seq, n) in enumerate(rows):
            positions = slice(len(seq) - 1 - n, len(seq) - 1)
            logprobs = torch.log_softmax(logits[r, positions].float(), dim=-1)  # (n, V)
            target = torch.tensor(seq[-n:], device=logprobs.device)  # (n,)
            total = logprobs.gather(1, target[:, None]).sum().item()
            answers.append((total, bool((logprobs.argmax(-1) == target).all())))
        return answers

    def loglikelihood_rolling(self, requests: Sequence[Any], disable_tqdm: bool = False) -> list[float]:  # fmt: skip
        pairs, owners = [], []
        for n, request in enumerate(requests):
            windows = lm_eval.utils.get_rolling_token_windows(
                token_list=self.tok_encode(request.args[0]), prefix_token=self.prefix_token_id,
                max_seq_len=self.context, context_len=1,
            )  # fmt: skip
            for context, continuation in map(lm_eval.utils.make_disjoint_window, windows):
                pairs.append((None, context, continuation))
                owners.append(n)
        totals = [0.0] * len(requests)
        for owner, (logprob, _) in zip(owners, self._loglikelihood_tokens(pairs), strict=True):
            totals[owner] += logprob
        return totals

    def generate_until(self, requests: Sequence[Any], disable_tqdm: bool = False) -> list[str]:
        eos = self.tok.decode([self.eot_token_id])
        prepared = [(self._prompts.get(ctx) or self._with_bos(self.tok_encode(ctx)),
                     _sampling(kwargs, eos)) for ctx, kwargs in (r.args for r in requests)]  # fmt: skip
        out = [""] * len(requests)
        for start in range(0, len(prepared), GENERATE_BATCH):
            batch = prepared[start : start + GENERATE_BATCH]
            texts = [""] * len(batch)
            for event in self.engine.generate_batch([Request(p, s) for p, s in batch]):
                texts[event["stream"]] += event["text"]  # tokens; a done event's held-back text
            out[start : start + len(batch)] = texts
            self.on_progress(start + len(batch), len(prepared))
        return out

    # --- chat ------------------------------------------------------------------------------
    @property
    def tokenizer_name(self) -> str:
        return "lmcore"

    def chat_template(self, chat_template: bool | str = False) -> str:
        return self.template.template if self.template is not None else ""

    def apply_chat_template(self, chat_history: list[dict[str, str]],
                            add_generation_prompt: bool = True) -> str:  # fmt: skip
        """The prompt as the version's template renders it for a reply (`lmcore.chat.render`),
        its ids kept under its text for the requests the harness builds from it. Without
        `add_generation_prompt` the last (assistant) message is the reply's start, written
        after the prompt (as `continue_final_message` does)."""
        messages = [{"role": m["role"], "content": m["content"]} for m in chat_history]
        opened = ""
        if not add_generation_prompt:
            if not messages or messages[-1]["role"] != "assistant":
                raise LmcoreError("a reply's start must be the last, assistant, message")
            opened = messages.pop()["content"]
        ids = render(self.tok, messages, generation_prompt=True, template=self.template).ids
        text = self.template.render(messages, add_generation_prompt=True) + opened
        self._prompts[text] = ids + self.tok_encode(opened)
        return text


def _sampling(kwargs: dict[str, Any], eos: str) -> SamplingParams:
    """The harness's generation kwargs as lmcore settings: greedy unless it asks to sample."""
    until = kwargs.get("until") or []
    stop = [s for s in ([until] if isinstance(until, str) else until) if s and s != eos][:8]
    temperature = float(kwargs.get("temperature", 0.0)) if kwargs.get("do_sample") else 0.0
    max_new = int(kwargs.get("max_gen_toks", 256))
    return SamplingParams(max_new_tokens=max(1, min(max_new, MAX_NEW_TOKENS)),
                          temperature=temperature, stop=stop, seed=1234)  # fmt: skip


def _batches(items: list[int], lengths: list[int], rows_for: Callable[[int], int]) -> Iterable[list[int]]:  # fmt: skip
    """Consecutive groups of `items` (sorted longest first), each within rows_for(its longest)."""
    at = 0
    while at < len(items):
        size = rows_for(lengths[at])
        yield items[at : at + size]
        at += size


# --- running tasks ---------------------------------------------------------------------------
_task_manager: TaskManager | None = None


def task_manager() -> TaskManager:
    """The harness's index of its own tasks, built once per process (seconds: ~15,000 YAMLs)."""
    global _task_manager
    if _task_manager is None:
        _task_manager = TaskManager()
    return _task_manager


def load_task(spec: str | dict[str, Any]) -> Any:
    """The harness's task object for a name (its dataset is read now) or a config dict;
    LmcoreError saying why when it cannot be had (unknown, dataset unreachable)."""
    name = spec if isinstance(spec, str) else spec.get("task", "?")
    manager = task_manager() if isinstance(spec, str) else TaskManager(include_defaults=False)
    if isinstance(spec, str) and (members := group_members(manager, spec)):
        raise LmcoreError(_a_group(name, members))  # before its datasets: offline too
    try:
        tasks = manager.load([spec])["tasks"]
    except KeyError:
        raise LmcoreError(f"{name}: not a task lm-evaluation-harness knows") from None
    except (ConnectionError, OSError, TimeoutError) as exc:
        raise LmcoreError(
            f"{name}: its dataset cannot be fetched ({_first_line(exc)}); this machine may be "
            "offline: harness tasks read their data from the Hugging Face Hub, or from its "
            "cache (HF_HOME) when a connected machine filled it"
        ) from None
    except Exception as exc:  # a config the harness refuses
        raise LmcoreError(
            f"{name}: the harness cannot build this task ({_first_line(exc)})"
        ) from None
    if len(tasks) != 1:
        raise LmcoreError(_a_group(name, sorted(tasks)))
    return next(iter(tasks.values()))


def group_members(manager: TaskManager, name: str, seen: frozenset = frozenset()) -> list[str]:
    """The tasks a harness group or tag stands for, by the names one can pick (nested groups
    and tags opened); [] for a task or an unknown name. `lambada` (a tag in lm_eval 0.4.13):
    lambada_openai, lambada_standard."""
    groups, tags, index = manager.all_groups, manager.all_tags, manager.task_index
    if name not in groups and name not in tags or name in seen:
        return []
    if name in tags:
        names = sorted(index[name].tags)  # a tag's entry lists the tasks that carry it
    else:  # a group's YAML lists its members, by name or as {"task"/"group": name, ...}
        listed = (index[name].cfg or {}).get("task", [])
        names = [m if isinstance(m, str) else m.get("group") or m.get("task") for m in listed]
    members: list[str] = []
    for member in names:
        if member in groups or member in tags:
            found = group_members(manager, member, seen | {name})
        else:  # a task; one defined inside the group's YAML has no name to pick
            found = [member] if member in index else []
        members += [m for m in found if m not in members]
    return members


def _a_group(name: str, members: list[str], shown: int = 12) -> str:
    listed = ", ".join(members[:shown])
    more = f" and {len(members) - shown} more" if len(members) > shown else ""
    return f"{name} is a group of {len(members)} tasks: {listed}{more}; pick one"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def run_task(lm: LmcoreLM, task: Any, *, limit: int | None = None,
             bootstrap_iters: int = 1000) -> dict[str, Any]:  # fmt: skip
    """One task through the harness: {"task", "output_type", "n", "metrics": {name: {"value",
    "stderr"}}, "samples": [per item, see `item_view`]}."""
    name = task.config.task
    lm._prompts.clear()  # the previous task's chat prompts
    results = harness_evaluate(
        lm, {name: task}, limit=limit, bootstrap_iters=bootstrap_iters, log_samples=True,
        apply_chat_template=lm.chat, fewshot_as_multiturn=lm.chat, verbosity="ERROR",
    )  # fmt: skip
    figures = results["results"][name]
    metrics = {}
    for key, value in figures.items():
        metric, _, kind = key.partition(",")
        if kind and not metric.endswith("_stderr") and isinstance(value, int | float):
            stderr = figures.get(f"{metric}_stderr,{kind}")
            metrics[metric] = {"value": float(value), "stderr": _finite(stderr)}
    samples = [item_view(task.OUTPUT_TYPE, s) for s in results["samples"][name]]
    return {"task": name, "output_type": task.OUTPUT_TYPE, "n": len(samples),
            "metrics": metrics, "samples": samples}  # fmt: skip


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def item_view(output_type: str, sample: dict[str, Any]) -> dict[str, Any]:
    """One item as the drill-down shows it: context, choices with their log-likelihoods, the
    model's pick and the gold; for generation the output and the reference."""
    args, resps = sample["arguments"], sample["filtered_resps"]
    view: dict[str, Any] = {"doc_id": sample["doc_id"], "context": args[0][0]}
    if output_type == "multiple_choice":
        lls = [float(r[0]) for r in resps]
        view |= {"choices": [a[1] for a in args], "loglikelihoods": lls,
                 "pick": max(range(len(lls)), key=lls.__getitem__), "gold": sample["target"]}  # fmt: skip
    elif output_type == "generate_until":
        view |= {"output": resps[0] if resps else "", "reference": sample["target"]}
    elif output_type == "loglikelihood":
        view |= {"continuation": args[0][1], "loglikelihood": float(resps[0][0]),
                 "greedy": bool(resps[0][1])}  # fmt: skip
    else:
        view |= {"loglikelihood": float(resps[0])}
    view["metrics"] = {m: sample[m] for m in sample.get("metrics", []) if m in sample}
    return view
