"""Ops endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.web.deps import RuntimeDep
from service.web.routes import operation_id

router = APIRouter(tags=["ops"], generate_unique_id_function=operation_id)


@router.get("/healthz", name="healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """`200 {"status": "ok"}` while the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    name="readyz",
    summary="Readiness",
    responses={503: {"description": "Not ready; `checks` says which part is not ok."}},
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """`200` when the service can issue tokens: Spots configured and identity source ready.

    Each check answers `ok` true or false, nothing more: what is wrong (a host, an
    address, an error) goes to the log and to `spot-sso check-config`, never to an
    anonymous caller. `shared_state` (Redis, when configured) and `ledger` (the member
    ledger's database, when enabled) are reported but never make the service unready:
    without Redis, limits fail open and the cache is skipped; without the ledger,
    sign-ins go on unrecorded.
    """
    problems = await runtime.readiness()
    checks = {name: {"ok": problem is None} for name, problem in problems.items()}
    ready = checks["spots"]["ok"] and checks["identity"]["ok"]
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    name="metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(runtime: RuntimeDep) -> Response:
    """Metrics in the Prometheus text format."""
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)


# Probes that use HEAD get the same answers, without a second OpenAPI operation.
router.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)
router.add_api_route("/readyz", readyz, methods=["HEAD"], include_in_schema=False)
