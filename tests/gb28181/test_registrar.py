"""The GB/T 28181 registrar, driven directly with requests (no sockets)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sightline.gb28181.registrar import Binding, Registrar, gb_date
from sightline.sip.digest import DigestClient, DigestServer, NonceManager
from sightline.sip.endpoint import IncomingRequest
from sightline.sip.flood import AuthFailureTracker
from sightline.sip.message import Request, Response
from sightline.sip.stats import SipStats
from sightline.sip.transport import Peer
from tests.sip.conftest import DEVICE, register_request

PEER = Peer("UDP", "127.0.0.7", 5060)
NOW = datetime(2024, 5, 1, 4, 0, 0, 123000, tzinfo=UTC)


class _NoConn:
    def send(self, data: bytes) -> None:
        raise AssertionError("the registrar never sends by itself")

    def close(self) -> None:
        """Nothing to close."""

    @property
    def is_closing(self) -> bool:
        return False


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _via(request: Request) -> Request:
    request.headers.prepend("Via", "SIP/2.0/UDP 127.0.0.7:5060;branch=z9hG4bKreg;rport=5060")
    return request


def _make(**kw: object) -> tuple[Registrar, list[tuple[str, bool]], Clock, SipStats]:
    changes: list[tuple[str, bool]] = []
    clock = Clock()
    stats = SipStats()

    def on_change(binding: Binding, online: bool) -> None:
        changes.append((binding.device_id, online))

    registrar = Registrar(
        digest=DigestServer("3402000000", NonceManager(b"s" * 32)),
        password_for=lambda device: "12345678" if device == DEVICE else None,
        stats=stats,
        on_change=on_change,
        clock=clock,
        wall_clock=lambda: NOW,
        **kw,  # type: ignore[arg-type]
    )
    return registrar, changes, clock, stats


def _send(registrar: Registrar, request: Request) -> Response:
    return registrar.handle(IncomingRequest(_via(request), PEER, _NoConn()))


def _authorized(registrar: Registrar, password: str = "12345678", **kw: object) -> Response:
    challenge = _send(registrar, register_request(**kw))  # type: ignore[arg-type]
    assert challenge.status == 401
    request = register_request(**kw)  # type: ignore[arg-type]
    value = challenge.headers.get("WWW-Authenticate")
    assert value is not None
    auth = DigestClient(DEVICE, password).authorize("REGISTER", request.uri, value)
    request.headers.add("Authorization", auth)
    return _send(registrar, request)


def test_gb_date_is_beijing_time_without_zone() -> None:
    assert gb_date(NOW) == "2024-05-01T12:00:00.123"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", gb_date(datetime.now(UTC)))


def test_challenge_then_registration() -> None:
    registrar, changes, clock, stats = _make()
    ok = _authorized(registrar)
    assert ok.status == 200
    assert ok.headers.get("Date") == "2024-05-01T12:00:00.123"
    assert ok.headers.get("Expires") == "3600"
    assert ok.headers.get("Contact") == "<sip:34020000001320000001@127.0.0.1:5060>;expires=3600"
    assert ok.to.tag
    binding = registrar.bindings[DEVICE]
    assert binding.peer == PEER
    assert binding.expires_at == clock.now + 3600
    assert changes == [(DEVICE, True)]
    assert stats.auth_successes == 1


def test_refresh_does_not_announce_again_and_unregister_does() -> None:
    registrar, changes, _, _ = _make()
    assert _authorized(registrar).status == 200
    assert _authorized(registrar).status == 200
    assert changes == [(DEVICE, True)]
    gone = _authorized(registrar, expires=0)
    assert gone.status == 200
    assert gone.headers.get("Contact") is None
    assert DEVICE not in registrar.bindings
    assert changes == [(DEVICE, True), (DEVICE, False)]


def test_wrong_password_is_403_and_counted_towards_a_ban() -> None:
    failures = AuthFailureTracker(2, 60.0, 300.0)
    registrar, changes, clock, stats = _make(failures=failures)
    assert _authorized(registrar, password="nope").status == 403
    assert not failures.is_banned(PEER.host, clock.now)
    assert _authorized(registrar, password="nope").status == 403
    assert failures.is_banned(PEER.host, clock.now)
    assert stats.auth_failures == 2
    assert stats.bans == 1
    assert changes == []


def test_invalid_device_id_gets_a_clear_400() -> None:
    registrar, _, _, _ = _make()
    response = _send(registrar, register_request("3402000000132000001"))
    assert response.status == 400
    assert "20 digits" in response.reason


def test_too_brief_expiry_gets_423_and_long_ones_are_capped() -> None:
    registrar, _, _, _ = _make(expires_min_s=3600, expires_max_s=7200)
    brief = _authorized(registrar, expires=30)
    assert brief.status == 423
    assert brief.headers.get("Min-Expires") == "3600"
    capped = _authorized(registrar, expires=86400)
    assert capped.headers.get("Expires") == "7200"


def test_expiry_takes_devices_offline() -> None:
    registrar, changes, clock, _ = _make()
    _authorized(registrar, expires=3600)
    clock.now += 3599
    assert registrar.expire() == []
    clock.now += 2
    assert [b.device_id for b in registrar.expire()] == [DEVICE]
    assert changes[-1] == (DEVICE, False)


def test_gb2022_version_header_is_echoed_on_every_answer() -> None:
    registrar, _, _, _ = _make()
    request = register_request()
    request.headers.add("X-GB-Ver", "3.0")
    challenge = _send(registrar, request)
    assert challenge.headers.get("X-GB-Ver") == "3.0"


def test_username_must_match_the_device_in_from() -> None:
    registrar, _, _, _ = _make()
    challenge = _send(registrar, register_request())
    request = register_request()
    value = challenge.headers.get("WWW-Authenticate")
    assert value is not None
    other = "34020000001320000002"
    client = DigestClient(other, "12345678")
    request.headers.add("Authorization", client.authorize("REGISTER", request.uri, value))
    # the other device's credentials are unknown here (password_for returns None): refused
    assert _send(registrar, request).status == 403


def test_contact_star_unregisters() -> None:
    registrar, changes, _, _ = _make()
    _authorized(registrar)
    request = register_request(expires=0)
    request.headers.set("Contact", "*")
    challenge = _send(registrar, request)
    value = challenge.headers.get("WWW-Authenticate")
    assert value is not None
    request = register_request(expires=0)
    request.headers.set("Contact", "*")
    request.headers.add(
        "Authorization", DigestClient(DEVICE, "12345678").authorize("REGISTER", request.uri, value)
    )
    assert _send(registrar, request).status == 200
    assert changes[-1] == (DEVICE, False)


def test_date_header_can_be_turned_off() -> None:
    registrar, _, _, _ = _make(date_header=False)
    ok = _authorized(registrar)
    assert ok.status == 200
    assert ok.headers.get("Date") is None
