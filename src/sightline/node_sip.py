"""A node's SIP parts, built from its settings: the endpoint with its flood policy, the digest
server, the REGISTER workers' configuration and the TLS context."""

from __future__ import annotations

import ssl

from sightline.config import Settings
from sightline.errors import ConfigError
from sightline.gb28181.register_channel import WorkerConfig
from sightline.sip.digest import DigestServer, NonceManager
from sightline.sip.endpoint import SipEndpoint
from sightline.sip.flood import AuthFailureTracker, FloodPolicy, RateLimiter
from sightline.sip.parser import Limits
from sightline.sip.stats import SipStats
from sightline.sip.transport import make_server_ssl_context

__all__ = ["digest_server", "sip_endpoint", "tls_context", "worker_config"]


def sip_endpoint(settings: Settings, stats: SipStats) -> tuple[SipEndpoint, FloodPolicy]:
    """The SIP endpoint (not yet listening) and the flood policy it enforces."""
    sip = settings.sip
    flood = FloodPolicy(
        RateLimiter(sip.rate_per_source, sip.rate_burst),
        AuthFailureTracker(sip.ban_after_failures, sip.ban_window_s, sip.ban_s),
        exempt=tuple(sip.flood_exempt),
    )
    endpoint = SipEndpoint(
        stats=stats,
        flood=flood,
        limits=Limits(max_message_bytes=sip.max_message_bytes),
        user_agent=f"sightline {sip.id}",
        tcp_idle_timeout_s=sip.tcp_idle_timeout_s,
    )
    return endpoint, flood


def digest_server(settings: Settings, server_key: bytes) -> DigestServer:
    """Digest authentication for REGISTER, realm ``sip.domain``, nonces signed with the key."""
    sip = settings.sip
    return DigestServer(sip.domain, NonceManager(server_key, lifetime_s=sip.nonce_lifetime_s))


def worker_config(
    settings: Settings, *, server_key: bytes, device_password: str, host: str, port: int
) -> WorkerConfig:
    """What a REGISTER worker process needs to answer as the main process would."""
    sip = settings.sip
    return WorkerConfig(
        index=0,
        host=host,
        port=port,
        realm=sip.domain,
        nonce_key=server_key.hex(),
        nonce_lifetime_s=sip.nonce_lifetime_s,
        device_password=device_password,
        expires_min_s=sip.register_expires_min_s,
        expires_max_s=sip.register_expires_max_s,
        date_header=settings.gb28181.date_header,
        max_message_bytes=sip.max_message_bytes,
        user_agent=f"sightline {sip.id}",
        rate_per_source=sip.rate_per_source,
        rate_burst=sip.rate_burst,
        flood_exempt=list(sip.flood_exempt),
        ban_after_failures=sip.ban_after_failures,
        ban_window_s=sip.ban_window_s,
        ban_s=sip.ban_s,
        log_level=settings.log.level,
        log_json=settings.log.json_output,
    )


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The server TLS context for SIP over TLS (ConfigError without a certificate and key)."""
    sip = settings.sip
    if sip.tls_cert is None or sip.tls_key is None:
        raise ConfigError("sip.tls_port needs sip.tls_cert and sip.tls_key")
    return make_server_ssl_context(str(sip.tls_cert), str(sip.tls_key))
