"""An ordered, case-insensitive multi-map of SIP header fields (RFC 3261 §7.3).

Names are stored in their canonical long form (compact forms such as ``v`` or ``i`` are
expanded), so ``headers.get("v")`` and ``headers.get("Via")`` find the same field and a
serialised message always carries long names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import overload

__all__ = ["COMPACT_FORMS", "Headers", "canonical_name", "split_list"]

# RFC 3261 §7.3.3 plus the compact forms registered later (RFC 3265, 3515, 3841, 3892, 4028).
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

# Names whose usual spelling is not plain title case.
_SPECIAL_CASE: dict[str, str] = {
    name.lower(): name
    for name in (
        "Call-ID",
        "CSeq",
        "WWW-Authenticate",
        "MIME-Version",
        "RSeq",
        "RAck",
        "SIP-ETag",
        "SIP-If-Match",
        "X-GB-Ver",
    )
}


# Cached because every lookup and every parsed field goes through it; bounded because names
# come from the network.
@lru_cache(maxsize=1024)
def canonical_name(name: str) -> str:
    """Return the canonical long spelling of a header name."""
    lower = name.strip().lower()
    if lower in COMPACT_FORMS:
        return COMPACT_FORMS[lower]
    if lower in _SPECIAL_CASE:
        return _SPECIAL_CASE[lower]
    return "-".join(part[:1].upper() + part[1:] for part in lower.split("-"))


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, ignoring commas inside quotes and <...>."""
    if "," not in value:
        # the common single-element case, without walking the characters in Python
        single = value.strip()
        return [single] if single else []
    parts: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    start = 0
    for i, ch in enumerate(value):
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">" and depth:
            depth -= 1
        elif not quoted and depth == 0 and ch == ",":
            parts.append(value[start:i].strip())
            start = i + 1
    parts.append(value[start:].strip())
    return [p for p in parts if p]


class Headers:
    """Header fields in wire order; lookups ignore case and compact forms."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = [(canonical_name(n), v) for n, v in items]

    @classmethod
    def from_canonical(cls, items: list[tuple[str, str]]) -> Headers:
        """Wrap (and own) a list whose names are already canonical, e.g. the parser's.

        Skips the per-field name lookup of ``Headers(items)``, which is measurable on the
        receive path; passing a non-canonical name here breaks lookups of that field.
        """
        new = cls.__new__(cls)
        new._items = items
        return new

    def add(self, name: str, value: str) -> None:
        """Append a field after any existing ones."""
        self._items.append((canonical_name(name), value))

    def prepend(self, name: str, value: str) -> None:
        """Insert a field before every other field (used for a new top Via)."""
        self._items.insert(0, (canonical_name(name), value))

    def set(self, name: str, value: str) -> None:
        """Replace all fields of that name by one, kept at the first one's position."""
        key = canonical_name(name)
        items = self._items
        for i, (n, _) in enumerate(items):
            if n == key:
                items[i] = (key, value)
                if any(item[0] == key for item in items[i + 1 :]):
                    self._items = [item for j, item in enumerate(items) if j <= i or item[0] != key]
                return
        items.append((key, value))

    def replace_first(self, name: str, value: str) -> bool:
        """Replace the value of the first field of that name in place; False when absent."""
        key = canonical_name(name)
        for i, (n, _) in enumerate(self._items):
            if n == key:
                self._items[i] = (key, value)
                return True
        return False

    def remove(self, name: str) -> None:
        """Remove every field of that name."""
        key = canonical_name(name)
        self._items = [item for item in self._items if item[0] != key]

    def remove_first(self, name: str) -> str | None:
        """Remove and return the first field value of that name (e.g. the top Via)."""
        key = canonical_name(name)
        for i, (n, v) in enumerate(self._items):
            if n == key:
                del self._items[i]
                return v
        return None

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    @overload
    def get(self, name: str, default: str | None) -> str | None: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first field value of that name."""
        key = canonical_name(name)
        for n, v in self._items:
            if n == key:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Return every field value of that name, one per header line, in order."""
        key = canonical_name(name)
        return [v for n, v in self._items if n == key]

    def get_list(self, name: str) -> list[str]:
        """Return the comma-separated elements of every field of that name, in order."""
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(split_list(value))
        return out

    def items(self) -> list[tuple[str, str]]:
        """Return all fields as (canonical name, value) pairs in wire order."""
        return list(self._items)

    def copy(self) -> Headers:
        """Return an independent copy."""
        new = Headers()
        new._items = list(self._items)
        return new

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"
