"""The writer thread: segment operations become files, off the event loop.

The recorder hands :class:`SegmentFiles` the operations of its :class:`SegmentAssembler`
(``submit`` never blocks); one thread opens ``<start>.mp4.part``, appends fragments, and on
close fsyncs, renames it to ``<start>.mp4`` and reports the :class:`ClosedSegment` back on the
event loop, where the index row is written. Were the process to die in between, the start-up
repair finds the file without its row and indexes it.

The queue is bounded in bytes: when the disk cannot keep up, fragments are dropped (counted per
channel) rather than held, so memory stays bounded and live view is never slowed. A write that
fails (``ENOSPC``, or any OSError) ends that segment: what is whole of it is kept (the ``.part``
is salvaged at once) and ``on_error`` tells the service, which stops recording the channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sightline.media.recording.index import ClosedSegment, WriteFailure
from sightline.media.recording.layout import PART_SUFFIX, segment_path
from sightline.media.recording.repair import salvage_part
from sightline.media.recording.segments import (
    AppendFragment,
    CloseSegment,
    OpenSegment,
    SegmentOp,
)

__all__ = ["ClosedSegment", "SegmentFiles", "WriteFailure"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _File:
    fd: int
    part: Path
    final: Path
    size: int
    start: datetime
    kind: str


T = TypeVar("T")
_Job = tuple[str, SegmentOp, str] | threading.Event | None
_Close = tuple[str, _File, CloseSegment] | threading.Event | None


class SegmentFiles:
    """One writer thread for every channel's segment files; see the module docstring."""

    def __init__(
        self,
        root: Path,
        *,
        on_closed: Callable[[ClosedSegment], None],
        on_error: Callable[[WriteFailure], None],
        max_queue_bytes: int = 256 << 20,
        fsync: bool = True,
    ) -> None:
        self.root = root
        self.max_queue_bytes = max_queue_bytes
        self.fsync = fsync
        self.bytes_written = 0
        self.peak_queued_bytes = 0
        self.dropped: dict[str, int] = {}
        self._on_closed = on_closed
        self._on_error = on_error
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._queued = 0
        self._lock = threading.Lock()
        self._open: dict[tuple[str, int], _File] = {}
        self._failed: set[tuple[str, int]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # fsync of a closed segment can take long while other files' data is being flushed;
        # a thread of its own does it, so one channel's close never holds every other's writes
        self._closing: queue.SimpleQueue[_Close] = queue.SimpleQueue()
        self._closer: threading.Thread | None = None

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting for the writer thread."""
        return self._queued

    def open_bytes(self) -> int:
        """Bytes in ``.part`` files not yet closed (for the disk ceiling)."""
        return sum(f.size for f in list(self._open.values()))

    def start(self) -> None:
        """Start the writer thread (results are reported on the running loop)."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="recording-writer", daemon=True)
        self._closer = threading.Thread(
            target=self._run_closer, name="recording-closer", daemon=True
        )
        self._thread.start()
        self._closer.start()

    async def stop(self) -> None:
        """Write what is queued, then end the thread."""
        if self._thread is None:
            return
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)
        self._thread = None
        if self._closer is not None:
            self._closing.put(None)
            await asyncio.to_thread(self._closer.join)
            self._closer = None

    async def barrier(self) -> None:
        """Return once everything submitted before the call is written (and reported)."""
        if self._thread is None:
            return
        done = threading.Event()
        self._queue.put(done)
        await asyncio.to_thread(done.wait)
        await asyncio.sleep(0)  # run the reports the thread scheduled before setting ``done``

    def submit(self, channel_id: str, ops: list[SegmentOp], kind: str = "time") -> None:
        """Queue operations of one channel; never blocks (fragments over the bound are dropped).

        ``kind`` is the record type of segments opened by these operations (``time``, ``alarm``).
        """
        for op in ops:
            size = len(op.data) if isinstance(op, AppendFragment) else 0
            if size and self._queued + size > self.max_queue_bytes:
                self.dropped[channel_id] = self.dropped.get(channel_id, 0) + 1
                continue
            with self._lock:
                self._queued += size
                self.peak_queued_bytes = max(self.peak_queued_bytes, self._queued)
            self._queue.put((channel_id, op, kind))

    # -- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            if isinstance(job, threading.Event):
                self._closing.put(job)  # set by the closer, after the closes queued before it
                continue
            channel_id, op, kind = job
            if isinstance(op, AppendFragment):
                with self._lock:
                    self._queued -= len(op.data)
            try:
                self._apply(channel_id, op, kind)
            except OSError as exc:
                self._fail(channel_id, op.seq, exc)
            except Exception:
                log.exception("channel %s: recording writer failed on %s", channel_id, op)
                self._fail(channel_id, op.seq, OSError(errno.EIO, "writer failed"))
        for key in list(self._open):  # shut down with segments open: keep them as .part
            with contextlib.suppress(OSError):
                os.close(self._open.pop(key).fd)

    def _apply(self, channel_id: str, op: SegmentOp, kind: str) -> None:
        key = (channel_id, op.seq)
        if key in self._failed:
            if isinstance(op, CloseSegment):
                self._failed.discard(key)
            return
        if isinstance(op, OpenSegment):
            start = op.start
            final = self.root / segment_path(channel_id, start, kind)
            final.parent.mkdir(parents=True, exist_ok=True)
            while final.exists():  # a session restarted at the same millisecond: never overwrite
                start += timedelta(milliseconds=1)
                final = self.root / segment_path(channel_id, start, kind)
            part = final.with_name(final.name + PART_SUFFIX)
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
            self._open[key] = _File(fd, part, final, 0, op.start, kind)
            self._write(self._open[key], op.init)
        elif isinstance(op, AppendFragment):
            self._write(self._open[key], op.data)
        else:
            self._close(channel_id, self._open.pop(key), op)

    def _write(self, file: _File, data: bytes) -> None:
        view = memoryview(data)
        while view:
            done = os.write(file.fd, view)
            view = view[done:]
            file.size += done
            self.bytes_written += done

    def _close(self, channel_id: str, file: _File, op: CloseSegment) -> None:
        self._closing.put((channel_id, file, op))

    def _run_closer(self) -> None:
        while (job := self._closing.get()) is not None:
            if isinstance(job, threading.Event):
                self._report(lambda event: event.set(), job)
                continue
            channel_id, file, op = job
            try:
                self._finish(channel_id, file, op)
            except OSError as exc:
                self._fail(channel_id, op.seq, exc, file)

    def _finish(self, channel_id: str, file: _File, op: CloseSegment) -> None:
        try:
            if self.fsync:
                os.fsync(file.fd)
        finally:
            os.close(file.fd)
        os.replace(file.part, file.final)
        closed = ClosedSegment(
            channel_id,
            op.start,
            op.end,
            file.final.relative_to(self.root).as_posix(),
            file.size,
            op.codec,
            file.kind,
        )
        self._report(self._on_closed, closed)

    def _fail(self, channel_id: str, seq: int, exc: OSError, file: _File | None = None) -> None:
        key = (channel_id, seq)
        fd_open = file is None  # the closer passes its file, whose descriptor is closed
        if file is None:
            self._failed.add(key)
            file = self._open.pop(key, None)
        disk_full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        log.error(
            "channel %s: recording stopped, writing %s failed: %s%s",
            channel_id,
            file.part if file else "a segment",
            exc,
            " (disk full)" if disk_full else "",
        )
        if file is not None:
            if fd_open:
                with contextlib.suppress(OSError):
                    os.close(file.fd)
            salvaged = salvage_part(self.root, file.part)
            if salvaged is not None:
                self._report(self._on_closed, salvaged)
        self._report(self._on_error, WriteFailure(channel_id, str(exc), disk_full))

    def _report(self, callback: Callable[[T], None], value: T) -> None:
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(callback, value)
