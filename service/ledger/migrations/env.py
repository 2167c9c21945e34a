"""Alembic's entry point for the ledger: run by ``Ledger.migrate`` (``spot-sso migrate``
and start-up), on the connection it passes; never from the ``alembic`` command line."""

from alembic import context

from service.ledger.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the ledger's migrations run through `spot-sso migrate`")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
