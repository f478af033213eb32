"""Data-parallel training under torchrun, CPU processes with gloo: is it really one model?

2 processes x batch b must train exactly as 1 process x batch 2b on the same data order
(losses within 1e-5 in fp32, the same final weights), unlike 2 processes that each train on
their own (rank 0 alone = 1 process x batch b); every rank must end with the same weights;
and 2 "machines" x 2 processes on loopback must equal 1 machine x 4.
"""

import json
import os
import socket
import subprocess
import sys

import pytest
from safetensors.torch import load_file

pytestmark = pytest.mark.slow
SIZE = {"n_layer": 2, "n_head": 2, "d_model": 32, "context": 32, "dropout": 0.0}
STEPS = 6
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _run_file(tmp_path, name, tokenizer, corpus, batch_size, data=None, **train):
    spec = {
        "out": str(tmp_path / name), "tokenizer": str(tokenizer),
        "data": {"inputs": [str(corpus)], "dir": str(data or tmp_path / "data")}, "model": SIZE,
        "train": {"batch_size": batch_size, "max_steps": STEPS, "eval_every": 3, "log_every": 1,
                  "eval_tokens": 1024, "device": "cpu", "lr": 1e-2, "warmup_steps": 2, **train},
    }  # fmt: skip
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path


def _train(command, *, timeout=300, **env):
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env={**ENV, **env})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _cli(run_file, *extra):
    return [sys.executable, "-m", "lmcore", "train", "--config", str(run_file), *extra]


def _losses(events):
    return [e["loss"] for e in events if e["event"] == "step"]


def _evals(events):
    return [e["val_loss"] for e in events if e["event"] == "eval"]


def _weights(tmp_path, name):
    return load_file(tmp_path / name / "checkpoint" / "model.safetensors")


def _max_diff(a, b):
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, small_tokenizer, verse_file):
    """The tokenizer saved and the corpus encoded once for the module, before any launch
    (ranks never encode); each test's runs read them."""
    root = tmp_path_factory.mktemp("ddp-encoded")
    small_tokenizer.save(root / "tok")
    single = _run_file(root, "single", root / "tok", verse_file, 8)
    (prepared,) = [e for e in _train(_cli(single, "--prepare-only")) if e["event"] == "prepared"]
    assert prepared["train_tokens"] > 0
    return root


@pytest.fixture()
def prepared(tmp_path, encoded, verse_file):
    """run_file(name, batch, **train): a run of this test's on the encoded corpus."""
    return lambda name, batch, **train: _run_file(
        tmp_path, name, encoded / "tok", verse_file, batch, data=encoded / "data", **train
    )


def test_two_processes_train_as_one_with_twice_the_batch(tmp_path, prepared):
    ddp = _train([*TORCHRUN, "--standalone", "--nproc-per-node=2", "-m", "lmcore", "train",
                  "--config", str(prepared("ddp", 4))])  # fmt: skip
    one = _train(_cli(prepared("one", 8)))
    alone = _train(_cli(prepared("alone", 4)))  # what rank 0 does if gradients are not shared

    kinds = [e["event"] for e in ddp]
    assert kinds.count("start") == 1 and kinds.count("done") == 1  # rank 0 alone prints
    start, done = ddp[0], ddp[-1]
    assert start["world_size"] == 2 and start["tokens_per_step"] == 2 * 4 * 32
    assert done["step"] == STEPS and done["reason"] == "max_steps"
    assert len(done["replicas"]) == 2 and len(set(done["replicas"])) == 1  # ranks identical

    assert len(_losses(ddp)) == STEPS
    assert _losses(ddp) == pytest.approx(_losses(one), abs=1e-5)
    assert _evals(ddp) == pytest.approx(_evals(one), abs=1e-5)  # sharded eval, summed
    assert _max_diff(_weights(tmp_path, "ddp"), _weights(tmp_path, "one")) < 1e-5
    assert _max_diff(_weights(tmp_path, "ddp"), _weights(tmp_path, "alone")) > 1e-3
    assert _losses(alone)[1:] != pytest.approx(_losses(ddp)[1:], abs=1e-5)


def test_muon_under_two_processes_trains_as_one_and_resumes(tmp_path, prepared):
    """Muon orthogonalises the all-reduced gradient on every rank: the ranks stay identical
    and match one process with twice the batch; a resume under torchrun restores the state.
    A constant rate after warmup (min_lr_ratio 1), so stopping at 3 steps changes no rate."""
    muon = dict(optimizer="muon", muon_lr=0.02, min_lr_ratio=1.0)
    ddp = _train([*TORCHRUN, "--standalone", "--nproc-per-node=2", "-m", "lmcore", "train",
                  "--config", str(prepared("ddp", 4, **muon))])  # fmt: skip
    one = _train(_cli(prepared("one", 8, **muon)))
    assert len(set(ddp[-1]["replicas"])) == 1 and ddp[-1]["step"] == STEPS
    assert _losses(ddp) == pytest.approx(_losses(one), abs=1e-5)
    assert _max_diff(_weights(tmp_path, "ddp"), _weights(tmp_path, "one")) < 1e-5

    split = prepared("split", 4, **muon)
    _train([*TORCHRUN, "--standalone", "--nproc-per-node=2", "-m", "lmcore", "train",
            "--config", str(split), "--max-steps", "3"])  # fmt: skip
    rest = _train([*TORCHRUN, "--standalone", "--nproc-per-node=2", "-m", "lmcore", "train",
                   "--out", str(tmp_path / "split"), "--resume", "--max-steps", str(STEPS)])  # fmt: skip
    assert rest[0]["resumed"] and rest[0]["step"] == 3
    assert _losses(rest)[-3:] == pytest.approx(_losses(ddp)[-3:], abs=1e-5)
    assert _max_diff(_weights(tmp_path, "split"), _weights(tmp_path, "ddp")) < 1e-5


