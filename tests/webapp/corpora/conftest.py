"""Corpus test helpers: a private MEDIA_ROOT, small chunks, and the upload protocol by hand."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from webapp.corpora.models import Corpus

CHUNK = 64 * 1024


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CORPUS_CHUNK_BYTES = CHUNK
    return settings.MEDIA_ROOT


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def start(client, name="a.txt", size=10, last_modified=None):
    payload = {"name": name, "size": size}
    if last_modified is not None:
        payload["last_modified"] = last_modified
    return client.post("/corpora/uploads/", payload, content_type="application/json")


def put(client, pk: int, offset: int, data: bytes):
    return client.put(
        f"/corpora/uploads/{pk}/?offset={offset}", data, content_type="application/octet-stream"
    )


def upload(client, data: bytes, name="a.txt", chunk=CHUNK) -> Corpus:
    """Send `data` as a browser does: start, then every chunk in order."""
    response = start(client, name=name, size=len(data))
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    for offset in range(0, len(data), chunk):
        response = put(client, pk, offset, data[offset : offset + chunk])
        if response.status_code != 200:
            break
    return Corpus.objects.get(pk=pk)


def settled(corpus: Corpus, timeout: float = 30.0) -> Corpus:
    """Wait for the worker to finish validating `corpus`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        corpus.refresh_from_db()
        if not corpus.is_active:
            return corpus
        time.sleep(0.05)
    raise AssertionError(f"corpus still {corpus.status} after {timeout} s")
