"""Access control for the views a media worker serves: admission, re-checks and audit in the
main process (``WorkerViews``), and the worker's side of the verdicts (``RemoteVerdicts``).

A real AuthService and access model on a migrated SQLite database; stream tokens as a node
issues them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome
from sightline.access.service import AuthService
from sightline.access.stream_policy import policy_check
from sightline.access.stream_tokens import (
    StreamAction,
    StreamClaims,
    StreamTokens,
    claims_to_fields,
)
from sightline.access.tokens import RevokedToken
from sightline.gb28181.live_channel import REPORT_CHUNK, AuditRecord, LiveMessage
from sightline.media_worker import RemoteVerdicts, _AuditForwarder
from sightline.node_media_workers import WorkerViews
from sightline.store import Database
from sightline.store.models.access import Role
from tests.access.fixtures import Sleeps, sqlite_db
from tests.store.conftest import sqlite_migrated

__all__ = ["sqlite_db", "sqlite_migrated"]  # the fixtures this module uses

KEY = b"worker-views-test-key-0123456789"
CHANNEL = "34020000001310000001"


@dataclass
class Views:
    auth: AuthService
    tokens: StreamTokens
    views: WorkerViews
    revoked: list[tuple[int, str, str]] = field(default_factory=list)
    audits: list[AuditEvent] = field(default_factory=list)

    def claims(self, user_id: int, username: str) -> StreamClaims:
        _token, claims = self.tokens.issue(
            user_id=user_id,
            username=username,
            channel_id=CHANNEL,
            action=StreamAction.LIVE,
            client="127.0.0.1",
        )
        return claims


class _Audit:
    def __init__(self, into: list[AuditEvent]) -> None:
        self.into = into

    def record(self, event: AuditEvent) -> None:
        self.into.append(event)


@pytest.fixture
async def views(sqlite_db: Database) -> AsyncIterator[Views]:
    auth = AuthService(sqlite_db, KEY, token_lifetime_s=3600, sleep=Sleeps())
    await auth.ensure_admin("admin-pw")
    tokens = StreamTokens(KEY, 60)
    tokens.add_revocation_check(policy_check(auth.access, auth.revocations))
    audits: list[AuditEvent] = []
    views = WorkerViews(auth=auth, tokens=tokens, masks=True, audit=_Audit(audits))
    rig = Views(auth, tokens, views, audits=audits)
    views.revoke = lambda index, token_id, reason: rig.revoked.append((index, token_id, reason))
    await auth.access.refresh()
    yield rig
    await auth.access.close()


async def _user(views: Views, name: str, role: Role) -> int:
    user = await views.auth.create_user(name, f"{name}-pw", roles=[role])
    await views.auth.access.refresh()
    return user.id


async def test_a_view_is_admitted_unless_revoked_or_to_be_masked(views: Views) -> None:
    operator = await _user(views, "op", Role.OPERATOR)
    viewer = await _user(views, "tv", Role.VIEWER)  # may watch, masked only
    fine = views.claims(operator, "op")
    assert await views.views.admit(claims_to_fields(fine)) == (None, 200)
    refusal, status = await views.views.admit(claims_to_fields(views.claims(viewer, "tv")))
    assert status == 403 and refusal is not None and "masked" in refusal
    views.tokens.revocations.revoke_token(fine)
    refusal, status = await views.views.admit(claims_to_fields(fine))
    assert status == 403 and refusal is not None and "revoked" in refusal
    refusal, status = await views.views.admit({"user_id": "not claims"})
    assert status == 401 and refusal is not None


async def test_running_views_are_rechecked_and_revoked_once(views: Views) -> None:
    operator = await _user(views, "op", Role.OPERATOR)
    first, second = views.claims(operator, "op"), views.claims(operator, "op")
    views.views.watching(1, [claims_to_fields(first)])
    views.views.watching(2, [claims_to_fields(second), {"garbage": True}])
    views.views.sweep()
    assert views.revoked == []
    # every stream of the user revoked, as disabling the account does
    views.tokens.revocations.revoke_user(operator, second.issued_at + 1)
    views.views.sweep()
    views.views.sweep()
    assert sorted((i, t) for i, t, _r in views.revoked) == sorted(
        [(1, first.token_id), (2, second.token_id)]
    )
    assert all("revoked" in reason for _i, _t, reason in views.revoked)


async def test_a_worker_views_audit_event_reaches_the_chain_as_recorded(views: Views) -> None:
    sent: list[LiveMessage] = []
    event = AuditEvent(
        AuditAction.LIVE_STOP,
        AuditOutcome.OK,
        username="op",
        user_id=2,
        channel_id=CHANNEL,
        address="127.0.0.1",
        detail={"token": "abc", "transport": "ws", "seconds": 12.5},
    )
    _AuditForwarder(sent.append).record(event)
    (message,) = sent
    assert isinstance(message, AuditRecord)
    views.views.audit(message.event)
    views.views.audit({"action": "no.such.action"})  # logged and dropped
    assert views.audits == [event]


def test_the_worker_raises_the_main_process_verdict_at_the_next_check() -> None:
    tokens = StreamTokens(KEY, 60)
    verdicts = RemoteVerdicts()
    claims = [
        tokens.issue(
            user_id=3, username="op", channel_id=CHANNEL, action=StreamAction.LIVE, client=None
        )[1]
        for _ in range(250)
    ]
    for each in claims:
        verdicts(each)  # each view's token check reports it
    packets = verdicts.report()
    assert [len(p.claims) for p in packets] == [REPORT_CHUNK, REPORT_CHUNK, 50]
    assert verdicts.report() == []  # only what checked since
    verdicts.revoke(claims[7].token_id, "the grant was revoked", now=100.0)
    with pytest.raises(RevokedToken, match="grant was revoked"):
        verdicts(claims[7])
    verdicts(claims[8])
    verdicts.revoke("other", "x", now=100.0 + 7200)  # an old verdict is forgotten meanwhile
    verdicts(claims[7])
