"""Bradley–Terry from simulated votes with known preferences: the order comes back and the
bootstrap intervals cover the true ratings about as often as they claim."""

import random

import pytest

from webapp.arena.ratings import BASE, SCALE, Vote, fit, pair_counts, win_probability

TIES = 0.2  # share of votes that are a tie or "both bad"


def simulate(true: dict[str, float], votes: int, rng: random.Random) -> list[Vote]:
    """Votes between random pairs shown in random order. A tie (or both bad) comes with
    probability TIES whatever the pair; the rest are decided so that the left side's expected
    score (a win 1, a tie ½) is exactly the Bradley–Terry probability of the true ratings:
    the model the fit assumes, ties counted as half wins."""
    names, result = list(true), []
    for _ in range(votes):
        left, right = rng.sample(names, 2)
        p = win_probability(true[left], true[right])
        if rng.random() < TIES:
            result.append(Vote(left, right, rng.choice(["tie", "both_bad"])))
        else:
            wins = rng.random() < (p - TIES / 2) / (1 - TIES)
            result.append(Vote(left, right, "left" if wins else "right"))
    return result


def centred(true: dict[str, float]) -> dict[str, float]:
    mean = sum(true.values()) / len(true)
    return {k: BASE + v - mean for k, v in true.items()}


@pytest.mark.parametrize("seed", range(4))
def test_it_recovers_the_order_of_known_preferences(seed):
    true = {f"v{i}": 1000 + 80 * i for i in range(6)}  # 80 points apart: 61 % to win a pair
    ratings = fit(simulate(true, 3000, random.Random(seed)), rounds=100, seed=seed)
    assert [r.item for r in ratings] == sorted(true, key=true.get, reverse=True)
    truth = centred(true)
    for r in ratings:
        assert abs(r.rating - truth[r.item]) < 40, (r, truth[r.item])
        assert r.low <= r.rating <= r.high
        assert r.votes == r.wins + r.ties + r.losses


def test_its_intervals_cover_the_true_ratings_as_often_as_they_claim():
    true = {"a": 1150, "b": 1050, "c": 950, "d": 850}
    rng = random.Random(2024)
    covered = wrong_covered = intervals = 0
    widths = []
    doubled = {k: 2 * (v - 1000) + 1000 for k, v in true.items()}  # a wrong truth, for power
    for board in range(40):
        ratings = fit(simulate(true, 300, rng), rounds=100, seed=board)
        for r in ratings:
            intervals += 1
            covered += r.low <= centred(true)[r.item] <= r.high
            wrong_covered += r.low <= centred(doubled)[r.item] <= r.high
            widths.append(r.high - r.low)
    assert covered / intervals >= 0.85, covered / intervals  # nominal 95 %
    assert wrong_covered / intervals < 0.5  # the intervals are narrow enough to mean something
    assert sum(widths) / len(widths) < 150


def test_a_version_that_never_lost_gets_a_finite_rating():
    votes = [Vote("champion", "other", "left")] * 20 + [Vote("other", "champion", "right")] * 5
    best, worst = fit(votes, rounds=50)
    assert best.item == "champion" and best.losses == 0 and best.wins == 25
    assert best.rating - worst.rating < 4 * SCALE  # finite: the prior's one virtual tie
    assert best.high < float("inf") and worst.low > 0


def test_ties_pull_ratings_together_and_both_bad_counts_as_a_tie():
    wins = [Vote("x", "y", "left")] * 6 + [Vote("x", "y", "right")] * 2
    tied = wins + [Vote("x", "y", "tie")] * 4
    both_bad = wins + [Vote("y", "x", "both_bad")] * 4
    gap = lambda rs: rs[0].rating - rs[1].rating  # noqa: E731
    assert gap(fit(tied, rounds=0)) < gap(fit(wins, rounds=0))
    assert gap(fit(tied, rounds=0)) == pytest.approx(gap(fit(both_bad, rounds=0)))
    assert fit(tied, rounds=0)[0].ties == 4


def test_it_counts_votes_per_pair_whichever_side_each_was_shown_on():
    votes = [Vote(1, 2, "left"), Vote(2, 1, "left"), Vote(2, 1, "right"), Vote(1, 2, "tie"),
             Vote(3, 1, "both_bad")]  # fmt: skip
    one_two, one_three = pair_counts(votes)
    assert (one_two.a, one_two.b, one_two.a_wins, one_two.b_wins, one_two.ties) == (1, 2, 2, 1, 1)
    assert one_two.votes == 4
    assert (one_three.a, one_three.both_bad, one_three.votes) == (3, 1, 1)


def test_no_votes_no_ratings():
    assert fit([]) == [] and pair_counts([]) == []
