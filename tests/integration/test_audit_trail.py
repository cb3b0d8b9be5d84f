"""Audit rows are append-only on both databases: the triggers of migration 0009 refuse UPDATE
and DELETE (and TRUNCATE on PostgreSQL) from any SQL, the row stays as it was, and rows are
still added; the migration applies on a database that holds audit rows already."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage.db import current_revision, head_revision, is_sqlite, migrate, session_scope
from storage.repositories import audit
from tests.integration.test_storage import _downgrade

APPEND_ONLY = "audit rows are append-only"
ROW = ("SELECT actor, action, entity, entity_id, CAST(after AS VARCHAR) FROM auditevent "
       "WHERE id = :id")


def _add(engine, action: str = "label.submit") -> int:
    with session_scope(engine) as session:
        event = audit.record(session=session, actor="7", action=action, entity="label",
                             entity_id=3, before=None, after={"value": "mood"})
        session.flush()
        return event.id


def _row(engine, event_id: int) -> tuple:
    with engine.connect() as connection:
        return tuple(connection.execute(text(ROW), {"id": event_id}).one())


def _refused(engine, statement: str, **params) -> None:
    with pytest.raises(DBAPIError, match=APPEND_ONLY), engine.begin() as connection:
        connection.execute(text(statement), params)


def test_an_update_is_refused_and_the_row_is_unchanged(engine):
    event_id = _add(engine)
    before = _row(engine, event_id)
    _refused(engine, "UPDATE auditevent SET actor = 'someone else' WHERE id = :id", id=event_id)
    _refused(engine, "UPDATE auditevent SET after = NULL")
    assert _row(engine, event_id) == before == ("7", "label.submit", "label", "3",
                                                '{"value": "mood"}')


def test_a_delete_is_refused_and_the_row_stays(engine):
    event_id = _add(engine)
    before = _row(engine, event_id)
    _refused(engine, "DELETE FROM auditevent WHERE id = :id", id=event_id)
    _refused(engine, "DELETE FROM auditevent")
    assert _row(engine, event_id) == before
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM auditevent")).scalar() == 1


def test_truncate_is_refused_on_postgresql(engine):
    if is_sqlite(engine):
        pytest.skip("SQLite has no TRUNCATE")
    event_id = _add(engine)
    _refused(engine, "TRUNCATE auditevent")
    assert _row(engine, event_id)[1] == "label.submit"


def test_rows_are_still_added(engine):
    first = _add(engine)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO auditevent (actor, action, entity, created_at) "
            "VALUES ('system', 'account.lock', 'account', CURRENT_TIMESTAMP)"))
    second = _add(engine, "label.correct")
    assert second > first
    with engine.connect() as connection:
        actions = connection.execute(text("SELECT action FROM auditevent ORDER BY id")).scalars()
        assert list(actions) == ["label.submit", "account.lock", "label.correct"]


def test_the_migration_applies_on_a_database_with_audit_rows(engine):
    _downgrade(engine, "0008")
    old = _add(engine)
    with engine.begin() as connection:  # before 0009 nothing stopped a change
        connection.execute(text("UPDATE auditevent SET entity = 'item' WHERE id = :id"),
                           {"id": old})
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert _row(engine, old) == ("7", "label.submit", "item", "3", '{"value": "mood"}')
    _refused(engine, "UPDATE auditevent SET entity = 'label' WHERE id = :id", id=old)
    _refused(engine, "DELETE FROM auditevent WHERE id = :id", id=old)
    assert _row(engine, old)[2] == "item"
    assert _add(engine) > old


def test_a_downgrade_removes_the_triggers(engine):
    event_id = _add(engine)
    _downgrade(engine, "0008")
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM auditevent WHERE id = :id"), {"id": event_id})
    migrate(engine)
    again = _add(engine)
    _refused(engine, "DELETE FROM auditevent")
    assert _row(engine, again)[1] == "label.submit"
