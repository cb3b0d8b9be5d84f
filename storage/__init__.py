"""Storage: settings, engine and sessions, SQLModel tables, migrations and repositories.

Imports no domain code: everything above it (labeling, safety, routing, app) calls in.
"""
