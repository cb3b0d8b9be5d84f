"""End to end in a real headless Chromium: a rater signs in and labels by keyboard."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlmodel import select

from labeling.project.authz import Operator
from labeling.project.tasks import update_settings
from storage.db import make_engine, session_scope
from storage.models import Account, Label

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    url = f"sqlite:///{tmp_path / 'workbench.db'}"
    env = {**os.environ, "WORKBENCH_DATABASE_URL": url, "WORKBENCH_ENCODER": "hashing",
           "WORKBENCH_DEMO": "1", "WORKBENCH_DATA_DIR": str(tmp_path / "data")}
    workbench = [sys.executable, "-c", "from app.cli import main; main()"]
    subprocess.run([*workbench, "init", "--demo"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    port = _free_port()
    process = subprocess.Popen([*workbench, "serve", "--port", str(port)], env=env, cwd=ROOT,
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
        yield f"http://127.0.0.1:{port}", make_engine(url)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and anything it started
        process.wait(timeout=30)


ON_SCREEN = "() => (document.querySelector('.kl') || {dataset: {}}).dataset.item"
"""The number of the prompt the labeler shows (empty while it waits for the next ones)."""


def _labels_of(engine, username: str) -> list[Label]:
    with session_scope(engine) as session:
        rater = session.exec(select(Account).where(Account.username == username)).one()
        return list(session.exec(select(Label).where(Label.rater_id == rater.id)
                                 .order_by(Label.id)))  # type: ignore[arg-type]


def _sign_in_and_label(page, base: str) -> None:
    from playwright.sync_api import expect

    page.goto(base)
    username = page.get_by_role("textbox", name="Username")
    expect(username).to_be_visible(timeout=90_000)  # the first run imports the app
    username.fill("ana")
    page.get_by_role("textbox", name="Password").fill("ana-demo-pw")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Project overview")).to_be_visible(timeout=30_000)
    page.get_by_role("link", name="Label", exact=True).click()
    expect(page.locator(".kl-num")).to_contain_text("Prompt #", timeout=60_000)
    page.evaluate("document.activeElement && document.activeElement.blur()")  # not a field


def test_a_rater_labels_by_keyboard_as_fast_as_they_can_and_every_press_counts(server):
    from playwright.sync_api import expect, sync_playwright

    base, engine = server
    update_settings(engine=engine, task_name="intent", actor=Operator("cli:e2e"),
                    changes={"show_suggestions": True})  # the demo's model suggests a label
    presses: list[tuple[int, str]] = []  # (prompt number on screen, label of the key)
    refused = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        _sign_in_and_label(page, base)
        before = {label.id for label in _labels_of(engine, "ana")}  # the demo's own
        keys = {page.locator(".kl-label kbd").nth(i).inner_text():
                page.locator(".kl-label .kl-name").nth(i).inner_text() for i in range(2)}
        expect(page.locator(".kl-suggest")).to_contain_text("Model suggests: ")
        for n in range(12):  # as fast as each prompt shows, and twice without waiting at all
            page.wait_for_function(ON_SCREEN, timeout=30_000)
            if n == 1 and (shot := os.environ.get("WORKBENCH_E2E_SCREENSHOT")):
                page.screenshot(path=shot, full_page=True)  # to look at the page
            for key in ("1", "2") if n % 4 == 3 else ("12"[n % 2],):
                number = page.evaluate(ON_SCREEN)
                page.keyboard.press(key)  # its keydown handler has run when this returns
                if number:
                    presses.append((int(number), keys[key]))
                else:  # nothing on screen: the press must be refused, visibly
                    expect(page.locator(".kl-msg")).to_contain_text("No prompt on screen")
                    refused += 1
        assert len(presses) >= 12, (presses, refused)  # the prefetched run keeps up
        deadline = time.monotonic() + 30
        while len(_labels_of(engine, "ana")) < len(before) + len(presses) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # and nothing more arrives after
        expect(page.locator(".kl-num")).to_contain_text("Prompt #", timeout=30_000)
        browser.close()
    labels = [label for label in _labels_of(engine, "ana") if label.id not in before]
    assert sorted((label.item_id, label.value) for label in labels) == sorted(presses)
    assert len({label.item_id for label in labels}) == len(labels) == len(presses)
    assert all(label.batch_id and label.shown_at is not None and label.seconds is not None
               for label in labels)
