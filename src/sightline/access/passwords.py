"""Password hashing with argon2id.

The parameters follow the OWASP minimum for argon2id (19 MiB, 2 passes, 1 lane): about 30 ms
per hash on a small server, so a burst of logins cannot exhaust memory the way the 64 MiB
RFC 9106 profile would, while an offline guess still costs the attacker the same memory.
Stored hashes carry their parameters; :func:`verify_password` says when a hash was made with
other parameters so the caller can store a fresh one after a successful login.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "DEFAULT_POLICY",
    "MAX_PASSWORD_LENGTH",
    "PasswordCheck",
    "PasswordPolicy",
    "dummy_verify",
    "hash_password",
    "verify_password",
]

# Argon2 accepts any length, but hashing a multi-megabyte "password" is a cheap way to burn
# CPU; real passwords and passphrases stay far below this.
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """Argon2id cost parameters."""

    time_cost: int = 2
    memory_kib: int = 19 * 1024
    parallelism: int = 1

    def hasher(self) -> PasswordHasher:
        """An argon2-cffi hasher for these parameters."""
        return PasswordHasher(
            time_cost=self.time_cost,
            memory_cost=self.memory_kib,
            parallelism=self.parallelism,
            type=Type.ID,
        )


DEFAULT_POLICY = PasswordPolicy()


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """Outcome of a verification: ``ok`` and whether the stored hash should be replaced."""

    ok: bool
    needs_rehash: bool = False


def hash_password(password: str, policy: PasswordPolicy = DEFAULT_POLICY) -> str:
    """The encoded argon2id hash (salt and parameters included) of ``password``."""
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"passwords are limited to {MAX_PASSWORD_LENGTH} characters")
    return policy.hasher().hash(password)


def verify_password(
    password_hash: str, password: str, policy: PasswordPolicy = DEFAULT_POLICY
) -> PasswordCheck:
    """Check ``password`` against ``password_hash``; a malformed hash simply does not match.

    argon2 recomputes the hash and compares in constant time, so the time taken does not depend
    on how much of the password was right.
    """
    if len(password) > MAX_PASSWORD_LENGTH:
        return PasswordCheck(ok=False)
    hasher = policy.hasher()
    try:
        hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return PasswordCheck(ok=False)
    return PasswordCheck(ok=True, needs_rehash=hasher.check_needs_rehash(password_hash))


@functools.lru_cache(maxsize=4)
def _dummy_hash(policy: PasswordPolicy) -> str:
    """A hash of a random password, made once per policy."""
    return hash_password(secrets.token_urlsafe(16), policy)


def dummy_verify(password: str, policy: PasswordPolicy = DEFAULT_POLICY) -> None:
    """Do the work of one failed verification, so an unknown user takes as long as a known one."""
    verify_password(_dummy_hash(policy), password[:MAX_PASSWORD_LENGTH], policy)
