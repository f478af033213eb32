"""Optimizers and the learning-rate schedule of a training run.

Two recipes, chosen by `TrainConfig.optimizer`:

- "adamw": AdamW on every weight (lmcore's first recipe; runs saved before "muon" existed
  resume with it).
- "muon": Muon on the hidden weight matrices (attention and MLP), AdamW on the rest (the
  embedding, an untied output layer, norm gains): the split of modded-nanogpt and nanochat.

Muon (Keller Jordan, 2024, "Muon: an optimizer for hidden layers") keeps SGD momentum per
matrix and, instead of stepping along the momentum M, steps along the orthogonal matrix
nearest to it: with M = U S V^T (its SVD), the update is U V^T, every singular value set to 1.
So every direction the gradient points in moves by the same amount, rare directions as much
as the dominant one. U V^T is approximated by a few Newton-Schulz iterations, matrix
products only (no SVD), cheap next to a forward and backward pass.

One optimizer class holds both rules (`MuonAdamW`, each parameter group says which), so a
checkpoint saves and restores all of its state with one `state_dict()`, as with AdamW.

Schedule (`lr_factor`): the peak learning rate of each group times a factor in [0, 1]:
a linear warmup over `warmup_steps`, then a decay driven by progress (the fraction of the
run done, by steps or by the clock: lmcore/train.py). `warmdown=None` decays along a cosine
over the whole run; `warmdown=f` holds the peak, then decays linearly over the last f of
the run ("trapezoidal", or warmup-stable-decay). Both end at `min_lr_ratio`.
"""

from __future__ import annotations

import math

import torch

from lmcore.config import TrainConfig

# The quintic iteration's coefficients (Keller Jordan's): chosen to push every singular
# value in (0, 1] towards 1 as fast as possible in 5 steps; they land in about [0.7, 1.2],
# which trains as well as exact orthogonalisation.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def orthogonalize(G: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Approximately U V^T for G = U S V^T (G: a 2-D matrix), by Newton-Schulz iteration.

    Scaling G by its Frobenius norm puts every singular value in [0, 1]; each step maps
    X -> a X + b (X X^T) X + c (X X^T)^2 X, which acts on each singular value s as the
    polynomial a s + b s^3 + c s^5 and leaves U and V alone. In bf16 on CUDA, fp32 elsewhere.
    """
    a, b, c = NS_COEFFICIENTS
    X = G.to(torch.bfloat16 if G.is_cuda else torch.float32)
    tall = X.size(0) > X.size(1)
    if tall:  # iterate on the wide side: X X^T is then the smaller square
        X = X.T
    X = X / (X.norm() + 1e-7)
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return (X.T if tall else X).to(G.dtype)


class MuonAdamW(torch.optim.Optimizer):
    """Muon for the groups with kind "muon", AdamW for those with kind "adamw".

    A Muon group: lr, momentum, nesterov, ns_steps, weight_decay. An AdamW group: lr, betas,
    eps, weight_decay. Weight decay is decoupled (weights shrink by lr x weight_decay per step).
    Example: MuonAdamW([{"params": hidden, "kind": "muon", "lr": 0.02},
                        {"params": rest, "kind": "adamw", "lr": 3e-3}])
    """

    def __init__(self, groups: list[dict]) -> None:
        defaults = dict(lr=0.02, momentum=0.95, nesterov=True, ns_steps=5, betas=(0.9, 0.99),
                        eps=1e-8, weight_decay=0.0)  # fmt: skip
        for group in groups:
            if group.get("kind") not in ("muon", "adamw"):
                raise ValueError(
                    f"each group needs kind 'muon' or 'adamw', not {group.get('kind')!r}"
                )
            if group["kind"] == "muon" and any(p.dim() != 2 for p in group["params"]):
                raise ValueError("Muon updates 2-D matrices only")
        super().__init__(groups, defaults)

    @torch.no_grad()
    def step(self, closure=None) -> None:
        for group in self.param_groups:
            update = self._muon if group["kind"] == "muon" else self._adamw
            for p in group["params"]:
                if p.grad is not None:
                    update(p, group, self.state[p])

    @staticmethod
    def _muon(p: torch.Tensor, group: dict, state: dict) -> None:
        if not state:
            state["momentum_buffer"] = torch.zeros_like(p)
        momentum, buf = group["momentum"], state["momentum_buffer"]
        buf.lerp_(p.grad, 1 - momentum)  # buf = momentum x buf + (1 - momentum) x grad
        direction = p.grad.lerp(buf, momentum) if group["nesterov"] else buf
        direction = orthogonalize(direction, group["ns_steps"])
        # U V^T has entries of size ~1/sqrt(cols) whatever the shape; a tall matrix (more
        # outputs than inputs) gets sqrt(rows / cols) more, so its outputs move as much.
        scale = max(1.0, p.size(0) / p.size(1)) ** 0.5
        p.mul_(1 - group["lr"] * group["weight_decay"])
        p.add_(direction, alpha=-group["lr"] * scale)

    @staticmethod
    def _adamw(p: torch.Tensor, group: dict, state: dict) -> None:
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p)  # first moment: momentum of the gradient
            state["exp_avg_sq"] = torch.zeros_like(p)  # second moment: its running square
        beta1, beta2 = group["betas"]
        state["step"] += 1
        state["exp_avg"].lerp_(p.grad, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
        # Bias correction: both moments start at zero and would be too small early on.
        bias1, bias2 = 1 - beta1 ** state["step"], 1 - beta2 ** state["step"]
        denom = (state["exp_avg_sq"] / bias2).sqrt_().add_(group["eps"])
        p.mul_(1 - group["lr"] * group["weight_decay"])
        p.addcdiv_(state["exp_avg"], denom, value=-group["lr"] / bias1)


def make_optimizer(
    model: torch.nn.Module, cfg: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """The run's optimizer (`cfg.optimizer`); weight decay on matrices only, not on norm gains.

    "muon": Muon (lr `cfg.muon_lr`) on the 2-D weights inside the blocks; AdamW (lr `cfg.lr`)
    on the embedding and output layer (tied or not) and on any 1-D parameter.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]  # tied: once
    matrices = [p for _, p in named if p.dim() >= 2]
    vectors = [p for _, p in named if p.dim() < 2]
    if cfg.optimizer == "adamw":
        groups = [{"params": matrices, "weight_decay": cfg.weight_decay},
                  {"params": vectors, "weight_decay": 0.0}]  # fmt: skip
        return torch.optim.AdamW(
            groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=device.type == "cuda"
        )
    hidden = [p for n, p in named if p.dim() == 2 and n.startswith("blocks.")]
    others = [p for p in matrices if all(p is not h for h in hidden)]
    adamw = dict(kind="adamw", lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    groups = [
        dict(params=hidden, kind="muon", lr=cfg.muon_lr, weight_decay=cfg.weight_decay),
        dict(params=others, weight_decay=cfg.weight_decay, **adamw),
        dict(params=vectors, weight_decay=0.0, **adamw),
    ]
    return MuonAdamW([g for g in groups if g["params"]])


def lr_factor(cfg: TrainConfig, step: int, progress: float) -> float:
    """The schedule's multiplier of every group's peak learning rate (see the module
    docstring). Example: with warmup_steps 10, lr_factor(cfg, 0, 0.0) == 0.1."""
    warmup = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    progress = min(progress, 1.0)
    if cfg.warmdown is None:
        decay = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        decay = min(1.0, (1.0 - progress) / cfg.warmdown)
    return warmup * (cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * decay)
