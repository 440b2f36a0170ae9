"""Guards on untrusted billing input: bounded gzip inflation and sanitized error text.

A small `.csv.gz` can inflate to gigabytes (a decompression bomb), so every gzip input is
streamed through `inflate`, which stops as soon as the decompressed size or the compression ratio
passes the configured limits. Anything echoed from a file into an error or warning goes through
`clean`: control characters and terminal escape codes are escaped (so they cannot recolour or
rewrite the operator's terminal) and long values are truncated.
"""

from __future__ import annotations

import io
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from warehouse.errors import IngestError
from warehouse.settings import WarehouseSettings

__all__ = [
    "RATIO_FLOOR",
    "Limits",
    "check_gzip",
    "clean",
    "clean_error",
    "inflate",
    "open_gzip_text",
]

RATIO_FLOOR = 16 * 1024**2
"""The ratio limit applies once an input has inflated past this many bytes (small files with a
high ratio are harmless)."""

_READ = 64 * 1024
_OUT = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The decompression limits of one ingest (from `WarehouseSettings`)."""

    max_bytes: int
    max_ratio: int

    @classmethod
    def of(cls, config: WarehouseSettings | None = None) -> Limits:
        c = config or WarehouseSettings()
        return cls(c.ingest_max_decompressed_bytes, c.ingest_max_compression_ratio)


def _check(produced: int, consumed: int, limits: Limits, display: str) -> None:
    if produced > limits.max_bytes:
        raise IngestError(
            f"refused: the gzip input inflates past {limits.max_bytes:,} bytes "
            "(ingest_max_decompressed_bytes); decompression bomb or a file too large to ingest",
            file=display,
        )
    if produced > RATIO_FLOOR and produced > consumed * limits.max_ratio:
        raise IngestError(
            f"refused: the gzip input inflates more than {limits.max_ratio}x "
            f"({consumed:,} compressed bytes gave {produced:,}; ingest_max_compression_ratio); "
            "looks like a decompression bomb",
            file=display,
        )


def inflate(path: Path, limits: Limits, display: str) -> Iterator[bytes]:
    """Yield the decompressed bytes of a (multi-member) gzip file in bounded chunks."""
    consumed = produced = 0
    d = zlib.decompressobj(wbits=31)
    started = False
    try:
        with path.open("rb") as raw:
            while chunk := raw.read(_READ):
                consumed += len(chunk)
                pending = chunk
                while pending:
                    started = True
                    out = d.decompress(pending, _OUT)
                    pending = d.unconsumed_tail
                    if d.eof:
                        pending = d.unused_data + pending
                        if pending.strip(b"\x00"):
                            d = zlib.decompressobj(wbits=31)
                        else:
                            pending = b""
                    produced += len(out)
                    _check(produced, consumed, limits, display)
                    if out:
                        yield out
    except zlib.error as exc:
        raise IngestError(f"not a readable gzip file: {exc}", file=display) from None
    except OSError as exc:
        raise IngestError(f"cannot read: {exc.strerror or exc}", file=display) from None
    if started and not d.eof:
        raise IngestError("truncated gzip file (the compressed stream ends early)", file=display)


def check_gzip(path: Path, limits: Limits, display: str) -> int:
    """Stream the whole file once and return its decompressed size, or refuse it."""
    return sum(len(b) for b in inflate(path, limits, display))


class _Chunks(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._left:
            nxt = next(self._chunks, None)
            if nxt is None:
                return 0
            self._left = nxt
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


def open_gzip_text(path: Path, limits: Limits, display: str) -> IO[str]:
    """A text stream over a gzip file that raises `IngestError` past the limits."""
    raw = io.BufferedReader(_Chunks(inflate(path, limits, display)))
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def _escape(ch: str) -> str:
    if ch == " " or not unicodedata.category(ch).startswith(("C", "Z")):
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object, limit: int = 80) -> str:
    """`value` as safe one-line text: control/format characters (ESC, CR, LF, bidi overrides)
    escaped as `\\xNN`/`\\uNNNN`, then truncated to `limit` characters with an ellipsis."""
    text = "".join(_escape(ch) for ch in str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_error(exc: IngestError, limit: int = 600) -> IngestError:
    """The same error with every part made safe to print on one terminal line."""
    return IngestError(
        clean(exc.detail, limit),
        file=clean(exc.file, 300) if exc.file else None,
        row=exc.row,
        column=clean(exc.column, 120) if exc.column else None,
    )
