"""Raw SQL on the request path: statements PostgreSQL keeps prepared.

Django binds parameters client-side, so PostgreSQL parses and plans every statement on every
request, and psycopg renders every parameter into the SQL text first. The few statements every
API call of a kind runs (the consent ledger's append, the message intake's look-ups and INSERT)
go through `execute_prepared` instead: bound server-side and prepared once per connection and
query text. With DB_PREPARED_STATEMENTS=off (a pooler that cannot keep prepared statements)
psycopg's threshold is unset and they run unprepared, still bound server-side.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import connection


def execute_prepared(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run `sql` (psycopg's %s placeholders) as a server-side prepared statement on Django's
    connection, inside whatever transaction it is in; its rows ([] for a statement without).
    Logged in `connection.queries` as Django's own cursors are (DEBUG, CaptureQueriesContext)."""
    connection.ensure_connection()
    started = time.monotonic()
    try:
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchall() if cursor.description is not None else []
    finally:
        if connection.queries_logged:
            connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
