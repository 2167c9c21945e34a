"""``[ledger]``: the member ledger's settings (where it lives is ``database_url`` or
``data_dir``, at the top level)."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from service.settings.fields import Section

LEDGER_FILE: Final = "ledger.sqlite3"
EmailChange = Literal["follow", "keep-first", "refuse"]


class LedgerConfig(Section):
    """Remember every member signed in, per Spot: ``docs/members.md``."""

    enabled: bool = True
    retention_days: int = Field(
        default=365,
        ge=1,
        le=36_500,
        description="A member not signed in for this many days is erased by the purge.",
    )
    timeout_seconds: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="Deadline of each ledger call; past it the sign-in goes on without it.",
    )
    migrate_on_start: bool = Field(
        default=True, description="Run the database migrations when the service starts."
    )
