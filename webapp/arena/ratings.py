"""Bradley–Terry ratings from pairwise votes, with bootstrap confidence intervals.

Model: version i has a strength θᵢ and P(i beats j) = σ(θᵢ − θⱼ), σ the logistic function:
Bradley–Terry is a logistic regression on rating differences. `strengths` finds the θs of
highest posterior by Newton's method (iteratively reweighted least squares) with a
backtracking line search: the log-posterior is concave, so it converges in a handful of
steps, where Zermelo's fixed-point iteration (the MM algorithm) needed thousands on close
ratings. numpy only (already a runtime dependency); no torch in the web process.

Trade-offs, each said on the leaderboard page too (docs/architecture.md, "Arena"):
- **Ties as half wins** (a tie and "both bad" each give ½ to both sides), as Chatbot Arena's
  Bradley–Terry does, rather than Davidson's tie parameter: one model, and a tie pulls two
  ratings together, which is what it says. The price: when ties are frequent between
  unequal versions the ratings read a little closer together than a model of ties would.
- **A prior of one virtual tie** of every version against an average model (θ = 0): without
  it a version that never lost has an infinite MLE (bootstrap resamples make such versions
  often), and versions never compared have no common scale. It weighs one vote, so it
  fades as votes come in.
- **Elo-like scale**: rating = 1000 + 400·log10(e)·(θᵢ − mean θ), so 1000 is the board's
  average and a 400-point gap means 10:1 odds of winning.
- **Percentile bootstrap**: the votes resampled with replacement `rounds` times (a
  multinomial draw over the distinct (pair, outcome) cells, so the cost does not grow with
  the number of votes), each refitted; the 2.5th and 97.5th percentiles of a version's
  rating are its 95 % interval. Seeded: the same votes give the same page.

Example: `fit([Vote(1, 2, "left")] * 3 + [Vote(2, 1, "tie")])[0].item == 1`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

BASE, SCALE = 1000.0, 400.0  # the average version reads 1000; 400 points = 10:1 odds
PRIOR_TIES = 1.0  # virtual ties of every version against an average model (θ = 0)
SCORE = {"left": (1.0, 0.0), "right": (0.0, 1.0), "tie": (0.5, 0.5), "both_bad": (0.5, 0.5)}
TOLERANCE = 1e-10  # largest Newton step in θ when converged
MAX_STEPS = 100


@dataclass(frozen=True)
class Vote:
    """One vote: the two versions as they were shown (left, right) and the outcome."""

    left: Hashable
    right: Hashable
    outcome: str  # a key of SCORE


@dataclass(frozen=True)
class Rating:
    item: Hashable
    rating: float  # Elo-like scale, see the module docstring
    low: float  # 95 % bootstrap interval
    high: float
    votes: int
    wins: int
    ties: int  # ties and "both bad"
    losses: int


@dataclass(frozen=True)
class PairCount:
    """The votes between two versions, `a` and `b` in the order of their first vote."""

    a: Hashable
    b: Hashable
    a_wins: int
    ties: int
    both_bad: int
    b_wins: int

    @property
    def votes(self) -> int:
        return self.a_wins + self.ties + self.both_bad + self.b_wins


class Cells:
    """The votes as distinct (left, right, outcome) cells with counts, over indexed items."""

    def __init__(self, votes: Sequence[Vote]) -> None:
        self.items = sorted({v.left for v in votes} | {v.right for v in votes}, key=repr)
        index = {item: i for i, item in enumerate(self.items)}
        tally = Counter((index[v.left], index[v.right], v.outcome) for v in votes)
        keys = list(tally)
        self.left = np.array([k[0] for k in keys], dtype=np.int64)
        self.right = np.array([k[1] for k in keys], dtype=np.int64)
        self.score = np.array([SCORE[k[2]][0] for k in keys])  # the left side's score
        self.counts = np.array([tally[k] for k in keys], dtype=np.int64)

    def tables(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(games, scores): games[i, j] = votes between i and j (symmetric), scores[i] = i's
        wins plus half its ties, for the given count of each cell."""
        size = len(self.items)
        games = np.zeros((size, size))
        np.add.at(games, (self.left, self.right), counts)
        scores = np.zeros(size)
        np.add.at(scores, self.left, counts * self.score)
        np.add.at(scores, self.right, counts * (1.0 - self.score))
        return games + games.T, scores


