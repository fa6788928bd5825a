"""SIP digest authentication: one import point for the codec, the server and the client.

    digest_codec    parse/format WWW-Authenticate and Authorization values, response hashes
    digest_nonce    stateless HMAC nonces, bounded replay tracking
    digest_server   DigestServer.verify() -> AuthResult (OK/MISSING/STALE/BAD_REQUEST/FORBIDDEN)
    digest_client   DigestClient for the simulator and upward cascade registration

Supported algorithms: MD5, MD5-sess, SHA-256, SHA-256-sess; qop auth and auth-int.
"""

from __future__ import annotations

from sightline.sip.digest_client import DigestClient
from sightline.sip.digest_codec import (
    MAX_AUTH_PARAMS,
    MAX_AUTH_VALUE_LEN,
    SUPPORTED_ALGORITHMS,
    DigestChallenge,
    DigestCredentials,
    canonical_algorithm,
    compute_response,
    ha1,
    parse_auth_params,
)
from sightline.sip.digest_nonce import NonceManager, NonceStatus
from sightline.sip.digest_server import AuthOutcome, AuthResult, DigestServer

__all__ = [
    "MAX_AUTH_PARAMS",
    "MAX_AUTH_VALUE_LEN",
    "SUPPORTED_ALGORITHMS",
    "AuthOutcome",
    "AuthResult",
    "DigestChallenge",
    "DigestClient",
    "DigestCredentials",
    "DigestServer",
    "NonceManager",
    "NonceStatus",
    "canonical_algorithm",
    "compute_response",
    "ha1",
    "parse_auth_params",
]
