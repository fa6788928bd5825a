"""Where accepted registrations go: the registrar's own table (``record``) or a ``bind`` hook
(a REGISTER worker process), and the per-second cache of the ``Date`` text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sightline.gb28181.registrar import Binding, gb_date
from sightline.sip.transport import Peer
from tests.gb28181.test_registrar import _authorized, _make
from tests.sip.conftest import DEVICE


def test_a_bind_hook_gets_every_accepted_registration_instead_of_the_table() -> None:
    bound: list[tuple[Binding, int]] = []
    registrar, changes, clock, _ = _make(bind=lambda b, e: bound.append((b, e)))
    assert _authorized(registrar).status == 200
    assert _authorized(registrar).status == 200  # a refresh is reported too
    assert _authorized(registrar, expires=0).status == 200
    assert [(b.device_id, e) for b, e in bound] == [(DEVICE, 3600), (DEVICE, 3600), (DEVICE, 0)]
    assert bound[0][0].peer == Peer("UDP", "127.0.0.7", 5060)
    assert bound[0][0].expires_at == clock.now + 3600
    assert registrar.bindings == {} and changes == []


def test_record_tells_on_change_about_new_and_gone_devices_only() -> None:
    registrar, changes, _, _ = _make()
    peer = Peer("UDP", "192.0.2.1", 5060)
    first = Binding(DEVICE, "<sip:a@b>", peer, 100.0, "c1", None)
    registrar.record(first, 3600)
    refreshed = Binding(DEVICE, "<sip:a@b>", Peer("UDP", "192.0.2.1", 5070), 200.0, "c1", "3.0")
    registrar.record(refreshed, 3600)
    assert registrar.bindings[DEVICE] == refreshed
    assert changes == [(DEVICE, True)]
    registrar.record(refreshed, 0)
    assert registrar.bindings == {} and changes == [(DEVICE, True), (DEVICE, False)]
    registrar.record(refreshed, 0)  # already gone: nothing to tell
    assert changes == [(DEVICE, True), (DEVICE, False)]


def test_the_cached_date_text_follows_the_clock_each_second() -> None:
    start = datetime(2024, 12, 31, 15, 59, 59, 999000, tzinfo=UTC)
    assert gb_date(start) == "2024-12-31T23:59:59.999"
    assert gb_date(start + timedelta(milliseconds=1)) == "2025-01-01T00:00:00.000"
    assert gb_date(start + timedelta(seconds=1, milliseconds=2)) == "2025-01-01T00:00:01.001"
    assert gb_date(start) == "2024-12-31T23:59:59.999"  # going back is not confused by the cache
    # a time given in another zone is the same instant
    india = timezone(timedelta(hours=5, minutes=30))
    assert gb_date((start + timedelta(milliseconds=1)).astimezone(india)) == (
        "2025-01-01T00:00:00.000"
    )
