"""Relational storage: one async interface, a SQLite and a PostgreSQL adapter."""
