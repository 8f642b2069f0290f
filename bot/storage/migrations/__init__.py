"""Alembic migrations (a package so that non-editable installs ship them)."""
