"""Placeholder replaced by the codec work in progress: serialise only."""

from __future__ import annotations

from sightline.sip.message import Message, Request, Response

__all__ = ["serialize"]


def serialize(message: Message) -> bytes:
    """Return the wire form of a message with a correct Content-Length."""
    if isinstance(message, Request):
        start = f"{message.method} {message.uri} {message.version}"
    elif isinstance(message, Response):
        start = f"{message.version} {message.status} {message.reason}"
    else:
        raise TypeError(type(message).__name__)
    lines = [start]
    lines += [f"{n}: {v}" for n, v in message.headers if n != "Content-Length"]
    lines.append(f"Content-Length: {len(message.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + message.body
