"""Alembic migrations for the sightline schema (run them with ``sightline.store.migrate``)."""
