"""The registrar extensions the device manager relies on: per-device HA1 and forget()."""

from __future__ import annotations

from sightline.gb28181.registrar import Binding, Registrar
from sightline.sip.digest import DigestClient, DigestServer, NonceManager, ha1
from sightline.sip.endpoint import IncomingRequest
from sightline.sip.message import Request, Response
from sightline.sip.stats import SipStats
from sightline.sip.transport import Peer
from tests.gb28181.test_registrar import _NoConn, _via
from tests.sip.conftest import DEVICE, REALM, register_request

PEER = Peer("UDP", "127.0.0.7", 5060)


def _registrar(own: dict[str, str], changes: list[tuple[str, bool]]) -> Registrar:
    def on_change(binding: Binding, online: bool) -> None:
        changes.append((binding.device_id, online))

    return Registrar(
        digest=DigestServer(REALM, NonceManager(b"s" * 32)),
        password_for=lambda _d: "default-pw",
        ha1_for=own.get,
        stats=SipStats(),
        on_change=on_change,
    )


def _send(registrar: Registrar, request: Request) -> Response:
    return registrar.handle(IncomingRequest(_via(request), PEER, _NoConn()))


def _register(registrar: Registrar, password: str, device: str = DEVICE) -> int:
    challenge = _send(registrar, register_request(device))
    request = register_request(device)
    value = challenge.headers.get("WWW-Authenticate") or ""
    request.headers.add(
        "Authorization", DigestClient(device, password).authorize("REGISTER", request.uri, value)
    )
    return _send(registrar, request).status


def test_own_ha1_wins_over_the_default_password() -> None:
    changes: list[tuple[str, bool]] = []
    registrar = _registrar({DEVICE: ha1(DEVICE, REALM, "own-pw")}, changes)
    assert _register(registrar, "default-pw") == 403
    assert _register(registrar, "own-pw") == 200
    other = "34020000001320000002"
    assert _register(registrar, "default-pw", other) == 200  # no own HA1: the default
    assert changes == [(DEVICE, True), (other, True)]


def test_forget_makes_the_next_register_a_new_registration() -> None:
    changes: list[tuple[str, bool]] = []
    registrar = _registrar({}, changes)
    assert _register(registrar, "default-pw") == 200
    assert _register(registrar, "default-pw") == 200  # refresh: not announced
    forgotten = registrar.forget(DEVICE)
    assert forgotten is not None and forgotten.device_id == DEVICE
    assert registrar.forget(DEVICE) is None
    assert _register(registrar, "default-pw") == 200
    assert changes == [(DEVICE, True), (DEVICE, True)]
