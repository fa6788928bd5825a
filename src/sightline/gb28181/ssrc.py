"""SSRC values of GB/T 28181 (``y=`` line, Annex F of 2016 / Annex G of 2022).

An SSRC is written as ten decimal digits ``KDDDDDSSSS``:

* ``K``: ``0`` for a real-time (live) stream, ``1`` for a history stream (playback, download);
* ``DDDDD``: digits 4 to 8 of the 20-digit SIP monitoring-domain ID (``13010000002000000001`` →
  ``10000``); the first ten digits of that ID are the conventional 10-digit domain, so either
  form may be given;
* ``SSSS``: a stream number, which the standard requires to differ from the last four digits of
  every other SSRC the domain has produced. Live and history therefore share one pool of 10,000.

On the wire the RTP SSRC is that decimal number as a uint32 (``0200000001`` → 200,000,001); the
largest GB value, 1999999999, fits. Devices often answer ``y=200000001`` (the leading zero lost),
and the standard's own examples do too, so answers are read as numbers, not as strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from sightline.gb28181.errors import Gb28181Error

__all__ = [
    "SEQUENCE_SPACE",
    "GbSsrc",
    "InvalidSsrc",
    "SsrcAllocator",
    "SsrcCheck",
    "SsrcError",
    "SsrcExhausted",
    "SsrcVerdict",
    "StreamKind",
    "domain_digits",
    "matches",
    "ssrc_from_int",
    "ssrc_to_int",
]

SEQUENCE_SPACE = 10_000
_UINT32_MAX = 0xFFFF_FFFF


class SsrcError(Gb28181Error):
    """Base class of SSRC errors."""


class InvalidSsrc(SsrcError, ValueError):
    """Text or a number is not a valid SSRC, or a domain ID has no domain digits."""


class SsrcExhausted(SsrcError):
    """All 10,000 stream numbers of the domain are in use."""


class StreamKind(StrEnum):
    """The first SSRC digit: real-time or history media."""

    LIVE = "0"
    HISTORY = "1"


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def domain_digits(domain_id: str) -> str:
    """Digits 4-8 of a 10- or 20-digit domain/platform ID: SSRC digits 2-6."""
    text = domain_id.strip()
    if len(text) not in (10, 20) or not _is_digits(text):
        raise InvalidSsrc(f"a SIP domain ID has 10 or 20 digits, got {domain_id!r}")
    return text[3:8]


def ssrc_to_int(text: str) -> int:
    """The uint32 on the wire for a decimal ``y=`` value (1-10 digits, leading zeros allowed)."""
    value = text.strip()
    if not 1 <= len(value) <= 10 or not _is_digits(value):
        raise InvalidSsrc(f"an SSRC is 1 to 10 decimal digits, got {text!r}")
    number = int(value)
    if number > _UINT32_MAX:
        raise InvalidSsrc(f"SSRC {text!r} does not fit in 32 bits")
    return number


def ssrc_from_int(value: int) -> str:
    """The ten-digit ``y=`` text for a uint32 SSRC."""
    if not 0 <= value <= _UINT32_MAX:
        raise InvalidSsrc(f"an SSRC is a uint32, got {value}")
    return f"{value:010d}"


@dataclass(frozen=True, slots=True)
class GbSsrc:
    """A structured GB SSRC: kind digit, five domain digits, four stream-number digits."""

    kind: StreamKind
    domain: str
    sequence: int

    def __post_init__(self) -> None:
        if len(self.domain) != 5 or not _is_digits(self.domain):
            raise InvalidSsrc(f"the SSRC domain part is 5 digits, got {self.domain!r}")
        if not 0 <= self.sequence < SEQUENCE_SPACE:
            raise InvalidSsrc(f"the SSRC stream number is 0..9999, got {self.sequence}")

    @classmethod
    def parse(cls, text: str) -> GbSsrc:
        """Read a ``y=`` value (a lost leading zero is restored) that follows the GB layout."""
        digits = ssrc_from_int(ssrc_to_int(text))
        if digits[0] not in "01":
            raise InvalidSsrc(f"SSRC {text!r} does not start with 0 (live) or 1 (history)")
        return cls(StreamKind(digits[0]), digits[1:6], int(digits[6:]))

    def __str__(self) -> str:
        return f"{self.kind.value}{self.domain}{self.sequence:04d}"

    @property
    def value(self) -> int:
        """The uint32 RTP SSRC."""
        return int(str(self))


class SsrcAllocator:
    """Hands out SSRCs of one domain; a stream number is never reused while it is in use.

    Numbers are taken next-fit from a cursor that only moves forward (wrapping at 9999), so a
    just-released number is the last to come back: packets still in flight for an old stream
    are not taken for a new one (ZLMediaKit's "address dismatch" after quick reuse). Not
    thread-safe; one allocator per domain, owned by the media-session service.
    """

    def __init__(self, domain_id: str, *, start: int = 1) -> None:
        self.domain = domain_digits(domain_id)
        if not 0 <= start < SEQUENCE_SPACE:
            raise InvalidSsrc(f"start must be 0..9999, got {start}")
        self._cursor = start
        self._in_use: dict[int, GbSsrc] = {}

    def __len__(self) -> int:
        return len(self._in_use)

    def __contains__(self, ssrc: object) -> bool:
        found = self._lookup(ssrc) if isinstance(ssrc, str) else None
        return found is not None and self._in_use.get(found.sequence) == found

    @property
    def capacity(self) -> int:
        """How many SSRCs can be in use at once."""
        return SEQUENCE_SPACE

    def allocate(self, kind: StreamKind) -> str:
        """A fresh ten-digit SSRC of ``kind``; raises :class:`SsrcExhausted` when none is free."""
        for _ in range(SEQUENCE_SPACE):
            sequence = self._cursor
            self._cursor = (self._cursor + 1) % SEQUENCE_SPACE
            if sequence in self._in_use:
                continue
            candidate = GbSsrc(kind, self.domain, sequence)
            # SSRC 0 reads as "no SSRC" to many devices; only a 00000 domain can produce it.
            if candidate.value != 0:
                self._in_use[sequence] = candidate
                return str(candidate)
        raise SsrcExhausted(f"all {SEQUENCE_SPACE} SSRC stream numbers of {self.domain} in use")

    def reserve(self, ssrc: str) -> None:
        """Mark an SSRC of this domain as in use (e.g. sessions restored after a restart)."""
        found = self._lookup(ssrc)
        if found is None:
            raise InvalidSsrc(f"SSRC {ssrc!r} does not belong to domain digits {self.domain}")
        if found.sequence in self._in_use:
            raise InvalidSsrc(f"SSRC stream number {found.sequence:04d} is already in use")
        self._in_use[found.sequence] = found

    def release(self, ssrc: str) -> bool:
        """Free an SSRC; False if it was not in use here (double BYE paths are harmless)."""
        found = self._lookup(ssrc)
        if found is None or self._in_use.get(found.sequence) != found:
            return False
        del self._in_use[found.sequence]
        return True

    def _lookup(self, ssrc: str) -> GbSsrc | None:
        try:
            parsed = GbSsrc.parse(ssrc)
        except InvalidSsrc:
            return None
        return parsed if parsed.domain == self.domain else None


class SsrcVerdict(Enum):
    """How a received RTP SSRC relates to the one expected."""

    EXACT = "exact"
    ANSWERED = "answered"  # the device chose its own SSRC but announced it in the 200's y=
    HEX_DIGITS = "hex-digits"  # the decimal digits were read as hexadecimal (then cut to 32 bits)
    BYTE_SWAPPED = "byte-swapped"  # written little-endian
    ZERO = "zero"  # no SSRC at all (seen from Dahua firmware)
    FOREIGN = "foreign"  # an unrelated value: the device uses an SSRC of its own


@dataclass(frozen=True, slots=True)
class SsrcCheck:
    """The outcome of :func:`matches`, with both values for the log line."""

    verdict: SsrcVerdict
    expected: int
    received: int

    @property
    def ok(self) -> bool:
        """True only when the device did what the standard asks."""
        return self.verdict is SsrcVerdict.EXACT

    def describe(self) -> str:
        """A log-ready sentence naming both values in decimal and hex."""
        return (
            f"SSRC {self.verdict.value}: expected {self.expected} (0x{self.expected:08x}), "
            f"received {self.received} (0x{self.received:08x})"
        )


def matches(expected: str, received: int, *, answered: str | None = None) -> SsrcCheck:
    """Compare an RTP SSRC with the offered ``y=`` (and the answered one, when it differs)."""
    want = ssrc_to_int(expected)
    if not 0 <= received <= _UINT32_MAX:
        raise InvalidSsrc(f"a received SSRC is a uint32, got {received}")
    if received == want:
        verdict = SsrcVerdict.EXACT
    elif answered is not None and received == ssrc_to_int(answered):
        verdict = SsrcVerdict.ANSWERED
    elif received == 0:
        verdict = SsrcVerdict.ZERO
    elif received == int(expected.strip(), 16) & _UINT32_MAX:
        verdict = SsrcVerdict.HEX_DIGITS
    elif received == int.from_bytes(want.to_bytes(4, "big"), "little"):
        verdict = SsrcVerdict.BYTE_SWAPPED
    else:
        verdict = SsrcVerdict.FOREIGN
    return SsrcCheck(verdict, want, received)
