"""Engines and transactions, tables, Alembic migrations and stored spec text."""
