"""The schema comes from the migrations; SQLite runs with WAL, a busy timeout and foreign keys."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from storage.db import (
    DatabaseError,
    DatabaseUnavailableError,
    check_schema,
    current_revision,
    head_revision,
    is_sqlite,
    make_engine,
    session_scope,
)
from storage.models import Label, SQLModel

EXPECTED_TABLES = {
    "account", "assignment", "auditevent", "consensus", "embedding", "flag", "guidelineversion",
    "importrecord", "item", "label", "modelversion", "selection", "task", "track",
    "triagedecision",
}


def test_migrations_create_every_table(engine):
    tables = set(inspect(engine).get_table_names())
    assert EXPECTED_TABLES <= tables
    assert current_revision(engine) == head_revision()
    check_schema(engine)


def test_migrated_schema_matches_the_models(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []


def test_an_unmigrated_database_is_refused_with_advice(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(DatabaseError, match="workbench init"):
        check_schema(engine)


def test_an_unreachable_database_is_one_error_of_ours():
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(DatabaseUnavailableError, match="unavailable or busy") as caught:
        with session_scope(engine) as session:
            session.execute(text("SELECT 1"))
    assert isinstance(caught.value, DatabaseError)


def test_sqlite_pragmas(engine):
    if not is_sqlite(engine):
        pytest.skip("SQLite only")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 1000


def test_foreign_keys_are_enforced(engine):
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(Label(task_id=999, item_id=999, value="x"))


def test_migrations_upgrade_a_database_that_has_data(tmp_path):
    from storage.db import migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, revision="0001")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO task (name, kind, labels, ordered, slot_schema, overlap_k, gold_share, "
            "lease_seconds, strategy, batch_size, show_suggestions, agreement_threshold, "
            "confidence_threshold, created_at) VALUES ('t', 'intent', '[\"a\"]', 0, '{}', 2, "
            "0.1, 900, 'margin', 20, 0, 0.6, 0.7, '2026-01-01 00:00:00')"))
        connection.execute(text(
            "INSERT INTO item (task_id, text, text_hash, source, opted_out, created_at) "
            "VALUES (1, 'x', 'h', 'import', 0, '2026-01-01 00:00:00')"))
        connection.execute(text(
            "INSERT INTO flag (prompt, output, origin, reasons, scores, status, created_at) "
            "VALUES ('p', '{}', 'rule', '[]', '{}', 'open', '2026-01-01 00:00:00')"))
    migrate(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT aggregation FROM task")).scalar() == "majority"
        assert connection.execute(text("SELECT extra_raters FROM item")).scalar() == 0
        assert connection.execute(text("SELECT text_features FROM task")).scalar() == 0
        assert connection.execute(text("SELECT pii_types FROM item")).scalar() is None
        assert connection.execute(text("SELECT severity, status FROM flag")).one() == (0, "open")
        assert connection.execute(text(
            "SELECT gold_accuracy_threshold, min_gold_answers FROM task")).one() == (0.8, 5)
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert current_revision(engine) == head_revision()


def _downgrade(engine, revision: str) -> None:
    """Alembic's downgrade the way ``migrate`` upgrades: SQLite's foreign keys off meanwhile."""
    from alembic import command

    from storage.db import alembic_config

    cfg = alembic_config(engine)
    with engine.connect() as connection:
        raw = connection.connection.driver_connection if is_sqlite(engine) else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                cfg.attributes["connection"] = connection
                command.downgrade(cfg, revision)
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def test_a_task_from_before_the_gold_settings_gets_their_defaults(engine):
    from storage.db import migrate

    _downgrade(engine, "0005")
    assert "min_gold_answers" not in {c["name"] for c in inspect(engine).get_columns("task")}
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO task (name, kind, labels, ordered, slot_schema, overlap_k, gold_share, "
            "lease_seconds, strategy, batch_size, show_suggestions, agreement_threshold, "
            "confidence_threshold, aggregation, text_features, collect_preview_prompts, "
            "created_at) VALUES ('t', 'intent', '[\"a\"]', false, '{}', 2, 0.1, 900, 'margin', "
            "20, false, 0.6, 0.7, 'majority', false, true, '2026-01-01 00:00:00')"))
    migrate(engine)
    with engine.connect() as connection:
        assert connection.execute(text(
            "SELECT gold_accuracy_threshold, min_gold_answers FROM task")).one() == (0.8, 5)
    assert current_revision(engine) == head_revision()


def test_an_account_from_before_the_lockout_gets_a_clean_count(engine):
    from labeling.project.accounts import authenticate, hash_password
    from storage.db import migrate

    _downgrade(engine, "0007")
    assert "locked_until" not in {c["name"] for c in inspect(engine).get_columns("account")}
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO account (username, display_name, role, active, password_hash, "
            "created_at) VALUES ('old', 'Old', 'lead', true, :hash, '2026-01-01 00:00:00')"),
            {"hash": hash_password("old-password")})
    migrate(engine)
    with engine.connect() as connection:
        assert connection.execute(text(
            "SELECT failed_sign_ins, locked_until, session_version FROM account")).one() \
            == (0, None, 0)
    assert authenticate(engine=engine, username="old", password="old-password").role == "lead"
    assert current_revision(engine) == head_revision()


def test_a_deadlock_rollback_is_retryable_and_an_outage_is_not():
    from types import SimpleNamespace

    from sqlalchemy.exc import OperationalError

    from storage.db import DatabaseUnavailableError

    def wrapped(sqlstate):
        try:
            try:
                raise OperationalError("UPDATE …", {}, SimpleNamespace(sqlstate=sqlstate))
            except OperationalError as exc:
                raise DatabaseUnavailableError("busy") from exc
        except DatabaseUnavailableError as outer:
            return outer

    assert wrapped("40P01").retryable and wrapped("40001").retryable
    assert not wrapped("08006").retryable and not wrapped(None).retryable
