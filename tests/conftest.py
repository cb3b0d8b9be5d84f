"""Shared fixtures: a fresh, migrated database per test on SQLite and on PostgreSQL.

PostgreSQL is reached by URL (``WORKBENCH_TEST_POSTGRES_URL``, which the README's test command
sets after starting a server) through pytest-postgresql's no-process fixture: the migrations run
once into a template database, and each test gets a fresh clone of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from hypothesis import settings
from pytest_postgresql import factories
from sqlalchemy.engine import URL, Engine, make_url
from streamlit.components.v2 import manifest_scanner

from labeling.ml.encoders import HashingEncoder
from labeling.project import accounts
from labeling.queue import pool, scores
from storage.db import make_engine, migrate

# A cheap password hash in the test processes, as Django advises for test suites: argon2 at its
# defaults (the product's) costs 0.3-0.6 s per account made or sign-in checked, and the suite
# makes and signs in thousands. Verification reads the cost from each hash, so hashes made by
# the app or CLI in their own processes (at the product's cost) still verify here.
accounts._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

settings.register_profile("workbench", database=None)  # no example database in the checkout
settings.load_profile("workbench")

# Each new AppTest scans every installed package's metadata for Streamlit components (a thread
# pool opening ~330 METADATA files: 0.7 s on a quiet machine, 5 s and more beside the other test
# worker, which made the page-access tests 25 s each). What is installed does not change during
# a test run: scan once per process.
_scan_components = manifest_scanner.scan_component_manifests
_scanned: list = []


def _scan_components_once(max_workers: int | None = None) -> list:
    if not _scanned:
        _scanned.append(_scan_components(max_workers))
    return list(_scanned[0])


manifest_scanner.scan_component_manifests = _scan_components_once


@pytest.fixture(autouse=True)
def _keep_main_module() -> Iterator[None]:
    """Streamlit's script runner (``AppTest``) makes the page it runs ``sys.modules["__main__"]``
    and leaves it there; a process spawned later in the same worker (the load and scale benches)
    would then run that page as its main module and die. Put the worker's own back after each
    test."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def _forget_pool_caches() -> Iterator[None]:
    """The queue keeps each task's vectors and selection scores in memory, keyed by database URL
    and item id. Every PostgreSQL test gets a database of the same name, with ids from 1 again,
    so a test would find the vectors and scores of the one before: forget them after each."""
    yield
    pool._POOLS.clear()
    scores._RANKED.clear()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files marked ``slow(seconds=N)`` run first, the longest first, the rest in collection
    order. The test command's two workers take whole files in this order
    (``--no-loadscope-reorder``), so no long file is taken last and run alone at the end."""
    def weight(item: pytest.Item) -> float:
        mark = item.get_closest_marker("slow")
        return -float(mark.kwargs.get("seconds", 60)) if mark else 0.0
    items.sort(key=weight)  # stable: a file's tests keep their order and stay together


PG_URL = os.environ.get("WORKBENCH_TEST_POSTGRES_URL")
REQUIRE_PG = os.environ.get("WORKBENCH_REQUIRE_POSTGRES") == "1"


def _pg_url(*, host: str, port: int | str, user: str, dbname: str, password: str | None) -> str:
    return URL.create(
        "postgresql+psycopg", username=user, password=password or None, host=host,
        port=int(port), database=dbname,
    ).render_as_string(hide_password=False)


def migrate_template(*, host, port, user, dbname, password, **_: object) -> None:
    """pytest-postgresql loader: bring the template database to the newest schema."""
    engine = make_engine(_pg_url(host=host, port=port, user=user, dbname=dbname, password=password))
    migrate(engine)
    engine.dispose()


if PG_URL:
    _parsed = make_url(PG_URL)
    postgresql_noproc = factories.postgresql_noproc(
        host=_parsed.host, port=_parsed.port or 5432, user=_parsed.username,
        password=_parsed.password, dbname="workbench_test", load=[migrate_template],
    )
    postgresql = factories.postgresql("postgresql_noproc")


def _postgres_url(request: pytest.FixtureRequest) -> str:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("WORKBENCH_TEST_POSTGRES_URL is not set but PostgreSQL tests are required")
        pytest.skip("no PostgreSQL: set WORKBENCH_TEST_POSTGRES_URL (make test does)")
    connection = request.getfixturevalue("postgresql")
    info = connection.info
    return _pg_url(host=info.host, port=info.port, user=info.user, dbname=info.dbname,
                   password=info.password)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A migrated, empty database URL (once on SQLite, once on PostgreSQL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'workbench.db'}"
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        return url
    return _postgres_url(request)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def encoder() -> HashingEncoder:
    return HashingEncoder()


@pytest.fixture
def workbench_env(db_url: str, tmp_path, monkeypatch) -> str:
    """Point the CLI and the app at the test database, with the fast encoder."""
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", db_url)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WORKBENCH_ENCODER", "hashing")
    monkeypatch.setenv("WORKBENCH_EXPLORATION", "0")
    monkeypatch.setenv("WORKBENCH_SECRET_KEY", "test-secret-not-for-production")
    monkeypatch.delenv("WORKBENCH_DEMO", raising=False)
    return db_url


@pytest.fixture
def sqlite_env(tmp_path, monkeypatch) -> str:
    """A migrated SQLite database for the app and CLI (UI tests run on SQLite only)."""
    url = f"sqlite:///{tmp_path / 'workbench.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", url)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WORKBENCH_ENCODER", "hashing")
    monkeypatch.setenv("WORKBENCH_EXPLORATION", "0")
    monkeypatch.delenv("WORKBENCH_DEMO", raising=False)
    return url


@pytest.fixture
def own_postgres_server() -> Iterator[tuple[str, Callable[[str], str]]]:
    """A PostgreSQL server of the test's own, migrated, which the test may stop and resume:
    ``(url, server)`` where ``server("stop")`` stops it and ``server("resume")`` starts it
    again on the same port (``scripts/test-postgres.sh``). Needs the server binaries that the
    README's test command uses."""
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("WORKBENCH_TEST_POSTGRES_URL is not set but PostgreSQL tests are required")
        pytest.skip("needs PostgreSQL's server binaries (make test starts a server)")
    folder = tempfile.mkdtemp(prefix="workbench-pg-own.", dir="/tmp")  # the server's user
    script = str(Path(__file__).resolve().parents[1] / "scripts" / "test-postgres.sh")

    def server(action: str) -> str:
        return subprocess.run([script, action, folder], check=True, capture_output=True,
                              text=True).stdout.strip()

    try:
        url = server("start")
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url, server
    finally:
        server("stop")
        shutil.rmtree(folder, ignore_errors=True)
