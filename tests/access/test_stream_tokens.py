"""Stream tokens: bound to user, channel, action and client; short-lived; revocable."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.access.stream_tokens import (
    StreamAction,
    StreamClaims,
    StreamTokens,
    WrongClient,
    WrongStream,
    normalise_address,
    status_for,
)
from sightline.access.tokens import (
    ExpiredToken,
    ForgedToken,
    MalformedToken,
    RevokedToken,
    TokenError,
    TokenSigner,
)
from tests.access.fixtures import FakeClock

KEY = b"stream-token-test-key-0123456789"
CHANNEL = "34020000001310000001"
OTHER = "34020000001310000002"
CLIENT = "192.0.2.7"


def tokens(clock: FakeClock | None = None, **kw: bool) -> StreamTokens:
    return StreamTokens(KEY, 60, clock=clock or FakeClock(), **kw)


def issue(signer: StreamTokens, **kw: object) -> str:
    args: dict[str, object] = {
        "user_id": 7,
        "username": "operator",
        "channel_id": CHANNEL,
        "client": CLIENT,
        "session_id": "login-1",
    }
    args.update(kw)
    token, _ = signer.issue(**args)  # type: ignore[arg-type]
    return token


def verify(signer: StreamTokens, token: str | None, **kw: object) -> StreamClaims:
    args: dict[str, object] = {
        "channel_id": CHANNEL,
        "action": StreamAction.LIVE,
        "client": CLIENT,
    }
    args.update(kw)
    return signer.verify(token, **args)  # type: ignore[arg-type]


def test_a_token_round_trips_its_claims() -> None:
    clock = FakeClock()
    signer = tokens(clock)
    token, issued = signer.issue(
        user_id=7,
        username="值班员",
        channel_id=CHANNEL,
        client="::ffff:192.0.2.7",
        session_id="login-1",
        grant_id="grant-9",
    )
    claims = signer.verify(token, channel_id=CHANNEL, action=StreamAction.LIVE, client=CLIENT)
    assert claims == issued
    assert (claims.user_id, claims.username, claims.channel_id) == (7, "值班员", CHANNEL)
    assert claims.client == CLIENT  # IPv4-mapped spelling normalised
    assert claims.expires_at == pytest.approx(clock.now + 60)
    assert (claims.session_id, claims.grant_id) == ("login-1", "grant-9")
    assert "." in token and token.startswith("s1.") and token.isascii()


def test_tokens_are_unique() -> None:
    signer = tokens()
    assert issue(signer) != issue(signer)


def test_missing_forged_and_foreign_tokens_are_refused() -> None:
    signer = tokens()
    with pytest.raises(MalformedToken):
        verify(signer, None)
    with pytest.raises(MalformedToken):
        verify(signer, "")
    token = issue(signer)
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["c"] = OTHER  # another channel, signature kept
    altered = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(ForgedToken):
        verify(signer, f"{head}.{altered}.{signature}", channel_id=OTHER)
    with pytest.raises(ForgedToken):
        verify(StreamTokens(b"another-server-key-0123456789", 60, clock=FakeClock()), token)
    login_token, _ = TokenSigner(KEY, 3600).issue(7, "operator", FakeClock().now)
    with pytest.raises(MalformedToken):
        verify(signer, login_token)  # a login token is no stream token, same server key


def test_expired_tokens_are_refused() -> None:
    clock = FakeClock()
    signer = tokens(clock)
    token = issue(signer)
    clock.now += 59.9
    verify(signer, token)
    clock.now += 0.1
    with pytest.raises(ExpiredToken):
        verify(signer, token)


def test_a_token_is_for_one_channel_action_and_client() -> None:
    signer = tokens()
    token = issue(signer)
    with pytest.raises(WrongStream):
        verify(signer, token, channel_id=OTHER)
    with pytest.raises(WrongStream):
        verify(signer, token, action=StreamAction.DOWNLOAD)
    with pytest.raises(WrongClient):
        verify(signer, token, client="192.0.2.8")
    with pytest.raises(WrongClient):
        verify(signer, token, client=None)
    verify(signer, token, client="::ffff:192.0.2.7")


def test_client_binding_can_be_switched_off() -> None:
    signer = tokens(bind_client=False)
    token = issue(signer)
    verify(signer, token, client="198.51.100.1")
    verify(signer, token, client=None)


def test_revocations_by_token_login_grant_and_user() -> None:
    clock = FakeClock()
    signer = tokens(clock)
    first = issue(signer)
    claims = signer.decode(first)
    signer.check(claims)
    signer.revocations.revoke_token(claims)
    with pytest.raises(RevokedToken):
        verify(signer, first)

    by_login = signer.decode(issue(signer, session_id="login-2"))
    signer.revocations.revoke_session("login-2")
    with pytest.raises(RevokedToken, match="login"):
        signer.check(by_login)

    by_grant = signer.decode(issue(signer, grant_id="g-1"))
    signer.revocations.revoke_grant("g-1")
    with pytest.raises(RevokedToken, match="grant"):
        signer.check(by_grant)

    before = signer.decode(issue(signer, user_id=8))
    signer.revocations.revoke_user(8, clock.now)
    with pytest.raises(RevokedToken):
        signer.check(before)
    clock.now += 1
    signer.check(signer.decode(issue(signer, user_id=8)))  # issued after: valid


def test_a_revocation_hook_is_consulted() -> None:
    signer = tokens()
    blocked: set[str] = set()

    def no_channel(claims: object) -> None:
        if getattr(claims, "channel_id", None) in blocked:
            raise RevokedToken("channel withdrawn from sharing")

    signer.add_revocation_check(no_channel)
    token = issue(signer)
    verify(signer, token)
    blocked.add(CHANNEL)
    with pytest.raises(RevokedToken, match="withdrawn"):
        verify(signer, token)


def test_statuses() -> None:
    assert status_for(MalformedToken("x")) == 401
    assert status_for(ForgedToken("x")) == 401
    assert status_for(ExpiredToken("x")) == 401
    assert status_for(WrongStream("x")) == 403
    assert status_for(WrongClient("x")) == 403
    assert status_for(RevokedToken("x")) == 403


def test_addresses_are_normalised() -> None:
    assert normalise_address("::ffff:10.1.2.3") == "10.1.2.3"
    assert normalise_address("2001:DB8::1") == "2001:db8::1"
    assert normalise_address("fe80::1%eth0") == "fe80::1"
    assert normalise_address("testclient") == "testclient"
    assert normalise_address(None) is None


@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_token_errors(text: str) -> None:
    signer = tokens()
    try:
        accepted = verify(signer, text)
    except TokenError:
        return
    # accepted only when it really is a live token for this channel and client
    assert (accepted.channel_id, accepted.action) == (CHANNEL, StreamAction.LIVE)


def signed(payload: bytes) -> str:
    """A token over ``payload`` signed with the right key (a leak, or a future version)."""
    key = hmac.new(KEY, b"sightline/stream-token/v1", hashlib.sha256).digest()
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    head = f"s1.{body}"
    sig = hmac.new(key, head.encode(), hashlib.sha256).digest()
    return f"{head}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"


@given(st.binary(max_size=200))
def test_arbitrary_signed_payloads_raise_only_token_errors(payload: bytes) -> None:
    try:
        accepted = verify(tokens(), signed(payload))
    except TokenError:
        return
    # accepted only when it really is a live token for this channel and client
    assert (accepted.channel_id, accepted.action) == (CHANNEL, StreamAction.LIVE)


@given(
    st.dictionaries(
        st.sampled_from(["u", "n", "c", "a", "ip", "i", "e", "j", "s", "g"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    )
)
def test_arbitrary_signed_claims_raise_only_token_errors(claims: dict[str, object]) -> None:
    try:
        accepted = verify(tokens(), signed(json.dumps(claims).encode()))
    except TokenError:
        return
    # accepted only when it really is a live token for this channel and client
    assert (accepted.channel_id, accepted.action) == (CHANNEL, StreamAction.LIVE)


def test_a_signed_token_that_never_expires_is_refused() -> None:
    claims = {"u": 1, "n": "x", "c": CHANNEL, "a": "live", "i": 0, "e": float("nan"), "j": "t"}
    with pytest.raises(MalformedToken, match="finite"):
        verify(tokens(bind_client=False), signed(json.dumps(claims).encode()))
