"""The names a table of the configuration accepts, read from its model, and the one a
typo was meant to be."""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel


def names_at(model: type[BaseModel], path: Sequence[str | int]) -> list[str]:
    """The field names and aliases of the table at ``path`` in ``model`` (``("spots",
    "main")``: a Spot's); none where ``path`` leads to no model (a free-form table)."""
    here: Any = model
    for part in path:
        here = _child(here, part)
        if here is None:
            return []
    tables = [option for option in _options(here) if _is_model(option)]
    return _names(tables[0]) if tables else []


def closest(name: str, names: Sequence[str]) -> str | None:
    """The one of ``names`` that ``name`` is likely a typo of (``difflib``), if any."""
    matches = difflib.get_close_matches(name.lower(), names, n=1)
    return matches[0] if matches else None


def _child(annotation: Any, part: str | int) -> Any:
    """The type of ``part`` of a value of type ``annotation``: a field, a table's value,
    a list's item, or the member of a union pydantic names in an error's location."""
    for option in _options(annotation):
        if _is_model(option) and part == option.__name__:
            return option
        if _is_model(option):
            for name, field in option.model_fields.items():
                if part in (name, field.alias):
                    return field.annotation
        elif get_origin(option) is dict:
            return get_args(option)[1]
        elif get_origin(option) is list and isinstance(part, int):
            return get_args(option)[0]
    return None


def _names(model: type[BaseModel]) -> list[str]:
    names = list(model.model_fields)
    names += [f.alias for f in model.model_fields.values() if f.alias and f.alias not in names]
    return names


def _options(annotation: Any) -> list[Any]:
    """``annotation`` without ``Annotated``, and each member of a union (``X | None``)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _options(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [option for arg in get_args(annotation) for option in _options(arg)]
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
