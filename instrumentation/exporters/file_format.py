"""The telemetry file format of the file exporters, written and read: OTLP/JSON export requests as JSON lines
or as a MessagePack stream.

One *record* is one OTLP/JSON export request (``ExportTraceServiceRequest`` / ``…Metrics…`` / ``…Logs…`` as
the OTLP/JSON mapping spells it: lowerCamelCase keys, hex ids, int64 as strings), encoded either way:

- ``jsonl``: one record per line, UTF-8 (what ``agentotel import`` has always read; one pretty-printed
  document per file is read as well);
- ``msgpack``: the same maps, MessagePack-encoded back to back (no framing: a MessagePack stream is
  self-delimiting); about 25–35 % smaller than the JSON line and faster to write and read.

Either file may be gzip-compressed (detected by its magic bytes). The format of a file is told by its
first byte: ``{`` or ``[`` (after whitespace) is JSON, a MessagePack map header (``0x80``–``0x8f``,
``0xde``, ``0xdf``) is MessagePack; writers choose by name (``.msgpack`` / ``.mpk`` among the suffixes →
MessagePack, else JSON lines) unless told.

:func:`read_records` is pure (no server package, no network): the receiver's ``agentotel import`` hands
each record to its OTLP/JSON decoder. ``msgpack`` is needed only for MessagePack files (``agentotel[server]``
and ``agentotel[instruments]`` bring it).
"""

from __future__ import annotations

import gzip
import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

JSONL, MSGPACK = "jsonl", "msgpack"
FORMATS = (JSONL, MSGPACK)
_MSGPACK_SUFFIXES = {".msgpack", ".mpk", ".msgp"}
_MAP_HEADERS = set(range(0x80, 0x90)) | {0xDE, 0xDF}


def format_for(path: str | os.PathLike[str], requested: str | None = None) -> str:
    """The format to write ``path`` in: ``requested`` if given, else by its suffixes."""
    if requested is not None:
        if requested not in FORMATS:
            raise ValueError(f"unknown file format {requested!r} (one of {FORMATS})")
        return requested
    return MSGPACK if _MSGPACK_SUFFIXES & {s.lower() for s in Path(path).suffixes} else JSONL


def _msgpack() -> Any:
    try:
        import msgpack
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("the MessagePack file format needs the msgpack package "
                          "(pip install 'agentotel[instruments]' or msgpack)") from exc
    return msgpack


def encode(record: dict[str, Any], fmt: str) -> bytes:
    """One record as bytes of ``fmt`` (a JSON line ends with a newline)."""
    if fmt == MSGPACK:
        return _msgpack().packb(record, use_bin_type=True)
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class RotatingFile:
    """Appends encoded records to ``path``; past ``max_bytes`` rotates to ``path.1`` … ``path.N`` (never splits a
    record). Thread-safe; the file is opened on the first write."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int, backup_count: int) -> None:
        if max_bytes <= 0 or backup_count < 0:
            raise ValueError("max_bytes must be > 0 and backup_count >= 0")
        self.path = os.path.abspath(path)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._max_bytes = max_bytes
        self._backups = backup_count
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._size = 0

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._file is None:
                self._file = open(self.path, "ab")  # noqa: SIM115 - kept open between writes
                self._size = self._file.tell()
            if self._size and self._size + len(data) > self._max_bytes:
                self._rotate()
            assert self._file is not None
            self._file.write(data)
            self._file.flush()
            self._size += len(data)

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        if self._backups > 0:
            for i in range(self._backups - 1, 0, -1):
                src = f"{self.path}.{i}"
                if os.path.exists(src):
                    os.replace(src, f"{self.path}.{i + 1}")
            os.replace(self.path, f"{self.path}.1")
        else:
            os.remove(self.path)
        self._file = open(self.path, "ab")  # noqa: SIM115
        self._size = 0

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


@dataclass(frozen=True)
class FileRecord:
    """One record read from a file: its place (``file:line`` for JSON lines, ``file#n`` for MessagePack,
    the file for a whole-file JSON document) and either the decoded map or why it could not be read."""

    location: str
    document: dict[str, Any] | None = None
    error: str | None = None


def _open(path: Path) -> Any:
    with open(path, "rb") as probe:
        head = probe.read(2)
    return gzip.open(path, "rb") if head == b"\x1f\x8b" else open(path, "rb")  # noqa: SIM115


def detect_format(path: str | os.PathLike[str]) -> str | None:
    """``jsonl`` or ``msgpack`` from the file's first meaningful byte (gzip looked through); ``None`` if empty."""
    with _open(Path(path)) as stream:
        while True:
            chunk = stream.read(256)
            if not chunk:
                return None
            stripped = chunk.lstrip()
            if stripped:
                first = stripped[0]
                if first in b"{[":
                    return JSONL
                if first in _MAP_HEADERS:
                    return MSGPACK
                return JSONL  # not a record either way: the JSON reader reports it line by line