def strengths(games: np.ndarray, scores: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """θ of highest posterior (the prior above), centred on mean 0."""
    theta = np.zeros(len(scores)) if start is None else start.copy()
    total = scores + PRIOR_TIES / 2  # the virtual ties' half wins
    for _ in range(MAX_STEPS):
        p = _sigmoid(theta[:, None] - theta[None, :])  # (V, V): P(i beats j)
        prior_p = _sigmoid(theta)  # P(i beats the virtual average model)
        gradient = total - (games * p).sum(axis=1) - PRIOR_TIES * prior_p
        weights = games * p * (1.0 - p)
        hessian = np.diag(weights.sum(axis=1) + PRIOR_TIES * prior_p * (1.0 - prior_p)) - weights
        step = np.linalg.solve(hessian, gradient)  # positive definite: the prior sees to it
        now = _log_posterior(theta, games, total)
        rate = 1.0
        while _log_posterior(theta + rate * step, games, total) < now - 1e-12 and rate > 1e-6:
            rate /= 2  # backtracking: a full Newton step can overshoot far from the optimum
        theta = theta + rate * step
        if np.abs(rate * step).max(initial=0.0) < TOLERANCE:
            break
    return theta - theta.mean() if len(theta) else theta


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + e^-x), without overflow


def _log_posterior(theta: np.ndarray, games: np.ndarray, total: np.ndarray) -> float:
    # Σᵢ totalᵢ θᵢ − ½ Σᵢⱼ nᵢⱼ ln(e^θᵢ + e^θⱼ) − PRIOR Σᵢ ln(e^θᵢ + 1)
    pair = np.logaddexp(theta[:, None], theta[None, :])
    prior = np.logaddexp(theta, 0.0)
    return float(total @ theta - 0.5 * (games * pair).sum() - PRIOR_TIES * prior.sum())


def to_scale(theta: float) -> float:
    """θ (centred) on the Elo-like scale."""
    return BASE + SCALE * float(theta) / math.log(10)


def win_probability(rating_a: float, rating_b: float) -> float:
    """P(a beats b) under the fit, from two ratings on the scale above."""
    return 1.0 / (1.0 + 10 ** ((rating_b - rating_a) / SCALE))


def fit(votes: Sequence[Vote], rounds: int = 200, seed: int = 0) -> list[Rating]:
    """Each version's rating with its 95 % bootstrap interval and its record, best first."""
    if not votes:
        return []
    cells = Cells(votes)
    best = strengths(*cells.tables(cells.counts))
    rng = np.random.default_rng(seed)
    total = int(cells.counts.sum())
    samples = np.empty((rounds, len(cells.items)))
    for r in range(rounds):
        counts = rng.multinomial(total, cells.counts / total)
        samples[r] = strengths(*cells.tables(counts), start=best)
    low, high = (np.quantile(samples, (0.025, 0.975), axis=0, method="inverted_cdf")
                 if rounds else (best, best))  # fmt: skip
    record = _records(votes)
    ratings = [
        Rating(item, to_scale(best[i]), to_scale(low[i]), to_scale(high[i]),
               sum(record[item]), *record[item])
        for i, item in enumerate(cells.items)
    ]  # fmt: skip
    return sorted(ratings, key=lambda r: -r.rating)


def _records(votes: Iterable[Vote]) -> dict[Hashable, tuple[int, int, int]]:
    """(wins, ties, losses) of each version; "both bad" counts as a tie."""
    wins: Counter[Hashable] = Counter()
    ties: Counter[Hashable] = Counter()
    losses: Counter[Hashable] = Counter()
    for vote in votes:
        if vote.outcome in ("tie", "both_bad"):
            ties[vote.left] += 1
            ties[vote.right] += 1
        elif vote.outcome == "left":
            wins[vote.left] += 1
            losses[vote.right] += 1
        else:
            wins[vote.right] += 1
            losses[vote.left] += 1
    items = set(wins) | set(ties) | set(losses)
    return {item: (wins[item], ties[item], losses[item]) for item in items}


def pair_counts(votes: Iterable[Vote]) -> list[PairCount]:
    """Votes per pair of versions, whichever side each was shown on; most voted first."""
    counts: dict[frozenset, Counter[str]] = {}
    order: dict[frozenset, tuple[Hashable, Hashable]] = {}
    for vote in votes:
        key = frozenset((vote.left, vote.right))
        a = order.setdefault(key, (vote.left, vote.right))[0]
        tally = counts.setdefault(key, Counter())
        if vote.outcome in ("tie", "both_bad"):
            tally[vote.outcome] += 1
        else:
            winner = vote.left if vote.outcome == "left" else vote.right
            tally["a" if winner == a else "b"] += 1
    result = [
        PairCount(order[k][0], order[k][1], c["a"], c["tie"], c["both_bad"], c["b"])
        for k, c in counts.items()
    ]
    return sorted(result, key=lambda p: -p.votes)
