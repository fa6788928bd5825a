"""Nonces, DigestServer and DigestClient together, with an injected clock."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest

from sightline.sip.digest import (
    SUPPORTED_ALGORITHMS,
    AuthOutcome,
    AuthResult,
    DigestChallenge,
    DigestClient,
    DigestCredentials,
    DigestServer,
    NonceManager,
    NonceStatus,
    compute_response,
    ha1,
)
from sightline.sip.errors import DigestError

SECRET = b"0123456789abcdef0123456789abcdef"
REALM = "3402000000"
USER = "34020000001320000001"
PASSWORD = "12345678"
URI = "sip:34020000002000000001@3402000000"
T0 = 1_700_000_000.0

# Well-formed credentials for this realm, to which a case adds one bad parameter.
BASE = 'Digest username="u",realm="3402000000",nonce="n",uri="u",response="0"'

PASSWORDS = {USER: PASSWORD, "34020000001320000002": "other-secret"}


def _nonces(**kwargs: float | bool) -> NonceManager:
    return NonceManager(SECRET, **kwargs)  # type: ignore[arg-type]


@dataclass
class Pair:
    """A server and a device client sharing one fake clock."""

    server: DigestServer
    client: DigestClient
    now: float = T0

    def register(self, authorization: str | None, method: str = "REGISTER") -> AuthResult:
        return self.server.verify(method, authorization, PASSWORDS.get, self.now)

    def first_register(self) -> AuthResult:
        challenge = self.server.challenge(self.now)
        return self.register(self.client.authorize("REGISTER", URI, challenge))


def _pair(*, qop: bool, password: str = PASSWORD, **kwargs: float | bool) -> Pair:
    server = DigestServer(REALM, _nonces(**kwargs), qop=qop)
    return Pair(server, DigestClient(USER, password))


# --- NonceManager ---------------------------------------------------------------------------


def test_issued_nonces_are_unique_tokens_that_verify() -> None:
    nonces = _nonces()
    issued = {nonces.issue(T0) for _ in range(100)}
    assert len(issued) == 100
    for nonce in issued:
        assert len(nonce) == 43
        assert nonce.replace("-", "").replace("_", "").isalnum()
        assert nonces.issued_at(nonce) == T0
        assert nonces.check(nonce, None, T0 + 1) is NonceStatus.VALID


def test_nonce_ages_out() -> None:
    nonces = _nonces(lifetime_s=300.0)
    nonce = nonces.issue(T0)
    assert nonces.check(nonce, None, T0 + 300.0) is NonceStatus.VALID
    assert nonces.check(nonce, None, T0 + 300.5) is NonceStatus.STALE
    # A nonce from well in the future is a clock step: stale, so the client just retries.
    assert nonces.check(nonces.issue(T0 + 60), None, T0) is NonceStatus.STALE


def _flip(nonce: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(nonce + "="))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize("index", [0, 7, 8, 15, 16, 31])
def test_altered_nonce_is_invalid(index: int) -> None:
    nonces = _nonces()
    assert nonces.check(_flip(nonces.issue(T0), index), None, T0) is NonceStatus.INVALID


@pytest.mark.parametrize(
    "nonce",
    ["", "abc123", "x" * 43, "é" * 43, "!" * 43, "=" * 43, "A" * 44],
)
def test_garbled_nonce_is_invalid(nonce: str) -> None:
    assert _nonces().check(nonce, None, T0) is NonceStatus.INVALID


def test_nonce_from_another_secret_is_invalid() -> None:
    other = NonceManager(b"another secret of enough length!")
    assert _nonces().check(other.issue(T0), None, T0) is NonceStatus.INVALID


def test_non_canonical_spelling_is_invalid() -> None:
    nonces = _nonces()
    nonce = nonces.issue(T0)
    # The last character carries 2 data bits and 4 padding bits; setting a padding bit keeps
    # the decoded bytes but changes the spelling.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = nonce[:-1] + alphabet[alphabet.index(nonce[-1]) ^ 1]
    assert base64.urlsafe_b64decode(twin + "=") == base64.urlsafe_b64decode(nonce + "=")
    assert nonces.check(twin, None, T0) is NonceStatus.INVALID


def test_nonce_count_must_increase() -> None:
    nonces = _nonces()
    nonce = nonces.issue(T0)
    assert nonces.check(nonce, "00000001", T0) is NonceStatus.VALID
    assert nonces.check(nonce, "00000001", T0) is NonceStatus.REPLAY
    assert nonces.check(nonce, "00000003", T0) is NonceStatus.VALID  # gaps are fine
    assert nonces.check(nonce, "00000002", T0) is NonceStatus.REPLAY
    assert nonces.check(nonce, "0000000a", T0) is NonceStatus.VALID
    assert nonces.check(nonce, "0000000A", T0) is NonceStatus.REPLAY
    assert nonces.check(nonces.issue(T0), "00000000", T0) is NonceStatus.REPLAY
    assert nonces.check(nonces.issue(T0), "zz", T0) is NonceStatus.INVALID


def test_without_qop_a_nonce_is_reusable_within_its_lifetime() -> None:
    nonces = _nonces()
    nonce = nonces.issue(T0)
    assert [nonces.check(nonce, None, T0 + i) for i in range(3)] == [NonceStatus.VALID] * 3
    assert nonces.tracked == 0


def test_single_use_nonces() -> None:
    nonces = _nonces(single_use=True)
    plain, counted = nonces.issue(T0), nonces.issue(T0)
    assert nonces.check(plain, None, T0) is NonceStatus.VALID
    assert nonces.check(plain, None, T0) is NonceStatus.REPLAY
    assert nonces.check(counted, "00000001", T0) is NonceStatus.VALID
    assert nonces.check(counted, "00000002", T0) is NonceStatus.REPLAY


def test_replay_table_is_bounded_and_eviction_never_admits_a_replay() -> None:
    nonces = _nonces(max_tracked=10)
    early = [nonces.issue(T0 + i) for i in range(20)]
    for nonce in early:
        assert nonces.check(nonce, "00000001", T0 + 30) is NonceStatus.VALID
        assert nonces.tracked <= 10
    # The first ten were evicted: replaying them must not pass, nor may an unused older nonce
    # be trusted, but a nonce issued after the eviction works normally.
    assert nonces.check(early[0], "00000001", T0 + 30) is NonceStatus.STALE
    assert nonces.check(early[0], "00000002", T0 + 30) is NonceStatus.STALE
    assert nonces.check(early[-1], "00000001", T0 + 30) is NonceStatus.REPLAY
    fresh = nonces.issue(T0 + 31)
    assert nonces.check(fresh, "00000001", T0 + 31) is NonceStatus.VALID


def test_expired_entries_are_dropped_from_the_replay_table() -> None:
    nonces = _nonces(lifetime_s=10.0)
    for i in range(5):
        nonces.check(nonces.issue(T0 + i), "00000001", T0 + i)
    assert nonces.tracked == 5
    nonces.check(nonces.issue(T0 + 100), "00000001", T0 + 100)
    assert nonces.tracked == 1


@pytest.mark.parametrize("kwargs", [{"secret": b"short"}, {"lifetime_s": 0.0}, {"max_tracked": 0}])
def test_nonce_manager_rejects_bad_settings(kwargs: dict[str, object]) -> None:
    settings: dict[str, object] = {"secret": SECRET, **kwargs}
    with pytest.raises(ValueError):
        NonceManager(**settings)  # type: ignore[arg-type]


# --- DigestServer with DigestClient -----------------------------------------------------------


@pytest.mark.parametrize("qop", [False, True])
def test_round_trip_and_refresh_without_a_new_challenge(qop: bool) -> None:
    pair = _pair(qop=qop)
    assert pair.register(None).outcome is AuthOutcome.MISSING
    result = pair.first_register()
    assert result == AuthResult(AuthOutcome.OK, USER, "ok")
    pair.now += 60
    again = pair.client.authorize_again("REGISTER", URI)
    assert pair.register(again).ok
    creds = DigestCredentials.parse(again)
    assert creds.nc == ("00000002" if qop else None)
    assert (creds.qop is not None) is qop


def test_device_ignoring_offered_qop_is_accepted_but_bounded_by_lifetime() -> None:
    # [SSIP]-style devices answer a WVP-style qop="auth" challenge without qop.
    pair = _pair(qop=True, lifetime_s=300.0)
    nonce = DigestChallenge.parse(pair.server.challenge(pair.now)).nonce
    value = pair.client.authorize("REGISTER", URI, str(DigestChallenge(REALM, nonce)))
    assert DigestCredentials.parse(value).qop is None
    assert pair.register(value).ok
    assert pair.register(value).ok  # no count, so only the lifetime limits reuse
    pair.now += 301
    assert pair.register(value).outcome is AuthOutcome.STALE


def test_challenge_offers_qop_only_when_configured() -> None:
    assert DigestChallenge.parse(_pair(qop=False).server.challenge(T0)).qop == ()
    parsed = DigestChallenge.parse(_pair(qop=True).server.challenge(T0, stale=True))
    assert parsed.qop == ("auth",)
    assert parsed.stale
    assert parsed.realm == REALM


@pytest.mark.parametrize(("qop", "stale"), [(False, False), (False, True), (True, False)])
def test_challenge_text_is_the_one_digest_challenge_writes(qop: bool, stale: bool) -> None:
    server = _pair(qop=qop).server
    for _ in range(50):
        value = server.challenge(T0, stale=stale)
        challenge = DigestChallenge.parse(value)
        assert value == str(challenge) and challenge.stale == stale
        assert server.nonces.issued_at(challenge.nonce) == T0


def test_stale_nonce_then_recovery() -> None:
    pair = _pair(qop=False, lifetime_s=300.0)
    assert pair.first_register().ok
    pair.now += 3600
    stale = pair.register(pair.client.authorize_again("REGISTER", URI))
    assert stale.outcome is AuthOutcome.STALE
    assert stale.username == USER
    answer = pair.client.authorize("REGISTER", URI, pair.server.challenge(pair.now, stale=True))
    assert pair.register(answer).ok


def test_forged_nonce_with_right_password_gets_a_fresh_challenge() -> None:
    pair = _pair(qop=False)
    forged = 'Digest realm="3402000000",nonce="abc123"'
    result = pair.register(pair.client.authorize("REGISTER", URI, forged))
    assert result.outcome is AuthOutcome.STALE
    assert "not issued" in result.reason


def test_forged_nonce_with_wrong_password_is_forbidden() -> None:
    pair = _pair(qop=False, password="guess")
    result = pair.register(
        pair.client.authorize("REGISTER", URI, 'Digest realm="3402000000",nonce="abc123"')
    )
    assert result.outcome is AuthOutcome.FORBIDDEN


def test_gb28181_example_header_verifies_but_its_nonce_is_foreign() -> None:
    server = DigestServer(REALM, _nonces())
    header = (
        'Digest username="34020000001320000001",realm="3402000000",nonce="abc123",'
        'uri="sip:34020000002000000001@3402000000",'
        'response="200065e22cfd50de0c58a623ef9e91f8",algorithm=MD5'
    )
    assert server.verify("REGISTER", header, PASSWORDS.get, T0).outcome is AuthOutcome.STALE
    wrong = {USER: "87654321"}.get
    assert server.verify("REGISTER", header, wrong, T0).outcome is AuthOutcome.FORBIDDEN


def test_replayed_nonce_count_is_refused_without_consuming_anything() -> None:
    pair = _pair(qop=True)
    challenge = pair.server.challenge(pair.now)
    first = pair.client.authorize("REGISTER", URI, challenge)
    assert pair.register(first).ok
    replay = pair.register(first)
    assert replay.outcome is AuthOutcome.STALE
    assert replay.reason == "nonce count replayed"
    assert pair.register(pair.client.authorize_again("REGISTER", URI)).ok


def test_single_use_server_rechallenges_a_reused_nonce() -> None:
    pair = _pair(qop=False, single_use=True)
    assert pair.first_register().ok
    assert pair.register(pair.client.authorize_again("REGISTER", URI)).outcome is AuthOutcome.STALE


@pytest.mark.parametrize("user", [USER, "34020000001320000099"])
def test_wrong_password_or_unknown_user_is_forbidden(user: str) -> None:
    server = DigestServer(REALM, _nonces())
    client = DigestClient(user, "wrong-password")
    result = server.verify(
        "REGISTER", client.authorize("REGISTER", URI, server.challenge(T0)), PASSWORDS.get, T0
    )
    assert result.outcome is AuthOutcome.FORBIDDEN
    assert result.username == user


def test_wrong_password_does_not_use_up_the_nonce_count() -> None:
    server = DigestServer(REALM, _nonces(), qop=True)
    challenge = server.challenge(T0)
    bad = DigestClient(USER, "nope", cnonce_factory=lambda: "c").authorize(
        "REGISTER", URI, challenge
    )
    good = DigestClient(USER, PASSWORD, cnonce_factory=lambda: "c").authorize(
        "REGISTER", URI, challenge
    )
    assert server.verify("REGISTER", bad, PASSWORDS.get, T0).outcome is AuthOutcome.FORBIDDEN
    assert server.verify("REGISTER", good, PASSWORDS.get, T0).ok


def test_other_realm_is_forbidden_but_realm_case_is_tolerated() -> None:
    server = DigestServer("3402000000.spvmn.cn", _nonces())
    nonce = server.nonces.issue(T0)
    for realm, outcome in [
        ("3402000000.SPVMN.CN", AuthOutcome.OK),
        ("4401000000.spvmn.cn", AuthOutcome.FORBIDDEN),
    ]:
        client = DigestClient(USER, PASSWORD)
        value = client.authorize("REGISTER", URI, str(DigestChallenge(realm, nonce)))
        assert server.verify("REGISTER", value, PASSWORDS.get, T0).outcome is outcome


def test_uri_from_the_header_is_hashed_even_if_it_differs_from_the_request_uri() -> None:
    pair = _pair(qop=False)
    challenge = pair.server.challenge(pair.now)
    value = pair.client.authorize("REGISTER", "sip:3402000000", challenge)
    assert pair.register(value).ok


def test_method_is_part_of_the_hash() -> None:
    pair = _pair(qop=False)
    value = pair.client.authorize("REGISTER", URI, pair.server.challenge(pair.now))
    assert pair.register(value, method="INVITE").outcome is AuthOutcome.FORBIDDEN


def test_missing_algorithm_means_md5_and_uppercase_response_is_accepted() -> None:
    server = DigestServer(REALM, _nonces())
    nonce = server.nonces.issue(T0)
    response = compute_response(
        username=USER, realm=REALM, password=PASSWORD, method="REGISTER", uri=URI, nonce=nonce
    )
    value = (
        f'Digest username="{USER}",realm="{REALM}",nonce="{nonce}",uri="{URI}",'
        f'response="{response.upper()}"'
    )
    assert server.verify("REGISTER", value, PASSWORDS.get, T0).ok


def test_nc_is_verified_as_received_not_reformatted() -> None:
    server = DigestServer(REALM, _nonces(), qop=True)
    nonce = server.nonces.issue(T0)
    response = compute_response(
        username=USER,
        realm=REALM,
        password=PASSWORD,
        method="REGISTER",
        uri=URI,
        nonce=nonce,
        qop="auth",
        nc="0000000a",
        cnonce="c",
    )
    creds = DigestCredentials(
        USER, REALM, nonce, URI, response, qop="auth", nc="0000000a", cnonce="c"
    )
    assert server.verify("REGISTER", str(creds), PASSWORDS.get, T0).ok


def test_stored_ha1_lookup() -> None:
    server = DigestServer(REALM, _nonces(), qop=True)
    stored = {USER: ha1(USER, REALM, PASSWORD)}
    value = DigestClient(USER, PASSWORD).authorize("REGISTER", URI, server.challenge(T0))
    assert server.verify_ha1("REGISTER", value, stored.get, T0).ok
    nobody: dict[str, str] = {}
    assert server.verify_ha1("REGISTER", value, nobody.get, T0).outcome is AuthOutcome.FORBIDDEN


@pytest.mark.parametrize("algorithm", SUPPORTED_ALGORITHMS)
def test_every_algorithm_round_trips(algorithm: str) -> None:
    server = DigestServer(REALM, _nonces(), qop=True, algorithm=algorithm)
    value = DigestClient(USER, PASSWORD).authorize("REGISTER", URI, server.challenge(T0))
    assert server.verify("REGISTER", value, PASSWORDS.get, T0).ok


def test_auth_int_covers_the_body() -> None:
    server = DigestServer(REALM, _nonces())
    nonce = server.nonces.issue(T0)
    challenge = str(DigestChallenge(REALM, nonce, qop=("auth-int",)))
    body = b"<?xml version='1.0'?><Control/>"
    value = DigestClient(USER, PASSWORD).authorize("MESSAGE", URI, challenge, body)
    assert server.verify("MESSAGE", value, PASSWORDS.get, T0, body=body).ok
    tampered = server.verify("MESSAGE", value, PASSWORDS.get, T0, body=body + b" ")
    assert tampered.outcome is AuthOutcome.FORBIDDEN


@pytest.mark.parametrize(
    ("authorization", "outcome"),
    [
        (None, AuthOutcome.MISSING),
        ("  ", AuthOutcome.MISSING),
        ('Basic dXNlcjpwYXNz"', AuthOutcome.MISSING),
        ('Digest "username"="u"', AuthOutcome.BAD_REQUEST),
        ("Basic dXNlcjpwYXNz", AuthOutcome.MISSING),
        ('Capability algorithm="A:RSA/ECB/PKCS1"', AuthOutcome.MISSING),
        ('Digest username="u",realm=', AuthOutcome.BAD_REQUEST),
        ('Digest username="u",realm="r"', AuthOutcome.BAD_REQUEST),
        (
            BASE + ",algorithm=SHA-256",
            AuthOutcome.BAD_REQUEST,
        ),
        (
            BASE + ",algorithm=SM3",
            AuthOutcome.BAD_REQUEST,
        ),
        (
            BASE + ",qop=x,nc=1,cnonce=c",
            AuthOutcome.BAD_REQUEST,
        ),
    ],
)
def test_malformed_or_foreign_credentials(authorization: str | None, outcome: AuthOutcome) -> None:
    server = DigestServer(REALM, _nonces())
    assert server.verify("REGISTER", authorization, PASSWORDS.get, T0).outcome is outcome


def test_session_algorithm_without_cnonce_is_a_bad_request() -> None:
    server = DigestServer(REALM, _nonces(), algorithm="MD5-sess")
    value = (
        f'Digest username="{USER}",realm="{REALM}",nonce="n",uri="u",response="0",'
        "algorithm=MD5-sess"
    )
    assert server.verify("REGISTER", value, PASSWORDS.get, T0).outcome is AuthOutcome.BAD_REQUEST


def test_server_rejects_unsupported_algorithm_and_unsendable_realm() -> None:
    with pytest.raises(DigestError):
        DigestServer(REALM, _nonces(), algorithm="SM3")
    with pytest.raises(DigestError):
        DigestServer("bad\r\nrealm", _nonces())


# --- DigestClient ------------------------------------------------------------------------------


def test_client_counts_per_nonce_and_restarts_on_a_new_one() -> None:
    client = DigestClient(USER, PASSWORD)
    first = 'Digest realm="r",nonce="one",qop="auth-int,auth"'
    counts = [DigestCredentials.parse(client.authorize("REGISTER", URI, first)).nc]
    counts += [
        DigestCredentials.parse(client.authorize_again("REGISTER", URI)).nc for _ in range(10)
    ]
    assert counts == [f"{i:08x}" for i in range(1, 12)]
    creds = DigestCredentials.parse(client.authorize("REGISTER", URI, first))
    assert (creds.nc, creds.qop) == ("0000000c", "auth")
    renewed = client.authorize("REGISTER", URI, 'Digest realm="r",nonce="two",qop="auth"')
    assert DigestCredentials.parse(renewed).nc == "00000001"
    assert client.challenge is not None
    assert client.challenge.nonce == "two"


def test_client_cnonces_are_fresh() -> None:
    client = DigestClient(USER, PASSWORD)
    client.authorize("REGISTER", URI, 'Digest realm="r",nonce="n",qop="auth"')
    cnonces = {
        DigestCredentials.parse(client.authorize_again("REGISTER", URI)).cnonce for _ in range(50)
    }
    assert len(cnonces) == 50


@pytest.mark.parametrize(
    "challenge",
    [
        'Digest realm="r",nonce="n",qop="auth-conf"',
        'Digest realm="r",nonce="n",algorithm=SM3',
        'Basic realm="r"',
    ],
)
def test_client_refuses_challenges_it_cannot_answer(challenge: str) -> None:
    with pytest.raises(DigestError):
        DigestClient(USER, PASSWORD).authorize("REGISTER", URI, challenge)


def test_client_needs_a_challenge_before_authorize_again() -> None:
    with pytest.raises(DigestError):
        DigestClient(USER, PASSWORD).authorize_again("REGISTER", URI)
