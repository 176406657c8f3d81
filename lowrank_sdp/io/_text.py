"""Shared machinery of the text readers: loading, tokens, error messages, the fast numeric path.

Every reader has two paths over the same grammar. The fast path hands the numeric body of a file
to `np.loadtxt` (C speed) and checks the result with vectorised tests; it never raises: when
anything looks off it gives up and the slow path re-reads the file line by line, in Python,
raising a ValueError that names the file and the 1-based line of the first problem. So the slow
path is the reference, and the fast path only has to be right when it succeeds.
"""

from __future__ import annotations

import gzip
import io
import numbers
import os
import re
import sys
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lowrank_sdp.validation import invalid

MAX_VERTICES = 100_000_000
"""Largest number of vertices (or SDP dimension) a file may declare: an adjacency matrix needs
O(n) memory even without edges, so a header like `10**12 0` is refused rather than allocated."""

FREE_VERTICES = 1_000_000
VERTICES_PER_CHARACTER = 64
"""A file may declare (or reference) at most max(FREE_VERTICES, VERTICES_PER_CHARACTER x its
length in characters) vertices: isolated vertices are legitimate, but an 11-byte `100000000 0`
would otherwise cost O(n) memory in the reader and gigabytes in the solve. Reading stays
O(input) + 16 MB; an edge list given `n=` explicitly is exempt (the caller asked)."""

MAX_BYTES = 1 << 30
"""Default `max_bytes` of the readers: at most 1 GiB of text, counted after gzip decompression
(a 3 MiB gzip can expand to 3 GiB). Pass max_bytes=None for no limit, or a larger number."""

# Numbers as written by every tool we know; Python's float() alone would also accept "nan",
# "inf", "1_000" and non-ASCII digits, which we refuse.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
# Bytes that may appear in a body the fast path accepts (comments and anything exotic go slow).
_FAST_BYTES = b"0123456789+-.eE \t\n"
_MAX_DIGITS = 30


class TextFile:
    """The decoded text of one file, with the name used in error messages."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int | None = MAX_BYTES) -> None:
        self.path = Path(path)
        self.name = str(path)
        max_bytes = check_max_bytes(max_bytes)
        if max_bytes is not None and self.path.stat().st_size > max_bytes:
            raise self._too_big(max_bytes, "")
        raw = self.path.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the extension says
            raw = self._gunzip(raw, max_bytes)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise self.error(line, f"not UTF-8 text (byte 0x{raw[exc.start]:02x})") from None
        self.text = text.removeprefix("\ufeff")

    def _gunzip(self, raw: bytes, max_bytes: int | None) -> bytes:
        """Decompress, streaming, and stop one byte past the cap: memory stays O(max_bytes)."""
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
                out = stream.read(-1 if max_bytes is None else max_bytes + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{self.name}: not a valid gzip file ({exc})") from None
        if max_bytes is not None and len(out) > max_bytes:
            raise self._too_big(max_bytes, " once decompressed")
        return out

    def _too_big(self, max_bytes: int, how: str) -> ValueError:
        return ValueError(f"{self.name}: more than max_bytes = {max_bytes} bytes of text{how}; "
                          "pass max_bytes=None (no limit) or a larger number to read it")

    def vertex_limit(self) -> int:
        """The most vertices this file may declare or reference (see FREE_VERTICES)."""
        return min(MAX_VERTICES, max(FREE_VERTICES, VERTICES_PER_CHARACTER * len(self.text)))

    def check_vertices(self, line: int, n: int, what: str) -> None:
        """Refuse a declared size far beyond what the file holds, before any O(n) allocation."""
        if not 1 <= n <= MAX_VERTICES:
            raise self.error(line, f"{what} = {n} is not in [1, {MAX_VERTICES}]")
        limit = self.vertex_limit()
        if n > limit:
            raise self.error(line, f"{what} = {n} is more than a file of {len(self.text)} "
                             f"characters may declare: at most max({FREE_VERTICES}, "
                             f"{VERTICES_PER_CHARACTER} per character) = {limit}, since the "
                             "graph and the solve need memory in proportion to n")

    @property
    def stem(self) -> str:
        """File name without `.gz` and without its last suffix: G1.txt.gz -> G1."""
        name = self.path.name.removesuffix(".gz")
        return Path(name).stem

    @property
    def eof_line(self) -> int:
        """The line number where more input was expected: one past the last line."""
        count = self.text.count("\n")
        return count + 1 if self.text.endswith("\n") or not self.text else count + 2

    def error(self, line: int, message: str) -> ValueError:
        return ValueError(f"{self.name} line {line}: {message}")

    def show(self, line: int) -> str:
        """The text of a line, trimmed, for an error message."""
        text = self.text.split("\n", line)[line - 1].strip()
        return repr(text if len(text) <= 60 else text[:57] + "...")

    def scan(
        self, comment: str, line: int = 1, offset: int = 0
    ) -> Iterator[tuple[int, list[str], int, int]]:
        """(1-based line number, tokens, start offset, offset just past the line) for each line
        that has tokens
        once comments are cut, starting at `line`, which begins at character `offset`.

        A comment runs from any character of `comment` to the end of its line; for SDPA
        (`comment="sdpa"`) a comment is a whole line that begins with `"` or `*`.
        """
        text = self.text
        while offset < len(text):
            end = text.find("\n", offset)
            end = len(text) if end < 0 else end
            piece = text[offset:end]
            if comment == "sdpa":
                if piece.lstrip()[:1] in ('"', "*"):
                    piece = ""
            else:
                cut = min((k for k in map(piece.find, comment) if k >= 0), default=-1)
                if cut >= 0:
                    piece = piece[:cut]
            tokens = piece.split()
            if tokens:
                yield line, tokens, offset, end + 1
            line += 1
            offset = end + 1


def check_max_bytes(max_bytes: Any, func: str = "read_graph") -> int | None:
    """max_bytes as a positive int or None (no limit)."""
    if max_bytes is None:
        return None
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, numbers.Integral) or max_bytes < 1:
        raise invalid("max_bytes", func, "a positive int or None", max_bytes)
    return int(max_bytes)


def parse_int(src: TextFile, line: int, token: str, what: str) -> int:
    """An integer token (written `12`, or integral like `12.0`/`1.2e1`), else the line's error."""
    if _INTEGER.fullmatch(token):
        if len(token) > _MAX_DIGITS:
            raise src.error(line, f"{what} {token[:20]}... is too large")
        return int(token)
    if _NUMBER.fullmatch(token):
        value = float(token)
        if value.is_integer():
            if abs(value) > 1e30:
                raise src.error(line, f"{what} {token!r} is too large")
            return int(value)
        raise src.error(line, f"{what} {token!r} is not an integer")
    raise src.error(line, f"{what} {_short(token)} is not a number")


