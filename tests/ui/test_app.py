"""The app as a user meets it: sign-in, navigation by role, the home page, accounts."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from storage.db import make_engine
from tests.factories import CLI, SAMPLE_ROWS, make_account, make_task, write_jsonl

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
pytestmark = pytest.mark.ui


def _app() -> AppTest:
    return AppTest.from_file(MAIN, default_timeout=30).run()


def _sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="sign_in_username").input(username)
    at.text_input(key="sign_in_password").input(password)
    at.button(key="sign_in").click()
    return at.run()


@pytest.fixture
def project(sqlite_env, tmp_path):
    engine = make_engine(sqlite_env)
    make_task(engine)
    from labeling.ml.encoders import HashingEncoder
    from labeling.project.importing import import_file

    import_file(engine=engine, actor=CLI, task_name="music", encoder=HashingEncoder(),
                path=write_jsonl(tmp_path / "a.jsonl", SAMPLE_ROWS))
    make_account(engine, username="ana", role="rater", password="ana-password")
    make_account(engine, username="leo", role="lead", password="leo-password")
    return engine


def test_sign_in_page_without_demo_mode_lists_no_accounts(project):
    at = _app()
    assert not at.exception
    assert at.title[0].value == "Prompt Workbench"
    assert len(at.table) == 0


def test_demo_mode_lists_the_demo_accounts(project, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DEMO", "1")
    at = _app()
    assert "ana" in at.table[0].value.to_string()


def test_wrong_password_is_refused(project):
    at = _sign_in(_app(), "ana", "not-the-password")
    assert not at.exception
    assert "Wrong username or password" in at.error[0].value
    assert at.title[0].value == "Prompt Workbench"


def test_rater_signs_in_and_sees_the_project(project):
    at = _sign_in(_app(), "ana", "ana-password")
    assert not at.exception
    assert at.title[0].value == "Project overview"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Items"] == "5" and metrics["Labels"] == "5" and metrics["Tasks"] == "1"
    tasks = at.dataframe[0].value
    assert tasks.loc[0, "Task"] == "music" and tasks.loc[0, "Serving model"] == "—"


def test_rater_cannot_open_the_accounts_page(project):
    at = _sign_in(_app(), "ana", "ana-password")
    with pytest.raises(ValueError, match=r"Known pages: .*label.py") as refused:
        at.switch_page("app_pages/accounts.py")
    known = str(refused.value).split("Known pages:")[1]
    assert "accounts.py" not in known and "task_settings.py" not in known


def test_lead_creates_an_account(project):
    at = _sign_in(_app(), "leo", "leo-password")
    at.switch_page("app_pages/accounts.py").run()
    assert at.title[0].value == "Accounts"
    at.text_input(key="new_username").input("mia")
    at.selectbox(key="new_role").select("reviewer")
    at.text_input(key="new_password").input("mia-password")
    at.button(key="create_account").click()
    at.run()
    assert not at.exception
    assert "Created `mia` (reviewer)" in at.success[0].value
    from labeling.project.accounts import authenticate

    account = authenticate(engine=project, username="mia", password="mia-password")
    assert account.role == "reviewer"


def test_sign_out_returns_to_sign_in(project):
    at = _sign_in(_app(), "ana", "ana-password")
    at.button(key="sign_out").click()
    at.run()
    assert at.title[0].value == "Prompt Workbench"


def test_an_unmigrated_database_shows_a_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    at = _app()
    assert not at.exception
    assert "workbench init" in at.error[0].value
