"""The prediction log's spool: rows on local disk until the prediction store has them.

Each process appends the rows it accepts to a file of its own in the spool folder, one
JSON object a line; ``append`` returns once they are fsynced (appends made at the same
moment share one fsync), so an answered prediction survives a crash, a SIGKILL or a
power cut. The process holds an OS lock (``flock``) on its file while it lives; the kernel
drops it when the process dies, however it dies, which is how ``adopt`` tells a file left
by a dead process (to be drained here, then deleted) from a live sibling's (left alone).

A failed append leaves nothing of itself behind (the file is cut back to where it was)
and raises ``SpoolRefused``; only a failed fsync, after the write went through, can leave
refused rows that still reach the store. A line cut short by a crash in the middle of an
append was never acknowledged, so it is skipped and counted in ``torn``, never an error.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger("lifecycle.store.prediction_log")
CHUNK = 1 << 20


class SpoolRefused(OSError):
    """The spool cannot take these rows (disk full, folder not writable, closed): none of them was written."""


@dataclass
class _File:
    """One spool file: its rows from ``start`` to ``end`` (bytes, a line boundary) wait for the store."""

    path: Path
    fd: int
    start: int = 0
    end: int = 0
    rows: int = 0


@dataclass
class Taken:
    """Rows read from one spool file, to hand back to ``Spool.done`` once the store has them."""

    source: _File
    rows: list[dict]
    lines: int
    begin: int
    stop: int


class Spool:
    """This process's spool file in ``folder``, and the files of dead processes it has adopted."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.spooled = self.torn = 0
        self._lock = threading.Lock()  # the files, their offsets and counts
        self._sync = threading.Lock()  # one fsync at a time; taken before _lock, never after
        self._appended = self._synced = 0  # bytes ever appended / known to be on disk
        self._adopted: list[_File] = []
        self._own = self._open(self.folder / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl")
        self._closed, self._broken = False, ""

    def _open(self, path: Path) -> _File:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise SpoolRefused(exc.errno, f"cannot make a spool file in {self.folder} ({exc.strerror})") from None
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        folder = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(folder)  # the new file's name survives a power cut too
        finally:
            os.close(folder)
        return _File(path, fd)

    def append(self, rows: list[dict]) -> None:
        """Write ``rows`` and return once they are on disk; ``SpoolRefused`` (nothing written) if they cannot be."""
        data = b"".join(_line(row) for row in rows)
        with self._lock:
            if self._closed or self._broken:
                raise SpoolRefused(self._broken or "the prediction log is closed")
            own = self._own
            try:
                _write_all(own.fd, data)
            except OSError as exc:
                try:
                    os.ftruncate(own.fd, own.end)  # no half-written line stays behind
                except OSError:  # it would glue onto the next line: take no more rows
                    self._broken = f"{own.path} could not be cut back after a failed append; restart the service"
                raise SpoolRefused(exc.errno, f"cannot append to {own.path} ({exc.strerror})") from None
            own.end += len(data)
            own.rows += len(rows)
            self._appended += len(data)
            mine = self._appended
        self._fsync_to(mine)
        with self._lock:
            self.spooled += len(rows)

    def _fsync_to(self, mine: int) -> None:
        with self._sync:
            if self._synced >= mine:
                return  # another append's fsync covered these bytes
            with self._lock:
                if self._closed:
                    raise SpoolRefused("the prediction log was closed while writing")
                target, fd = self._appended, self._own.fd
            try:
                os.fsync(fd)
            except OSError as exc:
                raise SpoolRefused(exc.errno, f"cannot flush {self._own.path} to disk ({exc.strerror})") from None
            self._synced = target

    def adopt(self) -> int:
        """Take over the spool files of dead processes (drained before this process's own); rows found."""
        with self._lock:
            if self._closed:
                return 0
            known = {self._own.path, *(f.path for f in self._adopted)}
        found = 0
        for path in sorted(self.folder.glob("*.jsonl")):
            if path in known:
                continue
            orphan = _claim(path)
            if orphan is None:
                continue
            self.torn += _count(orphan)
            if orphan.end == 0:  # nothing complete in it
                orphan.path.unlink(missing_ok=True)
                os.close(orphan.fd)
                continue
            with self._lock:
                if self._closed:
                    os.close(orphan.fd)
                    return found
                self._adopted.append(orphan)
            found += orphan.rows
        return found

    def take(self, limit: int) -> Taken | None:
        """Up to ``limit`` waiting rows of one file, oldest file first (None when nothing waits)."""
        with self._lock:
            if self._closed:
                return None
            for source in (*self._adopted, self._own):
                if source.start < source.end:
                    begin = source.start
                    lines, stop = _lines(source.fd, begin, source.end, limit)
                    break
            else:
                return None
        rows = []
        for line in lines:
            try:
                rows.append(_row(line))
            except (ValueError, KeyError, TypeError):
                log.error("skipped an unreadable line in spool file %s: %r", source.path, line[:200])
                self.torn += 1
        return Taken(source, rows, len(lines), begin, stop)

    def done(self, taken: Taken) -> None:
        """The store holds ``taken``: forget it (a drained file of a dead process is deleted)."""
        with self._lock:
            source = taken.source
            if self._closed or source.start != taken.begin:
                return
            source.start, source.rows = taken.stop, source.rows - taken.lines
            if source is self._own:
                if source.start == source.end:  # caught up: start the file again
                    os.ftruncate(source.fd, 0)
                    source.start = source.end = 0
            elif source.start == source.end:
                source.path.unlink(missing_ok=True)
                os.close(source.fd)
                self._adopted.remove(source)

    def pending(self) -> int:
        with self._lock:
            return sum(f.rows for f in (*self._adopted, self._own)) if not self._closed else 0

    def oldest(self) -> datetime | None:
        """The timestamp of the oldest waiting row (None when nothing waits)."""
        with self._lock:
            if self._closed:
                return None
            firsts = [_lines(f.fd, f.start, f.end, 1)[0][0] for f in (*self._adopted, self._own) if f.start < f.end]
        stamps = []
        for line in firsts:
            try:
                stamps.append(_row(line)["timestamp"])
            except (ValueError, KeyError, TypeError):
                continue
        return min(stamps, default=None)

    def close(self) -> int:
        """Release the files (what still waits stays on disk for the next start); rows left waiting."""
        with self._sync, self._lock:
            if self._closed:
                return 0
            left = sum(f.rows for f in (*self._adopted, self._own))
            self._closed = True
            if self._own.start == self._own.end:
                self._own.path.unlink(missing_ok=True)
            for source in (*self._adopted, self._own):
                os.close(source.fd)
            self._adopted.clear()
        return left


def _line(row: dict) -> bytes:
    return (json.dumps({**row, "timestamp": row["timestamp"].isoformat()}, separators=(",", ":")) + "\n").encode()


def _row(line: bytes) -> dict:
    row = json.loads(line)
    stamp = datetime.fromisoformat(row["timestamp"])
    row["timestamp"] = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return row


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _claim(path: Path) -> _File | None:
    """``path`` locked for this process, if its owner is gone and another process has not drained it already."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # its process is alive (or another one is draining it)
        os.close(fd)
        return None
    if os.fstat(fd).st_nlink == 0:  # drained and deleted between our open and our lock
        os.close(fd)
        return None
    return _File(path, fd)


def _count(orphan: _File) -> int:
    """Count the complete lines of an adopted file; report a torn last line (its append never returned)."""
    size, position, lines, last = os.fstat(orphan.fd).st_size, 0, 0, -1
    while position < size:
        chunk = os.pread(orphan.fd, CHUNK, position)
        lines += chunk.count(b"\n")
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            last = position + cut
        position += len(chunk)
    orphan.end, orphan.rows = last + 1, lines
    if orphan.end < size:
        log.warning(
            "spool file %s ends in a torn line (%d bytes, cut short when its process died in the middle "
            "of an append, so never acknowledged): ignored",
            orphan.path,
            size - orphan.end,
        )
        return 1
    return 0


def _lines(fd: int, start: int, end: int, limit: int) -> tuple[list[bytes], int]:
    """Up to ``limit`` lines of the file from byte ``start`` to ``end`` (line boundaries), and where they stop."""
    lines, position, size = [], start, CHUNK
    while position < end and len(lines) < limit:
        chunk = os.pread(fd, min(size, end - position), position)
        cut = chunk.rfind(b"\n")
        if cut < 0:  # a line longer than the chunk
            size *= 2
            continue
        for line in chunk[:cut].split(b"\n")[: limit - len(lines)]:
            lines.append(line)
            position += len(line) + 1
    return lines, position
