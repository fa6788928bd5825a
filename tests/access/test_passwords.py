"""argon2id password hashes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.access.passwords import (
    MAX_PASSWORD_LENGTH,
    PasswordCheck,
    PasswordPolicy,
    hash_password,
    verify_password,
)

# The cheapest parameters argon2 accepts, for the property test's many hashes.
FAST = PasswordPolicy(time_cost=1, memory_kib=8, parallelism=1)


def test_hash_is_argon2id_with_the_policy_parameters() -> None:
    encoded = hash_password("correct horse")
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert hash_password("correct horse") != encoded  # salted


def test_verify() -> None:
    encoded = hash_password("correct horse")
    assert verify_password(encoded, "correct horse") == PasswordCheck(ok=True)
    assert verify_password(encoded, "correct horsE") == PasswordCheck(ok=False)
    assert verify_password(encoded, "") == PasswordCheck(ok=False)


def test_a_hash_made_with_other_parameters_asks_for_a_rehash() -> None:
    old = hash_password("pw", FAST)
    assert verify_password(old, "pw") == PasswordCheck(ok=True, needs_rehash=True)


def test_malformed_hashes_do_not_match() -> None:
    for stored in ("", "plain", "$argon2id$v=19$m=1,t=1,p=1$AAAA$BBBB", "$2b$12$bcrypt"):
        assert verify_password(stored, "plain") == PasswordCheck(ok=False)


def test_overlong_passwords_are_refused_without_hashing() -> None:
    encoded = hash_password("x")
    assert verify_password(encoded, "x" * (MAX_PASSWORD_LENGTH + 1)) == PasswordCheck(ok=False)


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_only_the_same_password_verifies(password: str, other: str) -> None:
    encoded = hash_password(password, FAST)
    assert verify_password(encoded, password, FAST).ok
    assert verify_password(encoded, other, FAST).ok == (other == password)
