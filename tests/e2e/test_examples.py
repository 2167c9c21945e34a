"""Every program in ``examples/`` against a live ``spot-sso serve`` on 127.0.0.1.

The first test runs each one as its README says; the others run a compiled example's
program, built once. What they print is checked, not only their exit status: the tokens
verify with the Spot's key (PyJWT) for the right ``sub``, the link passes
``/authorize``'s checks, the snippet carries the token, and each kind of error answer is
named on stderr. A language whose runtime is missing is skipped with the reason;
``REQUIRE_EXAMPLES=1`` (CI) fails it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from service.runtime.clients import key_digest
from tests.support.config import write_config
from tests.support.hosts import free_port
from tests.support.processes import Server, start_server
from tests.support.settings import BILLING_KEY, MAIN_ID, MAIN_KEY

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
THROTTLED_KEY = "sso_test-throttled-key-abcdefghijklmnopqrstuvwxyz"
USER_ID = "u-42"
USERS = [
    {"id": USER_ID, "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
]
ENTRY_URL = f"https://go.meltingspot.io/spot/{MAIN_ID}/sso"
RUN_SECONDS = 60  # a generous bound for one run (`java X.java` and `go run` compile first)
REQUEST_ID = r"\(request [0-9a-f]{32}\)"


@dataclass(frozen=True)
class Example:
    """An example: the command its README gives (run from the repository root), and for
    a compiled language a build step done once, whose program the other tests run."""

    language: str
    needs: tuple[str, ...]  # the programs on PATH it needs
    documented: tuple[str, ...]
    build: Callable[[Path], list[str]] | None = None


def _go_build(scratch: Path) -> list[str]:
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    if not any(name in env for name in ("GOCACHE", "XDG_CACHE_HOME", "HOME")):
        env["GOCACHE"] = str(scratch / "go-cache")  # go needs somewhere to cache
    program = scratch / "spot-sso-example"
    subprocess.run(
        ["go", "build", "-o", str(program), "."],
        cwd=EXAMPLES / "go",
        check=True,
        timeout=180,
        env=env,
    )
    return [str(program)]


def _java_build(scratch: Path) -> list[str]:
    # `java SpotSso.java` compiles the source on every run (2-6 s here): once is enough.
    subprocess.run(
        ["javac", "-d", str(scratch), str(EXAMPLES / "java/SpotSso.java")],
        check=True,
        timeout=180,
    )
    return ["java", "-cp", str(scratch), "SpotSso"]


EXAMPLE_LIST = [
    Example("curl", ("sh", "curl", "jq"), ("sh", "examples/curl/spot_sso.sh")),
    Example("python", (), (sys.executable, "examples/python/spot_sso.py")),
    Example("node", ("node",), ("node", "examples/node/spot_sso.mjs")),
    Example("go", ("go",), ("go", "run", "examples/go/main.go"), _go_build),
    Example("php", ("php",), ("php", "examples/php/spot_sso.php")),
    Example("ruby", ("ruby",), ("ruby", "examples/ruby/spot_sso.rb")),
    Example("java", ("java", "javac"), ("java", "examples/java/SpotSso.java"), _java_build),
]
ROOT = EXAMPLES.parent


@dataclass(frozen=True)
class Servers:
    ok: Server  # the static adapter: knows USER_ID
    down: Server  # the http adapter on a port where nothing listens: 503 for any userId
    html_502: str  # a "proxy" answering 502 with an HTML page


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    scratch = tmp_path_factory.mktemp("example-servers")
    clients = {
        "billing": {"key_sha256": key_digest(BILLING_KEY), "spots": ["main"]},
        "throttled": {
            "key_sha256": key_digest(THROTTLED_KEY),
            "spots": ["main"],
            "rate_limit": "1/hour",
        },
    }
    ok_config = write_config(
        scratch / "ok.toml",
        spots={"main": {"entry_url": ENTRY_URL}},
        clients=clients,
        identity={"static": {"users": USERS}},
    )
    closed = f"http://127.0.0.1:{free_port()}"
    down_config = write_config(
        scratch / "down.toml",
        identity={
            "static": None,
            "adapter": "http",
            "http": {
                "session_url": f"{closed}/me",
                "forward_cookies": ["session"],
                "user_url": f"{closed}/users/{{user_id}}",
            },
        },
    )
    started: list[Server] = []
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _BadGateway)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        for name, config in (("ok", ok_config), ("down", down_config)):
            started.append(start_server(["serve", "--config", str(config)], scratch / name))
        ok, down = started
        # Use up the throttled client's one call an hour: every example then gets its 429.
        spent = httpx.post(
            f"{ok.url}/tokens",
            json={"userId": USER_ID},
            headers={"Authorization": f"Bearer {THROTTLED_KEY}"},
            timeout=5,
        )
        assert spent.status_code == 200, spent.text
        yield Servers(ok, down, f"http://127.0.0.1:{proxy.server_port}")
    finally:
        proxy.shutdown()
        proxy.server_close()
        for server in started:
            server.stop()


class _BadGateway(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def built() -> dict[str, list[str]]:
    """The command of each compiled example, built once for the module, by language."""
    return {}


@pytest.fixture(params=EXAMPLE_LIST, ids=lambda example: example.language)
def run(
    request: pytest.FixtureRequest,
    built: dict[str, list[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run(url, documented=False, **env)``: the example's run against ``url``."""
    example: Example = request.param
    missing = [program for program in example.needs if shutil.which(program) is None]
    if missing:
        reason = f"{example.language} example: {', '.join(missing)} not installed"
        if os.environ.get("REQUIRE_EXAMPLES"):
            pytest.fail(f"{reason} (REQUIRE_EXAMPLES is set)")
        pytest.skip(reason)

    def run_example(
        url: str, *, documented: bool = False, **env: str
    ) -> subprocess.CompletedProcess[str]:
        command = list(example.documented)
        if example.build is not None and not documented:
            if example.language not in built:
                scratch = tmp_path_factory.mktemp(f"example-{example.language}")
                built[example.language] = example.build(scratch)
            command = built[example.language]
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SPOT_SSO_", "SPOT_WIDGET_"))
        }
        environment.update({"SPOT_SSO_URL": url, "SPOT_SSO_USER_ID": USER_ID, **env})
        return subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=environment,
            timeout=RUN_SECONDS,
            check=False,
        )

    return run_example


