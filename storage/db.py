"""Engine, sessions and migrations.

One setting picks the database (``WORKBENCH_DATABASE_URL``). SQLite runs in WAL mode with a busy
timeout and foreign keys on; PostgreSQL (``postgresql+psycopg://``) works the same. The schema is
made and changed only by the Alembic migrations in ``storage/migrations``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


T = TypeVar("T")
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


class DatabaseError(RuntimeError):
    """The database cannot be reached, is busy, or is not at the expected schema."""


class DatabaseUnavailableError(DatabaseError):
    """A unit of work failed because the database is unreachable or locked; nothing was kept."""

    @property
    def retryable(self) -> bool:
        """Whether the unit of work was rolled back by PostgreSQL to break a deadlock or a
        serialization conflict (SQLSTATE 40P01 / 40001): running it again may well succeed."""
        cause = self.__cause__
        return getattr(getattr(cause, "orig", None), "sqlstate", None) in RETRYABLE_SQLSTATES


CONFLICT_ATTEMPTS = 5


def again_on_conflict(unit: Callable[[], T], *, attempts: int = CONFLICT_ATTEMPTS) -> T:
    """``unit()`` (a whole unit of work), run again when PostgreSQL rolled it back to break a
    deadlock or a serialization conflict (``DatabaseUnavailableError.retryable``), after a
    short, growing pause; any other error, or the last attempt's, is raised."""
    for attempt in range(attempts):
        try:
            return unit()
        except DatabaseUnavailableError as exc:
            if not exc.retryable or attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")  # the loop returns or raises


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Driver-level autocommit: SQLAlchemy's "begin" event below issues BEGIN itself, so a unit
    # of work that must hold the write lock from its first read can ask for BEGIN IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection) -> None:
    immediate = connection.get_execution_options().get(IMMEDIATE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


IMMEDIATE_OPTION = "workbench_write_lock"


def _postgres_settings(dbapi_connection, _record) -> None:
    """No JIT: PostgreSQL compiles a query's expressions when its estimated cost is high, which
    the report queries over millions of labels reach; compiling took 85-140 ms of queries that
    run in 50-500 ms, and the workbench runs no long analytical query that would gain. (A
    ``SET`` on connect rather than a startup option, which connection poolers refuse.)"""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    dbapi_connection.commit()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; for a SQLite file, its folder is created first."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(url, echo=echo, pool_pre_ping=True)
    event.listen(engine, "connect", _postgres_settings)
    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def session_scope(engine: Engine, *, write_lock: bool = False, snapshot: bool = False
                  ) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on any error.

    ``write_lock`` takes SQLite's write lock at BEGIN (see ``write_scope``). ``snapshot`` makes
    every statement see the database as at the first (PostgreSQL's REPEATABLE READ; a SQLite
    transaction does so already), for reads that join several queries' results: under READ
    COMMITTED each statement sees what committed before it. A driver's operational error (the
    server gone, the database locked past the busy timeout) becomes a
    ``DatabaseUnavailableError``, so callers above storage handle one error of ours.
    """
    with Session(engine, expire_on_commit=False) as session:
        try:
            if write_lock:
                session.connection(execution_options={IMMEDIATE_OPTION: True})
            elif snapshot and not is_sqlite(engine):
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise DatabaseUnavailableError(
                f"the database is unavailable or busy ({exc.orig or exc}); try again"
            ) from exc
        except BaseException:
            session.rollback()
            raise


@contextmanager
def write_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work that decides from what it reads (hand out, submit, promote).

    On SQLite it takes the database's write lock at BEGIN (``BEGIN IMMEDIATE``), so two such
    units never interleave. On PostgreSQL it is an ordinary transaction in which the caller locks
    the rows it decides on (``SELECT ... FOR UPDATE [SKIP LOCKED]``).
    """
    with session_scope(engine, write_lock=True) as session:
        yield session


_ASIDE = ThreadPoolExecutor(max_workers=8, thread_name_prefix="workbench-aside")
"""Shared by every caller; its work never waits on other work of its own, so a full pool only
queues."""


def run_aside(engine: Engine, unit: Callable[[], T]) -> Future[T]:
    """Start ``unit()``, which opens its own sessions, beside what the caller does next;
    ``result()`` on the returned future gives what it returned or raises what it raised.

    On PostgreSQL it runs in a worker thread, on connections of its own, so the server answers
    it while the caller reads or computes something else (a report's independent queries). On
    SQLite it runs at once in the caller's thread: the reads are in-process, and an in-memory
    database is one connection per thread.
    """
    if not is_sqlite(engine):
        return _ASIDE.submit(unit)
    future: Future[T] = Future()
    try:
        future.set_result(unit())
    except Exception as exc:  # handed to the caller through the future, as the thread would
        future.set_exception(exc)
    return future


def read_aside(engine: Engine, read: Callable[[Session], T]) -> Future[T]:
    """``run_aside`` of ``read(session)``, a read-only unit of work in a session of its own.
    Each such read sees what committed before it started, as every statement does under READ
    COMMITTED anyway."""

    def unit() -> T:
        with session_scope(engine) as session:
            return read(session)

    return run_aside(engine, unit)

def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def migrate(engine: Engine, *, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest).

    On SQLite, Alembic changes a table by copying it into a new one, which foreign-key
    enforcement would refuse while other tables point at it; enforcement is off during the
    migration (SQLite's documented procedure), the keys are checked after it, and it is on again
    before the connection goes back to the pool.
    """
    cfg = alembic_config(engine)
    with engine.connect() as connection:
        raw = connection.connection.driver_connection if is_sqlite(engine) else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")  # outside any transaction, or it is ignored
        try:
            with connection.begin():
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, revision)
            if raw is not None:
                broken = raw.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise DatabaseError(f"the migration left broken foreign keys: {broken[:5]}")
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def check_schema(engine: Engine) -> None:
    """Raise ``DatabaseError`` unless the database is migrated to the newest revision."""
    try:
        current = current_revision(engine)
    except Exception as exc:  # noqa: BLE001 - any driver error means "cannot reach"
        raise DatabaseUnavailableError(
            f"cannot reach the database at {engine.url!r}: {exc}") from exc
    if current != head_revision():
        raise DatabaseError(
            f"the database is at schema {current or 'none'}, expected {head_revision()}: "
            "run `workbench init` first"
        )