def parse_float(src: TextFile, line: int, token: str, what: str) -> float:
    """A finite real number token, else the line's error."""
    if not _NUMBER.fullmatch(token):
        raise src.error(line, f"{what} {_short(token)} is not a finite decimal number")
    value = float(token)
    if not np.isfinite(value):
        raise src.error(line, f"{what} {token!r} is not finite")
    return value


def parse_fields(src: TextFile, line: int, tokens: list[str], fields: tuple[tuple[str, type], ...],
                 expected: str) -> list[int | float]:
    """One line's tokens as numbers, one (what, int or float) per field; a line with another
    number of tokens is the error "expected `expected`; got <the line>"."""
    if len(tokens) != len(fields):
        raise src.error(line, f"expected {expected}; got {src.show(line)}")
    return [(parse_int if kind is int else parse_float)(src, line, token, what)
            for token, (what, kind) in zip(tokens, fields)]


def _short(token: str) -> str:
    return repr(token if len(token) <= 30 else token[:27] + "...")


def fast_rows(body: str, dtype: np.dtype) -> np.ndarray | None:
    """The rows of a purely numeric body as a structured array, or None to take the slow path.

    Integer fields accept only integer literals and float fields only finite-or-not decimals
    (callers check finiteness and ranges); blank lines are skipped, any other line must have
    exactly one token per field.
    """
    if not body.isascii():
        return None
    data = body.encode("ascii")
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if data.translate(None, _FAST_BYTES):  # a comment, a letter, a stray \r ...
        return None
    if not data.strip():
        return np.empty(0, dtype=dtype)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = np.loadtxt(io.BytesIO(data), dtype=dtype, comments=None, ndmin=1)
    except (ValueError, OverflowError, TypeError):
        return None
    return rows


def edge_dtype(n_index: int, weighted: bool) -> np.dtype:
    """Structured dtype for rows of `n_index` integer columns and an optional float column."""
    fields = [(f"i{k}", np.int64) for k in range(n_index)]
    if weighted:
        fields.append(("w", np.float64))
    return np.dtype(fields)


def warn(message: str) -> None:
    """warnings.warn pointing at the first caller outside lowrank_sdp (the user's line)."""
    frame = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith("lowrank_sdp."):
        frame = frame.f_back
        level += 1
    warnings.warn(message, UserWarning, stacklevel=level)


def format_numbers(values: np.ndarray) -> list[str]:
    """Shortest round-trip text of each value; integral values as integers (`1`, not `1.0`)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size and np.all(np.abs(values) < 2.0**53) and np.all(values == np.round(values)):
        return [str(v) for v in values.astype(np.int64).tolist()]
    return [repr(v) for v in values.tolist()]


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path`, gzipped (reproducibly, mtime 0) when the name ends in .gz."""
    data = text.encode("utf-8")
    if str(path).endswith(".gz"):
        buffer = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz:
            gz.write(data)
        data = buffer.getvalue()
    Path(path).write_bytes(data)
