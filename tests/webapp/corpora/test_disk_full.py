"""Disk full during an upload: a real 1 MiB tmpfs as MEDIA_ROOT (root may mount one; elsewhere
the test is skipped, saying so). The upload ends with a clear message and a 507, which the
browser's uploader does not retry; the partial file is removed; another user's file is intact,
and the freed room takes the next upload."""

from __future__ import annotations

import contextlib
import subprocess

import pytest

from tests.webapp.corpora.conftest import CHUNK, put, start
from webapp.corpora.models import Corpus
from webapp.uploads.chunked import DISK_FULL

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
TMPFS_BYTES = 1 << 20


@pytest.fixture
def full_disk(tmp_path, settings):
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs",
                           str(mount)], capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    settings.MEDIA_ROOT = mount
    try:
        yield mount
    finally:
        with contextlib.suppress(Exception):
            subprocess.run(["umount", str(mount)], check=True, capture_output=True)


def test_a_full_disk_ends_the_upload_removes_its_file_and_keeps_others(
    full_disk, alice_client, client, bob
):
    alices = b"the mouse ate the cheese\n" * 10_000  # 250 KB, uploaded whole first
    pk = start(alice_client, name="alice.txt", size=len(alices)).json()["id"]
    for offset in range(0, len(alices), CHUNK):
        assert put(alice_client, pk, offset, alices[offset : offset + CHUNK]).status_code == 200
    alice = Corpus.objects.get(pk=pk)
    client.force_login(bob)
    size = 2 * TMPFS_BYTES  # more than the disk holds
    response = start(client, name="big.txt", size=size)
    assert response.status_code == 201, response.json()
    bobs = response.json()["id"]
    offset, answers = 0, []
    while offset < size:
        answer = put(client, bobs, offset, b"x" * CHUNK)
        answers.append(answer.status_code)
        if answer.status_code != 200:
            break
        offset += CHUNK
    assert answer.status_code == 507, answers
    assert answer.json()["error"] == DISK_FULL
    corpus = Corpus.objects.get(pk=bobs)
    assert corpus.status == "rejected" and corpus.error == DISK_FULL
    assert not corpus.upload_path.exists()  # the partial file is gone
    assert put(client, bobs, offset, b"x").status_code == 409  # a retry is told it ended
    alice_file = next(p for p in (alice.upload_path, alice.path) if p.exists())
    assert alice_file.read_bytes() == alices  # alice's data intact
    again = start(client, name="small.txt", size=CHUNK).json()["id"]  # the room is back
    assert put(client, again, 0, b"y" * CHUNK).status_code == 200
    print(f"\ndisk full after {offset:,} of {size:,} bytes: 507 {DISK_FULL!r}")
