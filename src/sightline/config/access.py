"""Settings of who may do what, and of the record of what they did."""

from __future__ import annotations

from pydantic import Field, SecretStr

from sightline.config._base import Section

__all__ = ["AccessSettings", "AdminSettings", "AuditSettings"]


class AuditSettings(Section):
    """The hash-chained audit trail (who did what, when, from where)."""

    queue_max: int = Field(
        default=100_000,
        ge=100,
        description="records held in memory for the writer; beyond this they are spilled to "
        "<data_dir>/audit-spill.jsonl and written later, never dropped",
    )
    batch_max: int = Field(
        default=1000, ge=1, le=10_000, description="records written in one transaction"
    )
    flush_interval_s: float = Field(
        default=0.2, gt=0, le=10, description="longest time a record waits before it is written"
    )
    anchor_every: int = Field(
        default=1000, ge=1, description="sign an anchor after this many records"
    )
    anchor_interval_s: float = Field(
        default=60.0, gt=0, description="sign an anchor at least this often while records arrive"
    )
    shutdown_timeout_s: float = Field(
        default=10.0, gt=0, description="how long a clean shutdown waits to write queued records"
    )


class AccessSettings(Section):
    """Departments, grants and the access-request workflow (issue 8)."""

    snapshot_ttl_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="the in-memory access model (grants, accounts, channel placements) is "
        "reloaded in the background once older than this, for other nodes' changes; this "
        "node's own changes apply at once",
    )
    sensitive_approvals: int = Field(
        default=2, ge=1, le=5, description="approvals an export or unmasked-view request needs"
    )
    request_pending_ttl_s: float = Field(
        default=3 * 86400.0, gt=0, description="a request not decided within this expires"
    )
    grant_expiry_warning_s: float = Field(
        default=86400.0, ge=0, description="holders are notified this long before a grant ends"
    )
    webhook_urls: list[str] = Field(
        default_factory=list,
        description="URLs POSTed a signed JSON event on request created/decided, grant "
        "created/revoked/expiring",
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key for the X-Sightline-Signature header"
    )
    webhook_timeout_s: float = Field(default=5.0, gt=0, description="one delivery attempt")
    webhook_retries: int = Field(
        default=5, ge=0, le=20, description="retries (exponential back-off from 1 s) per URL"
    )


class AdminSettings(Section):
    """The first administrator account."""

    password: SecretStr | None = Field(
        default=None, description="initial 'admin' password; generated and printed when empty"
    )
