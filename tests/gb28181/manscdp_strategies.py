"""Hypothesis strategies for MANSCDP models, derived from the models' type hints."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from enum import Enum
from typing import Any

from hypothesis import strategies as st

from sightline.gb28181.manscdp import MESSAGE_TYPES, CmdType, Message, ResultResponse

# Text XML can carry and that survives the decoder's whitespace stripping unchanged.
_CHARS = st.characters(exclude_categories=("Cs", "Cc", "Cn"))
TEXT = st.text(_CHARS, min_size=1, max_size=12).filter(lambda s: s == s.strip() and s != "")
INTS = st.integers(min_value=-(10**12), max_value=10**12)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
TIMES = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1))
SNS = st.integers(min_value=1, max_value=2**31 - 1)
_RESULT_CMDS = [
    CmdType.DEVICE_CONTROL,
    CmdType.DEVICE_CONFIG,
    CmdType.ALARM,
    CmdType.BROADCAST,
    CmdType.CATALOG,
]


def _for_type(hint: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = next(a for a in typing.get_args(hint) if a is not type(None))
        return st.none() | _for_type(inner)
    if origin is tuple:
        return st.lists(_for_type(typing.get_args(hint)[0]), max_size=3).map(tuple)
    if hint is str:
        return TEXT
    if hint is bool:
        return st.booleans()
    if hint is int:
        return INTS
    if hint is float:
        return FLOATS
    if hint is datetime:
        return TIMES
    if isinstance(hint, type) and issubclass(hint, Enum):
        return st.sampled_from(list(hint))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return model(hint)
    raise TypeError(f"no strategy for {hint!r}")


def model(cls: type[Any]) -> st.SearchStrategy[Any]:
    """Instances of a model class with arbitrary field values."""
    hints = typing.get_type_hints(cls)
    kwargs = {f.name: _for_type(hints[f.name]) for f in dataclasses.fields(cls)}
    if issubclass(cls, Message):
        kwargs["sn"] = SNS
    if cls is ResultResponse:
        kwargs["cmd_type"] = st.sampled_from(_RESULT_CMDS)
    return st.builds(cls, **kwargs)


ANY_MESSAGE: st.SearchStrategy[Any] = st.one_of(
    [model(cls) for cls in (*MESSAGE_TYPES, ResultResponse)]
)
