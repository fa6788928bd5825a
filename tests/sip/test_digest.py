"""Digest values and hashes: published test vectors, parsing tolerance and round trips."""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.sip.digest import (
    MAX_AUTH_PARAMS,
    MAX_AUTH_VALUE_LEN,
    DigestChallenge,
    DigestClient,
    DigestCredentials,
    canonical_algorithm,
    compute_response,
    ha1,
    parse_auth_params,
)
from sightline.sip.errors import DigestError

# GB/T 28181 REGISTER example (docs/gb28181-notes.md §2).
GB_AUTHORIZATION = (
    'Digest username="34020000001320000001",realm="3402000000",nonce="abc123",'
    'uri="sip:34020000002000000001@3402000000",'
    'response="200065e22cfd50de0c58a623ef9e91f8",algorithm=MD5'
)
GB_USER = "34020000001320000001"
GB_URI = "sip:34020000002000000001@3402000000"
GB_NO_QOP = "200065e22cfd50de0c58a623ef9e91f8"
GB_QOP_AUTH = "d3a639e0c23978df932d786e2d7bf4c3"

# RFC 2617 §3.5.
RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC2617_RESPONSE = "6629fae49393a05397450978507c4ef1"

# RFC 7616 §3.9.1.
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_MD5 = "8ca523f5e9506fed4657c9700eebdbec"
RFC7616_SHA256 = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


def _gb_response(qop: str | None = None, nc: str | None = None, cnonce: str | None = None) -> str:
    return compute_response(
        username=GB_USER,
        realm="3402000000",
        password="12345678",
        method="REGISTER",
        uri=GB_URI,
        nonce="abc123",
        qop=qop,
        nc=nc,
        cnonce=cnonce,
    )


def test_gb28181_vector_without_qop() -> None:
    assert _gb_response() == GB_NO_QOP


def test_gb28181_vector_with_qop_auth() -> None:
    assert _gb_response(qop="auth", nc="00000001", cnonce="0a4f113b") == GB_QOP_AUTH


def test_gb28181_vector_from_the_header_line() -> None:
    creds = DigestCredentials.parse(GB_AUTHORIZATION)
    assert (creds.username, creds.realm, creds.nonce, creds.uri) == (
        GB_USER,
        "3402000000",
        "abc123",
        GB_URI,
    )
    assert creds.response == GB_NO_QOP
    assert creds.algorithm == "MD5"
    assert (creds.qop, creds.nc, creds.cnonce) == (None, None, None)


def test_gb28181_vector_from_a_stored_ha1() -> None:
    stored = ha1(GB_USER, "3402000000", "12345678")
    assert stored == hashlib.md5(f"{GB_USER}:3402000000:12345678".encode()).hexdigest()
    response = compute_response(
        username=GB_USER,
        realm="3402000000",
        ha1=stored.upper(),  # stored hex case must not matter
        method="REGISTER",
        uri=GB_URI,
        nonce="abc123",
    )
    assert response == GB_NO_QOP


def test_gb28181_client_reproduces_the_qop_vector() -> None:
    client = DigestClient(GB_USER, "12345678", cnonce_factory=lambda: "0a4f113b")
    value = client.authorize(
        "REGISTER", GB_URI, 'Digest realm="3402000000",nonce="abc123",qop="auth",algorithm=MD5'
    )
    creds = DigestCredentials.parse(value)
    assert creds.response == GB_QOP_AUTH
    assert (creds.qop, creds.nc, creds.cnonce) == ("auth", "00000001", "0a4f113b")


