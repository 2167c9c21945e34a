"""The one place errors become HTTP: RFC 9457 ``application/problem+json``.

Every problem has a stable ``type`` (``urn:spot-sso:problem:<slug>``), a ``title``, the
``status``, a ``detail`` saying what to do, the ``requestId`` of the request, and for
invalid input the list of ``errors`` (JSON pointer + detail), one per bad field.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from service.errors import (
    AuthenticationError,
    FieldError,
    InvalidApiKey,
    InvalidRequest,
    PayloadTooLarge,
    ServiceError,
    TooManyRequests,
    UnsupportedMediaType,
    field_errors,
)
from service.web.pages import page

PROBLEM_JSON: Final = "application/problem+json"
TYPE_PREFIX: Final = "urn:spot-sso:problem:"
REALM: Final = 'Bearer realm="spot-sso"'

log = logging.getLogger("spot_sso.errors")

_HTTP_SLUGS: Final = {
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    **{
        error.status: (error.slug, error.title) for error in (PayloadTooLarge, UnsupportedMediaType)
    },
}


class ProblemFieldError(BaseModel):
    pointer: str = Field(description="JSON pointer to the bad value in the request body.")
    detail: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(examples=["urn:spot-sso:problem:invalid-request"])
    title: str
    status: int
    detail: str
    request_id: str | None = Field(default=None, alias="requestId")
    errors: list[ProblemFieldError] | None = None


_STATUS_TEXT: Final = {
    401: "API key missing or not valid",
    403: "Not allowed",
    404: "Unknown Spot or user",
    409: "The member's email changed on the host and the Spot's email_change is refuse",
    413: "The body is larger than max_body_bytes",
    415: "The body is not sent as application/json",
    422: "Invalid request: every bad field is listed in `errors`",
    502: "The identity source answered with something unusable",
    503: "The identity source is unavailable",
    429: "Over a rate limit: wait Retry-After seconds",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem statuses a route can answer."""
    return {
        status: {"model": Problem, "description": _STATUS_TEXT.get(status, "A problem")}
        for status in statuses
    }


def fix_openapi(document: dict[str, Any]) -> dict[str, Any]:
    """The generated document, with what FastAPI cannot know: problem answers are
    ``application/problem+json`` (our handlers write them, not FastAPI's), and FastAPI's
    own validation-error schemas, which no route answers with, go."""
    for operation in _operations(document):
        responses = operation.get("responses", {})
        for status, response in responses.items():
            content = response.get("content", {})
            if status.startswith(("4", "5")) and "application/json" in content:
                response["content"] = {PROBLEM_JSON: content["application/json"]}
        if "422" in responses and "Problem" not in str(responses["422"]):
            del responses["422"]  # FastAPI's own: /authorize's parameters are all optional
    components = document.setdefault("components", {})
    schemas = components.get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["schemas"] = dict(sorted(schemas.items()))  # a stable file, diff by diff
    return document


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for path in document.get("paths", {}).values() for op in path.values()]


def problem(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "requestId": request.scope.get("state", {}).get("request_id"),
    }
    if errors is not None:
        body["errors"] = [{"pointer": e.pointer, "detail": e.detail} for e in errors]
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_HINTS: Final = {
    "invalid-redirect": "Go back to the community and use its sign-in button again.",
    "login-refused": "Go back to the community and use its sign-in button again.",
    "not-logged-in": "Sign in on the host platform, then use the community's sign-in button.",
    "identity-unavailable": "The host platform did not answer: try again in a minute.",
    "identity-bad-response": "The host platform answered with an error: try again later.",
    "unusable-profile": "Your profile on the host platform lacks details the community "
    "needs (name or email): complete it, then try again.",
    "user-not-allowed": "Your account on the host platform does not include this community.",
    "rate-limited": "Wait a moment, then use the community's sign-in button again.",
    "email-change-refused": "Contact the community's support: they can move your "
    "membership to your new email address.",
}


def _context(request: Request, slug: str) -> dict[str, Any]:
    """Log fields that tie a warning to its access line and to the user's reference."""
    state = request.scope.get("state", {})
    return {"problem": slug, "request_id": state.get("request_id"), "path": request.url.path}


def _is_browser_route(request: Request) -> bool:
    return "browser" in getattr(request.scope.get("route"), "tags", ())


def _page(request: Request, exc: ServiceError) -> Response:
    login_url = getattr(exc, "login_url", None)
    return page(
        exc.status,
        exc.title,
        exc.browser_detail or exc.detail,  # an identity error's detail names the host
        request_id=request.scope.get("state", {}).get("request_id"),
        hint=_HINTS.get(exc.slug),
        link=(login_url, "Sign in again") if login_url else None,
    )


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    if _is_browser_route(request):
        if exc.status >= 500:
            log.warning("%s: %s", exc.slug, exc.detail, extra=_context(request, exc.slug))
        response = _page(request, exc)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    headers = None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, AuthenticationError):
        challenge = REALM + (', error="invalid_token"' if isinstance(exc, InvalidApiKey) else "")
        headers = {"WWW-Authenticate": challenge}
    if exc.status >= 500:
        log.warning("%s: %s", exc.slug, exc.detail, extra=_context(request, exc.slug))
    return problem(
        request,
        exc.status,
        exc.slug,
        exc.title,
        exc.detail,
        errors=getattr(exc, "errors", None),
        headers=headers,
    )


def explain(error: Any, skip: int = 0) -> FieldError:
    """One validation error in words a caller can act on."""
    kind, loc = error.get("type"), tuple(error.get("loc", ()))[skip:]
    if kind == "missing" and not loc:
        return FieldError("", "a JSON body is required")
    if kind == "json_invalid":
        return FieldError("", f"the body is not valid JSON ({error.get('ctx', {}).get('error')})")
    if kind in ("model_type", "model_attributes_type") and not loc:
        return FieldError("", "the body must be a JSON object")
    if kind == "extra_forbidden":
        return FieldError(field_errors([error], skip=skip)[0].pointer, "unknown field")
    return field_errors([error], skip=skip)[0]


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [explain(error, skip=1) for error in exc.errors()]
    return await _service_error(request, InvalidRequest(errors))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    headers = dict(exc.headers) if exc.headers else None
    return problem(request, exc.status_code, slug, title, detail, headers=headers)


def unexpected(scope: MutableMapping[str, Any], exc: Exception) -> Response:
    """The answer to an exception nothing else handled: logged, then a bare 500."""
    request = Request(scope)
    log.error(
        "unexpected %s", type(exc).__name__, exc_info=exc, extra=_context(request, "internal-error")
    )
    if _is_browser_route(request):
        return _page(request, ServiceError("Something went wrong on our side."))
    return problem(
        request,
        500,
        "internal-error",
        "Internal error",
        "Something went wrong on our side; the request id identifies it in the logs.",
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
