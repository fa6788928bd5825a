"""Media errors.

SightlineError
└── MediaError
    ├── RtpError       an RTP packet or RFC 4571 frame is malformed
    ├── RtcpError      an RTCP compound packet is malformed
    ├── EsError        an H.264/H.265 bitstream structure (SPS, NAL) cannot be parsed
    └── PsMuxError     the PS muxer was given something it cannot write

The PS demuxer raises none of these on bad input: it resynchronises, counts what it skipped
in ``PsDemuxer.stats``, and carries on, because a camera's stream is never trusted.
"""

from __future__ import annotations

from sightline.errors import SightlineError

__all__ = ["EsError", "MediaError", "PsMuxError", "RtcpError", "RtpError"]


class MediaError(SightlineError):
    """Base class of media errors."""


class RtpError(MediaError):
    """An RTP packet could not be parsed or serialised."""


class RtcpError(MediaError):
    """An RTCP packet could not be parsed or serialised."""


class EsError(MediaError):
    """An elementary-stream structure (SPS, VPS, NAL unit) is malformed or unsupported."""


class PsMuxError(MediaError):
    """The PS muxer was asked to write an impossible value (negative PTS, empty frame)."""
