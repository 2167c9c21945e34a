"""HTTP routes: the JSON API, the browser flow and the ops endpoints."""

from fastapi.routing import APIRoute


def operation_id(route: APIRoute) -> str:
    """The OpenAPI ``operationId`` of a route: its name (``issueToken``, ``authorize``...)."""
    return route.name
