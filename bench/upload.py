"""Upload benchmark: a big text file through the running ASGI server, chunked as the browser does.

Starts the whole stack with the launcher (tests/stack.py), signs in, then uploads a small probe
file and the big one over loopback in `--chunk-mb` slices (the browser's protocol: POST
/corpora/uploads/, then PUT ?offset=N per chunk on one keep-alive connection), and waits for
each to become `ready`. Prints one JSON object; progress goes to stderr.

    .venv/bin/python bench/upload.py [--size-mb 300] [--probe-mb 20] [--chunk-mb 8]
    .venv/bin/python bench/upload.py --size-mb 500          # the issue's 500 MB figure

Figures: upload MB/s (first byte sent to the last chunk's answer); the web (daphne) process's
resident memory: its peak (VmHWM) after the probe and after the big file, which should be
the same (flat in file size), and the highest VmRSS sampled during the big upload; validation
seconds per 100 MB (last chunk answered → `ready`, which includes the queue hop).
The text is tinyshakespeare repeated with each line numbered, so lines stay distinct.
"""

from __future__ import annotations

import argparse
import http.client
import http.cookiejar
import json
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.stack import ADMIN_PASSWORD, Stack, processes_marked  # noqa: E402

SOURCE = REPO.parent / "shared" / "data" / "tinyshakespeare.txt"
MB = 1_000_000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_text(source: Path, path: Path, size: int) -> None:
    """`size` bytes of `source`'s lines, numbered (ASCII, so any cut is a character boundary)."""
    lines = [line for line in source.read_text(encoding="ascii").splitlines() if line.strip()]
    written, n = 0, 0
    with path.open("wb") as f:
        while written < size:
            block = "".join(f"{n + i} {line}\n" for i, line in enumerate(lines)).encode()
            n += len(lines)
            block = block[: size - written]
            f.write(block)
            written += len(block)


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def web_pid(mark: str) -> int:
    for pid in processes_marked(mark):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if any(part.endswith(b"daphne") for part in cmdline[:2]):
            return pid
    raise RuntimeError("no daphne process carries the stack's mark")


class Client:
    """A signed-in session speaking the upload protocol on one keep-alive connection."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        host = urllib.parse.urlsplit(base)
        self.connection = http.client.HTTPConnection(host.hostname, host.port, timeout=120)

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.jar if c.name == name)

    def sign_in(self) -> None:
        self.opener.open(f"{self.base}/accounts/login/").read()
        form = {"username": "admin", "password": ADMIN_PASSWORD}
        form["csrfmiddlewaretoken"] = self.cookie("csrftoken")
        self.opener.open(f"{self.base}/accounts/login/", urllib.parse.urlencode(form).encode())
        self.cookie("sessionid")

    def call(self, method: str, path: str, body: bytes = b"", kind: str = "") -> dict:
        headers = {
            "Cookie": f"sessionid={self.cookie('sessionid')}; csrftoken={self.cookie('csrftoken')}",
            "X-CSRFToken": self.cookie("csrftoken"),
            "Origin": self.base,
            "Content-Type": kind or "application/octet-stream",
        }
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        answer = json.loads(response.read() or b"{}")
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {answer}")
        return answer


def upload(client: Client, path: Path, chunk: int) -> dict:
    size = path.stat().st_size
    start = json.dumps({"name": path.name, "size": size, "last_modified": int(time.time())})
    info = client.call("POST", "/corpora/uploads/", start.encode(), "application/json")
    began = time.perf_counter()
    with path.open("rb") as f:
        for offset in range(0, size, chunk):
            info = client.call("PUT", f"{info['upload_url']}?offset={offset}", f.read(chunk))
    sent = time.perf_counter()
    while info["status"] not in ("ready", "rejected"):
        time.sleep(0.1)
        info = client.call("GET", info["upload_url"])
    if info["status"] != "ready":
        raise RuntimeError(f"{path.name} was rejected: {info['error']}")
    return {
        "mb": round(size / MB, 1),
        "upload_s": round(sent - began, 2),
        "upload_mb_per_s": round(size / MB / (sent - began), 1),
        "validate_s": round(time.perf_counter() - sent, 2),
        "validate_s_per_100mb": round((time.perf_counter() - sent) / (size / MB) * 100, 2),
    }


def sample_rss(pid: int, stop: threading.Event, peak: list[int]) -> None:
    while not stop.wait(0.05):
        peak[0] = max(peak[0], status_kb(pid, "VmRSS"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--probe-mb", type=int, default=20)
    parser.add_argument("--chunk-mb", type=int, default=8, help="MiB per chunk, as the browser")
    parser.add_argument("--source", type=Path, default=SOURCE, help="an ASCII text to repeat")
    args = parser.parse_args()
    chunk = args.chunk_mb << 20
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        tmp_dir = Path(tmp)
        probe, big = tmp_dir / "probe.txt", tmp_dir / "big.txt"
        log(f"writing {args.probe_mb} MB and {args.size_mb} MB of text…")
        make_text(args.source, probe, args.probe_mb * MB)
        make_text(args.source, big, args.size_mb * MB)
        stack = Stack(tmp_dir / "var")
        try:
            log("starting the stack…")
            stack.start()
            pid = web_pid(stack.mark)
            client = Client(stack.url)
            client.sign_in()
            idle_kb = status_kb(pid, "VmRSS")
            log("uploading the probe…")
            small = upload(client, probe, chunk)
            hwm_probe_kb = status_kb(pid, "VmHWM")
            peak, stop = [0], threading.Event()
            sampler = threading.Thread(target=sample_rss, args=(pid, stop, peak), daemon=True)
            sampler.start()
            log("uploading the big file…")
            large = upload(client, big, chunk)
            stop.set()
            sampler.join()
            hwm_big_kb = status_kb(pid, "VmHWM")
        finally:
            if stack.process is not None:
                stack.ctrl_c()
            stack.kill_leftovers()
    print(
        json.dumps(
            {
                "chunk_mib": args.chunk_mb,
                "probe": small,
                "big": large,
                "web_rss_idle_mb": round(idle_kb / 1024, 1),
                "web_peak_rss_mb_after_probe": round(hwm_probe_kb / 1024, 1),
                "web_peak_rss_mb_after_big": round(hwm_big_kb / 1024, 1),
                "web_max_sampled_rss_mb_during_big": round(peak[0] / 1024, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
