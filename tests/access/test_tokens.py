"""Signed bearer tokens: issue, verify, forgery, expiry, revocation."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.access.tokens import (
    ExpiredToken,
    ForgedToken,
    MalformedToken,
    Revocations,
    RevokedToken,
    TokenError,
    TokenSigner,
)

KEY = bytes(range(32))
NOW = 1_780_000_000.25


def _signer(key: bytes = KEY) -> TokenSigner:
    return TokenSigner(key, lifetime_s=3600)


def test_round_trip() -> None:
    token, claims = _signer().issue(7, "operator", NOW)
    assert _signer().verify(token, NOW + 10) == claims
    assert (claims.user_id, claims.username, claims.issued_at) == (7, "operator", NOW)
    assert claims.expires_at == NOW + 3600
    assert token.isascii() and len(token) < 200


def test_each_token_has_its_own_id() -> None:
    signer = _signer()
    assert signer.issue(1, "a", NOW)[1].token_id != signer.issue(1, "a", NOW)[1].token_id


def test_expired() -> None:
    token, _ = _signer().issue(7, "operator", NOW)
    with pytest.raises(ExpiredToken):
        _signer().verify(token, NOW + 3600)


def test_another_key_means_forged() -> None:
    token, _ = _signer().issue(7, "operator", NOW)
    with pytest.raises(ForgedToken):
        _signer(bytes(32)).verify(token, NOW)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_an_altered_payload_is_forged() -> None:
    token, _ = _signer().issue(7, "operator", NOW)
    version, _payload, signature = token.split(".")
    admin = {"u": 1, "n": "admin", "i": NOW, "e": NOW + 10**6, "j": "x"}
    forged = f"{version}.{_b64(json.dumps(admin).encode())}.{signature}"
    with pytest.raises(ForgedToken):
        _signer().verify(forged, NOW)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "v1.a",
        "v2.a.b",
        "v1.a.b.c",
        "v1.é.b",
        "v1.é.AAAA",
        "v1.a." + "b" * 3000,
        "v1.a.!!!",
    ],
)
def test_malformed(token: str) -> None:
    with pytest.raises(MalformedToken):
        _signer().verify(token, NOW)


def test_a_correctly_signed_but_wrong_payload_is_malformed() -> None:
    """A payload we never issue (here: booleans) is refused even with a valid signature."""
    signer = _signer()
    token, _ = signer.issue(7, "operator", NOW)
    head = "v1." + _b64(json.dumps({"u": True, "n": "x", "i": 1, "e": NOW + 9, "j": "j"}).encode())
    signed = f"{head}.{_b64(signer._seal.sign(head))}"
    with pytest.raises(MalformedToken):
        signer.verify(signed, NOW)
    assert signer.verify(token, NOW).user_id == 7


@given(st.text(max_size=300) | st.text(max_size=100).map(lambda t: f"v1.{t}.{t}"))
def test_arbitrary_text_raises_only_token_errors(text: str) -> None:
    with pytest.raises(TokenError):
        _signer().verify(text, NOW)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        TokenSigner(b"short", 60)


def test_revocations() -> None:
    signer, revoked = _signer(), Revocations()
    _, first = signer.issue(7, "operator", NOW)
    _, second = signer.issue(7, "operator", NOW + 1)
    _, other = signer.issue(8, "viewer", NOW + 1)
    revoked.revoke(first)
    with pytest.raises(RevokedToken):
        revoked.check(first)
    revoked.check(second)
    revoked.revoke_user(7, NOW + 2)
    with pytest.raises(RevokedToken):
        revoked.check(second)
    revoked.check(other)
    _, later = signer.issue(7, "operator", NOW + 3)
    revoked.check(later)
    assert len(revoked) == 2
    revoked.prune(NOW + 3601 + 3600, lifetime_s=3600)
    assert len(revoked) == 0
