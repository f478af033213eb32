"""`make run` splits the cores between the inference worker and training (webapp/devstack/launcher.py),
unless the operator set either count."""

import pytest

from lmcore.threads import usable_cores
from webapp.devstack.launcher import INFER, TRAIN, _environment, _parse_args, split_cores


@pytest.mark.parametrize(
    ("cores", "infer", "train", "split"),
    [(1, None, None, (1, 1)), (2, None, None, (1, 1)), (3, None, None, (1, 2)),
     (16, None, None, (8, 8)), (16, "12", None, (12, 4)), (16, None, "2", (8, 2)),
     (16, "0", "", (8, 8)), (2, "4", "4", (4, 4)), (16, "-1", "-3", (8, 8))],
)  # fmt: skip
def test_the_cores_are_split_between_inference_and_training(cores, infer, train, split):
    assert split_cores(cores, infer, train) == split


def test_the_stack_gets_both_counts_and_the_operators_win(tmp_path, monkeypatch):
    monkeypatch.delenv(INFER, raising=False)
    monkeypatch.delenv(TRAIN, raising=False)
    env = _environment(_parse_args([]), "redis://x", tmp_path)
    assert (int(env[INFER]), int(env[TRAIN])) == split_cores(usable_cores())

    monkeypatch.setenv(INFER, "3")
    monkeypatch.setenv(TRAIN, "5")
    env = _environment(_parse_args([]), "redis://x", tmp_path)
    assert (env[INFER], env[TRAIN]) == ("3", "5")
