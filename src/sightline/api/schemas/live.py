"""Live-view answers as the API shows them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

__all__ = ["LiveOut", "LiveUrls"]


class LiveUrls(BaseModel):
    """Where to play: each URL carries the stream token in ``?token=``."""

    ws: str = Field(description="fMP4 over WebSocket, for Media Source Extensions players")
    http: str = Field(description="chunked fMP4 over HTTP, for FFmpeg, VLC and other tools")
    rtsp: str | None = Field(
        default=None, description="RTSP (RTP over TCP interleaved), when the RTSP output is on"
    )


class LiveOut(BaseModel):
    """A play grant for one channel's live video."""

    channel_id: str
    urls: LiveUrls
    token: str = Field(description="the stream token; single user, channel and client")
    expires_at: datetime = Field(description="start playing before this (UTC)")
    mime_type: str | None = Field(
        default=None, description="the MSE type, known when ?wait=true saw the first frame"
    )
