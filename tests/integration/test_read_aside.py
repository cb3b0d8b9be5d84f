"""``storage.db.read_aside``: a read in a session of its own, beside the caller's work (in a worker
thread on PostgreSQL, at once on SQLite), whose future gives its result or raises its error."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from storage.db import is_sqlite, read_aside, session_scope


def test_a_read_aside_returns_what_the_read_returned(engine):
    with session_scope(engine) as session:
        session.execute(text("CREATE TABLE aside_probe (n INTEGER)"))
        session.execute(text("INSERT INTO aside_probe VALUES (1), (2), (3)"))
    threads = []

    def total(session):
        threads.append(threading.current_thread())
        return session.execute(text("SELECT SUM(n) FROM aside_probe")).scalar_one()

    assert read_aside(engine, total).result(timeout=30) == 6
    # PostgreSQL answers it on another connection from a worker thread; SQLite in this thread
    assert (threads[0] is threading.current_thread()) == is_sqlite(engine)


def test_a_failed_read_aside_raises_through_its_future(engine):
    def broken(session):
        return session.execute(text("SELECT n FROM no_such_table")).all()

    future = read_aside(engine, broken)
    with pytest.raises(Exception, match="no_such_table"):
        future.result(timeout=30)

