ARG PYTHON_IMAGE=python:3.12-slim

# Build (Docker BuildKit, or buildah/podman):  docker build -t spot-sso .
# Run:    docker run --rm -p 127.0.0.1:8000:8000 --read-only --tmpfs /tmp \
#           -v spot-sso-data:/var/lib/spot-sso \
#           -e SPOT_SSO_SPOTS__MAIN__ID=... -e SPOT_SSO_SPOTS__MAIN__PRIVATE_KEY_FILE=/run/secrets/... \
#           spot-sso
# Configuration: environment variables SPOT_SSO_* and, optionally, a TOML file whose path is
# in SPOT_SSO_CONFIG (see config.example.toml, .env.example and docker-compose.yml).
# Host, port and workers of the default command: SPOT_SSO_HOST, SPOT_SSO_PORT, SPOT_SSO_WORKERS.
# The member ledger (docs/members.md): a SQLite file in the volume /var/lib/spot-sso
# (SPOT_SSO_DATA_DIR), or PostgreSQL with SPOT_SSO_DATABASE_URL_FILE for several replicas.
# Deployment guide (Compose, Kubernetes, TLS, key rotation): docs/deployment.md.

# ---------------------------------------------------------------------------------------------
# build: a wheel of the project plus wheels of all its dependencies, in /wheels.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Only what the wheel needs (the .dockerignore keeps .git, tests, docs, .venv... out).
COPY pyproject.toml README.md ./
COPY service ./service
RUN python -m pip wheel --wheel-dir /wheels . \
 && ls -l /wheels

# ---------------------------------------------------------------------------------------------
# runtime: a venv in /opt/spot-sso with the wheels installed offline; no compilers, no sources.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# Release builds pass these: --build-arg IMAGE_VERSION=0.1.0 --build-arg IMAGE_REVISION=$(git
# rev-parse HEAD) --build-arg IMAGE_SOURCE=<repository URL> --build-arg IMAGE_CREATED=<RFC 3339>.
ARG IMAGE_VERSION="0.1.0"
ARG IMAGE_REVISION=""
ARG IMAGE_SOURCE=""
ARG IMAGE_CREATED=""
LABEL org.opencontainers.image.title="spot-sso" \
      org.opencontainers.image.description="Single sign-on token service for MeltingSpot communities" \
      org.opencontainers.image.version="${IMAGE_VERSION}" \
      org.opencontainers.image.revision="${IMAGE_REVISION}" \
      org.opencontainers.image.source="${IMAGE_SOURCE}" \
      org.opencontainers.image.created="${IMAGE_CREATED}" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/spot-sso \
    PATH=/opt/spot-sso/bin:$PATH

# The wheels are bind-mounted from the build stage, so they never become a layer here; pip
# and setuptools are then removed from the venv, which needs neither at run time. pip
# byte-compiles at install time, so a read-only container still starts from .pyc files.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/spot-sso \
 && /opt/spot-sso/bin/python -m pip install --no-index --find-links=/wheels spot-sso \
 && /opt/spot-sso/bin/python -m pip uninstall --yes pip setuptools \
 && /opt/spot-sso/bin/python -c "import service.web.app" \
 && /opt/spot-sso/bin/spot-sso --version \
 && groupadd --gid 10001 spot-sso \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --no-log-init \
        --shell /usr/sbin/nologin spot-sso \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/spot-sso

# Non-root, fixed UID/GID (numeric, so runAsNonRoot checks can verify it). Nothing is written
# outside /tmp and /var/lib/spot-sso: run with a read-only root filesystem, a tmpfs (or
# emptyDir) on /tmp, and a volume on /var/lib/spot-sso.
USER 10001:10001
WORKDIR /tmp

ENV SPOT_SSO_HOST=0.0.0.0 \
    SPOT_SSO_PORT=8000 \
    SPOT_SSO_WORKERS=1 \
    SPOT_SSO_DATA_DIR=/var/lib/spot-sso

# The member ledger's SQLite file (ledger.sqlite3), created at the first start. A named volume
# mounted here starts as this directory: owned by 10001, mode 0700.
VOLUME ["/var/lib/spot-sso"]

EXPOSE 8000
STOPSIGNAL SIGTERM

# python's urllib, no curl; proxies bypassed so HTTP(S)_PROXY cannot send the probe elsewhere.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/healthz' % os.environ.get('SPOT_SSO_PORT', '8000'), timeout=4)"]

CMD ["spot-sso", "serve"]
