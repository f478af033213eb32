"""X-Forwarded-For / X-Forwarded-Proto are believed from trusted proxies only
(webapp/web/proxies.py), tried through daphne started exactly as production starts it (the
Procfile's web line and the Dockerfile's CMD): a forged address must not get past the
sign-in lockout, and a proxy that sends only X-Forwarded-Proto is not redirected in a loop."""

from __future__ import annotations

import http.cookiejar
import json
import shlex
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.webapp.api.conftest import ROOT, daphne
from webapp.web.proxies import _networks, real_client

pytestmark = pytest.mark.django_db(transaction=True)


def procfile_web() -> list[str]:
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
    argv = shlex.split(line.removeprefix("web:").strip().removeprefix("exec "))
    return [{"$HOST": "127.0.0.1", "$PORT": "{port}"}.get(a, a) for a in argv]


def dockerfile_cmd() -> list[str]:
    line = next(x for x in (ROOT / "Dockerfile").read_text().splitlines() if x.startswith("CMD"))
    return [{"0.0.0.0": "127.0.0.1", "8000": "{port}"}.get(a, a) for a in json.loads(line[3:])]


PRODUCTION = pytest.mark.parametrize("argv", [procfile_web(), dockerfile_cmd()],
                                     ids=["Procfile", "Dockerfile"])  # fmt: skip


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx is the answer to look at


class Browser:
    """Signs in through the real form, with whatever headers the test forges."""

    def __init__(self, url: str) -> None:
        self.url, self.jar = url, http.cookiejar.CookieJar()
        handlers = (urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)
        self.opener = urllib.request.build_opener(*handlers)

    def open(self, path: str, data: bytes | None = None, **headers: str) -> tuple[int, dict]:
        request = urllib.request.Request(self.url + path, data, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers)

    def sign_in(self, password: str, **headers: str) -> int:
        self.open("/accounts/login/")
        token = next(c.value for c in self.jar if c.name == "csrftoken")
        form = {"username": "alice", "password": password, "csrfmiddlewaretoken": token}
        return self.open("/accounts/login/", urllib.parse.urlencode(form).encode(), **headers)[0]

    def lock_out(self, **headers: str) -> None:
        codes = [self.sign_in("wrong", **headers) for _ in range(settings.AXES_FAILURE_LIMIT)]
        assert codes[-1] == 429, codes


def _serve(services: str, tmp_path: Path, argv: list[str], **env: str):
    return daphne(services, tmp_path / "media", tmp_path / "daphne.log", argv=argv, **env)


@PRODUCTION
def test_a_forged_address_does_not_lift_the_lockout(services, alice, tmp_path, argv):
    with _serve(services, tmp_path, argv) as url:
        Browser(url).lock_out()
        for forged in ("203.0.113.77", "10.0.0.9", "203.0.113.77, 127.0.0.1"):
            browser = Browser(url)
            assert browser.sign_in("alice-password-1", **{"X-Forwarded-For": forged}) == 429
            assert browser.open("/")[0] == 302, forged  # not signed in: to the sign-in page


@PRODUCTION
def test_a_trusted_proxy_names_the_client(services, alice, tmp_path, argv):
    with _serve(services, tmp_path, argv, BOTTEGA_TRUSTED_PROXIES="127.0.0.0/8") as url:
        Browser(url).lock_out(**{"X-Forwarded-For": "203.0.113.77"})
        # Another client behind the proxy is not locked out ...
        other = {"X-Forwarded-For": "198.51.100.1"}
        assert Browser(url).sign_in("alice-password-1", **other) == 302
        # ... and the locked one cannot claim another address on the left of what the proxy
        # appended: the rightmost address that is no trusted proxy is the client.
        appended = {"X-Forwarded-For": "198.51.100.1, 203.0.113.77"}
        assert Browser(url).sign_in("alice-password-1", **appended) == 429


@PRODUCTION
def test_https_is_believed_from_the_proxy_alone(services, tmp_path, argv):
    production = {"DEBUG": "false", "HTTPS": "true"}
    https = {"X-Forwarded-Proto": "https"}
    with _serve(services, tmp_path, argv, **production) as url:  # no proxy is trusted
        status, headers = Browser(url).open("/v1/models", **https)
        assert status == 301 and headers["Location"].startswith("https://")
        Browser(url).open("/v1/models", **https)
    log = (tmp_path / "daphne.log").read_text()
    assert log.count("X-Forwarded-For/X-Forwarded-Proto from 127.0.0.1 ignored") == 1
    with _serve(services, tmp_path, argv, BOTTEGA_TRUSTED_PROXIES="127.0.0.1", **production) as url:
        # Only the proto header, no X-Forwarded-For: served (401 asks for a key), no redirect.
        assert Browser(url).open("/v1/models", **https)[0] == 401
        status, headers = Browser(url).open("/v1/models")  # the proxy says nothing: plain http
        assert status == 301 and headers["Location"].startswith("https://")


def test_the_walk_stops_at_the_first_untrusted_hop():
    proxies = _networks(("10.0.0.0/8", "::1/128"))
    assert real_client("10.0.0.2", ["1.2.3.4", "5.6.7.8", "10.0.0.3"], proxies) == "5.6.7.8"
    assert real_client("10.0.0.2", ["not-an-address"], proxies) == "10.0.0.2"
    assert real_client("::1", ["2001:db8::1"], proxies) == "2001:db8::1"
    assert real_client("192.0.2.1", ["1.2.3.4"], proxies) == "192.0.2.1"  # peer not trusted
