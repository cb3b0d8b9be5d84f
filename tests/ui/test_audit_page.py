"""The Audit trail page: admins and leads search the trail and export what they found as CSV;
raters cannot open it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from labeling.project.authz import Operator
from storage.db import make_engine, session_scope
from storage.repositories import audit
from tests.factories import add_team, signed_in_app

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
CLI = Operator("cli:test")
pytestmark = pytest.mark.ui


@pytest.fixture
def engine(sqlite_env):
    engine = make_engine(sqlite_env)
    add_team(engine)
    with session_scope(engine) as session:
        audit.record(session=session, actor="system", action="account.lock", entity="account",
                     entity_id=3, after={"reason": "five wrong passwords"})
        audit.record(session=session, actor="cli:ops", action="rules.change",
                     entity="rule_list", after={"phrase": "![x](http://evil.example/a.png)"})
    return engine


@pytest.fixture
def downloads(monkeypatch) -> dict[str, bytes]:
    """What the pages hand to download buttons, by media file id."""
    stored: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def load_and_get_id(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        stored[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", load_and_get_id)
    return stored


def _audit_page(name: str) -> AppTest:
    at = signed_in_app(MAIN, name, f"{name}-password")
    at.switch_page("app_pages/audit.py").run()
    assert not at.exception and at.title[0].value == "Audit trail"
    return at


def _shown(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["action"])


def _count(at: AppTest) -> str:
    return next(c.value for c in at.caption if "match" in c.value)


def test_an_admin_sees_every_row_newest_first_and_filters_them(engine):
    at = _audit_page("ada")
    assert _shown(at) == ["rules.change", "account.lock", "account.create", "account.create",
                          "account.create"]
    assert _count(at).startswith("5 rows match")
    table = at.dataframe[0].value
    assert set(table["actor_name"]) == {"cli:ops", "system", "cli:test"}
    assert table["after"][0] == '{"phrase": "![x](http://evil.example/a.png)"}'  # as text

    at.text_input(key="audit_action").input("account.").run()
    assert _shown(at) == ["account.lock"] + ["account.create"] * 3
    at.text_input(key="audit_text").input("LEO").run()
    assert _shown(at) == ["account.create"] and _count(at).startswith("1 row match")
    at.text_input(key="audit_text").input("").run()
    at.selectbox(key="audit_actor").select("system").run()
    assert _shown(at) == ["account.lock"]
    at.selectbox(key="audit_entity").select("rule_list").run()
    assert _shown(at) == [] and _count(at).startswith("0 rows match")
    assert not at.error


def test_a_lead_opens_it_too(engine):
    at = _audit_page("leo")
    assert "rules.change" in _shown(at)


def test_a_rater_cannot_open_the_page(engine):
    at = signed_in_app(MAIN, "ana", "ana-password")
    with pytest.raises(ValueError, match=r"Known pages: .*label.py") as refused:
        at.switch_page("app_pages/audit.py")
    assert "audit.py" not in str(refused.value).split("Known pages:")[1]


def test_the_csv_holds_the_filtered_rows(engine, downloads):
    at = _audit_page("ada")
    at.text_input(key="audit_action").input("account.").run()
    at.selectbox(key="audit_actor").select("cli:test").run()
    at.button(key="audit_prepare_csv").click().run()
    assert not at.exception and not at.error
    [button] = at.get("download_button")
    assert button.label == "Download CSV: 3 rows"
    body = downloads[Path(button.proto.url).stem].decode("utf-8")
    records = list(csv.DictReader(io.StringIO(body)))
    assert [r["action"] for r in records] == ["account.create"] * 3
    assert {r["entity_id"] for r in records} == {"1", "2", "3"}
    assert "-password" not in body  # no password material

    at.text_input(key="audit_action").input("rules.").run()  # new filters: prepare again
    assert not at.get("download_button")
    assert at.button(key="audit_prepare_csv")
    at.selectbox(key="audit_actor").select("ada")
    assert _shown(at.text_input(key="audit_action").input("audit.").run()) == ["audit.export"]


def test_the_days_filter(engine):
    at = _audit_page("ada")
    today = datetime.now(UTC).date()
    at.date_input(key="audit_days").set_value((today, today)).run()
    assert len(_shown(at)) == 5
    at.date_input(key="audit_days").set_value((today - timedelta(days=9),
                                                today - timedelta(days=1))).run()
    assert _shown(at) == [] and not at.exception


def test_a_bad_filter_is_a_message(engine):
    at = _audit_page("ada")
    at.text_input(key="audit_text").input("x" * 201).run()
    assert not at.exception
    assert "longer than 200 characters" in at.error[0].value
