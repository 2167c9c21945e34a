"""The bench's Node peer (``bench/express/``): is Node there, and are its packages installed?

``prepare`` finds ``node``, asks it for its version and for the versions of express and
jsonwebtoken as installed in ``bench/express/node_modules``, and, when they are missing
and installing is allowed, runs ``npm install --no-audit --no-fund`` there (bounded in
time, in its own process group). Whatever stops it (no ``node``, no ``npm``, a Node too
old for Express 5, an install that fails, say without network) comes back as one line
saying why, and the bench runs without that peer.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import servers

EXPRESS_DIR = servers.ROOT / "bench" / "express"
SERVER_SCRIPT = "bench/express/server.js"  # relative to the tree the servers run from
PACKAGES = ("express", "jsonwebtoken")
NODE_MAJOR_MIN = 18  # Express 5's engines field
INSTALL_SECONDS = 180.0
PROBE_SECONDS = 30.0

# Node's version, then each package's as installed (absent when it cannot be loaded).
_PROBE = (
    "const v = {node: process.versions.node};"
    + "".join(
        f'try {{ require("{name}"); v["{name}"] = require("{name}/package.json").version; }}'
        " catch (e) {}"
        for name in PACKAGES
    )
    + "console.log(JSON.stringify(v));"
)


@dataclass(frozen=True)
class NodePeer:
    node: str  # the node executable
    versions: dict[str, str]  # "node", "express", "jsonwebtoken"

    def describe(self) -> str:
        return ", ".join(f"{name} {self.versions[name]}" for name in ("node", *PACKAGES))


def _probe(node: str, log: Path) -> dict[str, str]:
    log.unlink(missing_ok=True)
    status = servers.run_bounded(
        [node, "-e", _PROBE],
        log=log,
        cwd=EXPRESS_DIR,
        timeout=PROBE_SECONDS,
        env=servers.clean_env(),
    )
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    if status != 0 or not lines:
        return {}
    try:
        found: dict[str, str] = json.loads(lines[-1])
    except ValueError:
        return {}
    return found


def prepare(workdir: Path, *, install: bool, say: Callable[[str], None] = print) -> NodePeer | str:
    """The Node peer ready to start, or why it cannot run (one line).

    ``install``: run ``npm install`` when express or jsonwebtoken is missing; without
    it (``--quick``), a missing package is a reason to skip. ``say`` tells of the install."""
    node = shutil.which("node")
    if node is None:
        return "`node` is not on PATH"
    found = _probe(node, workdir / "node-probe.log")
    if "node" not in found:
        return f"`{node}` did not answer `node -e` (see {workdir / 'node-probe.log'})"
    major = int(found["node"].split(".")[0])
    if major < NODE_MAJOR_MIN:
        return f"Node {found['node']} is older than Express 5 needs ({NODE_MAJOR_MIN})"
    missing = [name for name in PACKAGES if name not in found]
    if missing and not install:
        return (
            f"{', '.join(missing)} not installed in bench/express/node_modules, and --quick "
            "does not run `npm install` (it would take the smoke run over its time budget); "
            "a run without --quick installs it"
        )
    if missing:
        npm = shutil.which("npm")
        if npm is None:
            return (
                f"`npm` is not on PATH, and bench/express/node_modules lacks {', '.join(missing)}"
            )
        log = workdir / "npm-install.log"
        say(f"npm install --no-audit --no-fund in bench/express (at most {INSTALL_SECONDS:.0f} s)")
        status = servers.run_bounded(
            [npm, "install", "--no-audit", "--no-fund"],
            log=log,
            cwd=EXPRESS_DIR,
            timeout=INSTALL_SECONDS,
            env=servers.clean_env({"npm_config_update_notifier": "false"}),
        )
        if status != 0:
            what = (
                f"exit status {status}"
                if status is not None
                else f"still running after {INSTALL_SECONDS:.0f} s"
            )
            return f"`npm install` in bench/express failed ({what}){_npm_error(log)}"
        found = _probe(node, workdir / "node-probe.log")
        missing = [name for name in PACKAGES if name not in found]
        if missing:
            return f"`npm install` in bench/express did not install {', '.join(missing)}"
    return NodePeer(node, found)


def _npm_error(log: Path) -> str:
    """npm's error code line (``npm error code ECONNREFUSED``), or its last line."""
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    coded = [line for line in lines if line.startswith("npm error code ")]
    picked = coded[:1] or lines[-1:]
    return f": {picked[0][:200]}" if picked else ""
