"""A durable spool: append-only, CRC-checked segment files with group commit.

An Export is acknowledged once its request is fsynced here; a drain thread copies records into the
warehouse and then advances a checkpoint. After a crash, everything after the checkpoint is replayed
(writes are idempotent, so a replay is harmless). A record torn by a crash was never acknowledged.

Record framing: ``MAGIC(1) type(1) length(4, BE) crc32(4, BE) payload``.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

MAGIC = 0xA7
HEADER = struct.Struct(">BBII")
SEGMENT_PREFIX = "segment-"
SEGMENT_SUFFIX = ".log"
CHECKPOINT = "checkpoint"


class SpoolFull(Exception):
    """The spool holds ``max_bytes`` of undrained data: answer retryably."""


class SpoolError(Exception):
    """The spool could not write (e.g. disk full): answer retryably."""


@dataclass(frozen=True, order=True)
class Position:
    segment: int
    offset: int


@dataclass(frozen=True)
class Record:
    type: int
    payload: bytes
    end: Position  # position just after this record
    start: Position = Position(0, 0)  # position of this record's frame


def _segment_name(index: int) -> str:
    return f"{SEGMENT_PREFIX}{index:012d}{SEGMENT_SUFFIX}"


class Spool:
    """Thread-safe append (with group-committed fsync) and sequential read for one drain thread."""

    def __init__(self, directory: str | os.PathLike, max_bytes: int = 1 << 30, segment_bytes: int = 64 << 20) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._cond = threading.Condition()
        self._closed = False
        self._checkpoint = self._load_checkpoint()
        existing = self._segments()
        # Old segments are read-only from now on; writing starts in a fresh segment.
        self._write_index = (existing[-1] + 1) if existing else max(self._checkpoint.segment, 1)
        self._sizes: dict[int, int] = {i: (self.dir / _segment_name(i)).stat().st_size for i in existing}
        self._open_segment(self._write_index)
        self._appended = 0  # records appended
        self._synced = 0  # records known durable
        self._synced_position = Position(self._write_index, 0)
        self._sync_error: BaseException | None = None
        self._reader_position = self._checkpoint
        self._reader_file: BinaryIO | None = None
        self._reader_index = -1
        self._syncer = threading.Thread(target=self._sync_loop, name="spool-fsync", daemon=True)
        self._syncer.start()

    # -- writing ---------------------------------------------------------------------------------
    def _open_segment(self, index: int) -> None:
        path = self.dir / _segment_name(index)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._write_offset = os.fstat(self._fd).st_size
        self._sizes[index] = self._write_offset
        _fsync_dir(self.dir)

    def pending_bytes(self) -> int:
        """Bytes appended but not yet drained (the spool depth)."""
        with self._cond:
            return self._pending_bytes_locked()

    def has_room(self, size: int) -> bool:
        """Whether a record of ``size`` payload bytes would fit now (a cheap check before decoding it)."""
        with self._cond:
            return self._fits_locked(HEADER.size + size)

    def _fits_locked(self, frame_bytes: int) -> bool:
        return self._pending_bytes_locked() + frame_bytes <= self.max_bytes

    def _pending_bytes_locked(self) -> int:
        cp = self._checkpoint
        return sum(size for i, size in self._sizes.items() if i >= cp.segment) - (
            cp.offset if cp.segment in self._sizes else 0
        )

    def append(self, record_type: int, payload: bytes, timeout: float = 10.0) -> Position:
        """Append one record and return once it is fsynced. Raises SpoolFull or SpoolError."""
        frame = HEADER.pack(MAGIC, record_type, len(payload), zlib.crc32(payload)) + payload
        with self._cond:
            if self._closed:
                raise SpoolError("spool is closed")
            if not self._fits_locked(len(frame)):
                raise SpoolFull(f"spool holds more than {self.max_bytes} bytes not yet written to the warehouse")
            if self._write_offset >= self.segment_bytes:
                self._rotate_locked()
            try:
                written = os.write(self._fd, frame)
                if written != len(frame):
                    raise OSError(f"short write ({written} of {len(frame)} bytes)")
            except OSError as exc:
                self._repair_after_failed_write_locked()
                raise SpoolError(f"cannot write to spool: {exc}") from exc
            self._write_offset += len(frame)
            self._sizes[self._write_index] = self._write_offset
            self._appended += 1
            seq = self._appended
            position = Position(self._write_index, self._write_offset)
            self._cond.notify_all()
            deadline = time.monotonic() + timeout
            while self._synced < seq:
                if self._sync_error is not None:
                    raise SpoolError(f"cannot fsync spool: {self._sync_error}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SpoolError("spool fsync timed out")
                self._cond.wait(remaining)
            return position

    def _repair_after_failed_write_locked(self) -> None:
        """A partial frame may sit at the end of the segment: cut it off."""
        try:
            os.ftruncate(self._fd, self._write_offset)
        except OSError:
            logger.exception("cannot truncate spool segment after a failed write")

    def _rotate_locked(self) -> None:
        os.fsync(self._fd)
        os.close(self._fd)
        self._synced_position = Position(self._write_index, self._write_offset)
        self._write_index += 1
        self._open_segment(self._write_index)

    def _sync_loop(self) -> None:
        while True:
            with self._cond:
                while self._synced == self._appended and not self._closed:
                    self._cond.wait()
                if self._closed and self._synced == self._appended:
                    return
                target = self._appended
                fd = self._fd
                position = Position(self._write_index, self._write_offset)
            try:
                os.fdatasync(fd)
                error = None
            except OSError as exc:
                if fd != self._fd:  # rotated meanwhile: rotation fsynced it
                    error = None
                else:
                    error = exc
            with self._cond:
                if error is None:
                    self._synced = max(self._synced, target)
                    self._synced_position = max(self._synced_position, position)
                    self._sync_error = None
                else:
                    logger.error("spool fsync failed: %s", error)
                    self._sync_error = error
                self._cond.notify_all()
            if error is not None:
                time.sleep(0.1)

    # -- reading (one drain thread) --------------------------------------------------------------
    def read(self, max_records: int = 64, max_bytes: int = 32 << 20, wait: float = 0.2) -> list[Record]:
        """Durable records after the reader position (waits up to ``wait`` seconds for the first)."""
        records: list[Record] = []
        size = 0
        deadline = time.monotonic() + wait
        while len(records) < max_records and size < max_bytes:
            with self._cond:
                limit = self._synced_position
                if self._reader_position >= limit and not records:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._closed:
                        return records
                    self._cond.wait(remaining)
                    continue
            record = self._next_record(limit)
            if record is None:
                break
            records.append(record)
            size += len(record.payload)
        return records

    def _next_record(self, limit: Position) -> Record | None:
        while True:
            pos = self._reader_position
            if pos >= limit:
                return None
            if self._reader_index != pos.segment:
                self._open_reader(pos.segment)
            if self._reader_file is None:  # segment gone: move on
                self._reader_position = Position(pos.segment + 1, 0)
                continue
            segment_end = limit.offset if pos.segment == limit.segment else self._sizes.get(pos.segment, 0)
            if pos.offset + HEADER.size > segment_end:
                if pos.segment < limit.segment:
                    self._reader_position = Position(pos.segment + 1, 0)
                    continue
                return None
            start = pos
            self._reader_file.seek(pos.offset)
            header = self._reader_file.read(HEADER.size)
            magic, rtype, length, crc = HEADER.unpack(header)
            payload = self._reader_file.read(length) if magic == MAGIC else b""
            if magic != MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
                # A torn tail left by a crash (never acknowledged): skip the rest of this segment.
                logger.warning("spool segment %d: torn record at offset %d, skipping the rest", pos.segment, pos.offset)
                if pos.segment >= self._write_index:
                    return None
                self._reader_position = Position(pos.segment + 1, 0)
                continue
            end = Position(pos.segment, pos.offset + HEADER.size + length)
            self._reader_position = end
            return Record(rtype, payload, end, start)

    def _open_reader(self, index: int) -> None:
        if self._reader_file is not None:
            self._reader_file.close()
        path = self.dir / _segment_name(index)
        self._reader_index = index
        self._reader_file = open(path, "rb") if path.exists() else None  # noqa: SIM115

    def rewind(self) -> None:
        """Read again from the checkpoint (after a failed drain)."""
        self._reader_position = self._checkpoint

    @property
    def checkpoint(self) -> Position:
        """The persisted position: everything before it is in the warehouse."""
        return self._checkpoint

    def commit(self, position: Position) -> None:
        """Everything before ``position`` is in the warehouse: persist the checkpoint, drop old segments."""
        tmp = self.dir / (CHECKPOINT + ".tmp")
        with open(tmp, "w") as fh:
            fh.write(f"{position.segment} {position.offset}\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.dir / CHECKPOINT)
        with self._cond:
            self._checkpoint = position
            drained = [i for i in self._sizes if i < position.segment and i != self._write_index]
            for i in drained:
                del self._sizes[i]
        for i in drained:
            if i == self._reader_index and self._reader_file is not None:
                self._reader_file.close()
                self._reader_file = None
                self._reader_index = -1
            try:
                (self.dir / _segment_name(i)).unlink()
            except FileNotFoundError:
                pass

    def lag_seconds(self) -> float:
        """Age of the oldest undrained segment's last write (0 when drained)."""
        if self.pending_bytes() == 0:
            return 0.0
        path = self.dir / _segment_name(self._checkpoint.segment)
        try:
            return max(0.0, time.time() - path.stat().st_mtime)
        except FileNotFoundError:
            return 0.0

    def _load_checkpoint(self) -> Position:
        try:
            segment, offset = (self.dir / CHECKPOINT).read_text().split()
            return Position(int(segment), int(offset))
        except (FileNotFoundError, ValueError):
            existing = self._segments()
            return Position(existing[0] if existing else 1, 0)

    def _segments(self) -> list[int]:
        out = []
        for path in self.dir.glob(f"{SEGMENT_PREFIX}*{SEGMENT_SUFFIX}"):
            try:
                out.append(int(path.name[len(SEGMENT_PREFIX) : -len(SEGMENT_SUFFIX)]))
            except ValueError:
                continue
        return sorted(out)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._syncer.join(timeout=5)
        try:
            os.fsync(self._fd)
            os.close(self._fd)
        except OSError:
            pass
        if self._reader_file is not None:
            self._reader_file.close()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
