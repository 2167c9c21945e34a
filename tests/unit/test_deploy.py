"""Deployment files: Dockerfile, .dockerignore, docker-compose.yml, .env.example, the TOML
examples and the Kubernetes manifests, checked for the essentials so they cannot rot
silently (probes on the right paths, non-root, secrets only as files...).

Properties, not exact text: the base image is a slim Python image chosen by a build
argument, the pod runs as the image's non-root user with a read-only root filesystem,
there are always two replicas or more, one port is used everywhere; the values
themselves (3.12, UID 10001, port 8000, 2 to 10 replicas) may change.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from service.cli.server import GRACEFUL_SHUTDOWN_SECONDS
from service.secrets import is_placeholder
from service.settings.model import Settings, load_settings
from tests.support.deploy import K8S, Manifests, by_kind, load_manifests
from tests.support.deploy import container as spot_container
from tests.support.paths import ROOT

SPOT_KEY = "k8s-test-spot-key-0123456789abcdefghijklmnop"
HOST_TOKEN = "host-api-token-for-the-tests"

# An environment variable that would carry a secret value (its *_FILE twin carries a path):
# judged by the last part of its name (SPOT_SSO_LIMITS__TOKENS_PER_CLIENT is no secret).
SECRET_NAME = re.compile(
    r"(?:^|_)(?:PRIVATE_KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|API_KEY)(?:_FILE)?$",
    re.IGNORECASE,
)
ASSIGNMENT = re.compile(r"^\s*#?\s*(SPOT_SSO_[A-Z0-9_]+)=(.*)$")


def _secret_value_var(name: str) -> bool:
    """True for a variable holding a secret itself rather than the path of a file."""
    return bool(SECRET_NAME.search(name)) and not name.upper().endswith("_FILE")


def _redis_url_has_password(url: str) -> bool:
    return bool(re.match(r"rediss?://[^/@]*:[^/@]+@", url))


# ---------------------------------------------------------------------------------------
# Dockerfile and .dockerignore
# ---------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def oldest_python() -> tuple[int, int]:
    """The oldest Python the project supports (pyproject.toml's requires-python)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    match = re.fullmatch(r">=\s*3\.(\d+)", project["requires-python"])
    assert match, project["requires-python"]
    return 3, int(match.group(1))


def image_user() -> tuple[int, int | None]:
    """The numeric UID (and GID) the image's runtime stage runs as."""
    users = [rest for keyword, rest in final_stage(dockerfile_instructions()) if keyword == "USER"]
    assert users, "the runtime stage sets USER"
    match = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
    assert match, f"USER must be numeric (runAsNonRoot checks it): {users[-1]}"
    return int(match.group(1)), None if match.group(2) is None else int(match.group(2))


def image_port() -> int:
    """The one port the image exposes (the service's, everywhere it is deployed)."""
    (port,) = dict(final_stage(dockerfile_instructions()))["EXPOSE"].split()
    return int(port)


def image_data_dir() -> str:
    """The image's SPOT_SSO_DATA_DIR: where the member ledger's SQLite file lives."""
    final = final_stage(dockerfile_instructions())
    env = " ".join(rest for keyword, rest in final if keyword == "ENV")
    match = re.search(r"\bSPOT_SSO_DATA_DIR=(\S+)", env)
    assert match, "the image sets SPOT_SSO_DATA_DIR"
    return match.group(1)


def test_dockerfile_every_stage_is_from_a_slim_python_image_chosen_by_a_build_arg() -> None:
    instructions = dockerfile_instructions()
    first_from = next(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    build_args = dict(
        rest.partition("=")[::2] for keyword, rest in instructions[:first_from] if keyword == "ARG"
    )
    stages = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(stages) >= 2, "multi-stage: a build stage and a runtime stage"
    bases = {stage.split()[0] for stage in stages}
    assert len(bases) == 1, f"every stage from the same image: {bases}"
    match = re.fullmatch(r"\$\{(\w+)\}", bases.pop())
    assert match and match.group(1) in build_args, "the base image is a build argument"
    name = match.group(1)
    default = re.fullmatch(r"python:3\.(\d+)(?:\.\d+)?-slim(?:-\w+)?", build_args[name])
    assert default, f"{name} defaults to a slim Python image: {build_args[name]}"
    assert (3, int(default.group(1))) >= oldest_python(), "a Python the project supports"
    guide = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert f"--build-arg {name}=" in guide, "the deployment guide names the build argument"


def test_dockerfile_final_stage_runs_as_a_numeric_non_root_user() -> None:
    uid, gid = image_user()
    assert uid != 0, "not root"
    assert gid != 0, "not the root group"


def test_dockerfile_final_stage_has_no_compiler_or_sources() -> None:
    final = final_stage(dockerfile_instructions())
    text = " ".join(rest for _, rest in final)
    for tool in ("gcc", "g++", "build-essential", "clang", "make ", "python3-dev", "curl"):
        assert tool not in text, f"{tool} in the runtime stage"
    copies = [rest for keyword, rest in final if keyword in ("COPY", "ADD")]
    assert not copies, f"the runtime stage copies files in: {copies}"
    run = " ".join(rest for keyword, rest in final if keyword == "RUN")
    assert "from=build" in run, "the wheels come from the build stage"
    assert "--no-index" in run, "the runtime stage installs offline, from the wheels"


def test_dockerfile_healthcheck_port_signal_labels_and_command() -> None:
    final = final_stage(dockerfile_instructions())
    keywords = dict(final)
    healthcheck = keywords["HEALTHCHECK"]
    assert "/healthz" in healthcheck
    assert "curl" not in healthcheck and "wget" not in healthcheck
    port = image_port()  # one port, the one the default command listens on
    assert keywords["STOPSIGNAL"] == "SIGTERM"
    assert re.fullmatch(r'\[\s*"spot-sso"\s*,\s*"serve"\s*\]', keywords["CMD"])
    assert "ENTRYPOINT" not in keywords
    labels = " ".join(rest for keyword, rest in final if keyword == "LABEL")
    for label in ("title", "description", "version", "revision", "source", "licenses"):
        assert f"org.opencontainers.image.{label}=" in labels
    env = " ".join(rest for keyword, rest in final if keyword == "ENV")
    for name in ("SPOT_SSO_HOST=0.0.0.0", f"SPOT_SSO_PORT={port}", "SPOT_SSO_WORKERS="):
        assert name in env


def test_dockerfile_the_ledger_directory_is_a_volume_of_the_image_user() -> None:
    final = final_stage(dockerfile_instructions())
    data = image_data_dir()
    volumes = [rest for keyword, rest in final if keyword == "VOLUME"]
    assert any(data in volume for volume in volumes), f"VOLUME {data}"
    uid, gid = image_user()
    run = " ".join(rest for keyword, rest in final if keyword == "RUN")
    owner = f"-o {uid} -g {uid if gid is None else gid}"
    assert f"install -d {owner}" in run and data in run, f"{data} created, owned by {uid}"
    last_run = max(i for i, (keyword, _) in enumerate(final) if keyword == "RUN")
    first_volume = min(i for i, (keyword, _) in enumerate(final) if keyword == "VOLUME")
    assert last_run < first_volume, "what a RUN writes under a VOLUME after it is dropped"


def test_dockerignore_keeps_the_build_context_small_and_secret_free() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    for needed in (".venv", ".git", "tests", "**/__pycache__", ".pytest_cache", ".mypy_cache"):
        assert needed in patterns, needed
    for needed in (".ruff_cache", ".hypothesis", ".env", "secrets", "config.toml", "deploy"):
        assert needed in patterns, needed
    assert "data/" in patterns, "the ledger a local serve or demo keeps in data/"
    for kept in ("service", "pyproject.toml", "README.md"):
        assert kept not in patterns, f"the wheel build needs {kept}"


# ---------------------------------------------------------------------------------------
# docker-compose.yml and .env.example
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    return data


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _healthcheck_text(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def test_compose_service_healthcheck_and_redis_dependency(compose: dict[str, Any]) -> None:
    service = compose["services"]["spot-sso"]
    assert "/healthz" in _healthcheck_text(service)
    assert "curl" not in _healthcheck_text(service)
    assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    url = urlsplit(_environment(service)["SPOT_SSO_REDIS_URL"])
    assert url.scheme == "redis" and url.hostname == "redis", "the Compose Redis service"
    assert url.password is None

    redis = compose["services"]["redis"]
    image = re.fullmatch(r"redis:(\d+)[.\w-]*", redis["image"])
    assert image and int(image.group(1)) >= 7, f"Redis 7 or later, pinned: {redis['image']}"
    assert "redis-cli ping" in _healthcheck_text(redis)
    assert "ports" not in redis, "Redis is not published on the host"


def test_compose_services_are_hardened(compose: dict[str, Any]) -> None:
    for name in ("spot-sso", "demo", "redis"):
        service = compose["services"][name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
    for name in ("spot-sso", "demo"):
        assert "/tmp" in compose["services"][name]["tmpfs"]
        for port in compose["services"][name]["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_compose_config_mounted_read_only_and_env_file(compose: dict[str, Any]) -> None:
    service = compose["services"]["spot-sso"]
    assert service["env_file"] in (".env", [".env"])
    env = _environment(service)
    mounts = {volume.split(":")[1]: volume for volume in service["volumes"]}
    # The configuration file, and every other file named by path outside the secrets.
    files = {env["SPOT_SSO_CONFIG"]}
    files |= {v for n, v in env.items() if n.endswith("_FILE") and "/run/secrets/" not in v}
    assert len(files) >= 2, files  # the configuration and the users file
    for path in files:
        assert mounts[path].endswith(":ro"), f"{path} is not mounted read-only"


def test_compose_keeps_the_ledger_in_a_named_volume(compose: dict[str, Any]) -> None:
    service = compose["services"]["spot-sso"]
    data = _environment(service).get("SPOT_SSO_DATA_DIR", image_data_dir())
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in service["volumes"]}
    assert data in mounts, f"the ledger's {data} is a volume"
    assert mounts[data] in compose["volumes"], "a named volume: it outlives the container"


def test_compose_secrets_are_files_never_environment(compose: dict[str, Any]) -> None:
    service = compose["services"]["spot-sso"]
    env = _environment(service)
    # The secret files the environment (the Compose file's, and .env.example's, active or
    # commented out) points at: exactly the service's secrets, the Spot's key one of them.
    paths = {**env_example_assignments(), **env}
    read = {
        value.split()[0].removeprefix("/run/secrets/")
        for name, value in paths.items()
        if name.endswith("_FILE") and value.startswith("/run/secrets/")
    }
    assert set(service["secrets"]) == read
    key_file = env["SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY_FILE"]
    assert key_file.removeprefix("/run/secrets/") in service["secrets"], key_file
    for name, secret in compose["secrets"].items():
        assert set(secret) == {"file"}, f"secret {name} must be a file"
        assert secret["file"].startswith("./secrets/")
    for svc_name, svc in compose["services"].items():
        for name, value in _environment(svc).items():
            assert not _secret_value_var(name), f"{svc_name}: {name} carries a secret"
            if name.endswith("_FILE") and SECRET_NAME.search(name):
                assert value.startswith("/run/secrets/"), f"{svc_name}: {name}={value}"
            if "REDIS_URL" in name:
                assert not _redis_url_has_password(value), f"{svc_name}: password in {name}"


def test_compose_demo_profile_runs_the_demo(compose: dict[str, Any]) -> None:
    demo = compose["services"]["demo"]
    assert demo["profiles"] == ["demo"]
    assert demo["command"][:2] == ["spot-sso", "demo"]
    assert "/healthz" in _healthcheck_text(demo)
    # The demo builds its URLs on its port: host and container ports must be that port,
    # and differ from the service's so `docker compose --profile demo up` runs both.
    port = _environment(demo).get("SPOT_SSO_PORT", str(image_port()))
    assert demo["ports"] == [f"127.0.0.1:{port}:{port}"]
    service_ports = {p.split(":")[1] for p in compose["services"]["spot-sso"]["ports"]}
    assert port not in service_ports
    for name, service in compose["services"].items():
        if name != "demo":
            assert "profiles" not in service, f"{name} must start without a profile"


def env_example_assignments() -> dict[str, str]:
    """Every NAME=value line of .env.example, active or commented out."""
    found: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = ASSIGNMENT.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_env_example_has_no_secret_values() -> None:
    assignments = env_example_assignments()
    assert assignments
    for name, value in assignments.items():
        assert not _secret_value_var(name), f".env.example: {name}= would carry a secret"
        if name.endswith("_FILE") and SECRET_NAME.search(name):
            assert value.startswith("/run/secrets/"), f"{name}={value}"
        if "REDIS_URL" in name:
            assert not _redis_url_has_password(value)


def _env_var_names() -> set[str]:
    """The settings' variables a Compose deployment sets: every scalar and list setting of
    the top level, the limits, the ledger, the "main" Spot and the "backend" client."""
    from service.settings.ledger import LedgerConfig
    from service.settings.model import env_name
    from service.settings.spots import ClientConfig, LimitsConfig, SpotConfig

    names = {env_name(f) for f in Settings.model_fields if f not in ("spots", "clients")}
    names -= {env_name("identity"), env_name("limits"), env_name("ledger")}
    names |= {env_name("limits", f) for f in LimitsConfig.model_fields}
    names |= {env_name("ledger", f) for f in LedgerConfig.model_fields}
    rules = {"groups", "properties", "domains", "require_groups"}  # tables: docs/rules.md
    names |= {env_name("spots", "main", f) for f in SpotConfig.model_fields if f not in rules}
    names |= {env_name("clients", "backend", f) for f in ClientConfig.model_fields}
    names |= {env_name("identity", "adapter"), env_name("identity", "http", "token_file")}
    names |= {"SPOT_SSO_CONFIG", "SPOT_SSO_HOST", "SPOT_SSO_PORT", "SPOT_SSO_WORKERS"}
    return names


def test_env_example_lists_every_variable() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    mentioned = set(re.findall(r"SPOT_SSO_[A-Z0-9_]+", text))
    missing = sorted(_env_var_names() - mentioned)
    assert not missing, f".env.example does not mention {missing}"


def test_env_example_and_compose_environment_load_the_example_config(
    compose: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `docker compose up` gives spot-sso: .env.example's active lines, the compose
    environment, config.example.toml, with the mounted files stood in for by local ones."""
    key = tmp_path / "spot_private_key"
    key.write_text(SPOT_KEY + "\n", encoding="utf-8")
    stand_ins = {
        "/run/secrets/spot_private_key": str(key),
        "/etc/spot-sso/users.toml": str(ROOT / "users.example.toml"),
    }
    active = {
        m.group(1): m.group(2)
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if (m := ASSIGNMENT.match(line)) and not line.lstrip().startswith("#")
    }
    for name, value in {**active, **_environment(compose["services"]["spot-sso"])}.items():
        monkeypatch.setenv(name, stand_ins.get(value, value))
    settings = load_settings(ROOT / "config.example.toml")
    assert settings.spots["main"].key.get_secret_value() == SPOT_KEY
    assert settings.redis_url is not None
    assert settings.identity.adapter == "static"
    assert settings.clients["backend"].spots == ["main"]


# ---------------------------------------------------------------------------------------
# TOML examples
# ---------------------------------------------------------------------------------------


def test_config_example_loads_with_a_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "key"
    key.write_text(SPOT_KEY, encoding="utf-8")
    monkeypatch.setenv("SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY_FILE", str(key))
    settings = load_settings(ROOT / "config.example.toml")
    assert settings.identity.adapter == "static"
    assert settings.identity.http is None, "the [identity.http] example stays commented out"


def test_config_example_http_block_works_once_uncommented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    block = text[text.index("# [identity.http]") :]
    uncommented = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    token = tmp_path / "host_api_token"
    token.write_text(HOST_TOKEN, encoding="utf-8")
    uncommented = uncommented.replace("/run/secrets/host_api_token", str(token))
    text = text[: text.index("# [identity.http]")] + uncommented + "\n"
    text = text.replace('adapter = "static"', 'adapter = "http"')
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    shutil.copy(ROOT / "users.example.toml", tmp_path)
    key = tmp_path / "key"
    key.write_text(SPOT_KEY, encoding="utf-8")
    monkeypatch.setenv("SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY_FILE", str(key))
    settings = load_settings(config)
    assert settings.identity.adapter == "http"
    assert settings.identity.http is not None and settings.identity.http.token is not None
    assert settings.identity.http.token.get_secret_value() == HOST_TOKEN


# ---------------------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> Manifests:
    return load_manifests()


def _file_of(manifests: Manifests, variable: str) -> str:
    """The name of the file the Deployment's ``variable`` points at: a key of the Secret,
    or of the ConfigMap."""
    env = {item["name"]: item["value"] for item in spot_container(manifests)["env"]}
    return str(env[variable].rpartition("/")[2])


def test_k8s_manifests_parse_and_have_the_kinds(
    manifests: Manifests,
) -> None:
    kinds = set()
    for name, docs in manifests.items():
        for doc in docs:
            assert doc.get("apiVersion"), name
            assert doc.get("kind"), name
            if doc["kind"] != "Kustomization":
                assert doc["metadata"]["name"].startswith("spot-sso"), name
                assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "spot-sso"
            kinds.add(doc["kind"])
    assert kinds == {
        "Kustomization",
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    }


def test_k8s_kustomization_lists_every_manifest(
    manifests: Manifests,
) -> None:
    kustomization = manifests["kustomization.yaml"][0]
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    assert set(listed) == set(manifests) - {"kustomization.yaml"}
    images = {image["name"] for image in kustomization.get("images", [])}
    assert spot_container(manifests)["image"].split(":")[0] in images


def _port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    return int(named[port])


def test_k8s_deployment_probes(manifests: Manifests) -> None:
    container = spot_container(manifests)
    assert [p["containerPort"] for p in container["ports"]] == [image_port()]
    expected = {
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
        "startupProbe": "/healthz",
    }
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert _port_number(container, get["port"]) == image_port(), probe


def test_k8s_deployment_replicas_resources_and_shutdown(
    manifests: Manifests,
) -> None:
    deployment = by_kind(manifests, "Deployment")
    assert deployment["spec"]["replicas"] >= 2, "one replica down, another serves"
    pod = deployment["spec"]["template"]["spec"]
    container = spot_container(manifests)
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind
    # SIGTERM comes after the preStop sleep; uvicorn then drains for up to its graceful
    # shutdown time: both within the grace period, before the SIGKILL.
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep" and int(sleep[1]) > 0
    drain = int(sleep[1]) + GRACEFUL_SHUTDOWN_SECONDS
    assert drain < pod["terminationGracePeriodSeconds"], "the drain fits in the grace period"
    spread = pod.get("topologySpreadConstraints", [])
    anti = pod.get("affinity", {}).get("podAntiAffinity")
    assert anti or any(c["topologyKey"] == "kubernetes.io/hostname" for c in spread)
    assert pod["serviceAccountName"] == by_kind(manifests, "ServiceAccount")["metadata"]["name"]


def test_k8s_deployment_security_context(manifests: Manifests) -> None:
    pod = by_kind(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert by_kind(manifests, "ServiceAccount")["automountServiceAccountToken"] is False
    uid, _ = image_user()  # not root (test_dockerfile_final_stage_runs_as_a_numeric_non_root_user)
    pod_security = pod["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] == uid
    assert pod_security["seccompProfile"]["type"] == "RuntimeDefault"
    security = spot_container(manifests)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security.get("privileged", False) is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "add" not in security["capabilities"]
    assert security.get("runAsUser", uid) == uid
    assert security.get("runAsNonRoot", True) is True


def test_k8s_volumes_config_secrets_and_tmp(manifests: Manifests) -> None:
    pod = by_kind(manifests, "Deployment")["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in spot_container(manifests)["volumeMounts"]}

    config = volumes[mounts["/etc/spot-sso"]["name"]]
    assert config["configMap"]["name"] == by_kind(manifests, "ConfigMap")["metadata"]["name"]
    assert mounts["/etc/spot-sso"]["readOnly"] is True

    secret = volumes[mounts["/run/secrets/spot-sso"]["name"]]
    assert secret["secret"]["secretName"] == by_kind(manifests, "Secret")["metadata"]["name"]
    assert mounts["/run/secrets/spot-sso"]["readOnly"] is True
    # Readable by the pod's group (fsGroup), not by others.
    assert secret["secret"]["defaultMode"] & 0o007 == 0
    assert secret["secret"]["defaultMode"] & 0o040
    uid, gid = image_user()
    assert pod["securityContext"]["fsGroup"] == (uid if gid is None else gid)

    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    data = image_data_dir()
    assert "emptyDir" in volumes[mounts[data]["name"]], "the ledger's SQLite file, per pod"
    assert "readOnly" not in mounts[data]
    assert set(mounts) == {"/etc/spot-sso", "/run/secrets/spot-sso", "/tmp", data}


def test_k8s_secrets_only_as_files(manifests: Manifests) -> None:
    container = spot_container(manifests)
    for source in container.get("envFrom", []):
        assert "secretRef" not in source, "secrets are mounted as files, not envFrom"
    env = {item["name"]: item for item in container["env"]}
    secret_keys = set(by_kind(manifests, "Secret")["stringData"])
    read_as_files = set()
    for name, item in env.items():
        assert "secretKeyRef" not in item.get("valueFrom", {}), f"{name} from a Secret"
        assert not _secret_value_var(name), f"{name} carries a secret value"
        if name.endswith("_FILE"):
            directory, _, key = item["value"].rpartition("/")
            assert directory == "/run/secrets/spot-sso", name
            assert key in secret_keys, f"{name} reads {key}, not in the Secret"
            read_as_files.add(key)
    assert read_as_files == secret_keys, "every key of the Secret is read, as a file"
    # The Spot's key and the Redis URL are among those files (read by the loop above).
    assert {"SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY_FILE", "SPOT_SSO_REDIS_URL_FILE"} <= set(env)
    assert "SPOT_SSO_REDIS_URL" not in env, "the Redis URL may hold a password: a file"
    # The configuration file is a key of the ConfigMap, in its read-only mount.
    pod = by_kind(manifests, "Deployment")["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    directory, _, name = env["SPOT_SSO_CONFIG"]["value"].rpartition("/")
    assert mounts[directory]["readOnly"] is True
    assert "configMap" in volumes[mounts[directory]["name"]]
    assert name in by_kind(manifests, "ConfigMap")["data"]
    assert env["SPOT_SSO_PORT"]["value"] == str(image_port())
    Settings(trusted_proxies=env["SPOT_SSO_TRUSTED_PROXIES"]["value"])  # a valid network list
    configmap = by_kind(manifests, "ConfigMap")["data"]["config.toml"]
    assert "private_key =" not in configmap and "token =" not in configmap


def test_k8s_secret_holds_only_placeholders_refused_at_start(
    manifests: Manifests,
) -> None:
    secret = by_kind(manifests, "Secret")
    assert "data" not in secret
    values = secret["stringData"]
    assert values, "the keys the Deployment reads (test_k8s_secrets_only_as_files)"
    for key, value in values.items():
        assert value.startswith("REPLACE-WITH-"), key
    assert is_placeholder(values[_file_of(manifests, "SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY_FILE")])
    redis_url = values[_file_of(manifests, "SPOT_SSO_REDIS_URL_FILE")]
    assert not redis_url.startswith(("redis://", "rediss://", "unix://"))


def _k8s_environment(manifests: Manifests, files: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The Deployment's environment, secret files replaced by local files holding ``files``."""
    env: dict[str, str] = {}
    for item in spot_container(manifests)["env"]:
        value = item["value"]
        if value.startswith("/run/secrets/spot-sso/"):
            local = tmp_path / value.rpartition("/")[2]
            local.write_text(files[local.name] + "\n", encoding="utf-8")
            value = str(local)
        env[item["name"]] = value
    return env


def _load_configmap(
    manifests: Manifests,
    files: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    config = tmp_path / _file_of(manifests, "SPOT_SSO_CONFIG")
    config.write_text(by_kind(manifests, "ConfigMap")["data"][config.name], encoding="utf-8")
    tomllib.loads(config.read_text(encoding="utf-8"))
    for name, value in _k8s_environment(manifests, files, tmp_path).items():
        monkeypatch.setenv(name, value)
    return load_settings(config)


def secret_files(manifests: Manifests, redis_url: str) -> dict[str, str]:
    """What the Secret's keys hold in a real deployment, by key."""
    return {
        _file_of(manifests, "SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY_FILE"): SPOT_KEY,
        _file_of(manifests, "SPOT_SSO_IDENTITY__HTTP__TOKEN_FILE"): HOST_TOKEN,
        _file_of(manifests, "SPOT_SSO_REDIS_URL_FILE"): redis_url,
    }


def test_k8s_configmap_loads_with_real_secrets(
    manifests: Manifests, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = secret_files(manifests, "rediss://:s3cret@redis.example.internal:6380/0")
    settings = _load_configmap(manifests, files, tmp_path, monkeypatch)
    assert settings.spots["main"].key.get_secret_value() == SPOT_KEY
    assert settings.identity.http is not None and settings.identity.http.token is not None
    assert settings.identity.http.token.get_secret_value() == HOST_TOKEN
    assert settings.redis_url is not None
    assert settings.trusted_proxies


@pytest.mark.parametrize(
    "variable",
    ["SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY_FILE", "SPOT_SSO_REDIS_URL_FILE"],
    ids=["spot-main-private-key", "redis-url"],
)
def test_k8s_forgotten_placeholder_fails_at_start(
    manifests: Manifests,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    from service.errors import ConfigError

    files = secret_files(manifests, "redis://redis.example.internal:6379/0")
    forgotten = _file_of(manifests, variable)
    files[forgotten] = by_kind(manifests, "Secret")["stringData"][forgotten]
    with pytest.raises(ConfigError):
        _load_configmap(manifests, files, tmp_path, monkeypatch)


def test_k8s_service_pdb_and_hpa_target_the_deployment(
    manifests: Manifests,
) -> None:
    deployment = by_kind(manifests, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()

    service = by_kind(manifests, "Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    container = spot_container(manifests)
    targets = [_port_number(container, p["targetPort"]) for p in service["spec"]["ports"]]
    assert targets == [image_port()]

    hpa = by_kind(manifests, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    assert low >= 2, "never fewer than two replicas"
    assert high > low, "room to scale out"
    assert low <= deployment["spec"]["replicas"] <= high
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]

    # A drain may evict a pod (one above the minimum), and keeps one serving.
    pdb = by_kind(manifests, "PodDisruptionBudget")
    assert isinstance(pdb["spec"]["minAvailable"], int)
    assert 1 <= pdb["spec"]["minAvailable"] < low
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_docs_deployment_mentions_every_manifest() -> None:
    text = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    for path in K8S.glob("*.yaml"):
        assert path.name in text, f"docs/deployment.md does not mention {path.name}"
    for needed in ("trusted_proxies", "public_url", "redis_url", "key_sha256", "rollout"):
        assert needed in text, needed
    assert "kubectl apply -k deploy/kubernetes" in text