def test_rfc2617_example() -> None:
    response = compute_response(
        username="Mufasa",
        realm="testrealm@host.com",
        password="Circle Of Life",
        method="GET",
        uri="/dir/index.html",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert response == RFC2617_RESPONSE


def test_rfc2617_example_through_the_client() -> None:
    client = DigestClient("Mufasa", "Circle Of Life", cnonce_factory=lambda: "0a4f113b")
    creds = DigestCredentials.parse(client.authorize("GET", "/dir/index.html", RFC2617_CHALLENGE))
    assert creds.response == RFC2617_RESPONSE
    assert creds.opaque == "5ccc069c403ebaf9f0171e9517f40e41"


@pytest.mark.parametrize(
    ("algorithm", "expected"), [("MD5", RFC7616_MD5), ("SHA-256", RFC7616_SHA256)]
)
def test_rfc7616_examples(algorithm: str, expected: str) -> None:
    challenge = (
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        f'nonce="{RFC7616_NONCE}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    client = DigestClient("Mufasa", "Circle of Life", cnonce_factory=lambda: RFC7616_CNONCE)
    creds = DigestCredentials.parse(client.authorize("GET", "/dir/index.html", challenge))
    assert creds.response == expected
    assert creds.algorithm == algorithm


def _hex(algorithm: str, text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.new(algorithm, data).hexdigest()


@pytest.mark.parametrize(
    ("algorithm", "hash_name"), [("MD5-sess", "md5"), ("SHA-256-sess", "sha256")]
)
def test_session_algorithms_rehash_ha1_with_nonce_and_cnonce(
    algorithm: str, hash_name: str
) -> None:
    base = _hex(hash_name, "u:r:p")
    session = _hex(hash_name, f"{base}:n:c")
    ha2 = _hex(hash_name, "INVITE:sip:x@y")
    expected = _hex(hash_name, f"{session}:n:00000001:c:auth:{ha2}")
    got = compute_response(
        username="u",
        realm="r",
        password="p",
        method="INVITE",
        uri="sip:x@y",
        nonce="n",
        qop="auth",
        nc="00000001",
        cnonce="c",
        algorithm=algorithm,
    )
    assert got == expected


def test_auth_int_hashes_the_body() -> None:
    body = b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n"
    ha2 = _hex("md5", f"INVITE:sip:x@y:{_hex('md5', body)}")
    expected = _hex("md5", f"{_hex('md5', 'u:r:p')}:n:0000000a:c:auth-int:{ha2}")
    sign = partial(
        compute_response,
        username="u",
        realm="r",
        password="p",
        method="INVITE",
        uri="sip:x@y",
        nonce="n",
        qop="auth-int",
        nc="0000000a",
        cnonce="c",
    )
    assert sign(body=body) == expected
    assert sign(body=b"other") != expected


def test_nc_is_hashed_exactly_as_received() -> None:
    sign = partial(
        compute_response,
        username="u",
        realm="r",
        password="p",
        method="REGISTER",
        uri="sip:a",
        nonce="n",
        qop="auth",
        cnonce="c",
    )
    assert sign(nc="0000000a") != sign(nc="0000000A")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"password": "p", "ha1": "00"},  # both secrets
        {},  # no secret
        {"password": "p", "algorithm": "SM3"},
        {"password": "p", "algorithm": "MD5-sess"},  # no cnonce
        {"password": "p", "qop": "auth"},  # no nc/cnonce
        {"password": "p", "qop": "bogus", "nc": "1", "cnonce": "c"},
    ],
)
def test_compute_response_rejects_unusable_input(kwargs: dict[str, Any]) -> None:
    with pytest.raises(DigestError):
        compute_response(username="u", realm="r", method="M", uri="u", nonce="n", **kwargs)


def test_canonical_algorithm() -> None:
    assert canonical_algorithm("md5") == "MD5"
    assert canonical_algorithm("sha-256-SESS") == "SHA-256-sess"
    with pytest.raises(DigestError):
        canonical_algorithm("SHA-512-256")


# --- parse_auth_params --------------------------------------------------------------------


def test_parse_tolerates_spacing_case_and_empty_elements() -> None:
    value = ' DIGEST  Username = "a b" ,realm=3402000000,,nonce="n",\turi=sip:1@2:5060 , '
    scheme, params = parse_auth_params(value)
    assert scheme == "DIGEST"
    assert params == {"username": "a b", "realm": "3402000000", "nonce": "n", "uri": "sip:1@2:5060"}


def test_parse_unescapes_quoted_pairs() -> None:
    _, params = parse_auth_params(r'Digest realm="a\"b\\c\d", nonce=""')
    assert params == {"realm": 'a"b\\cd', "nonce": ""}


def test_parse_scheme_only() -> None:
    assert parse_auth_params("Digest") == ("Digest", {})


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        '"Digest" realm="x"',
        'Digest realm="unterminated',
        "Digest realm",
        "Digest =x",
        "Digest a=b c=d",  # missing comma
        'Digest realm="x" junk',
        "Digest realm=x, realm=y",  # duplicate
        'Digest realm="a\r\nVia: injected"',
        "Digest realm=\x00",
        'Digest realm="ok"\n',
        "Digestrealm=x",
    ],
)
def test_parse_rejects_garbage(value: str) -> None:
    with pytest.raises(DigestError):
        parse_auth_params(value)


def test_parse_limits_length_and_param_count() -> None:
    too_many = "Digest " + ",".join(f"p{i}=v" for i in range(MAX_AUTH_PARAMS + 1))
    with pytest.raises(DigestError, match="auth-params"):
        parse_auth_params(too_many)
    parse_auth_params("Digest " + ",".join(f"p{i}=v" for i in range(MAX_AUTH_PARAMS)))
    with pytest.raises(DigestError, match="longer"):
        parse_auth_params(f'Digest realm="{"x" * MAX_AUTH_VALUE_LEN}"')


# --- challenge and credentials --------------------------------------------------------------


