"""Settings of the device side: the SIP listener and GB/T 28181 device access."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from sightline.config._base import Section, check_gb_id, check_ip

__all__ = ["Gb28181Settings", "SipSettings"]


class SipSettings(Section):
    """The SIP side: where devices and platforms register."""

    host: str = Field(default="0.0.0.0", description="SIP listen address (UDP and TCP)")
    port: int = Field(default=5060, ge=1, le=65535, description="SIP listen port (UDP and TCP)")
    tls_port: int | None = Field(
        default=None, ge=1, le=65535, description="SIP over TLS port; empty disables TLS"
    )
    tls_cert: Path | None = Field(default=None, description="PEM certificate chain for SIP TLS")
    tls_key: Path | None = Field(default=None, description="PEM private key for SIP TLS")
    id: str = Field(default="34020000002000000001", description="this platform's 20-digit ID")
    domain: str = Field(default="3402000000", description="SIP domain and digest realm")
    device_password: SecretStr | None = Field(
        default=None,
        description="default password for devices; generated, stored and printed when empty",
    )
    external_host: str | None = Field(
        default=None, description="address written into Via/Contact when host is 0.0.0.0"
    )
    register_expires_min_s: int = Field(
        default=60, ge=1, description="shortest registration accepted (423 below)"
    )
    register_expires_max_s: int = Field(
        default=86400, ge=60, description="longest registration granted"
    )
    nonce_lifetime_s: float = Field(
        default=300.0, gt=0, description="how long a digest nonce stays valid"
    )
    rate_per_source: float = Field(
        default=200.0, gt=0, description="messages per second accepted from one source address"
    )
    rate_burst: int = Field(default=400, ge=1, description="burst allowed above that rate")
    ban_after_failures: int = Field(
        default=10, ge=1, description="failed digest logins from one address before a ban"
    )
    ban_window_s: float = Field(default=60.0, gt=0, description="window counting failures")
    ban_s: float = Field(default=300.0, gt=0, description="how long a ban lasts")
    flood_exempt: list[str] = Field(
        default_factory=list,
        description="addresses or networks never rate-limited or banned (e.g. a lower platform)",
    )
    max_message_bytes: int = Field(
        default=1_048_576, ge=1024, description="largest SIP message accepted on TCP/TLS"
    )
    tcp_idle_timeout_s: float = Field(
        default=600.0, gt=0, description="close TCP connections idle this long"
    )
    max_tcp_connections: int = Field(default=20_000, ge=1, description="TCP/TLS connection cap")
    register_workers: Annotated[int, Field(ge=0, le=64)] | Literal["auto"] = Field(
        default="auto",
        description="extra processes answering UDP REGISTER on the same port (SO_REUSEPORT): "
        "a number (0 = the main process answers everything) or auto = one per CPU core the "
        "process may use, when there are 2 or more",
    )

    def register_worker_count(self) -> int:
        """``register_workers`` as a number (auto resolved on this machine)."""
        if self.register_workers != "auto":
            return self.register_workers
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        return cores if cores > 1 else 0

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return check_gb_id(value, 20, "sip.id")

    @field_validator("domain")
    @classmethod
    def _valid_domain(cls, value: str) -> str:
        if not value or any(c.isspace() or c in '<>"@;' for c in value):
            raise ValueError(f"sip.domain {value!r} is not a valid SIP domain")
        return value

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        return check_ip(value, "sip.host")

    @field_validator("flood_exempt")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"sip.flood_exempt entry {item!r}: {exc}") from None
        return value


class Gb28181Settings(Section):
    """Device access behaviour (GB/T 28181)."""

    keepalive_interval_s: float = Field(
        default=60.0, gt=0, description="expected keepalive interval of devices (standard: 60)"
    )
    keepalive_timeout_count: int = Field(
        default=3, ge=1, description="missed keepalives before a device is offline (standard: 3)"
    )
    query_timeout_s: float = Field(
        default=10.0, gt=0, description="how long to wait for a device's answer to a query"
    )
    catalog_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="how long to collect a multi-message catalog; what arrived is kept",
    )
    catalog_subscribe_expires_s: int = Field(
        default=3600, ge=0, description="catalog subscription to each device; 0 disables it"
    )
    alarm_subscribe_expires_s: int = Field(
        default=3600, ge=0, description="alarm subscription to each device; 0 disables it"
    )
    date_header: bool = Field(
        default=True, description="send Date in REGISTER 200 so devices set their clocks"
    )
    store_flush_interval_s: float = Field(
        default=2.0, gt=0, description="how often keepalive times are written to the database"
    )
    last_seen_store_s: float = Field(
        default=300.0,
        ge=0,
        description=(
            "a device's keepalive time is written to the database at most this often (the API "
            "shows the live time of online devices, and going offline writes the last one); "
            "0 writes every keepalive"
        ),
    )
