"""The member ledger: every member spot-sso has signed in, per Spot (SQLite or PostgreSQL).

The only package that knows SQL (SQLAlchemy, Alembic and the drivers).
"""
