"""Prometheus exposition of the node's counters (SIP today; media and health later)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sightline.gb28181.live_workers import WorkerHealth
from sightline.gb28181.subscriptions import SubscriptionKind
from sightline.media.hub import StreamSnapshot
from sightline.sip.stats import SipStats

if TYPE_CHECKING:
    from sightline.gb28181.devices import DeviceManager

__all__ = [
    "DeviceCollector",
    "MediaCollector",
    "MediaWorkerCollector",
    "SipCollector",
    "build_registry",
]


class MediaWorkerCollector(Collector):
    """The media worker processes (``media.workers``): up, streams, loop lag and CPU."""

    def __init__(self, health: Callable[[], list[WorkerHealth]]) -> None:
        self._health = health

    def collect(self) -> Iterable[Metric]:
        """Yield the worker families, one sample per worker."""
        up = GaugeMetricFamily(
            "sightline_media_worker_up", "1 while the media worker runs", labels=["worker"]
        )
        streams = GaugeMetricFamily(
            "sightline_media_worker_streams",
            "device streams the worker receives",
            labels=["worker"],
        )
        lag = GaugeMetricFamily(
            "sightline_media_worker_loop_lag_seconds",
            "the worker's largest event-loop lag in the last minute (near 1 s: saturated)",
            labels=["worker"],
        )
        cpu = CounterMetricFamily(
            "sightline_media_worker_cpu_seconds",
            "CPU time of the worker process (user + system)",
            labels=["worker"],
        )
        for worker in self._health():
            label = [str(worker.index)]
            up.add_metric(label, 1.0 if worker.up else 0.0)
            streams.add_metric(label, worker.streams)
            lag.add_metric(label, worker.loop_lag_s)
            cpu.add_metric(label, worker.cpu_s)
        yield from (up, streams, lag, cpu)


class DeviceCollector(Collector):
    """Devices online, subscriptions held and the onboarding queue, read at scrape time: what
    shows that a storm's deferred re-subscriptions did happen."""

    def __init__(self, devices: DeviceManager) -> None:
        self._devices = devices

    def collect(self) -> Iterable[Metric]:
        """Yield the device families."""
        devices = self._devices
        yield GaugeMetricFamily(
            "sightline_devices_online",
            "devices registered and keeping alive",
            value=devices.online_count,
        )
        subscriptions = GaugeMetricFamily(
            "sightline_device_subscriptions",
            "devices with a subscription of this kind (asked or established)",
            labels=["kind"],
        )
        for kind in SubscriptionKind:
            subscriptions.add_metric([kind.value], devices.subscriber.table.count(kind))
        yield subscriptions
        onboarding = devices.onboarding
        yield GaugeMetricFamily(
            "sightline_onboarding_waiting",
            "devices queued for onboarding or re-subscription",
            value=onboarding.waiting,
        )
        yield CounterMetricFamily(
            "sightline_onboarding_storm_holds",
            "times a re-subscription waited for a storm of arrivals to pass",
            value=onboarding.held,
        )


class SipCollector(Collector):
    """Reads :class:`SipStats` at scrape time."""

    def __init__(self, stats: SipStats) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        """Yield one family per counter."""
        s = self._stats
        requests = CounterMetricFamily(
            "sightline_sip_requests", "SIP requests received", labels=["method"]
        )
        for method, n in sorted(s.requests_by_method.items()):
            requests.add_metric([method], n)
        yield requests
        received = CounterMetricFamily(
            "sightline_sip_responses_received", "SIP responses received", labels=["class"]
        )
        for label, n in sorted(s.responses_by_class.items()):
            received.add_metric([label], n)
        yield received
        sent = CounterMetricFamily(
            "sightline_sip_responses_sent", "SIP responses sent", labels=["class"]
        )
        for label, n in sorted(s.responses_sent_by_class.items()):
            sent.add_metric([label], n)
        yield sent
        errors = CounterMetricFamily(
            "sightline_sip_parse_errors", "malformed SIP messages", labels=["transport"]
        )
        for label, n in sorted(s.parse_errors.items()):
            errors.add_metric([label], n)
        yield errors
        for name, doc, value in (
            ("auth_failures", "failed digest authentications", s.auth_failures),
            ("auth_successes", "successful digest authentications", s.auth_successes),
            ("bans", "source addresses banned after failed authentication", s.bans),
            ("dropped_banned", "messages dropped from banned addresses", s.dropped_banned),
            ("dropped_rate_limited", "messages dropped by the rate limit", s.dropped_rate_limited),
            (
                "dropped_overload",
                "datagrams REGISTER workers dropped while the main process caught up",
                s.dropped_overload,
            ),
            ("retransmissions", "SIP retransmissions sent", s.retransmissions),
            ("transaction_timeouts", "SIP transactions that timed out", s.transaction_timeouts),
        ):
            yield CounterMetricFamily(f"sightline_sip_{name}", doc, value=value)
        yield GaugeMetricFamily(
            "sightline_sip_tcp_connections", "open SIP TCP/TLS connections", value=s.tcp_connections
        )


class MediaCollector(Collector):
    """Per-stream figures of the stream hub, read at scrape time."""

    def __init__(self, snapshot: Callable[[], list[StreamSnapshot]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        """Yield one family per figure, one sample per stream."""
        labels = ["channel", "kind"]
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "viewers": GaugeMetricFamily(
                "sightline_stream_viewers", "viewers of a shared stream", labels=labels
            ),
            "bitrate": GaugeMetricFamily(
                "sightline_stream_bitrate_bps", "received bitrate", labels=labels
            ),
            "frames": CounterMetricFamily(
                "sightline_stream_frames", "frames received", labels=labels
            ),
            "dropped": CounterMetricFamily(
                "sightline_stream_dropped_frames", "frames dropped for slow viewers", labels=labels
            ),
            "ttff": GaugeMetricFamily(
                "sightline_stream_time_to_first_frame_seconds",
                "time from opening the stream to its first frame",
                labels=labels,
            ),
        }
        rtp = {
            name: CounterMetricFamily(f"sightline_stream_rtp_{name}", doc, labels=labels)
            for name, doc in (
                ("packets", "RTP packets received from the device"),
                ("lost", "RTP packets never received (sequence gaps)"),
                ("reordered", "RTP packets received out of order"),
                ("duplicates", "RTP packets received twice"),
            )
        }
        for snap in self._snapshot():
            key = [snap.key.channel_id, snap.key.kind]
            families["viewers"].add_metric(key, snap.viewers)
            families["bitrate"].add_metric(key, snap.bitrate_bps)
            families["frames"].add_metric(key, snap.frames)
            families["dropped"].add_metric(key, snap.dropped_frames)
            if snap.time_to_first_frame_s is not None:
                families["ttff"].add_metric(key, snap.time_to_first_frame_s)
            got = snap.reception
            if got is not None:
                rtp["packets"].add_metric(key, got.packets)
                rtp["lost"].add_metric(key, got.lost)
                rtp["reordered"].add_metric(key, got.reordered)
                rtp["duplicates"].add_metric(key, got.duplicates)
        yield from families.values()
        yield from rtp.values()


def build_registry(
    sip_stats: SipStats, streams: Callable[[], list[StreamSnapshot]] | None = None
) -> CollectorRegistry:
    """A registry private to one node, so several nodes can live in one test process."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(SipCollector(sip_stats))
    if streams is not None:
        registry.register(MediaCollector(streams))
    return registry
