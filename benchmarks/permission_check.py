"""Permission check cost per media request (issue 8).

Builds an access snapshot of a mid-sized site in memory: ``--departments`` departments in a
three-level tree, ``--channels`` channels spread over them and over regions and groups,
``--users`` users, and ``--grants`` grants (a third to users, the rest to departments; scopes a
mix of channel, group and region). Then times, single-threaded:

* ``decide`` for an owner's operator (allowed by role), for a user allowed by a grant, and for
  a user denied after every grant that applies to them was tried;
* the stream-token re-check a running view makes every two seconds
  (``sightline.access.stream_policy.policy_check``: login revocations + policy);
* ``visible_channels`` for a restricted user (what a channel list filters with);
* building the snapshot from the loaded rows (what a reload costs besides the queries);
* the **peer**, in the same run: the same channel decisions as one SQL query per check against
  an in-memory SQLite copy of the same rows (``benchmarks/permission_sql_peer.py``), what a
  system that asks its database on every request pays; both are first run on random
  (user, channel, action) triples and the answers that differ are counted (expected: none).

Each ns/check figure is the best of five rounds, so other load on the machine inflates it less.

Run: ``.venv/bin/python benchmarks/permission_check.py`` (``--help`` for the options).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(ROOT))

from benchmarks.permission_sql_peer import SqlPolicy, Tables, agreement  # noqa: E402
from sightline.access.actions import Action, Resource  # noqa: E402
from sightline.access.model import AccessModel  # noqa: E402
from sightline.access.policy import decide, visible_channels  # noqa: E402
from sightline.access.snapshot import AccessSnapshot, build_snapshot  # noqa: E402
from sightline.access.stream_policy import policy_check  # noqa: E402
from sightline.access.stream_tokens import StreamAction, StreamClaims  # noqa: E402
from sightline.access.tokens import Revocations  # noqa: E402
from sightline.store.models.access import Classification, GrantAction, Role, ScopeKind, Sharing  # noqa: E402
from sightline.store.repositories.access import (  # noqa: E402
    ChannelOwnership,
    ChannelPlace,
    Department,
    Grant,
    GroupLink,
    Member,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _channel_id(i: int) -> str:
    return f"3402{i % 100:02d}00001320{i:06d}"


def _tables(args: argparse.Namespace) -> Tables:
    rng = random.Random(7)
    deps = [Department(id=1, name="root", parent_id=None, region_prefix=None, created_at=NOW)]
    for i in range(2, args.departments + 1):
        parent = 1 if i < 10 else rng.randrange(2, min(i, 40))
        deps.append(
            Department(id=i, name=f"d{i}", parent_id=parent, region_prefix=None, created_at=NOW)
        )
    groups = [
        GroupLink(id=f"340200000021500{g:05d}", parent_id=None, business_group_id=None)
        for g in range(50)
    ]
    places, owners = [], []
    for i in range(args.channels):
        cid = _channel_id(i)
        places.append(
            ChannelPlace(
                id=cid,
                device_id=cid,
                civil_code=cid[:8],
                parent_id=None,
                business_group_id=groups[i % len(groups)].id,
            )
        )
        owners.append(
            ChannelOwnership(
                channel_id=cid,
                department_id=2 + i % (args.departments - 1),
                classification=Classification.PUBLIC_SECURITY,
                sharing=Sharing.NONE,
                updated_at=NOW,
            )
        )
    roles = [Role.VIEWER, Role.OPERATOR, Role.EXPORTER, Role.DEPARTMENT_ADMIN]
    members = [
        Member(
            user_id=u,
            username=f"u{u}",
            display_name="",
            disabled=False,
            is_admin=False,
            department_id=2 + u % (args.departments - 1),
            roles=frozenset({roles[u % len(roles)]}),
        )
        for u in range(1, args.users + 1)
    ]
    grants = []
    for g in range(args.grants):
        kind = (ScopeKind.CHANNEL, ScopeKind.GROUP, ScopeKind.REGION)[g % 3]
        scope = {
            ScopeKind.CHANNEL: _channel_id(rng.randrange(args.channels)),
            ScopeKind.GROUP: groups[rng.randrange(len(groups))].id,
            ScopeKind.REGION: f"3402{rng.randrange(100):02d}",
        }[kind]
        to_user = g % 3 == 0
        grants.append(
            Grant(
                id=f"{g:032x}",
                grantee_department_id=None if to_user else rng.randrange(2, args.departments + 1),
                grantee_user_id=rng.randrange(1, args.users + 1) if to_user else None,
                include_subdepartments=g % 5 == 0,
                grantor_department_id=1,
                scope_kind=kind,
                scope_id=scope,
                actions=[GrantAction.LIVE.value, GrantAction.PLAYBACK.value],
                masked_only=g % 2 == 0,
                not_before=NOW - timedelta(days=1),
                not_after=NOW + timedelta(days=1),
                created_by=None,
                created_at=NOW,
            )
        )
    return deps, members, owners, places, groups, grants


def _per_call_ns(fn: Callable[[], object], n: int, rounds: int = 5) -> float:
    """The best of ``rounds`` rounds of ``n // rounds`` calls (least disturbed by other load)."""
    for _ in range(min(n, 1000)):
        fn()
    per_round = max(n // rounds, 1)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(per_round):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / per_round)
    return best


class _FixedModel(AccessModel):
    """An AccessModel over a prepared snapshot (no database)."""

    def __init__(self, snap: AccessSnapshot) -> None:
        self._snap = snap

    def decide_now(self, user_id: int, action: Action, resource: Resource):  # type: ignore[no-untyped-def]
        return decide(self._snap, user_id, action, resource, NOW)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departments", type=int, default=60)
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--grants", type=int, default=3_000)
    parser.add_argument("--iterations", type=int, default=200_000)
    args = parser.parse_args()

    tables = _tables(args)
    start = time.perf_counter()
    snap = build_snapshot(*tables)
    build_ms = (time.perf_counter() - start) * 1000

    # an owner's operator: user u with roles[u % 4] == OPERATOR, department 2 + u % (D - 1)
    operator = next(m for m in snap.members.values() if Role.OPERATOR in m.roles)
    own = next(
        o.channel_id for o in snap.ownership.values() if o.department_id == operator.department_id
    )
    granted = next(
        (g.grantee_user_id, g.scope_id)
        for g in snap.grants.values()
        if g.grantee_user_id is not None and g.scope_kind is ScopeKind.CHANNEL
    )
    assert granted[0] is not None
    assert decide(snap, operator.user_id, Action.LIVE, Resource.channel(own), NOW).allowed
    assert decide(snap, granted[0], Action.LIVE, Resource.channel(granted[1]), NOW).allowed
    denied_user = next(
        m.user_id
        for m in snap.members.values()
        if not decide(snap, m.user_id, Action.EXPORT, Resource.channel(own), NOW).allowed
        and m.department_id != operator.department_id
    )
    n = args.iterations
    rows = [
        (
            "decide: owner's operator, live",
            _per_call_ns(
                lambda: decide(snap, operator.user_id, Action.LIVE, Resource.channel(own), NOW), n
            ),
        ),
        (
            "decide: personal grant, live",
            _per_call_ns(
                lambda: decide(
                    snap, granted[0] or 0, Action.LIVE, Resource.channel(granted[1]), NOW
                ),
                n,
            ),
        ),
        (
            "decide: denied (all grants tried)",
            _per_call_ns(
                lambda: decide(snap, denied_user, Action.EXPORT, Resource.channel(own), NOW), n
            ),
        ),
    ]
    check = policy_check(_FixedModel(snap), Revocations())
    claims = StreamClaims(
        user_id=operator.user_id,
        username=operator.username,
        channel_id=own,
        action=StreamAction.LIVE,
        client=None,
        issued_at=0,
        expires_at=1,
        token_id="t",
        session_id="s",
    )
    rows.append(("stream re-check (policy_check)", _per_call_ns(lambda: check(claims), n)))
    applicable = sum(1 for g in snap.grants.values() if g.grantee_user_id == denied_user)
    start = time.perf_counter()
    seen = visible_channels(snap, denied_user, NOW)
    visible_ms = (time.perf_counter() - start) * 1000

    print(
        f"snapshot: {args.departments} departments, {args.channels} channels, "
        f"{args.users} users, {args.grants} grants"
    )
    print(f"{'what':<40} {'ns/check':>10}")
    for name, ns in rows:
        print(f"{name:<40} {ns:>10,.0f}")
    print(
        f"visible_channels (restricted user, {len(seen or ())} of {args.channels}, "
        f"{applicable} personal grants): {visible_ms:.1f} ms"
    )
    print(f"build_snapshot from loaded rows: {build_ms:.1f} ms")

    sql = SqlPolicy(tables)
    try:
        samples, allowed, differ = agreement(sql, snap, NOW, 3000)
        grantee, scope = granted[0] or 0, granted[1]
        peer = [
            (rows[0], lambda: sql.allowed(operator.user_id, Action.LIVE, own, NOW)),
            (rows[1], lambda: sql.allowed(grantee, Action.LIVE, scope, NOW)),
            (rows[2], lambda: sql.allowed(denied_user, Action.EXPORT, own, NOW)),
        ]
        assert sql.allowed(operator.user_id, Action.LIVE, own, NOW)
        assert sql.allowed(grantee, Action.LIVE, scope, NOW)
        assert not sql.allowed(denied_user, Action.EXPORT, own, NOW)
        print(
            f"\npeer: one SQL query per check (stdlib sqlite3, in memory, same rows); "
            f"{samples} random decisions ({allowed} allowed): {differ} answers differ"
        )
        print(f"{'what':<40} {'ns/check':>10} {'SQL ns/check':>13} {'ratio':>7}")
        for (name, ns), (_, fn) in zip(rows[:3], peer, strict=True):
            peer_ns = _per_call_ns(fn, max(n // 20, 100))
            print(f"{name:<40} {ns:>10,.0f} {peer_ns:>13,.0f} {peer_ns / ns:>6.1f}x")
    finally:
        sql.close()


if __name__ == "__main__":
    main()
