"""``kubectl kustomize`` builds the Kubernetes manifests (deploy/kubernetes) into one."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.support.deploy import K8S


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_k8s_kustomize_builds() -> None:
    built = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stderr
    kinds = {doc["kind"] for doc in yaml.safe_load_all(built.stdout) if doc}
    assert "Deployment" in kinds and "Secret" in kinds