def test_example_prints_tokens_link_and_snippet(
    run: Callable[..., subprocess.CompletedProcess[str]], servers: Servers
) -> None:
    widget = "https://widgets.example.com/spot.js?v=1&x=<y>"
    done = run(
        servers.ok.url, documented=True, SPOT_SSO_API_KEY=BILLING_KEY, SPOT_WIDGET_SCRIPT=widget
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 4, done.stdout

    by_id = re.fullmatch(rf"token by userId {USER_ID}: (\S+) \(expires (\S+)\)", lines[0])
    assert by_id, lines[0]
    claims = jwt.decode(by_id[1], MAIN_KEY, algorithms=["HS256"])
    assert (claims["sub"], claims["firstName"], claims["email"]) == (
        USER_ID,
        "Ada",
        "ada@example.com",
    )
    assert by_id[2].endswith("Z")

    by_user = re.fullmatch(r"token by user u-2001: (\S+) \(expires (\S+)\)", lines[1])
    assert by_user, lines[1]
    grace = jwt.decode(by_user[1], MAIN_KEY, algorithms=["HS256"])
    assert {key: grace[key] for key in ("sub", "firstName", "lastName", "email", "timezone")} == {
        "sub": "u-2001",
        "firstName": "Grace",
        "lastName": "Hopper",
        "email": "grace@example.com",
        "timezone": "America/New_York",
    }

    assert lines[2].startswith("link: ")
    link = lines[2].removeprefix("link: ")
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{servers.ok.url}/authorize"
    assert parse_qs(parts.query, strict_parsing=True) == {
        "spot": ["main"],
        "referrerUrl": [f"/spot/{MAIN_ID}/events"],
    }
    # The link passes every check of /authorize: the static adapter then finds nobody
    # logged in (401), where a refused link would get 400.
    assert httpx.get(link, timeout=5).status_code == 401

    assert lines[3].startswith("embed: ")
    scripts = _scripts(lines[3].removeprefix("embed: "))
    assert scripts == [{"src": widget, "data-auth-token": by_id[1], "async": None}]
    assert done.stderr == ""


def test_example_names_a_bad_key(
    run: Callable[..., subprocess.CompletedProcess[str]], servers: Servers
) -> None:
    done = run(servers.ok.url, SPOT_SSO_API_KEY="sso_not-a-key-of-this-service")
    assert done.returncode == 1
    assert done.stdout == ""
    assert re.fullmatch(
        rf"spot-sso error: 401 invalid-api-key: The API key is not valid\. {REQUEST_ID}\n",
        done.stderr,
    ), done.stderr


def test_example_names_an_unknown_user(
    run: Callable[..., subprocess.CompletedProcess[str]], servers: Servers
) -> None:
    done = run(servers.ok.url, SPOT_SSO_API_KEY=BILLING_KEY, SPOT_SSO_USER_ID="u-nobody")
    assert done.returncode == 1 and done.stdout == ""
    assert re.fullmatch(
        r"spot-sso error: 404 unknown-user: The identity source knows no user with ID "
        rf"'u-nobody'\. {REQUEST_ID}\n",
        done.stderr,
    ), done.stderr


def test_example_says_when_to_retry(
    run: Callable[..., subprocess.CompletedProcess[str]], servers: Servers
) -> None:
    done = run(servers.ok.url, SPOT_SSO_API_KEY=THROTTLED_KEY)
    assert done.returncode == 1 and done.stdout == ""
    found = re.fullmatch(
        r"spot-sso error: 429 rate-limited: Too many requests: the limit is 1/hour\. "
        rf"Try again in (\d+) s\. Retry after (\d+) s\. {REQUEST_ID}\n",
        done.stderr,
    )
    assert found, done.stderr
    assert found[1] == found[2] and 0 < int(found[2]) <= 3600


def test_example_names_an_unavailable_identity_source(
    run: Callable[..., subprocess.CompletedProcess[str]], servers: Servers
) -> None:
    done = run(servers.down.url, SPOT_SSO_API_KEY=BILLING_KEY)
    assert done.returncode == 1 and done.stdout == ""
    assert re.fullmatch(
        rf"spot-sso error: 503 identity-unavailable: .+ {REQUEST_ID}\n", done.stderr
    ), done.stderr


def test_example_names_an_answer_that_is_not_a_problem(
    run: Callable[..., subprocess.CompletedProcess[str]], servers: Servers
) -> None:
    done = run(servers.html_502, SPOT_SSO_API_KEY=BILLING_KEY)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == "spot-sso error: 502 (not a problem document)\n"


def test_example_names_an_unreachable_service(
    run: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = run(url, SPOT_SSO_API_KEY=BILLING_KEY)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"spot-sso error: cannot reach {url}: "), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


def test_example_wants_an_api_key(
    run: Callable[..., subprocess.CompletedProcess[str]], servers: Servers
) -> None:
    done = run(servers.ok.url)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "spot-sso error: set SPOT_SSO_API_KEY to the API client's key\n"


def _scripts(html: str) -> list[dict[str, str | None]]:
    """The attributes of each ``<script>`` in ``html``, as an HTML parser reads them."""
    found: list[dict[str, str | None]] = []

    class Scripts(HTMLParser):
        def handle_starttag(self, tag: str, attrs: Sequence[tuple[str, str | None]]) -> None:
            if tag == "script":
                found.append(dict(attrs))

    parser = Scripts()
    parser.feed(html)
    parser.close()
    return found
