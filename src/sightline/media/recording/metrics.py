"""Prometheus view of platform recording (registered on the node's registry)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sightline.media.recording.service import RecordingStatus

__all__ = ["RecordingCollector"]


class RecordingCollector(Collector):
    """``sightline_recording_*`` samples from :meth:`RecordingService.status`."""

    def __init__(self, status: Callable[[], RecordingStatus]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        """One scrape."""
        s = self._status()
        channels = GaugeMetricFamily(
            "sightline_recording_channels", "channels being recorded now", labels=["state"]
        )
        states: dict[str, int] = {}
        for r in s.recorders:
            states[r.state] = states.get(r.state, 0) + 1
        for state, count in sorted(states.items()):
            channels.add_metric([state], count)
        yield channels
        yield GaugeMetricFamily(
            "sightline_recording_disk_full",
            "1 while recording is stopped by a full disk",
            value=int(s.disk_full),
        )
        yield GaugeMetricFamily(
            "sightline_recording_stored_bytes",
            "bytes of recordings on disk",
            value=s.recordings_bytes,
        )
        yield GaugeMetricFamily(
            "sightline_recording_queued_bytes",
            "bytes waiting for the writer thread",
            value=s.queued_bytes,
        )
        yield CounterMetricFamily(
            "sightline_recording_written_bytes",
            "bytes written to segment files",
            value=s.bytes_written,
        )
        yield CounterMetricFamily(
            "sightline_recording_dropped_frames",
            "frames recorders lost (slow disk, slow reader)",
            value=sum(r.dropped_frames for r in s.recorders),
        )
        yield CounterMetricFamily(
            "sightline_recording_segments_deleted",
            "segments deleted by retention",
            value=s.segments_deleted,
        )
