"""PostgreSQL restarted while pages are served: a real daphne serving Bottega as production
runs it (DEBUG off, static files collected; plain http) on a private PostgreSQL cluster
(tests/webapp/training/test_outages.py's `PrivatePostgres`) and Redis.
Requests during the outage get the 503 page (no traceback); once it is back every page works
again, the same session still signed in, and nothing written before is lost."""

from __future__ import annotations

import http.cookiejar
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.webapp.fixtures_ml import wait_for
from tests.webapp.training.test_outages import ROOT, PrivatePostgres
from webapp.devstack.localredis import free_port, start_local_redis

pytestmark = pytest.mark.slow
PAGES = ["/", "/corpora/", "/tokenizers/", "/training/", "/models/", "/playground/", "/status/"]
SETUP = """
import django; django.setup()
from django.contrib.auth import get_user_model
from webapp.corpora.models import Corpus
alice = get_user_model().objects.create_user("alice", password="alice-password-1")
Corpus.objects.create(owner=alice, name="kept-through-the-outage", size_bytes=1, status="ready")
"""


class Web:
    def __init__(self, workdir) -> None:
        self.postgres = PrivatePostgres()
        self.redis = start_local_redis(workdir / "redis")
        self.port = free_port()
        self.env = {**os.environ, "DATABASE_URL": self.postgres.url(), "REDIS_URL": self.redis.url,
                    "MEDIA_ROOT": str(workdir / "media"), "BOTTEGA_VAR_DIR": str(workdir / "var"),
                    "DJANGO_SETTINGS_MODULE": "webapp.settings", "DEBUG": "false",
                    "HTTPS": "false", "STATIC_ROOT": str(workdir / "static")}  # fmt: skip
        for args in (
            ["manage.py", "migrate", "--no-input"],
            ["-c", SETUP],
            ["manage.py", "collectstatic", "--no-input", "-v0"],
        ):
            done = subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env, text=True,
                                  capture_output=True, timeout=300)  # fmt: skip
            assert done.returncode == 0, done.stderr[-3000:]
        self.log = (workdir / "daphne.log").open("wb")
        self.daphne = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
             "webapp.asgi:application"], cwd=ROOT, env=self.env, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        wait_for(lambda: self.get("/healthz")[0] in (200, 503), timeout=60, every=0.2)

    def get(self, path: str, data: bytes | None = None) -> tuple[int, str]:
        try:
            with self.opener.open(f"http://127.0.0.1:{self.port}{path}", data, timeout=15) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except OSError:
            return 0, ""

    def sign_in(self) -> None:
        self.get("/accounts/login/")
        token = next(c.value for c in self.jar if c.name == "csrftoken")
        form = {"username": "alice", "password": "alice-password-1", "csrfmiddlewaretoken": token}
        status, body = self.get("/accounts/login/", urllib.parse.urlencode(form).encode())
        assert status == 200 and "Sign out" in body or "logout" in body, body[:500]

    def close(self) -> None:
        if getattr(self, "daphne", None) is not None:
            self.daphne.terminate()
            try:
                self.daphne.wait(20)
            except subprocess.TimeoutExpired:
                self.daphne.kill()
        self.redis.stop()
        self.postgres.remove()


@pytest.fixture
def web(tmp_path):
    web = Web.__new__(Web)
    try:
        web.__init__(tmp_path)
        yield web
    finally:
        web.close()


def test_pages_answer_503_while_postgres_restarts_then_work(web):
    web.sign_in()
    for page in PAGES:
        assert web.get(page)[0] == 200, page
    web.postgres.stop()
    down = {page: web.get(page) for page in PAGES}
    for page, (status, body) in down.items():
        assert status == 503, (page, status, body[:300])
        assert "The database is not answering" in body and "Traceback" not in body, page
    web.postgres.start()
    started = time.monotonic()
    wait_for(lambda: web.get("/corpora/")[0] == 200, timeout=30, every=0.2)
    back_after = time.monotonic() - started
    for page in PAGES:
        assert web.get(page)[0] == 200, page
    assert "kept-through-the-outage" in web.get("/corpora/")[1]  # nothing lost
    with open(web.log.name, errors="replace") as f:
        log = f.read()
    assert "Traceback" not in log, log[-3000:]
    print(f"\n{len(PAGES)} pages: 503 during the outage; 200 again {back_after:.1f} s after start")
