"""A person uploads text through the real page; dropped connections and reloads resume."""

import json
import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHUNK = 32 * 1024  # what the browser is told to send, so a small file takes many chunks


def _text_file(tmp_path, lines=8000):
    token = uuid.uuid4().hex  # a fresh text each run: the stack's user keeps earlier uploads
    path = tmp_path / f"story-{token[:8]}.txt"
    path.write_text("".join(f"Line {i} of the tale {token}, naïve café.\n" for i in range(lines)))
    return path


def _small_chunks(page):
    """Answer the start of an upload as the server does, but with small chunks."""

    def handle(route):
        response = route.fetch()
        body = response.json()
        body["chunk_bytes"] = CHUNK
        route.fulfill(response=response, body=json.dumps(body))

    page.route(re.compile(r"/corpora/uploads/$"), handle)


def _chunk_offsets(page, fail):
    """Record each chunk's offset; `fail(n)` says whether to drop the n-th chunk's connection."""
    offsets = []

    def handle(route):
        if route.request.method != "PUT":
            route.continue_()
            return
        offsets.append(int(route.request.url.rsplit("offset=", 1)[1]))
        if fail(len(offsets)):
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(re.compile(r"/corpora/uploads/\d+/"), handle)
    return offsets


def _expect_ready(page, path):
    row = page.locator("#corpora tbody tr", has_text=path.name)
    expect(row.locator(".badge")).to_have_text("Ready", timeout=30_000)
    expect(row.locator("td").nth(4)).to_have_text("8,000")  # lines
    row.get_by_role("link", name=path.name).click()
    expect(page.get_by_role("heading", name="Statistics")).to_be_visible()
    expect(page.locator('dd[data-stat="lines"]')).to_have_text("8,000 lines")
    expect(page.locator('dd[data-stat="sha-256"]')).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    expect(page.locator(".excerpt pre").first).to_contain_text("Line 0 of the tale")
    expect(page.locator("#characters")).to_contain_text("latin small letter e with acute")


def test_it_uploads_through_a_dropped_connection(page, stack, tmp_path):
    path = _text_file(tmp_path)
    sign_in(page, stack)
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Corpora").click()
    expect(page.locator("#socket-state")).to_have_text("Live.")
    _small_chunks(page)
    offsets = _chunk_offsets(page, fail=lambda n: n == 3)
    page.locator("#file-input").set_input_files(path)

    item = page.locator(".upload-item", has_text=path.name)
    expect(item.locator(".state")).to_have_text("Ready: see its statistics.", timeout=30_000)
    assert offsets[2] == offsets[3] == 2 * CHUNK  # the dropped chunk was sent again
    assert offsets[-1] == (path.stat().st_size - 1) // CHUNK * CHUNK
    _expect_ready(page, path)


def test_a_reload_resumes_where_the_upload_stopped(page, stack, tmp_path):
    path = _text_file(tmp_path)
    sign_in(page, stack)
    page.goto(stack.url + "/corpora/")
    _small_chunks(page)
    _chunk_offsets(page, fail=lambda n: n > 4)  # the network goes away for good
    page.locator("#file-input").set_input_files(path)
    item = page.locator(".upload-item", has_text=path.name)
    expect(item.locator(".state")).to_contain_text("Connection lost; retrying", timeout=15_000)

    page.unroute_all(behavior="ignoreErrors")
    page.reload()
    row = page.locator("#corpora tbody tr", has_text=path.name)
    expect(row.locator(".badge")).to_have_text("Uploading")
    expect(row.locator(".detail")).to_contain_text("% received")
    _small_chunks(page)
    resumed = _chunk_offsets(page, fail=lambda n: False)
    page.locator("#file-input").set_input_files(path)  # the same file, picked again
    _expect_ready(page, path)
    assert resumed[0] == 4 * CHUNK  # not from zero: from what the server had


def test_it_takes_a_dropped_file(page, stack):
    sign_in(page, stack)
    page.goto(stack.url + "/corpora/")
    expect(page.locator("#socket-state")).to_have_text("Live.")
    used = page.locator("#quota").get_attribute("title")  # exact bytes: the text is rounded
    name = f"dropped-{uuid.uuid4().hex[:8]}.txt"
    transfer = page.evaluate_handle(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, { type: "text/plain" }));
            return transfer;
        }""",
        [name, f"Dropped on the page, {name}.\n" * 100],
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    row = page.locator("#corpora tbody tr", has_text=name)
    expect(row.locator(".badge")).to_have_text("Ready", timeout=30_000)
    # The storage line follows without leaving the page.
    expect(page.locator("#quota")).not_to_have_attribute("title", used)
    expect(page.locator("#quota")).to_contain_text("you use ")
