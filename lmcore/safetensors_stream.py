"""Read safetensors headers and write safetensors files by copying byte ranges (or bytes
computed a block at a time), never a whole tensor in memory.

Converting between lmcore and `transformers` only renames tensors, concatenates two of them
(keys and values) or splits one, always along the first dimension. In row-major storage that
is plain byte ranges, so a conversion is a header plus copied ranges, in blocks of
`BLOCK_BYTES`: memory stays flat whatever the model's size, and it needs no torch. The
trade-off: no dtype conversion (a model keeps the dtype it came in; loading casts it).
A GGUF import (lmcore/gguf_import.py) has no bytes to copy: its tensors are `Produced`, each
dequantized a block of rows at a time as the file is written.

The format (https://github.com/huggingface/safetensors): 8 bytes little-endian header
length N, N bytes of JSON `{name: {"dtype", "shape", "data_offsets": [begin, end]}, ...,
"__metadata__": {str: str}}`, then the data; offsets are relative to the end of the header.

Example: `header = read_header("model.safetensors"); header["wte.weight"].shape`
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lmcore.errors import LmcoreError

BLOCK_BYTES = 1 << 20
MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit
DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1}


@dataclass(frozen=True)
class Range:
    """`length` bytes of `path` from `start`: one tensor's data, or a row block of it."""

    path: Path
    start: int
    length: int


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    data: Range

    def rows(self, lo: int, hi: int) -> Range:
        """The bytes of rows lo..hi (first dimension) of this tensor."""
        row = self.data.length // self.shape[0]
        return Range(self.data.path, self.data.start + lo * row, (hi - lo) * row)


def read_header(path: str | Path) -> dict[str, TensorInfo]:
    """Every tensor of a safetensors file, with its byte range checked against the file."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            size = path.stat().st_size
            (n,) = struct.unpack("<Q", f.read(8).rjust(8, b"\0"))
            if size < 8 or n > min(MAX_HEADER_BYTES, size - 8):
                raise LmcoreError(f"{path.name}: not a safetensors file (bad header length)")
            header = json.loads(f.read(n))
    except OSError as exc:
        raise LmcoreError(f"{path.name}: cannot read ({exc.strerror})") from exc
    except ValueError as exc:
        raise LmcoreError(f"{path.name}: not a safetensors file (header is not JSON)") from exc
    if not isinstance(header, dict):
        raise LmcoreError(f"{path.name}: not a safetensors file (header is not an object)")
    header.pop("__metadata__", None)
    tensors, base = {}, 8 + n
    for name, spec in header.items():
        try:
            dtype, shape, (begin, end) = spec["dtype"], tuple(spec["shape"]), spec["data_offsets"]
            expected = math.prod(shape) * DTYPE_BYTES[dtype]
        except (KeyError, TypeError, ValueError):
            raise LmcoreError(f"{path.name}: tensor {name} has a malformed entry") from None
        if not 0 <= begin <= end <= size - base or end - begin != expected:
            raise LmcoreError(f"{path.name}: tensor {name} lies outside the file (truncated?)")
        tensors[name] = TensorInfo(dtype, shape, Range(path, base + begin, end - begin))
    return tensors


@dataclass(frozen=True)
class Produced:
    """`length` bytes that `chunks()` computes when the file is written."""

    length: int
    chunks: Callable[[], Iterator[bytes]]


@dataclass(frozen=True)
class OutTensor:
    """A tensor to write: its data is the concatenation of `parts`."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    parts: Sequence[Range | Produced]


def encode_header(tensors: Sequence[OutTensor], metadata: dict[str, str]) -> bytes:
    """The 8-byte length and JSON header, padded with spaces to 8 bytes as safetensors does."""
    header: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    for t in tensors:
        length = sum(p.length for p in t.parts)
        if length != math.prod(t.shape) * DTYPE_BYTES[t.dtype]:
            raise LmcoreError(f"{t.name}: {length} bytes do not make a {t.dtype} {t.shape}")
        header[t.name] = {"dtype": t.dtype, "shape": list(t.shape),
                          "data_offsets": [offset, offset + length]}  # fmt: skip
        offset += length
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw


def file_size(tensors: Sequence[OutTensor], metadata: dict[str, str]) -> int:
    data = sum(p.length for t in tensors for p in t.parts)
    return len(encode_header(tensors, metadata)) + data


def iter_file(tensors: Sequence[OutTensor], metadata: dict[str, str]) -> Iterator[bytes]:
    """The bytes of a safetensors file holding `tensors`, at most BLOCK_BYTES at a time (a
    `Produced` part: its chunks as they come)."""
    yield encode_header(tensors, metadata)
    for t in tensors:
        for part in t.parts:
            if isinstance(part, Produced):
                yield from _produced(t.name, part)
                continue
            with part.path.open("rb") as f:
                f.seek(part.start)
                left = part.length
                while left:
                    block = f.read(min(BLOCK_BYTES, left))
                    if not block:
                        raise LmcoreError(f"{part.path.name}: ends early (truncated?)")
                    left -= len(block)
                    yield block


def _produced(name: str, part: Produced) -> Iterator[bytes]:
    done = 0
    for block in part.chunks():
        done += len(block)
        yield block
    if done != part.length:
        raise LmcoreError(f"{name}: produced {done} bytes, expected {part.length}")
