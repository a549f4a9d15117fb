"""Model fields the apps share."""

from __future__ import annotations

from django.db import models


class RowIdField(models.BigAutoField):
    """A BigAutoField without SQLite's AUTOINCREMENT, for append-only tables nothing points at.

    Django declares every SQLite auto field `integer PRIMARY KEY AUTOINCREMENT`, and
    AUTOINCREMENT reads and rewrites the `sqlite_sequence` row on every insert, so ids are
    never reused after the highest is deleted. Log rows are read by (job, seq), never by id, so
    reuse is harmless, and the plain rowid alias stored 1.3× the rows a second (issue 22,
    bench/readers.py). Other databases are unchanged."""

    def db_type_suffix(self, connection):
        if connection.vendor == "sqlite":
            return None
        return super().db_type_suffix(connection)
