"""The paths the Kubernetes probes call (deploy/kubernetes) answer 200 from the app."""

from __future__ import annotations

import httpx

from tests.support.deploy import container, load_manifests


async def test_probed_paths_answer_200(client: httpx.AsyncClient) -> None:
    """The probed paths are real routes (a renamed route would otherwise pass the YAML test)."""
    spot_sso = container(load_manifests())
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        path = spot_sso[probe]["httpGet"]["path"]
        assert (await client.get(path)).status_code == 200, path
