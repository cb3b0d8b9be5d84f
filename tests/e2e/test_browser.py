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


def test_a_rater_signs_in_and_labels_with_the_number_keys(server):
    from playwright.sync_api import expect, sync_playwright

    base, engine = server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(base)
        username = page.get_by_role("textbox", name="Username")
        expect(username).to_be_visible(timeout=90_000)  # the first run imports the app
        username.fill("ana")
        page.get_by_role("textbox", name="Password").fill("ana-demo-pw")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("Project overview")).to_be_visible(timeout=30_000)
        page.get_by_role("link", name="Label", exact=True).click()
        prompt = page.get_by_text("Prompt #", exact=False).first
        expect(prompt).to_be_visible(timeout=30_000)
        first_prompt = prompt.inner_text().strip()
        page.evaluate("document.activeElement && document.activeElement.blur()")  # not a field
        page.keyboard.press("1")
        expect(page.get_by_text("Saved")).to_be_visible(timeout=30_000)
        expect(page.get_by_text(first_prompt, exact=True)).to_have_count(0)  # the next item
        browser.close()
    with session_scope(engine) as session:
        ana = session.exec(select(Account).where(Account.username == "ana")).one()
        newest = session.exec(select(Label).where(Label.rater_id == ana.id)
                              .order_by(Label.id.desc())).first()  # type: ignore[union-attr]
    assert newest.value == "mood" and newest.batch_id and newest.shown_at is not None
