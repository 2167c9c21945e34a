"""The deployment files, read: the Kubernetes manifests (deploy/kubernetes) by kind."""

from __future__ import annotations

from typing import Any

import yaml

from tests.support.paths import ROOT

K8S = ROOT / "deploy" / "kubernetes"
Manifests = dict[str, list[dict[str, Any]]]


def load_manifests() -> Manifests:
    """Every document of every manifest, by file name."""
    found: Manifests = {}
    for path in sorted(K8S.glob("*.y*ml")):
        docs = [doc for doc in yaml.safe_load_all(path.read_text("utf-8")) if doc is not None]
        assert docs, f"{path.name} is empty"
        found[path.name] = docs
    return found


def by_kind(manifests: Manifests, kind: str) -> dict[str, Any]:
    """The one document of ``kind``."""
    found = [doc for docs in manifests.values() for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container(manifests: Manifests) -> dict[str, Any]:
    """The Deployment's one container: spot-sso."""
    containers = by_kind(manifests, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    found: dict[str, Any] = containers[0]
    return found
