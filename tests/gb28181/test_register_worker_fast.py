"""FastRegistrar against Registrar: the same REGISTER datagram through the lite path
(``scan_request`` → ``FastRegistrar.answer`` → ``lite_response``) and through the full one
(``parse_message`` → ``Registrar.handle`` → ``serialize``). Where the fast path answers, both
answers are the same but for the random To tag and nonce; where it hands on, it changed
nothing (no binding, no count, no nonce use) and the full path gives its own answer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.gb28181.register_fast import FastRegistrar
from sightline.gb28181.registrar import Binding, Registrar
from sightline.sip.digest import DigestClient, DigestServer, NonceManager, ha1
from sightline.sip.endpoint import IncomingRequest
from sightline.sip.flood import AuthFailureTracker
from sightline.sip.lite import lite_response, scan_request
from sightline.sip.message import Request, Response
from sightline.sip.nat import stamp_received
from sightline.sip.parser import DEFAULT_LIMITS, parse_message, serialize
from sightline.sip.stats import SipStats
from sightline.sip.transport import Peer
from tests.gb28181.test_registrar import _NoConn

REALM = "3402000000"
DEVICE = "34020000001320000001"
OWN = "34020000001320000002"  # has its own HA1
PASSWORD = "default-password"
OWN_PASSWORD = "own-password"
KEY = b"k" * 32
NOW = datetime(2026, 11, 25, 12, 0, 0, 250000, tzinfo=UTC)
PEER = Peer("UDP", "198.51.100.4", 40001)
URI = "sip:34020000002000000001@3402000000"


@dataclass
class Side:
    """One registrar (fast or full) with its own counters, bindings and nonce memory."""

    stats: SipStats = field(default_factory=SipStats)
    failures: AuthFailureTracker = field(default_factory=lambda: AuthFailureTracker(3, 60, 60))
    bound: list[tuple[Binding, int]] = field(default_factory=list)
    nonces: NonceManager = field(default_factory=lambda: NonceManager(KEY, lifetime_s=300))

    def kwargs(self) -> dict[str, object]:
        return {
            "digest": DigestServer(REALM, self.nonces),
            "password_for": lambda _device: PASSWORD,
            "ha1_for": {OWN: ha1(OWN, REALM, OWN_PASSWORD)}.get,
            "stats": self.stats,
            "failures": self.failures,
            "expires_min_s": 60,
            "expires_max_s": 7200,
            "clock": lambda: 500.0,
            "wall_clock": lambda: NOW,
        }


def register(
    device: str = DEVICE,
    *,
    expires: str | None = "3600",
    authorization: str | None = None,
    version: str | None = None,
    user: str | None = None,
) -> bytes:
    lines = [
        f"REGISTER {URI} SIP/2.0",
        "Via: SIP/2.0/UDP 10.1.2.3:5060;rport;branch=z9hG4bK-abc",
        f"From: <sip:{user or device}@{REALM}>;tag=77",
        f"To: <sip:{user or device}@{REALM}>",
        "Call-ID: reg-1@10.1.2.3",
        "CSeq: 2 REGISTER",
        f"Contact: <sip:{device}@10.1.2.3:5060>",
    ]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    if expires is not None:
        lines.append(f"Expires: {expires}")
    if version is not None:
        lines.append(f"X-GB-Ver: {version}")
    return "\r\n".join([*lines, "Max-Forwards: 70", "Content-Length: 0", "", ""]).encode()


def credentials(username: str, password: str, *, nonce_time: float | None = None) -> str:
    nonces = NonceManager(KEY, lifetime_s=300)
    wall = NOW.timestamp() if nonce_time is None else nonce_time
    challenge = DigestServer(REALM, nonces).challenge(wall)
    return DigestClient(username, password).authorize("REGISTER", URI, challenge)


def fast_answer(side: Side, data: bytes) -> bytes | None:
    request = scan_request(data, DEFAULT_LIMITS)
    assert request is not None
    fast = FastRegistrar(bind=lambda b, e: side.bound.append((b, e)), **side.kwargs())  # type: ignore[arg-type]
    answer = fast.answer(request, PEER)
    if answer is None:
        return None
    return lite_response(request, answer, (PEER.host, PEER.port), to_tag="tag", server="s")


def full_answer(side: Side, data: bytes) -> bytes:
    request = parse_message(data)
    assert isinstance(request, Request)
    stamp_received(request, PEER.host, PEER.port)
    registrar = Registrar(bind=lambda b, e: side.bound.append((b, e)), **side.kwargs())  # type: ignore[arg-type]
    response = registrar.handle(IncomingRequest(request, PEER, _NoConn()))
    assert isinstance(response, Response)
    response.headers.add("Server", "s")
    return serialize(response)


def normal(wire: bytes) -> bytes:
    """Without what is random in every answer: the To tag and the nonce."""
    wire = re.sub(rb"(\r\nTo: [^\r]*);tag=[^;\r]+", rb"\1;tag=T", wire)
    return re.sub(rb'nonce="[^"]+"', b'nonce="N"', wire)


def compare(data: bytes) -> tuple[bytes | None, bytes, Side, Side]:
    fast, full = Side(), Side()
    return fast_answer(fast, data), full_answer(full, data), fast, full


def test_no_credentials_is_challenged_alike() -> None:
    fast, full, fast_side, full_side = compare(register(version="3.0"))
    assert fast is not None and fast.startswith(b"SIP/2.0 401 Unauthorized\r\n")
    assert normal(fast) == normal(full)
    assert b"X-GB-Ver: 3.0" in fast and fast_side.bound == full_side.bound == []


@pytest.mark.parametrize(
    ("device", "password", "expires", "granted"),
    [
        (DEVICE, PASSWORD, "3600", 3600),
        (DEVICE, PASSWORD, None, 3600),
        (DEVICE, PASSWORD, "99999", 7200),  # capped at the maximum
        (DEVICE, PASSWORD, "0", 0),  # unregister
        (OWN, OWN_PASSWORD, "600", 600),  # the device's own HA1
    ],
)
def test_right_credentials_are_accepted_alike(
    device: str, password: str, expires: str | None, granted: int
) -> None:
    data = register(device, expires=expires, authorization=credentials(device, password))
    fast, full, fast_side, full_side = compare(data)
    assert fast is not None and fast.startswith(b"SIP/2.0 200 OK\r\n")
    assert normal(fast) == normal(full)
    assert fast_side.bound == full_side.bound and fast_side.bound[0][1] == granted
    assert fast_side.stats.auth_successes == full_side.stats.auth_successes == 1


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (register(authorization=credentials(DEVICE, "wrong")), 403),
        (register(user=OWN, authorization=credentials(DEVICE, PASSWORD)), 403),  # not From's
        (register(OWN, authorization=credentials(OWN, PASSWORD)), 403),  # not its own HA1
        (register(expires="30", authorization=credentials(DEVICE, PASSWORD)), 423),
        (register(expires="30"), 401),  # the challenge comes before Min-Expires
        (register(expires="soon"), 400),
        (register("3402000000132000000x"), 400),
        (register(authorization="Basic dXNlcjpwYXNz"), 401),
        (register(authorization=" "), 401),
        (register(authorization=credentials(DEVICE, PASSWORD, nonce_time=0.0)), 401),  # stale
        (register(authorization='Digest username="x"'), 400),
    ],
)
def test_everything_else_is_handed_on_untouched(data: bytes, status: int) -> None:
    fast_side = Side()
    assert fast_answer(fast_side, data) is None
    assert fast_side.bound == [] and fast_side.stats.auth_successes == 0
    assert fast_side.stats.auth_failures == 0 and fast_side.nonces.tracked == 0
    # the full path, after the fast one looked, answers as it would have alone
    assert full_answer(fast_side, data).startswith(f"SIP/2.0 {status} ".encode())


@settings(max_examples=150, deadline=None)
@given(
    device=st.sampled_from([DEVICE, OWN, "3402000000132000000x", "123"]),
    user=st.none() | st.sampled_from([DEVICE, OWN]),
    password=st.sampled_from([PASSWORD, OWN_PASSWORD, "bad"]),
    auth=st.sampled_from(["none", "right", "stale", "basic"]),
    expires=st.none() | st.sampled_from(["0", "1", "59", "60", "3600", "86400", "x", "007"]),
    version=st.none() | st.sampled_from(["2.0", "3.0"]),
)
def test_whenever_the_fast_path_answers_the_full_path_answers_the_same(
    *,
    device: str,
    user: str | None,
    password: str,
    auth: str,
    expires: str | None,
    version: str | None,
) -> None:
    who = user or device
    authorization = {
        "none": None,
        "right": credentials(who, password),
        "stale": credentials(who, password, nonce_time=NOW.timestamp() - 1000),
        "basic": "Basic eDp5",
    }[auth]
    data = register(
        device, expires=expires, authorization=authorization, version=version, user=user
    )
    fast, full, fast_side, full_side = compare(data)
    if fast is None:
        assert fast_side.bound == [] and fast_side.stats.auth_successes == 0
        return
    assert normal(fast) == normal(full)
    assert fast_side.bound == full_side.bound
    assert fast_side.stats.auth_successes == full_side.stats.auth_successes
