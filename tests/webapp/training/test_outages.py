"""Redis and PostgreSQL restarted under a real run: the run ends `succeeded`, every event stored.

Everything here is private to this module and real: a PostgreSQL cluster made with Debian's
`initdb`/`pg_ctl` on its own port and socket directory (the machine's shared cluster is never
touched), a `redis-server`, `manage.py migrate`, alice's corpus and tokenizer made through
Django in a subprocess, and a `celery worker` process on `gpu_train` whose supervised child
trains. Each outage lasts until the worker has felt it (polled, not slept): Redis stays down
until training has gone on for two more log intervals without it, PostgreSQL until the worker
has logged a failed store. Both outages happen in one run, one after the other, so that the
module trains once. The worker must neither lose, duplicate nor reorder an event, nor end the
run.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from tests.conftest import IN_CI
from tests.webapp.fixtures_ml import wait_for
from webapp.devstack.localredis import free_port, start_local_redis

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]
# The run is limited by time, not steps, so it outlasts the outages on a fast machine as on a
# loaded one: the outages start a few seconds into training and, being only as long as it
# takes the worker to feel them, end well before it does.
TRAIN_SECONDS, EVAL_EVERY, LOG_EVERY = 30, 500, 10
ENDED = {"succeeded", "failed", "cancelled"}


class PrivatePostgres:
    """A throw-away cluster: initdb, pg_ctl start/stop, as the `postgres` user when root."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            message = "PostgreSQL's initdb is not installed (apt-get install postgresql)"
            pytest.fail(message) if IN_CI else pytest.skip(message)
        self.bin = Path(found[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="bottega-pg-"))
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8")  # fmt: skip
        self.start()
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bottega")

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_user, str(self.bin / tool), *args], capture_output=True,
                              text=True, cwd=self.dir, timeout=120)  # fmt: skip
        assert done.returncode == 0, f"{tool}: {done.stderr or done.stdout}"

    def url(self, name: str = "bottega") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-o", options, "-l",
                  str(self.dir / "log"), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"),
                        "-m", "immediate", "stop"], capture_output=True)  # fmt: skip
        shutil.rmtree(self.dir, ignore_errors=True)


SETUP = """
import django, json
django.setup()
from django.contrib.auth import get_user_model
from tests.webapp.fixtures_ml import corpus_text
from webapp.corpora.actions import do_import_corpus
from webapp.tokenization.models import TokenizerRun
from workers.tokenization import train_tokenizer_run
alice = get_user_model().objects.create_user("alice", password="alice-password-1")
source = __import__("pathlib").Path("{media}") / "words.txt"
source.parent.mkdir(parents=True, exist_ok=True)
source.write_text(corpus_text(), encoding="utf-8")
corpus = do_import_corpus(alice, source, name="words")
tok = TokenizerRun.objects.create(owner=alice, name="tok", vocab_size=300,
                                  special_tokens=["<|endoftext|>"])
tok.corpora.set([corpus])
train_tokenizer_run(tok.pk)
print(json.dumps({{"alice": alice.pk, "corpus": corpus.pk, "tokenizer": tok.pk}}))
"""

START = """
import django
django.setup()
from django.contrib.auth import get_user_model
from tests.webapp.training.helpers import make_run
from webapp.corpora.models import Corpus
from webapp.tokenization.models import TokenizerRun
alice = get_user_model().objects.get(pk={alice})
run = make_run(alice, Corpus.objects.get(pk={corpus}), TokenizerRun.objects.get(pk={tokenizer}),
               enqueue=True, max_steps="", max_minutes={minutes}, eval_every={eval_every})
print(run.pk)
"""


