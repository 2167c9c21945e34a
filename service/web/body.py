"""Reading a JSON body into a model, after authentication, with every bad field named.

Routes that hold an API key read their body here rather than through FastAPI's body
parameters, so that nothing of an unauthenticated request is parsed.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from service.errors import (
    FieldError,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    field_errors,
)
from service.streams import read_at_most

M = TypeVar("M", bound=BaseModel)


def is_json(content_type: str) -> bool:
    """``application/json`` or any ``+json`` type, parameters ignored."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


async def json_body(request: Request, model: type[M], max_bytes: int) -> M:
    """The request's JSON body as ``model``; 413 over ``max_bytes``, 415 for other media
    types, 422 for bad input. The body is read in chunks and abandoned once too large."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not is_json(content_type):
        raise UnsupportedMediaType(
            f"The body must be JSON: send 'Content-Type: application/json', not {content_type!r}."
        )
    too_large = PayloadTooLarge(f"The body is larger than {max_bytes} bytes.")
    declared = request.headers.get("content-length")
    raw = await read_at_most(request.stream(), max_bytes, declared, too_large)
    if not raw.strip():
        raise InvalidRequest([FieldError("", "a JSON body is required")])
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidRequest([explain(error) for error in exc.errors()]) from None


def explain(error: Any, skip: int = 0) -> FieldError:
    """One validation error in words a caller can act on."""
    kind, loc = error.get("type"), tuple(error.get("loc", ()))[skip:]
    if kind == "json_invalid":
        return FieldError("", f"the body is not valid JSON ({error.get('ctx', {}).get('error')})")
    if kind in ("model_type", "model_attributes_type") and not loc:
        return FieldError("", "the body must be a JSON object")
    if kind == "extra_forbidden":
        return FieldError(field_errors([error], skip=skip)[0].pointer, "unknown field")
    return field_errors([error], skip=skip)[0]
