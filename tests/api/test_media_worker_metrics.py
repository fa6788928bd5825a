"""The media workers in /metrics: one sample per worker of up, streams, loop lag and CPU."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from sightline.api.metrics import MediaWorkerCollector
from sightline.gb28181.live_workers import WorkerHealth


def test_each_worker_has_its_samples() -> None:
    health = [
        WorkerHealth(1, up=True, streams=250, loop_lag_s=0.04, cpu_s=812.5),
        WorkerHealth(2, up=False, streams=0, loop_lag_s=0.0, cpu_s=3.0),
    ]
    registry = CollectorRegistry()
    registry.register(MediaWorkerCollector(lambda: health))
    text = generate_latest(registry).decode()
    assert 'sightline_media_worker_up{worker="1"} 1.0' in text
    assert 'sightline_media_worker_up{worker="2"} 0.0' in text
    assert 'sightline_media_worker_streams{worker="1"} 250.0' in text
    assert 'sightline_media_worker_loop_lag_seconds{worker="1"} 0.04' in text
    assert 'sightline_media_worker_cpu_seconds_total{worker="1"} 812.5' in text


def test_no_workers_no_samples() -> None:
    registry = CollectorRegistry()
    registry.register(MediaWorkerCollector(list))
    assert "sightline_media_worker_up{" not in generate_latest(registry).decode()