class Stack:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.postgres = PrivatePostgres()
        self.redis_port = free_port()
        self.redis = start_local_redis(workdir / "redis", self.redis_port)
        self.env = {**os.environ, "DATABASE_URL": self.postgres.url(),
                    "REDIS_URL": self.redis.url, "MEDIA_ROOT": str(workdir / "media"),
                    "BOTTEGA_VAR_DIR": str(workdir / "var"), "OMP_NUM_THREADS": "1",
                    "DJANGO_SETTINGS_MODULE": "webapp.settings"}  # fmt: skip
        self.env.pop("BOTTEGA_TRAIN_DEVICES", None)
        self.python("manage.py", "migrate", "--no-input")
        self.ids = json.loads(self.django(SETUP.format(media=workdir / "media")).splitlines()[-1])
        self.worker_log = (workdir / "worker.log").open("wb")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "gpu_train",
             "-n", "train@%h", "--pool", "solo", "-l", "INFO"],
            cwd=ROOT, env=self.env, stdout=self.worker_log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def python(self, *args: str) -> str:
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env, text=True,
                              capture_output=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def django(self, code: str) -> str:
        return self.python("-c", code)

    def start_run(self) -> int:
        code = START.format(**self.ids, minutes=TRAIN_SECONDS / 60, eval_every=EVAL_EVERY)
        return int(self.django(code).splitlines()[-1])

    def query(self, sql: str, *params):
        with psycopg.connect(self.postgres.url(), connect_timeout=3) as conn:
            return conn.execute(sql, params).fetchall()

    def status(self, run_id: int) -> tuple[str, str]:
        return self.query("SELECT status, error FROM training_trainingrun WHERE id = %s", run_id)[0]

    def events(self, run_id: int) -> list[tuple[str, int, dict]]:
        return self.query("SELECT type, step, data FROM training_runevent WHERE run_id = %s "
                          "ORDER BY id", run_id)  # fmt: skip

    def log_text(self) -> str:
        return (self.workdir / "worker.log").read_text(errors="replace")

    def log(self) -> str:
        return self.log_text()[-4000:]

    def close(self) -> None:
        worker, redis, postgres = (getattr(self, name, None) for name in
                                   ("worker", "redis", "postgres"))  # fmt: skip
        try:
            if worker is not None:
                worker.terminate()
                try:
                    worker.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, 9)
                    worker.wait(10)
        finally:
            if redis is not None:
                redis.stop()
            if postgres is not None:
                postgres.remove()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack.__new__(Stack)
    try:
        stack.__init__(tmp_path_factory.mktemp("outages"))
        yield stack
    finally:
        stack.close()  # also after a start that failed halfway: no server outlives the tests


def _steps(events, kind="loss"):
    return [step for type_, step, data in events if type_ == "run.metrics" and kind in data]


def _assert_complete(stack: Stack, run_id: int) -> None:
    """succeeded, and every event once, in order: steps 10, 20, ..., evals every 500 and at
    the last step (the version's)."""
    wait_for(lambda: stack.status(run_id)[0] in ENDED,
             timeout=600, every=0.5)  # fmt: skip
    status, error = stack.status(run_id)
    assert status == "succeeded", f"{error}\n{stack.log()}"
    (last,) = stack.query("SELECT step FROM registry_modelversion WHERE run_id = %s", run_id)[0]
    events = stack.events(run_id)
    assert _steps(events) == list(range(LOG_EVERY, last + 1, LOG_EVERY))
    evals = sorted({*range(EVAL_EVERY, last + 1, EVAL_EVERY), last})
    # (a periodic evaluation at the last step is followed by the final one on all the
    # held-out text when that is more than a periodic one scores)
    assert sorted(set(_steps(events, "val_bpb"))) == evals
    samples = [step for type_, step, _ in events if type_ == "run.sample"]
    assert sorted(set(samples)) == evals and len(samples) == 2 * len(set(samples))


def _wait_for_steps(stack: Stack, run_id: int, at_least: int) -> int:
    def reached():
        assert stack.status(run_id)[0] not in ENDED, (
            f"the run ended before its outages (TRAIN_SECONDS)\n{stack.log()}"
        )
        steps = _steps(stack.events(run_id))
        return steps and steps[-1] >= at_least and steps[-1]

    return wait_for(reached, timeout=300, every=0.2)


def test_redis_and_postgres_restarts_mid_run_lose_nothing(stack):
    run_id = stack.start_run()

    # Redis away: training and storing go on (two more log intervals stored without it).
    down_at = _wait_for_steps(stack, run_id, 50)
    stack.redis.stop()
    _wait_for_steps(stack, run_id, down_at + 2 * LOG_EVERY)
    assert stack.status(run_id)[0] == "running", stack.log()
    stack.redis = start_local_redis(stack.workdir / "redis", stack.redis_port)

    # PostgreSQL away: stores fail and are retried until it is back.
    _wait_for_steps(stack, run_id, _steps(stack.events(run_id))[-1] + 5 * LOG_EVERY)
    logged = len(stack.log_text())
    stack.postgres.stop()
    wait_for(lambda: "storing an event failed" in stack.log_text()[logged:], timeout=120)
    stack.postgres.start()

    _assert_complete(stack, run_id)