def test_torchrun_refuses_a_corpus_not_encoded_before_launch(tmp_path, small_tokenizer, verse_file):
    small_tokenizer.save(tmp_path / "tok")
    run_file = _run_file(tmp_path, "ddp", tmp_path / "tok", verse_file, 4)
    command = [*TORCHRUN, "--standalone", "--nproc-per-node=2", "-m", "lmcore", "train",
               "--config", str(run_file)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=ENV)
    assert done.returncode != 0 and "--prepare-only" in done.stderr
    assert not (tmp_path / "data" / "meta.json").exists()


def test_two_machines_on_loopback_equal_one_machine(tmp_path, prepared):
    from datetime import timedelta

    from torch.distributed import TCPStore

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The rendezvous store lives here, not in either "machine": torchrun's agent that hosts it
    # may exit while the other agent still polls it (a teardown race seen on loopback).
    store = TCPStore("127.0.0.1", port, is_master=True, multi_tenant=True,
                     wait_for_workers=False, timeout=timedelta(seconds=120))  # fmt: skip
    node = [*TORCHRUN, "--nnodes=2", "--nproc-per-node=2", "--rdzv-backend=c10d",
            f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=loopback", "--local-addr=127.0.0.1",
            "--rdzv-conf=is_host=false", "-m", "lmcore", "train",
            "--config", str(prepared("nodes", 4))]  # fmt: skip
    nodes = [subprocess.Popen(node, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=ENV) for _ in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=300) for p in nodes]
    del store
    for p, (_, err) in zip(nodes, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    two_by_two = [json.loads(line) for out, _ in outputs for line in out.splitlines()
                  if line.startswith("{")]  # fmt: skip
    one_by_four = _train([*TORCHRUN, "--standalone", "--nproc-per-node=4", "-m", "lmcore",
                          "train", "--config", str(prepared("four", 4))])  # fmt: skip

    assert two_by_two[0]["world_size"] == 4 and len(set(two_by_two[-1]["replicas"])) == 1
    assert _losses(two_by_two) == pytest.approx(_losses(one_by_four), abs=1e-5)
    assert _max_diff(_weights(tmp_path, "nodes"), _weights(tmp_path, "four")) < 1e-5


# A joined thread can stay listed in /proc for a moment after pthread_join returns (the kernel
# wakes the joiner before it reaps the task): poll for a few seconds. gloo's threads, when left
# running, wait on a condition and an epoll loop forever, so they would still be listed.
PROBE = """
import json, os, sys, time
from lmcore.cli import main
code = main(sys.argv[1:])
deadline = time.monotonic() + 5
while True:
    names = []
    for task in sorted(os.listdir("/proc/self/task")):
        try:
            names.append(open(f"/proc/self/task/{task}/comm").read().strip())
        except OSError:  # gone meanwhile
            pass
    if len(names) == 1 or time.monotonic() > deadline:
        break
    time.sleep(0.05)
with open(os.path.join(os.environ["PROBE_OUT"], os.environ["RANK"] + ".json"), "w") as out:
    json.dump({"rank": os.environ["RANK"], "threads": names}, out)
raise SystemExit(code)
"""


def test_every_rank_has_stopped_its_threads_before_the_interpreter_exits(tmp_path, prepared):
    """gloo's threads must be joined when the process group is destroyed, not left running
    into the interpreter's teardown, where a rank sometimes died with SIGABRT ("terminate called
    without an active exception"): DDP's import of torch.distributed.nn.functional kept the
    group alive (its defaults are `group.WORLD`) until lmcore imports it before the group."""
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    out = tmp_path / "exits"
    out.mkdir()
    # each rank writes its own file: a line printed by both on their one stdout can interleave
    _train([*TORCHRUN, "--standalone", "--nproc-per-node=2", str(probe), "train",
            "--config", str(prepared("probe", 4))], PROBE_OUT=str(out))  # fmt: skip
    exits = sorted(
        (e["rank"], e["threads"]) for e in (json.loads(f.read_text()) for f in out.iterdir())
    )
    assert [rank for rank, _ in exits] == ["0", "1"]
    assert all(len(threads) == 1 for _, threads in exits), exits  # the main thread alone
