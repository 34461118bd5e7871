"""Alembic migrations of the registry schema (env.py and versions/ are loaded by Alembic, not imported)."""
