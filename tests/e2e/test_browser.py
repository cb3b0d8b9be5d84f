"""End to end in a real headless Chromium against the app started on a free port, with the demo.

A rater signs in and labels by keyboard; a safety reviewer triages a flag; a lead opens Label
quality and Models and their charts draw; anyone previews a prompt, refines it and reports it.
Each step saves a screenshot: into ``WORKBENCH_E2E_ARTIFACTS`` when set, else into pytest's
temporary folder (its path is printed with ``-s``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlmodel import select

from labeling.ml.encoders import HashingEncoder
from labeling.project.authz import Operator
from labeling.project.tasks import update_settings
from storage.db import make_engine, session_scope
from storage.models import Account, Flag, Label, TriageDecision
from tests.factories import make_account, make_queue_task

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow(seconds=150),
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WORKBENCH = [sys.executable, "-c", "from app.cli import main; main()"]


@contextmanager
def _serving(url: str, data_dir: Path, **extra: str) -> Iterator[str]:
    """``workbench serve`` on a free port over the database ``url``; yields the app's address."""
    env = {**os.environ, "WORKBENCH_DATABASE_URL": url, "WORKBENCH_ENCODER": "hashing",
           "WORKBENCH_DATA_DIR": str(data_dir), **extra}
    port = _free_port()
    process = subprocess.Popen([*WORKBENCH, "serve", "--port", str(port)], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "the app did not start"
        time.sleep(0.5)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and anything it started
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The demo app on SQLite, shared by this module's tests: (address, engine)."""
    tmp_path = tmp_path_factory.mktemp("e2e-app")
    url = f"sqlite:///{tmp_path / 'workbench.db'}"
    env = {**os.environ, "WORKBENCH_DATABASE_URL": url, "WORKBENCH_ENCODER": "hashing",
           "WORKBENCH_DATA_DIR": str(tmp_path / "data")}
    subprocess.run([*WORKBENCH, "init", "--demo"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    with _serving(url, tmp_path / "data", WORKBENCH_DEMO="1") as base:
        yield base, make_engine(url)


ON_SCREEN = "() => (document.querySelector('.kl') || {dataset: {}}).dataset.item"
"""The number of the prompt the labeler shows (empty while it waits for the next ones)."""


def _labels_of(engine, username: str) -> list[Label]:
    with session_scope(engine) as session:
        rater = session.exec(select(Account).where(Account.username == username)).one()
        return list(session.exec(select(Label).where(Label.rater_id == rater.id)
                                 .order_by(Label.id)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no session cookie) per test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where each step's screenshot goes."""
    folder = os.environ.get("WORKBENCH_E2E_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("e2e-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    print(f"e2e screenshots: {path}")
    return path


def _shot(page, shots: Path, name: str) -> None:
    path = shots / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 10_000, f"{name}: an empty screenshot"  # a page was drawn


def _sign_in(page, base: str, username: str, password: str) -> None:
    from playwright.sync_api import expect

    page.goto(base)
    field = page.get_by_role("textbox", name="Username")
    expect(field).to_be_visible(timeout=90_000)  # the first run imports the app
    field.fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Project overview")).to_be_visible(timeout=30_000)


def _open(page, title: str) -> None:
    page.get_by_role("link", name=title, exact=True).click()


def _sign_in_and_label(page, base: str) -> None:
    from playwright.sync_api import expect

    _sign_in(page, base, "ana", "ana-demo-pw")
    _open(page, "Label")
    expect(page.locator(".kl-num")).to_contain_text("Prompt #", timeout=60_000)
    page.evaluate("document.activeElement && document.activeElement.blur()")  # not a field


def test_a_rater_labels_by_keyboard_as_fast_as_they_can_and_every_press_counts(server, page,
                                                                             shots):
    from playwright.sync_api import expect

    base, engine = server
    update_settings(engine=engine, task_name="intent", actor=Operator("cli:e2e"),
                    changes={"show_suggestions": True})  # the demo's model suggests a label
    presses: list[tuple[int, str]] = []  # (prompt number on screen, label of the key)
    refused = 0
    _sign_in_and_label(page, base)
    before = {label.id for label in _labels_of(engine, "ana")}  # the demo's own
    keys = {page.locator(".kl-label kbd").nth(i).inner_text():
            page.locator(".kl-label .kl-name").nth(i).inner_text() for i in range(2)}
    expect(page.locator(".kl-suggest")).to_contain_text("Model suggests: ")
    for n in range(12):  # as fast as each prompt shows, and twice without waiting at all
        page.wait_for_function(ON_SCREEN, timeout=30_000)
        if n == 1:
            _shot(page, shots, "1-rater-labels")
        for key in ("1", "2") if n % 4 == 3 else ("12"[n % 2],):
            page.keyboard.press(key)  # its keydown handler has run when this returns
            # Its note says what the press did: which prompt it labeled, or that nothing was on
            # screen (read from the page, not before the press: the next prompt may show in
            # between, and then the press rightly labels it).
            said = page.locator(".kl-msg").inner_text()
            used = re.match(r"Prompt #(\d+): ", said)
            if used:
                presses.append((int(used.group(1)), keys[key]))
            else:  # nothing on screen: the press must be refused, visibly
                assert "No prompt on screen" in said, said
                refused += 1
    assert len(presses) >= 12, (presses, refused)  # the prefetched run keeps up
    deadline = time.monotonic() + 30
    while len(_labels_of(engine, "ana")) < len(before) + len(presses) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # and nothing more arrives after
    expect(page.locator(".kl-num")).to_contain_text("Prompt #", timeout=30_000)
    labels = [label for label in _labels_of(engine, "ana") if label.id not in before]
    assert sorted((label.item_id, label.value) for label in labels) == sorted(presses)
    assert len({label.item_id for label in labels}) == len(labels) == len(presses)
    assert all(label.batch_id and label.shown_at is not None and label.seconds is not None
               for label in labels)


def _no_error_on(page) -> None:
    from playwright.sync_api import expect

    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    expect(page.locator("[data-testid='stAlertContentError']")).to_have_count(0)


def _decisions_on(engine, flag_id: int) -> list[tuple[str, str | None, str]]:
    with session_scope(engine) as session:
        rows = session.exec(select(TriageDecision, Account)
                            .join(Account, Account.id == TriageDecision.reviewer_id)
                            .where(TriageDecision.flag_id == flag_id))
        return [(d.decision, d.category, a.username) for d, a in rows]


def test_a_safety_reviewer_triages_a_flag_by_keyboard(server, page, shots):
    from playwright.sync_api import expect

    base, engine = server
    _sign_in(page, base, "rosa", "rosa-demo-pw")
    _open(page, "Triage")
    card = page.locator(".st-key-triage_card")
    expect(card).to_contain_text("Flag #", timeout=30_000)
    flag_id = int(re.search(r"Flag #(\d+)", card.inner_text()).group(1))
    _shot(page, shots, "2-reviewer-triage")
    assert _decisions_on(engine, flag_id) == []
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("b")  # B blocks with the category shown
    notice = page.get_by_text(f"Flag #{flag_id} blocked as")
    expect(notice).to_be_visible(timeout=30_000)
    category = re.search(r"blocked as (\S+)\.", notice.inner_text()).group(1)
    expect(card).not_to_contain_text(f"Flag #{flag_id} ")  # the next flag is up
    _shot(page, shots, "3-reviewer-decided")
    _no_error_on(page)
    [(decision, blocked_as, reviewer)] = _decisions_on(engine, flag_id)
    assert (decision, blocked_as, reviewer) == ("block", category, "rosa")
    with session_scope(engine) as session:
        assert session.get(Flag, flag_id).status == "decided"


def _charts_drawn(page, at_least: int) -> int:
    """Wait until at least ``at_least`` Altair charts have drawn with a size; return how many."""
    from playwright.sync_api import expect

    charts = page.locator(".vega-embed canvas, .vega-embed svg.marks")
    expect(charts.nth(at_least - 1)).to_be_visible(timeout=60_000)
    drawn = 0
    for i in range(charts.count()):
        charts.nth(i).scroll_into_view_if_needed()
        box = charts.nth(i).bounding_box()
        drawn += bool(box and box["width"] > 50 and box["height"] > 50)
    return drawn


@pytest.mark.parametrize(("title", "at_least"), [("Label quality", 4), ("Models", 2)])
def test_a_lead_sees_the_charts_draw(server, page, shots, title, at_least):
    from playwright.sync_api import expect

    base, _ = server
    _sign_in(page, base, "leo", "leo-demo-pw")
    _open(page, title)
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=30_000)
    assert _charts_drawn(page, at_least) >= at_least
    _no_error_on(page)
    _shot(page, shots, f"4-lead-{title.lower().replace(' ', '-')}")


def test_anyone_previews_a_prompt_refines_it_and_reports_it(server, page, shots):
    from playwright.sync_api import expect

    base, engine = server
    _sign_in(page, base, "ana", "ana-demo-pw")  # a rater: the preview is everyone's
    _open(page, "Preview")
    page.get_by_role("textbox", name="Prompt").fill("chill lofi beats for coding late at night")
    page.get_by_role("button", name="Route").click()
    tracks = page.locator("[class*='st-key-track_a_']")
    expect(tracks.first).to_be_visible(timeout=60_000)
    first = tracks.all_inner_texts()
    _shot(page, shots, "5-preview-routed")
    page.get_by_role("button", name="more acoustic", exact=True).click()
    expect(page.get_by_text("Applied: more acoustic")).to_be_visible(timeout=30_000)
    expect(tracks.first).to_be_visible()
    _shot(page, shots, "6-preview-refined")
    assert tracks.all_inner_texts() != first  # the playlist changed with the refinement
    page.get_by_role("button", name="Report").click()
    page.get_by_label("What is wrong with this output?").fill("e2e: too loud for coding")
    page.get_by_role("button", name="Send to safety triage").click()
    notice = page.get_by_text("Reported as flag #")
    expect(notice).to_be_visible(timeout=30_000)
    _shot(page, shots, "7-preview-reported")
    _no_error_on(page)
    flag_id = int(re.search(r"flag #(\d+)", notice.inner_text()).group(1))
    with session_scope(engine) as session:
        flag = session.get(Flag, flag_id)
        assert flag is not None and flag.origin == "user_report" and flag.status == "open"
        assert "chill lofi" in flag.prompt and flag.reported_by is not None


def _wait_for_labels(engine, username: str, count: int, seconds: float = 30) -> list[Label]:
    deadline = time.monotonic() + seconds
    while len(labels := _labels_of(engine, username)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return labels


@pytest.mark.postgres
def test_the_database_stopping_mid_session_loses_no_answer_and_the_page_recovers(
        own_postgres_server, tmp_path, page, shots):
    from playwright.sync_api import expect

    url, server = own_postgres_server
    engine = make_engine(url)
    make_queue_task(engine, HashingEncoder(), tmp_path, n_items=8, batch_size=4, k=2)
    make_account(engine, username="ana", role="rater", password="ana-password")
    with _serving(url, tmp_path / "data", WORKBENCH_EXPLORATION="0") as base:
        _sign_in(page, base, "ana", "ana-password")
        _open(page, "Label")
        expect(page.locator(".kl-num")).to_contain_text("Prompt #", timeout=60_000)
        page.evaluate("document.activeElement && document.activeElement.blur()")
        keys = {page.locator(".kl-label kbd").nth(i).inner_text():
                page.locator(".kl-label .kl-name").nth(i).inner_text() for i in range(3)}
        presses = []

        def press(key: str) -> None:
            page.wait_for_function(ON_SCREEN, timeout=30_000)
            presses.append((int(page.evaluate(ON_SCREEN)), keys[key]))
            page.keyboard.press(key)

        press("1")
        assert len(_wait_for_labels(engine, "ana", 1)) == 1  # saved

        server("stop")  # the database goes away mid-session
        press("3")
        warning = page.get_by_text("The database cannot be reached")
        expect(warning).to_be_visible(timeout=30_000)
        expect(page.get_by_text("1 answer wait")).to_be_visible()
        press("2")  # the rater goes on with the prompts on hand
        expect(page.get_by_text("2 answers wait")).to_be_visible(timeout=30_000)
        _shot(page, shots, "8-database-away")

        server("resume")  # it comes back; the labeler asks again by itself
        expect(page.get_by_text("The database is back")).to_be_visible(timeout=30_000)
        expect(warning).to_have_count(0)
        _shot(page, shots, "9-database-back")
        _wait_for_labels(engine, "ana", 3)
        time.sleep(1.0)  # and nothing more arrives after
        labels = _labels_of(engine, "ana")
    assert sorted((label.item_id, label.value) for label in labels) == sorted(presses)
    engine.dispose()
