"""Rows for platform recording: per-channel plans, group retention, the segment index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sightline.store.models.base import Base, BigIntPk
from sightline.store.models.device import ID_LEN

__all__ = ["RecordingGroupRetentionRow", "RecordingPlanRow", "RecordingSegmentRow"]


class RecordingPlanRow(Base):
    """``recording_plans``: one plan per channel, its shape kept as JSON by the recorder."""

    __tablename__ = "recording_plans"

    channel_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    plan: Mapped[dict[str, Any]]
    retention_days: Mapped[int | None] = mapped_column(Integer)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class RecordingGroupRetentionRow(Base):
    """``recording_group_retention``: days kept for channels of a business group."""

    __tablename__ = "recording_group_retention"

    group_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    retention_days: Mapped[int] = mapped_column(Integer)


class RecordingSegmentRow(Base):
    """``recording_segments``: one closed segment file; kept without foreign keys, as history."""

    __tablename__ = "recording_segments"
    __table_args__ = (
        Index("ix_recording_segments_channel_id_start", "channel_id", "start"),
        Index("ix_recording_segments_start", "start"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(String(ID_LEN))
    start: Mapped[datetime]
    end: Mapped[datetime]
    path: Mapped[str] = mapped_column(String(255), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    codec: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
