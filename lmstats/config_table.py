"""Config tables (a TOML file's tables) to frozen dataclasses, every value checked against its field's type.

:func:`from_table` builds a dataclass from a table: unknown keys are refused (naming the known
ones), a nested dataclass field takes a nested table, a list becomes the tuple its field wants,
and every value must fit the field's annotation (``bool`` is not a number, a string is not a
list, ``int`` is accepted where a ``float`` is asked for).  The types come from the dataclasses'
own annotations, so a new field is checked without a table of types to keep in step.  The
dataclass's ``__post_init__`` then checks values and ranges, as it does for any caller.
"""

from __future__ import annotations

import dataclasses
import types
import typing

from lmstats.errors import LmstatsError


def _fits(value, kind) -> bool:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if kind is type(None):
        return value is None
    if kind is typing.Any:
        return True
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args, strict=True))
    if origin is dict or kind is dict:
        if not isinstance(value, dict):
            return False
        return not args or all(_fits(k, args[0]) and _fits(v, args[1]) for k, v in value.items())
    if isinstance(kind, type):
        return isinstance(value, kind)
    return True


def describe(kind) -> str:
    """A field's type in words (``float or none``, ``list of int``)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(arg) for arg in args)
    if kind is type(None):
        return "none"
    if origin is tuple:
        return f"list of {describe(args[0])}" if len(args) == 2 and args[1] is Ellipsis else f"list of {len(args)} values"
    if origin is dict or kind is dict:
        return "table" + (f" of {describe(args[0])} = {describe(args[1])}" if args else "")
    return "table" if dataclasses.is_dataclass(kind) else getattr(kind, "__name__", str(kind))


def _nested_class(kind):
    """The dataclass a field holds (also inside ``X | None``), or None."""
    candidates = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else (kind,)
    return next((c for c in candidates if dataclasses.is_dataclass(c)), None)


def _is_tuple(kind) -> bool:
    candidates = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else (kind,)
    return any(typing.get_origin(c) is tuple for c in candidates)


def from_table(cls, table, where: str):
    """An instance of the dataclass ``cls`` from ``table`` (see the module docstring); errors name ``where``."""
    if not isinstance(table, dict):
        raise LmstatsError(f"{where} must be a table of settings, got {table!r}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise LmstatsError(f"{where}: unknown keys {unknown}; known keys: {sorted(known)}")
    values = {}
    for key, value in table.items():
        kind = hints[key]
        nested = _nested_class(kind)
        if nested is not None and isinstance(value, dict):
            value = from_table(nested, value, f"{where} [{key}]")
        elif isinstance(value, list) and _is_tuple(kind):
            value = tuple(value)
        if not _fits(value, kind):
            raise LmstatsError(f"{where}: {key} = {value!r} has the wrong type; expected {describe(kind)}")
        values[key] = value
    try:
        return cls(**values)
    except LmstatsError as exc:
        raise LmstatsError(f"{where}: {exc}") from None


def check_types(obj, where: str) -> None:
    """Every field of the dataclass instance ``obj`` fits its annotation (for instances made in Python)."""
    for key, kind in typing.get_type_hints(type(obj)).items():
        value = getattr(obj, key)
        if not _fits(value, kind):
            raise LmstatsError(f"{where}: {key} = {value!r} has the wrong type; expected {describe(kind)}")
