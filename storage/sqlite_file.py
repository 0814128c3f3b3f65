"""Reading an SQLite file as a file (a backup, a database about to be restored, doctor's
read-only look): its integrity and which ofbot migrations it holds, on a plain sqlite3 connection."""

from __future__ import annotations

import sqlite3


def integrity_problems(conn: sqlite3.Connection) -> list[str]:
    """`PRAGMA integrity_check`'s findings: [] when it says ok. Raises sqlite3.DatabaseError
    when the file is not a readable SQLite database."""
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    if [tuple(r) for r in rows] == [("ok",)]:
        return []
    return [str(r[0]) for r in rows]


def applied_migrations(conn: sqlite3.Connection) -> set[int]:
    """The numbers in `schema_migrations`. Raises sqlite3.DatabaseError without that table."""
    return {int(r[0]) for r in conn.execute("SELECT number FROM schema_migrations")}


def club_count(conn: sqlite3.Connection) -> int:
    """Club records in the file. Raises sqlite3.DatabaseError without the `clubs` table."""
    return conn.execute("SELECT count(*) FROM clubs").fetchone()[0]
