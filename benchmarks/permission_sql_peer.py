"""The same-run peer of ``permission_check.py``: the channel decision as one SQL query per check.

What many systems do instead of an in-memory policy: keep departments, members, roles, channel
ownership and grants in tables and ask the database on every request. The same rows as the
benchmark's snapshot go into an in-memory SQLite database (stdlib ``sqlite3``, indexed on what
the query looks up), and one query answers "may user U do action A on channel C now": the
owning department or one above it with a role that allows A, or a valid grant covering C
(personal; or to the user's department, or to one above it with ``include_subdepartments``,
with a role that allows A), scope by channel, business group or civil-code prefix, granted by a
department at or above the owner. Sharing and region-prefixed grantors are left out: the
benchmark's data has neither (every channel ``Sharing.NONE``, every grant from the root).

``agreement`` runs both on random (user, channel, action) triples and counts the answers that
differ, so the comparison is between two implementations of the same decision.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime

from sightline.access.actions import Action, Resource
from sightline.access.policy import ROLE_ACTIONS, decide
from sightline.access.snapshot import AccessSnapshot
from sightline.store.models.access import GrantAction
from sightline.store.repositories.access import (
    ChannelOwnership,
    ChannelPlace,
    Department,
    Grant,
    GroupLink,
    Member,
)

__all__ = ["SqlPolicy", "Tables", "agreement"]

Tables = tuple[
    list[Department],
    list[Member],
    list[ChannelOwnership],
    list[ChannelPlace],
    list[GroupLink],
    list[Grant],
]

_GRANT_ACTION = {
    Action.LIVE: GrantAction.LIVE,
    Action.PLAYBACK: GrantAction.PLAYBACK,
    Action.PTZ: GrantAction.PTZ,
    Action.EXPORT: GrantAction.EXPORT,
}

_SCHEMA = """
CREATE TABLE departments (id INTEGER PRIMARY KEY, parent_id INTEGER);
CREATE TABLE members (user_id INTEGER PRIMARY KEY, department_id INTEGER, disabled INTEGER);
CREATE TABLE member_roles (user_id INTEGER, role TEXT, PRIMARY KEY (user_id, role));
CREATE TABLE role_actions (role TEXT, action TEXT, PRIMARY KEY (role, action));
CREATE TABLE channels (id TEXT PRIMARY KEY, civil_code TEXT, group_id TEXT,
                       owner_department_id INTEGER);
CREATE TABLE grants (id TEXT PRIMARY KEY, user_id INTEGER, department_id INTEGER,
                     include_sub INTEGER, grantor_department_id INTEGER, kind TEXT,
                     scope_id TEXT, actions TEXT, not_before TEXT, not_after TEXT);
CREATE INDEX grants_user ON grants (user_id);
CREATE INDEX grants_department ON grants (department_id);
"""

# :u user, :c channel, :a the action's name, :g its grant action (or NULL), :now ISO time.
# The grants that apply are found through the user and department indexes (CROSS JOIN keeps
# SQLite from scanning all grants instead), then filtered.
_DECIDE = """
WITH RECURSIVE
  me(department_id) AS (SELECT department_id FROM members WHERE user_id = :u AND NOT disabled),
  mine(id, depth) AS (
    SELECT department_id, 0 FROM me
    UNION ALL SELECT d.parent_id, mine.depth + 1 FROM departments d JOIN mine ON d.id = mine.id
    WHERE d.parent_id IS NOT NULL),
  ch AS (SELECT * FROM channels WHERE id = :c),
  above_owner(id) AS (
    SELECT owner_department_id FROM ch
    UNION ALL SELECT d.parent_id FROM departments d JOIN above_owner ON d.id = above_owner.id
    WHERE d.parent_id IS NOT NULL),
  role_ok(ok) AS (SELECT EXISTS (SELECT 1 FROM member_roles r JOIN role_actions ra
                  ON ra.role = r.role WHERE r.user_id = :u AND ra.action = :a)),
  applicable AS (
    SELECT g.* FROM grants g WHERE g.user_id = :u
    UNION ALL
    SELECT g.* FROM mine CROSS JOIN grants g ON g.department_id = mine.id
    WHERE (mine.depth = 0 OR g.include_sub) AND (SELECT ok FROM role_ok))
