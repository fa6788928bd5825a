"""Download jobs: a recording exported to an MP4 file for the user who asked, for a while.

A job runs the record source's ``export`` in a task of its own and reports its state
(``running``, ``done``, ``failed``), progress (0..1), size and error. Files live under
``<data_dir>/downloads`` with names nobody can guess from outside, are handed only to the job's
owner (the API checks), and are deleted ``retention_s`` after the job ended. One user runs at
most ``max_running_per_owner`` exports at a time (each holds a device call or a disk reader and
fills the disk), so nobody exhausts the node by asking again and again. Jobs are kept in
memory only, so at start the directory is emptied: files of a previous run belong to jobs no
one can ask for any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from sightline.media.errors import MediaError
from sightline.media.playback import RecordSource, RecordSourceName

__all__ = ["DownloadJob", "DownloadLimit", "DownloadNotFound", "DownloadState", "Downloads"]

log = logging.getLogger(__name__)


class DownloadNotFound(MediaError, LookupError):
    """No such download, it expired, or it belongs to someone else."""


class DownloadLimit(MediaError):
    """The user already runs as many exports as one user may."""


class DownloadState(StrEnum):
    """Where a job is."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(eq=False)
class DownloadJob:
    """One export of [start, end) of a channel, for one user."""

    id: str
    owner_id: int
    username: str
    channel_id: str
    source: RecordSourceName
    start: datetime
    end: datetime
    purpose: str
    path: Path
    state: DownloadState = DownloadState.RUNNING
    progress: float = 0.0
    size_bytes: int | None = None
    error: str | None = None
    finished_at: float | None = None

    @property
    def filename(self) -> str:
        """The name offered to the browser (times in UTC, as its ``Z`` says)."""
        start, end = self.start.astimezone(UTC), self.end.astimezone(UTC)
        return f"{self.channel_id}_{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}.mp4"


class Downloads:
    """The node's download jobs (see the module docstring)."""

    def __init__(
        self,
        directory: Path,
        *,
        retention_s: float,
        max_running_per_owner: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.retention_s = retention_s
        self.max_running_per_owner = max_running_per_owner
        self._clock = clock
        self._jobs: dict[str, DownloadJob] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def prepare(self) -> int:
        """Create the directory and delete files left by a previous run; how many."""
        self.directory.mkdir(parents=True, exist_ok=True)
        removed = 0
        for leftover in self.directory.iterdir():
            if leftover.is_file():
                with contextlib.suppress(OSError):
                    leftover.unlink()
                    removed += 1
        return removed

    def start(
        self,
        source: RecordSource,
        *,
        owner_id: int,
        username: str,
        channel_id: str,
        start: datetime,
        end: datetime,
        purpose: str,
    ) -> DownloadJob:
        """Start exporting; the job (state ``running``) is returned at once.

        DownloadLimit when ``owner_id`` already runs ``max_running_per_owner`` exports.
        """
        self.sweep()
        running = sum(
            1
            for j in self._jobs.values()
            if j.owner_id == owner_id and j.state is DownloadState.RUNNING
        )
        if running >= self.max_running_per_owner:
            raise DownloadLimit(
                f"{username} already runs {running} exports (at most "
                f"{self.max_running_per_owner} at a time): wait for one to finish"
            )
        job_id = secrets.token_urlsafe(12)
        job = DownloadJob(
            id=job_id,
            owner_id=owner_id,
            username=username,
            channel_id=channel_id,
            source=source.name,
            start=start,
            end=end,
            purpose=purpose,
            path=self.directory / f"{job_id}.mp4",
        )
        self._jobs[job_id] = job
        task = asyncio.create_task(self._run(source, job), name=f"download {job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job_id, None))
        return job

    async def _run(self, source: RecordSource, job: DownloadJob) -> None:
        def progress(value: float) -> None:
            job.progress = max(job.progress, min(1.0, value))

        try:
            path = await source.export(job.channel_id, job.start, job.end, job.path, progress)
            job.path = path
            job.size_bytes = path.stat().st_size
            job.state, job.progress = DownloadState.DONE, 1.0
            log.info(
                "download %s of %s for %r done: %d bytes",
                job.id,
                job.channel_id,
                job.username,
                job.size_bytes,
            )
        except asyncio.CancelledError:
            self._fail(job, "cancelled")
            raise
        except Exception as exc:  # a task boundary: the job reports why
            self._fail(job, str(exc) or type(exc).__name__)
            log.info("download %s of %s failed: %s", job.id, job.channel_id, job.error)
        finally:
            job.finished_at = self._clock()

    def _fail(self, job: DownloadJob, error: str) -> None:
        job.state, job.error = DownloadState.FAILED, error
        with contextlib.suppress(OSError):
            job.path.unlink(missing_ok=True)

    def get(self, job_id: str, owner_id: int | None) -> DownloadJob:
        """The job ``job_id`` of ``owner_id`` (None: any owner); DownloadNotFound otherwise."""
        self.sweep()
        job = self._jobs.get(job_id)
        if job is None or (owner_id is not None and job.owner_id != owner_id):
            raise DownloadNotFound(f"download {job_id[:40]!r} is not known")
        return job

    def sweep(self) -> int:
        """Delete jobs (and files) that ended more than ``retention_s`` ago; how many."""
        now = self._clock()
        expired = [
            job
            for job in self._jobs.values()
            if job.finished_at is not None and now - job.finished_at >= self.retention_s
        ]
        for job in expired:
            del self._jobs[job.id]
            with contextlib.suppress(OSError):
                job.path.unlink(missing_ok=True)
            log.info("download %s of %s expired and deleted", job.id, job.channel_id)
        return len(expired)

    async def close(self) -> None:
        """Cancel running jobs (their partial files are removed)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
