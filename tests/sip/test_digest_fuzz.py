"""Property tests on hostile input, plus a standalone fuzz loop.

Run ``python tests/sip/test_digest_fuzz.py [seconds]`` to hammer the parsers and the server
with random and mutated credentials for longer than the test suite does; it stops at the first
input that raises anything but DigestError (or that makes ``verify`` raise at all).
"""

from __future__ import annotations

import contextlib
import random
import sys
import time

from hypothesis import given
from hypothesis import strategies as st

from sightline.sip.digest import (
    AuthOutcome,
    DigestChallenge,
    DigestClient,
    DigestCredentials,
    DigestServer,
    NonceManager,
    parse_auth_params,
)
from sightline.sip.errors import DigestError

_SECRET = b"fuzzing secret, 32 bytes long..."
_NOW = 1_700_000_000.0
_SERVER = DigestServer("3402000000", NonceManager(_SECRET), qop=True)
_PASSWORDS = {"34020000001320000001": "12345678"}
_URI = "sip:34020000002000000001@3402000000"

# Lone surrogates included: a decoder using surrogateescape would hand them over.
_any_text = st.text(st.characters(exclude_categories=()), max_size=300)
_pieces = st.sampled_from(
    ['"', "\\", ",", "=", " ", "\t", "Digest", "DIGEST", "realm", "nonce", "qop", "nc", "\r\n"]
)
_digestish = st.lists(st.one_of(_pieces, _any_text), max_size=30).map("".join)


def _valid_authorization() -> str:
    client = DigestClient("34020000001320000001", "12345678")
    return client.authorize("REGISTER", _URI, _SERVER.challenge(_NOW))


def _exercise(value: str) -> None:
    """Everything a hostile header value reaches; only DigestError may escape the parsers."""
    for parse in (parse_auth_params, DigestChallenge.parse, DigestCredentials.parse):
        with contextlib.suppress(DigestError):
            parse(value)
    outcome = _SERVER.verify("REGISTER", value, _PASSWORDS.get, _NOW).outcome
    assert isinstance(outcome, AuthOutcome)
    _SERVER.nonces.check(value, value, _NOW)


@given(_any_text)
def test_arbitrary_text_raises_only_digest_error(value: str) -> None:
    _exercise(value)


@given(_digestish)
def test_digest_shaped_text_raises_only_digest_error(value: str) -> None:
    _exercise(value)


@given(st.binary(max_size=300))
def test_bytes_decoded_leniently_raise_only_digest_error(data: bytes) -> None:
    _exercise(data.decode("utf-8", "surrogateescape"))


@given(st.data())
def test_mutated_valid_credentials_never_authenticate_by_accident(data: st.DataObject) -> None:
    value = _valid_authorization()
    start = data.draw(st.integers(0, len(value) - 1))
    end = data.draw(st.integers(start, min(len(value), start + 8)))
    mutated = value[:start] + data.draw(st.text(max_size=8)) + value[end:]
    result = _SERVER.verify("REGISTER", mutated, _PASSWORDS.get, _NOW)
    if result.ok:
        # Only edits the parser normalises away (spacing, quoting a token, name case) may pass.
        assert DigestCredentials.parse(mutated) == DigestCredentials.parse(value)


def _mutate(rng: random.Random, value: str) -> str:
    chars = list(value)
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(len(chars) + 1)
        roll = rng.random()
        if roll < 0.4 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif roll < 0.8:
            chars.insert(pos, rng.choice('",=\\ \t\r\nDigest\x00\ud800é'))
        else:
            chars[pos:pos] = chars[: rng.randint(0, 20)]
    return "".join(chars)


def main(seconds: float) -> int:
    """Fuzz for ``seconds``; return a process exit status."""
    rng = random.Random(0)
    seeds = [_valid_authorization(), _SERVER.challenge(_NOW), 'Digest realm="r", nonce="n"']
    deadline, runs = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        value = _mutate(rng, rng.choice(seeds))
        try:
            _exercise(value)
        except Exception:
            print(f"crash after {runs} runs on {value!r}", file=sys.stderr)
            raise
        runs += 1
    print(f"{runs} inputs, no crash")
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 30.0))