def test_challenge_defaults_and_gb_forms() -> None:
    bare = DigestChallenge.parse('Digest realm="64010000",nonce="6fe9ba44a76be22a"')
    assert bare == DigestChallenge("64010000", "6fe9ba44a76be22a")
    wvp = DigestChallenge.parse(
        'Digest realm="3402000000",nonce="n",opaque="o",qop="auth",algorithm=md5,stale=true'
    )
    assert wvp == DigestChallenge("3402000000", "n", "MD5", ("auth",), "o", stale=True)


def test_challenge_serialises_compactly() -> None:
    challenge = DigestChallenge("3402000000", "n", qop=("auth", "auth-int"), stale=True)
    assert str(challenge) == (
        'Digest realm="3402000000",nonce="n",algorithm=MD5,qop="auth,auth-int",stale=TRUE'
    )


def test_challenge_keeps_unknown_algorithm_for_the_caller() -> None:
    assert DigestChallenge.parse('Digest realm="r",nonce="n",algorithm=SM3').algorithm == "SM3"


@pytest.mark.parametrize(
    "value",
    [
        'Basic realm="r"',
        'Digest nonce="n"',
        'Digest realm="r"',
        'Digest realm="r",nonce="n",algorithm="not a token"',
    ],
)
def test_challenge_parse_rejects(value: str) -> None:
    with pytest.raises(DigestError):
        DigestChallenge.parse(value)


def test_credentials_serialise_like_the_gb_example() -> None:
    creds = DigestCredentials.parse(GB_AUTHORIZATION)
    assert str(creds) == GB_AUTHORIZATION


def test_credentials_accept_quoted_qop_and_uppercase_nc() -> None:
    creds = DigestCredentials.parse(
        'Digest username="u",realm="r",nonce="n",uri="sip:a",response="ab",'
        'qop="AUTH",nc=0000000A,cnonce="c"'
    )
    assert (creds.qop, creds.nc) == ("auth", "0000000A")


@pytest.mark.parametrize(
    "value",
    [
        'Digest realm="r",nonce="n",uri="u",response="0"',  # no username
        'Digest username="u",realm="r",nonce="n",response="0"',  # no uri
        'Digest username="u",realm="r",nonce="n",uri="u"',  # no response
        'Digest username="u",realm="r",nonce="n",uri="u",response="0",qop=auth',  # no nc
        'Digest username="u",realm="r",nonce="n",uri="u",response="0",qop=auth,nc=1',
        'Digest username="u",realm="r",nonce="n",uri="u",response="0",qop=auth,nc=x,cnonce=c',
        'Digest username="u",realm="r",nonce="n",uri="u",response="0",nc=123456789',
        'Digest username="u",realm="r",nonce="n",uri="u",response="a b"',
        'Basic username="u",realm="r",nonce="n",uri="u",response="0"',
    ],
)
def test_credentials_parse_rejects(value: str) -> None:
    with pytest.raises(DigestError):
        DigestCredentials.parse(value)


def test_values_with_line_breaks_cannot_be_built() -> None:
    with pytest.raises(DigestError):
        DigestChallenge("r\r\nVia: x", "n")
    with pytest.raises(DigestError):
        DigestCredentials("u", "r", "n", "sip:a\n", "00")


# --- round trips ----------------------------------------------------------------------------

# Quoted values: any text without control characters (quotes and backslashes included).
_text = st.text(
    st.characters(exclude_categories=["Cs", "Cc"], include_characters="\t"), max_size=40
)
_hex_text = st.text("0123456789abcdef", min_size=1, max_size=64)
_algorithms = st.sampled_from(["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"])


@st.composite
def _challenges(draw: st.DrawFn) -> DigestChallenge:
    qop = draw(st.lists(st.sampled_from(["auth", "auth-int"]), unique=True, max_size=2))
    return DigestChallenge(
        realm=draw(_text),
        nonce=draw(_text),
        algorithm=draw(_algorithms),
        qop=tuple(qop),
        opaque=draw(st.none() | _text),
        stale=draw(st.booleans()),
    )


@st.composite
def _credentials(draw: st.DrawFn) -> DigestCredentials:
    qop = draw(st.sampled_from([None, "auth", "auth-int"]))
    return DigestCredentials(
        username=draw(_text),
        realm=draw(_text),
        nonce=draw(_text),
        uri=draw(_text),
        response=draw(_hex_text),
        algorithm=draw(_algorithms),
        qop=qop,
        nc=None if qop is None else draw(st.text("0123456789abcdefABCDEF", min_size=1, max_size=8)),
        cnonce=None if qop is None else draw(_text),
        opaque=draw(st.none() | _text),
    )


@given(_challenges())
def test_challenge_round_trip(challenge: DigestChallenge) -> None:
    assert DigestChallenge.parse(str(challenge)) == challenge


@given(_credentials())
def test_credentials_round_trip(creds: DigestCredentials) -> None:
    assert DigestCredentials.parse(str(creds)) == creds