def read_records(path: str | os.PathLike[str]) -> Iterator[FileRecord]:
    """Every record of a JSON-lines, JSON-document or MessagePack file (gzip or not), lazily, in order.

    Never raises for bad content: a line or item that is not an object comes back as a ``FileRecord`` with
    ``error`` set, and reading goes on (a truncated MessagePack tail ends the file with one error record).
    An unreadable file raises ``OSError`` as ``open`` does.
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt is None:
        return
    if fmt == MSGPACK:
        yield from _read_msgpack(path)
    else:
        yield from _read_json(path)


def _read_msgpack(path: Path) -> Iterator[FileRecord]:
    msgpack = _msgpack()
    with _open(path) as stream:
        unpacker = msgpack.Unpacker(stream, raw=False, strict_map_key=False, max_buffer_size=256 * 1024 * 1024)
        n = 0
        while True:
            n += 1
            location = f"{path}#{n}"
            try:
                item = unpacker.unpack()
            except msgpack.OutOfData:
                if unpacker.tell() < _size_read(stream, unpacker):
                    yield FileRecord(location, error="truncated MessagePack record at the end of the file")
                return
            except (msgpack.UnpackException, ValueError, TypeError) as exc:
                yield FileRecord(location, error=f"not valid MessagePack: {exc}")
                return  # no framing to resynchronise on
            if isinstance(item, dict):
                yield FileRecord(location, item)
            else:
                yield FileRecord(location, error=f"not an export request (a {type(item).__name__}, expected a map)")


def _size_read(stream: IO[bytes], unpacker: Any) -> int:
    """How many bytes the unpacker was fed (its buffer reached the end of the stream)."""
    try:
        return stream.tell()
    except (OSError, ValueError):
        return unpacker.tell()


def _read_json(path: Path) -> Iterator[FileRecord]:
    with _open(path) as stream:
        lines = iter(stream)
        first: bytes | None = None
        number = 0
        for raw in lines:
            number += 1
            if raw.strip():
                first = raw
                break
        if first is None:
            return
        try:
            document = json.loads(first)
        except ValueError:
            document = None
        if document is None and first.lstrip()[:1] in (b"{", b"["):
            # not a complete line: one document spread over the whole file (pretty-printed), or JSON lines
            # whose first line is broken (then that line is reported and the others are read)
            rest = b"".join(lines)
            try:
                whole = json.loads(first + rest)
            except ValueError:
                yield _as_record(f"{path}:{number}", None, first)
                yield from _json_lines(path, rest.splitlines(keepends=True), number)
                return
            for i, item in enumerate(whole if isinstance(whole, list) else [whole], 1):
                location = str(path) if not isinstance(whole, list) else f"{path}[{i}]"
                yield _as_record(location, item)
            return
        yield _as_record(f"{path}:{number}", document, first)
        yield from _json_lines(path, lines, number)


def _json_lines(path: Path, lines: Iterable[bytes], number: int) -> Iterator[FileRecord]:
    """The records of the lines after line ``number``."""
    for raw in lines:
        number += 1
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError as exc:
            yield FileRecord(f"{path}:{number}", error=f"not valid JSON: {exc}")
            continue
        yield _as_record(f"{path}:{number}", item)


def _as_record(location: str, item: Any, raw: bytes | None = None) -> FileRecord:
    if isinstance(item, dict):
        return FileRecord(location, item)
    if item is None and raw is not None:
        try:
            json.loads(raw)
        except ValueError as exc:
            return FileRecord(location, error=f"not valid JSON: {exc}")
    return FileRecord(location, error=f"not an export request (a {type(item).__name__}, expected an object)")