SELECT 1 FROM me WHERE
  ((SELECT ok FROM role_ok) AND me.department_id IN (SELECT id FROM above_owner))
  OR EXISTS (
    SELECT 1 FROM applicable g, ch
    WHERE :g IS NOT NULL AND :now >= g.not_before AND :now < g.not_after
      AND instr(g.actions, '|' || :g || '|') > 0
      AND g.grantor_department_id IN (SELECT id FROM above_owner)
      AND ((g.kind = 'channel' AND g.scope_id = ch.id)
           OR (g.kind = 'group' AND g.scope_id = ch.group_id)
           OR (g.kind = 'region' AND substr(ch.civil_code, 1, length(g.scope_id)) = g.scope_id)))
"""


class SqlPolicy:
    """The channel decision over an in-memory SQLite copy of the benchmark's tables."""

    def __init__(self, tables: Tables) -> None:
        # the benchmark's groups are flat: a channel's group is its business group
        departments, members, owners, places, _, grants = tables
        db = sqlite3.connect(":memory:")
        db.executescript(_SCHEMA)
        db.executemany(
            "INSERT INTO departments VALUES (?, ?)", [(d.id, d.parent_id) for d in departments]
        )
        db.executemany(
            "INSERT INTO members VALUES (?, ?, ?)",
            [(m.user_id, m.department_id, m.disabled) for m in members],
        )
        db.executemany(
            "INSERT INTO member_roles VALUES (?, ?)",
            [(m.user_id, r.value) for m in members for r in m.roles],
        )
        db.executemany(
            "INSERT INTO role_actions VALUES (?, ?)",
            [(r.value, a.value) for r, actions in ROLE_ACTIONS.items() for a in actions],
        )
        owner = {o.channel_id: o.department_id for o in owners}
        db.executemany(
            "INSERT INTO channels VALUES (?, ?, ?, ?)",
            [(p.id, p.civil_code, p.business_group_id, owner.get(p.id, 1)) for p in places],
        )
        db.executemany(
            "INSERT INTO grants VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    g.id, g.grantee_user_id, g.grantee_department_id, g.include_subdepartments,
                    g.grantor_department_id, g.scope_kind.value, g.scope_id,
                    "|" + "|".join(g.actions) + "|", g.not_before.isoformat(),
                    g.not_after.isoformat(),
                )
                for g in grants
            ],
        )  # fmt: skip
        db.commit()
        self._db = db

    def allowed(self, user_id: int, action: Action, channel_id: str, now: datetime) -> bool:
        """One query: whether the user may do ``action`` on the channel at ``now``."""
        grant_action = _GRANT_ACTION.get(action)
        row = self._db.execute(
            _DECIDE,
            {
                "u": user_id,
                "c": channel_id,
                "a": action.value,
                "g": None if grant_action is None else grant_action.value,
                "now": now.isoformat(),
            },
        ).fetchone()
        return row is not None

    def close(self) -> None:
        """Drop the in-memory database."""
        self._db.close()


def agreement(
    sql: SqlPolicy, snap: AccessSnapshot, now: datetime, samples: int, seed: int = 11
) -> tuple[int, int, int]:
    """(samples, allowed by the policy, answers that differ) over random channel decisions."""
    rng = random.Random(seed)
    users = sorted(snap.members)
    channels = sorted(snap.places)
    actions = (Action.LIVE, Action.PLAYBACK, Action.EXPORT)
    allowed = differ = 0
    for _ in range(samples):
        user, channel = rng.choice(users), rng.choice(channels)
        action = rng.choice(actions)
        ours = decide(snap, user, action, Resource.channel(channel), now).allowed
        allowed += ours
        differ += ours != sql.allowed(user, action, channel, now)
    return samples, allowed, differ
