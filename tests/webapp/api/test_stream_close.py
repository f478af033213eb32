"""A streamed answer left early, and a 429, through daphne as served in production (its
Twisted request under webapp/web/backpressure.py): no error in the server's log for a client
that leaves, and "429 Too Many Requests" on the status line, not "429 Unknown Status"."""

import http.client
import json
import time
import urllib.parse

import pytest

from tests.webapp.api.conftest import LONG, daphne, issue_key
from tests.webapp.api.test_errors import _done_entries
from tests.webapp.fixtures_ml import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
CHECKS_S = 3.5  # daphne reports a finished application's exception at its next check (1 s)


def _post(
    url: str, key: str, body: dict
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.request("POST", "/v1/completions", json.dumps(body),
                 {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})  # fmt: skip
    return conn, conn.getresponse()


def test_leaving_a_stream_early_logs_no_error_and_429_says_why(
    alice, version, services, celery_worker, tmp_path, api_media, settings
):
    settings.PLAYGROUND_MAX_NEW_TOKENS = LONG  # the worker's cap (daphne's is set likewise)
    log = tmp_path / "daphne.log"
    with daphne(services, api_media, log) as url:
        key = issue_key(alice)
        long = {"model": "tiny", "prompt": "the", "max_tokens": LONG, "temperature": 0,
                "stream": True}  # fmt: skip
        stream, answer = _post(url, key, long)
        assert answer.status == 200 and answer.readline().startswith(b"data: ")
        other, refused = _post(url, key, {"model": "tiny", "prompt": "the", "max_tokens": 2})
        assert (refused.status, refused.reason) == (429, "Too Many Requests")
        assert "already have a generation running" in json.loads(refused.read())["error"]["message"]
        other.close()
        stream.sock.close()  # the client leaves mid-answer
        stream.close()
        (done,) = wait_for(lambda: _done_entries(services, alice.pk), timeout=30)
        assert done["reason"] == "cancelled"
        deadline = time.monotonic() + CHECKS_S
        while time.monotonic() < deadline and "Exception inside application" not in log.read_text():
            time.sleep(0.1)  # polling the log for what must not come, for three checks
    text = log.read_text()
    assert "Exception inside application" not in text and "unregisterProducer" not in text, text
