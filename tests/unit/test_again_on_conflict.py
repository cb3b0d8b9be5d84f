"""``storage.db.again_on_conflict``: a unit of work PostgreSQL rolled back to break a deadlock
runs again; any other error, or the last attempt's, is raised."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from storage.db import DatabaseUnavailableError, again_on_conflict


class _Driver(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _unavailable(sqlstate: str) -> DatabaseUnavailableError:
    try:
        raise DatabaseUnavailableError("busy") from OperationalError("INSERT", {},
                                                                     _Driver(sqlstate))
    except DatabaseUnavailableError as exc:
        return exc


def _failing(times: int, sqlstate: str):
    calls = []

    def unit() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise _unavailable(sqlstate)
        return "stored"

    return unit, calls


def test_a_deadlock_victim_runs_again():
    unit, calls = _failing(2, "40P01")
    assert again_on_conflict(unit) == "stored" and len(calls) == 3


def test_a_serialization_failure_runs_again():
    unit, calls = _failing(1, "40001")
    assert again_on_conflict(unit) == "stored" and len(calls) == 2


def test_another_database_error_is_raised_at_once():
    unit, calls = _failing(1, "08006")  # connection failure
    with pytest.raises(DatabaseUnavailableError):
        again_on_conflict(unit)
    assert len(calls) == 1


def test_the_last_attempt_s_error_is_raised():
    unit, calls = _failing(10, "40P01")
    with pytest.raises(DatabaseUnavailableError):
        again_on_conflict(unit, attempts=3)
    assert len(calls) == 3
