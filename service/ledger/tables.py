"""The ledger's one table: a row per Spot and member, as spot-sso last signed them in.

Times are Unix seconds (integers): the same in SQLite and PostgreSQL, and compared as
numbers by the retention purge. No token and no secret is ever stored.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, MetaData, String, Table

NAMING: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

members = Table(
    "members",
    metadata,
    Column("spot_id", String(36), primary_key=True),
    Column("sub", String(255), primary_key=True),
    Column("email", String(255), nullable=False),  # the email last sent to MeltingSpot
    Column("host_email", String(255), nullable=False),  # the email the host last gave
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Column("logins", Integer, nullable=False),
    Column("groups_join", JSON, nullable=False),
    Column("groups_leave", JSON, nullable=False),
    Column("custom_properties", JSON, nullable=False),
    Column("domains_set", JSON, nullable=False),
    Column("domains_unset", JSON, nullable=False),
    Index(None, "spot_id", "last_seen"),
    Index(None, "spot_id", "email"),
    Index(None, "last_seen"),
    Index(None, "sub"),  # members show/forget SUB on every Spot
)
