"""Where things are: the repository the tests run from."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository: service/, bench/, deploy/, openapi/, tests/..."""
