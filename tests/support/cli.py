"""The ``spot-sso`` command, called in process."""

from __future__ import annotations

import pytest

from service.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``spot-sso *argv``: its exit status, standard output and standard error."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err
