# The two commands: `make demo` and `make test`. Both create .venv on first use.
# `make test-fast` runs the unit and integration tests only (no spot-sso process, no
# browser, no bench): under half a minute.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The OpenID provider the tests and `spot-sso demo --oidc` run (oidc-provider, npm):
# installed from its lockfile
# when npm is here; without npm, those tests are skipped and say why.
OIDC   := service/demo/oidc
OIDC_STAMP := $(OIDC)/node_modules/.installed
# openapi-typescript, which writes openapi/spot-sso.d.ts from openapi/openapi.json.
TSGEN  := openapi/typescript
TSGEN_STAMP := $(TSGEN)/node_modules/.installed

.PHONY: demo test test-fast lint format openapi clean bench

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "spot-sso needs Python >= 3.11 (set PYTHON=python3.12 for example)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(OIDC_STAMP): $(OIDC)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --prefix $(OIDC) && touch $@; \
	else echo "npm not found: the OpenID provider tests will be skipped"; fi

$(TSGEN_STAMP): $(TSGEN)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --no-audit --no-fund --prefix $(TSGEN) && touch $@; \
	else echo "npm not found: the TypeScript types' drift test will be skipped"; fi

demo: $(STAMP)
	$(BIN)/spot-sso demo

test: $(STAMP) $(OIDC_STAMP) $(TSGEN_STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP) $(OIDC_STAMP) $(TSGEN_STAMP)
	$(BIN)/python -m pytest tests/unit tests/integration

# Throughput, latency and memory against a bare FastAPI app; writes bench/results.md.
# Needs wrk (Debian package; installed when run as root). A few minutes; not part of test.
# `make bench BENCH_ARGS="--duration 5 --workers 1"` passes options to bench/run.py.
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check service tests
	$(BIN)/ruff format --check service tests
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format service tests
	$(BIN)/ruff check --fix service tests

openapi: $(STAMP) $(TSGEN_STAMP)
	$(BIN)/spot-sso openapi --output openapi/openapi.json
	$(TSGEN)/node_modules/.bin/openapi-typescript openapi/openapi.json -o openapi/spot-sso.d.ts

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
