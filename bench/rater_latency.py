"""Rater latency in a real browser: key press to the next prompt on the Label page (issue 15).

    python -m bench.rater_latency [--presses 100] [--pace asap|pause|both] [--pause-ms 600]
                                  [--database sqlite|postgresql|both] [--timeout-s 5]
                                  [--encoder minilm] [--json] [--out FILE]

For each (database, pace) a fresh app: a temporary data folder and database (SQLite, or a fresh
PostgreSQL server from ``scripts/test-postgres.sh``), ``workbench init --demo`` with the real
encoder (``WORKBENCH_ENCODER=minilm`` unless ``--encoder``, loaded offline), then ``workbench
serve`` on a free port. Headless Chromium (Debian's ``chromium``, through Playwright) signs in the
demo rater ``ana``, opens Label (the first task, ``intent``: 20 items a batch, so 100 items
cross about four batch boundaries; the bench counts them from the stored labels' batches) and
labels by keyboard, cycling through the keys 1-9. Nothing is labeled before measuring: the first
press is the first after a fresh server start.

One press: ``keyboard.press``; its time is taken in the page by a capture-phase ``keydown``
listener (``performance.now()``), and the next prompt's time by ``wait_for_function`` polled
every animation frame: the keyboard labeler (``.kl``: ``data-state="ready"``, a different
``data-item``, its text) or, on the page before it, the card with the key ``prompt_card`` showing
a different ``Prompt #`` with its text, no skeleton and no stale element. ``asap`` presses as
soon as the next prompt shows; ``pause`` waits ``--pause-ms`` first (reading). When no new prompt
shows within ``--timeout-s`` the press is a stall: the bench notes what the page showed (an
alert, the labeler's message, the focused element) and presses again for the same item. Before
each press it counts the page's stale elements (left from the previous script run, still
rendering below the new prompt): on the page before issue 15, lost presses came from presses on
such a page.

Figures per (database, pace), over items (from the first press on an item to the next prompt, so
a stall and its re-press count in full; the first item included): median, p95, worst, the first
press alone, stalls. In ``asap`` on the page before issue 15, p95 and worst are stalls (the
timeout plus the re-press), so they move with ``--timeout-s``. After the last press the page
stays open until the answers have landed (all of them, or none new for 5 s). Then the ledger,
from the database: the labels ``ana`` stored during the run, by item. A press with no stored
label is *refused* when the page said so (an alert or a labeler warning left by a stall on the
item, or a refusal naming ``#<item>`` seen at any time) and *lost* otherwise; a second label
for one item is a *duplicate*; a label on an item no press was aimed at is *stray*. Presses
whose next item came from a new batch are the batch boundaries (their latencies are listed).

The figures are wall-clock on whatever machine runs them; the load average before and after
each run is printed. ``BEFORE`` records what this bench measured before issue 15's rework.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import Session, func, select

from storage.db import make_engine
from storage.models import Account, Label

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WORKBENCH = [sys.executable, "-c", "from app.cli import main; main()"]
RATER, PASSWORD = "ana", "ana-demo-pw"
KEYS = "123456789"
MAX_STALLS_IN_A_ROW = 10
GOALS = {"median_ms": 250.0, "p95_ms": 400.0, "worst_ms": 1000.0, "postgres_ratio": 1.5}

FIGURES = ("median_ms", "p95_ms", "worst_ms", "first_ms", "lost", "duplicated", "stalls",
           "presses")


def _row(*values: float) -> dict[str, float]:
    return dict(zip(FIGURES, values, strict=True))


BEFORE: tuple[dict[str, Any], ...] = (
    {"commit": "5616ddb", "date": "2026-11-30",
     "what": "the Label page before issue 15 (the parent of its rework); this bench, defaults",
     "machine": "2 cores shared with other jobs: load average 3.2-6.8 during the runs",
     "figures": {
         ("sqlite", "asap"): _row(1498, 6341, 6574, 1396, 33, 0, 33, 133),
         ("sqlite", "pause"): _row(1304, 1855, 2358, 908, 0, 0, 0, 100),
         ("postgresql", "asap"): _row(1222, 6174, 6685, 1103, 26, 0, 26, 126),
         ("postgresql", "pause"): _row(955, 1393, 1668, 947, 0, 0, 0, 100),
     }},
    {"commit": "ea31dc0", "date": "2026-11-30",
     "what": "two commits earlier (before issue 13's authorisation and answer auditing)",
     "machine": "the same machine, load average 4.2-8.0",
     "figures": {
         ("sqlite", "asap"): _row(2109, 6824, 7048, 999, 31, 0, 31, 131),
         ("sqlite", "pause"): _row(1377, 2226, 6090, 1244, 1, 0, 1, 101),
         ("postgresql", "asap"): _row(1580, 6443, 7891, 756, 27, 0, 27, 127),
         ("postgresql", "pause"): _row(906, 1571, 1836, 1106, 0, 0, 0, 100),
     }},
)
"""Recorded baselines: what this bench measured at those commits, before issue 15's rework of
the Label page (a record of a loaded machine, not a threshold; rerun the bench on a checkout
of the commit to compare on your own machine). In ``asap`` p95 and worst are stalls: the
5 s timeout plus the re-press."""

# The next prompt is on screen: a different "Prompt #", its text, nothing stale or pending.
# Either the keyboard labeler (".kl", its data-state and data-item) or, before it, Streamlit's
# container with the key "prompt_card".
NEXT_PROMPT_JS = """prev => {
  const failed = document.querySelector('[data-testid="stException"]');
  if (failed) return {error: failed.innerText.slice(0, 300)};
  const kl = document.querySelector('.kl');
  if (kl) {
    const text = (kl.querySelector('.kl-text') || {}).textContent || '';
    if (kl.dataset.state !== 'ready' || !kl.dataset.item || kl.dataset.item === prev
        || !text.trim()) return false;
    return {item: kl.dataset.item, at: performance.now()};
  }
  const card = document.querySelector('.st-key-prompt_card');
  if (!card || card.querySelector('[data-testid="stSkeleton"], [data-stale="true"]')) {
    return false;
  }
  const lines = card.innerText.split('\\n').map(s => s.trim()).filter(Boolean);
  const m = lines.length > 1 && lines[0].match(/^Prompt #(\\d+)$/);
  if (!m || m[1] === prev) return false;
  return {item: m[1], at: performance.now()};
}"""
# Installed before the app's scripts: the time of every key press, and every refusal the page
# shows (an alert, or the labeler's warning or error) once __benchWatch is set.
INIT_JS = """(() => {
window.addEventListener('keydown', () => {
  window.__benchKeyAt = performance.now();
}, {capture: true});
window.__benchRefusals = [];
const seen = new Set();
new MutationObserver(() => {
  if (!window.__benchWatch) return;
  const shown = document.querySelectorAll(
    '[data-testid="stAlert"], .kl-msg[data-kind="warn"], .kl-msg[data-kind="error"]');
  for (const el of shown) {
    const text = el.innerText.trim();
    if (text && !seen.has(text)) {
      seen.add(text);
      window.__benchRefusals.push({at: performance.now(), text: text.slice(0, 300)});
    }
  }
}).observe(document, {subtree: true, childList: true, characterData: true, attributes: true,
                      attributeFilter: ['data-kind']});
})();"""
# At a press: how many elements are left from the previous run (the rerun still rendering).
STALE_JS = "() => document.querySelectorAll('[data-stale=\"true\"]').length"
PAGE_STATE_JS = """() => {
  const alerts = [...document.querySelectorAll('[data-testid="stAlert"]')];
  const a = document.activeElement;
  const msg = document.querySelector('.kl-msg');
  if (msg && ['warn', 'error'].includes(msg.dataset.kind)) alerts.push(msg);
  return {alert: alerts.map(x => x.innerText.trim()).join(' | ').slice(0, 300),
          focus: a ? a.tagName + (a.getAttribute('aria-label') ? ':' + a.getAttribute('aria-label')
                                  : '') : null,
          card: (document.querySelector('.kl-card, .st-key-prompt_card') || {}).innerText
                || null,
          labeler: (document.querySelector('.kl') || {dataset: {}}).dataset.state || null,
          exception: ((document.querySelector('[data-testid="stException"]') || {}).innerText
                      || '').slice(0, 300)};
}"""


@dataclass
class Press:
    """One key press: the item on screen, the key, and what followed."""

    item: int
    key: str
    ms: float | None  # key press to the next prompt; None for a stall
    python_ms: float  # the same, timed in Python around press + wait (includes Playwright)
    stale_at_press: int = 0  # elements left from the previous run when the key went down
    stall: dict[str, Any] | None = None


@dataclass
class Run:
    database: str
    pace: str
    presses: list[Press] = field(default_factory=list)
    startup_s: dict[str, float] = field(default_factory=dict)
    load: dict[str, list[float]] = field(default_factory=dict)
    ledger: dict[str, Any] = field(default_factory=dict)
    refusals: list[dict[str, Any]] = field(default_factory=list)  # what the page showed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _postgres() -> Iterator[str]:
    """A fresh PostgreSQL server in a temporary folder; its URL."""
    folder = tempfile.mkdtemp(prefix="workbench-pg.")
    script = str(ROOT / "scripts" / "test-postgres.sh")
    try:
        url = subprocess.run([script, "start", folder], check=True, capture_output=True,
                             text=True).stdout.strip()
        yield url
    finally:
        subprocess.run([script, "stop", folder], check=False, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _app(url: str, folder: Path, *, encoder: str, times: dict[str, float]) -> Iterator[str]:
    """``workbench init --demo`` then ``workbench serve`` on a free port; the base URL."""
    env = {**os.environ, "WORKBENCH_DATABASE_URL": url, "WORKBENCH_DATA_DIR": str(folder / "data"),
           "WORKBENCH_DEMO": "1", "WORKBENCH_ENCODER": encoder, "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    started = time.perf_counter()
    init = subprocess.run([*WORKBENCH, "init", "--demo"], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    if init.returncode:
        raise RuntimeError(f"workbench init --demo failed:\n{init.stderr[-2000:]}")
    times["init_demo_s"] = time.perf_counter() - started
    port = _free_port()
    log = (folder / "serve.log").open("wb")
    started = time.perf_counter()
    process = subprocess.Popen([*WORKBENCH, "serve", "--port", str(port)], env=env, cwd=ROOT,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if not _healthy(port, process):
            log.flush()
            tail = (folder / "serve.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the app did not start:\n{tail}")
        times["serve_to_health_s"] = time.perf_counter() - started
        times["_serve_started"] = started
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and anything it started
        process.wait(timeout=30)
        log.close()


def _healthy(port: int, process: subprocess.Popen, timeout_s: float = 120) -> bool:
    """Wait for Streamlit's health check; False when the server died or never answered."""
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _open_label_page(page: Any, base: str, times: dict[str, float]) -> int:
    """Sign in the rater and open Label; the item on screen."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    page.goto(base)
    username = page.get_by_role("textbox", name="Username")
    expect(username).to_be_visible(timeout=120_000)  # the first run imports the app
    username.fill(RATER)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Project overview")).to_be_visible(timeout=60_000)
    page.get_by_role("link", name="Label", exact=True).click()
    try:
        shown = page.wait_for_function(NEXT_PROMPT_JS, arg=None, polling="raf",
                                       timeout=120_000)
    except PlaywrightTimeout:
        raise RuntimeError(f"no prompt on the Label page: {page.evaluate(PAGE_STATE_JS)}"
                           ) from None
    if "error" in shown.json_value():
        raise RuntimeError(f"the Label page failed: {shown.json_value()['error']}")
    times["serve_to_first_prompt_s"] = time.perf_counter() - times.pop("_serve_started")
    page.evaluate("document.activeElement && document.activeElement.blur()")  # not a field
    page.evaluate("window.__benchWatch = true")
    return int(shown.json_value()["item"])


def _press(page: Any, item: int, key: str, timeout_s: float) -> tuple[Press, int | None]:
    """Press ``key`` on ``item``; the press and the next item (None after a stall)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    stale = page.evaluate(STALE_JS)
    started = time.perf_counter()
    page.keyboard.press(key)
    try:
        shown = page.wait_for_function(NEXT_PROMPT_JS, arg=str(item), polling="raf",
                                       timeout=timeout_s * 1000).json_value()
    except PlaywrightTimeout:
        shown = {"error": "timeout"}
    python_ms = (time.perf_counter() - started) * 1000
    if "error" in shown:  # no next prompt in time, or the page failed
        return Press(item, key, None, python_ms, stale,
                     stall=page.evaluate(PAGE_STATE_JS)), None
    key_at = page.evaluate("window.__benchKeyAt")
    return Press(item, key, shown["at"] - key_at, python_ms, stale), int(shown["item"])


def _label(page: Any, item: int, *, presses: int, pause_s: float, timeout_s: float
           ) -> list[Press]:
    done: list[Press] = []
    labeled = stalls_in_a_row = 0
    while labeled < presses:
        if pause_s:
            time.sleep(pause_s)
        press, following = _press(page, item, KEYS[labeled % len(KEYS)], timeout_s)
        done.append(press)
        if following is None:
            stalls_in_a_row += 1
            if stalls_in_a_row >= MAX_STALLS_IN_A_ROW:
                raise RuntimeError(f"{stalls_in_a_row} stalls in a row on item {item}: "
                                   f"{press.stall}")
            continue
        labeled, item, stalls_in_a_row = labeled + 1, following, 0
    return done


def _rater_id(engine: Any) -> int:
    with Session(engine) as session:
        return session.exec(select(Account.id).where(Account.username == RATER)).one()


def _newest_label_id(engine: Any) -> int:
    with Session(engine) as session:
        return session.exec(select(func.max(Label.id))).one() or 0


def _labels_since(engine: Any, *, rater_id: int, since_id: int) -> list[Label]:
    with Session(engine) as session:
        return list(session.exec(select(Label).where(Label.rater_id == rater_id,
                                                     Label.id > since_id)
                                 .order_by(Label.id)).all())


def _settled_labels(engine: Any, *, since_id: int, expected: int, quiet_s: float = 5.0,
                    timeout_s: float = 60.0) -> list[Label]:
    """The rater's labels after ``since_id``, once answers still on their way have landed:
    ``expected`` of them, or no new one for ``quiet_s`` (the browser stays open meanwhile)."""
    rater_id = _rater_id(engine)
    deadline = time.monotonic() + timeout_s
    labels = _labels_since(engine, rater_id=rater_id, since_id=since_id)
    last_change = time.monotonic()
    while len(labels) < expected and time.monotonic() < min(deadline, last_change + quiet_s):
        time.sleep(0.5)
        now = _labels_since(engine, rater_id=rater_id, since_id=since_id)
        if len(now) != len(labels):
            labels, last_change = now, time.monotonic()
    return labels


def _refused_per_item(presses: list[Press], refusals: list[dict[str, Any]]) -> Counter:
    """Visible refusals per item: a stall that left an alert on screen, or a refusal message
    naming the item ("Prompt #12: ...")."""
    refused = Counter(p.item for p in presses if p.stall and p.stall.get("alert"))
    for shown in refusals:
        refused.update(int(n) for n in set(re.findall(r"#(\d+)\b", shown["text"])))
    return refused


def _ledger(presses: list[Press], labels: list[Label], refusals: list[dict[str, Any]]
            ) -> dict[str, Any]:
    """Presses against stored labels, item by item; the batch boundaries crossed.

    A press with no label is *refused* when the page said so (see ``_refused_per_item``),
    otherwise *lost*."""
    pressed = Counter(p.item for p in presses)
    stored = Counter(label.item_id for label in labels)
    unsaved = {i: n - stored[i] for i, n in pressed.items() if n > stored[i]}
    refused = _refused_per_item(presses, refusals)
    said = {i: min(n, refused[i]) for i, n in unsaved.items()}
    batch = {label.item_id: label.batch_id for label in labels}
    order = list(dict.fromkeys(p.item for p in presses))
    item_ms = _item_times(presses)
    boundaries = [
        {"item": a, "next_item": b, "ms": item_ms.get(a)}
        for a, b in zip(order, order[1:], strict=False) if batch.get(a) != batch.get(b)
    ]
    return {
        "presses": len(presses), "labels_stored": len(labels),
        "lost": sum(n - said[i] for i, n in unsaved.items()),
        "refused": sum(said.values()),
        "duplicated": sum(max(0, n - 1) for n in stored.values()),
        "stray": sum(n for i, n in stored.items() if i not in pressed),
        "batches": len({batch.get(i) for i in order if i in batch}),
        "boundaries": boundaries,
        "lost_items": [i for i, n in unsaved.items() if n > said[i]],
    }


def _item_times(presses: list[Press]) -> dict[int, float]:
    """Per item: from its first press to the next prompt (stalls counted at their wait)."""
    times: dict[int, float] = {}
    waited: dict[int, float] = {}
    for press in presses:
        if press.ms is None:
            waited[press.item] = waited.get(press.item, 0.0) + press.python_ms
        else:
            times[press.item] = waited.get(press.item, 0.0) + press.ms
    return times


def figures(run: Run) -> dict[str, Any]:
    """Median, p95, worst over items; the first press; stalls and the ledger's counts."""
    by_item = _item_times(run.presses)
    item_ms = list(by_item.values())
    ms = np.asarray(item_ms) if item_ms else np.asarray([np.nan])
    return {
        "database": run.database, "pace": run.pace, "items": len(item_ms),
        "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
        "worst_ms": float(ms.max()), "first_ms": by_item.get(run.presses[0].item, float("nan")),
        "stalls": sum(p.ms is None for p in run.presses),
        "presses_on_stale_page": sum(p.stale_at_press > 0 for p in run.presses),
        "stalls_on_stale_page": sum(p.ms is None and p.stale_at_press > 0 for p in run.presses),
        **{k: run.ledger[k] for k in ("lost", "refused", "duplicated", "stray", "batches")},
    }


def measure(database: str, pace: str, *, args: argparse.Namespace) -> Run:
    """One fresh app and one browser session: ``args.presses`` items labeled at ``pace``."""
    run = Run(database, pace)
    run.load["before"] = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="rater-latency.") as tmp, _database(database, tmp) \
            as url, _app(url, Path(tmp), encoder=args.encoder, times=run.startup_s) as base:
        engine = make_engine(url)
        try:
            _browse(run, base=base, engine=engine, args=args)
        finally:
            engine.dispose()
    run.load["after"] = list(os.getloadavg())
    return run


def _browse(run: Run, *, base: str, engine: Any, args: argparse.Namespace) -> None:
    """Sign in, label, and keep the page open until the answers have landed."""
    from playwright.sync_api import sync_playwright

    since_id = _newest_label_id(engine)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.add_init_script(INIT_JS)
            item = _open_label_page(page, base, run.startup_s)
            pause_s = args.pause_ms / 1000 if run.pace == "pause" else 0.0
            run.presses = _label(page, item, presses=args.presses, pause_s=pause_s,
                                 timeout_s=args.timeout_s)
            labeled = sum(p.ms is not None for p in run.presses)
            labels = _settled_labels(engine, since_id=since_id, expected=labeled)
            run.refusals = page.evaluate("window.__benchRefusals")
        finally:
            browser.close()
    run.ledger = _ledger(run.presses, labels, run.refusals)


@contextmanager
def _database(kind: str, tmp: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{Path(tmp) / 'workbench.db'}"
        return
    with _postgres() as url:
        yield url


def _print_run(run: Run, fig: dict[str, Any]) -> None:
    s = run.startup_s
    print(f"\n{run.database} · {run.pace}: {fig['items']} items, {run.ledger['presses']} presses, "
          f"load {run.load['before'][0]:.2f} -> {run.load['after'][0]:.2f}")
    print(f"  startup: init --demo {s['init_demo_s']:.1f} s, serve to health "
          f"{s['serve_to_health_s']:.1f} s, serve to first prompt (sign-in included) "
          f"{s['serve_to_first_prompt_s']:.1f} s")
    print("  median   p95      worst    first    lost  refused  dup  stray  stalls  batches")
    print(f"  {fig['median_ms']:6.0f}ms {fig['p95_ms']:6.0f}ms {fig['worst_ms']:6.0f}ms "
          f"{fig['first_ms']:6.0f}ms {fig['lost']:5d} {fig['refused']:8d} {fig['duplicated']:4d} "
          f"{fig['stray']:6d} {fig['stalls']:7d} {fig['batches']:8d}")
    print(f"  presses while the previous run's elements were still stale: "
          f"{fig['presses_on_stale_page']} ({fig['stalls_on_stale_page']} of them stalled)")
    crossings = ", ".join(f"{b['ms']:.0f}" for b in run.ledger["boundaries"] if b["ms"])
    print(f"  batch boundaries crossed: {len(run.ledger['boundaries'])} (ms: {crossings})")
    stalls = [p for p in run.presses if p.stall]
    if stalls:
        stale = sorted(p.stale_at_press for p in stalls)
        print(f"  stalls: {len(stalls)}; stale elements at those presses: {stale[0]} to "
              f"{stale[-1]} (median {stale[len(stale) // 2]}); after the wait:")
        for what, n in Counter(_describe(p) for p in stalls).most_common():
            print(f"    {n:3d} x {what}")
    for shown in run.refusals[:10]:
        print(f"  refusal shown: {shown['text'][:120]!r}")
    if run.ledger["lost_items"]:
        print(f"  items with a lost press: {run.ledger['lost_items']}")


def _describe(press: Press) -> str:
    state = press.stall or {}
    card = (state.get("card") or "no prompt card").split("\n", 1)[0]
    same = "the same prompt" if card == f"Prompt #{press.item}" else card[:60]
    alert = f"alert: {state['alert']!r}" if state.get("alert") else "no alert"
    error = f", an exception: {state['exception'][:80]!r}" if state.get("exception") else ""
    return f"{same}, {alert}, focus {state.get('focus')}{error}"


def _print_summary(results: list[dict[str, Any]]) -> None:
    goals = GOALS
    print(f"\nGoals (SQLite, fresh start): median <= {goals['median_ms']:.0f} ms, p95 <= "
          f"{goals['p95_ms']:.0f} ms, worst <= {goals['worst_ms']:.0f} ms, no press lost; "
          f"PostgreSQL within {goals['postgres_ratio']}x.")
    by = {(r["database"], r["pace"]): r for r in results}
    for pace in ("asap", "pause"):
        lite, pg = by.get(("sqlite", pace)), by.get(("postgresql", pace))
        if lite and pg:
            print(f"  {pace}: PostgreSQL / SQLite median {pg['median_ms'] / lite['median_ms']:.2f}"
                  f"x, p95 {pg['p95_ms'] / lite['p95_ms']:.2f}x")
    for record in BEFORE:
        print(f"\nBefore this issue, measured at commit {record['commit']} on {record['date']}: "
              f"{record['what']} ({record['machine']})")
        print("  database    pace   median   p95      worst    first    lost  dup  stalls  presses")
        for (database, pace), f in record["figures"].items():
            print(f"  {database:11s} {pace:5s} {f['median_ms']:6.0f}ms {f['p95_ms']:6.0f}ms "
                  f"{f['worst_ms']:6.0f}ms {f['first_ms']:6.0f}ms {f['lost']:5.0f} "
                  f"{f['duplicated']:4.0f} {f['stalls']:7.0f} {f['presses']:8.0f}")


def _before_json() -> list[dict[str, Any]]:
    return [{**record, "figures": {f"{db} {pace}": f for (db, pace), f in
                                   record["figures"].items()}} for record in BEFORE]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--presses", type=int, default=100, help="items to label per run")
    parser.add_argument("--pace", choices=("asap", "pause", "both"), default="both")
    parser.add_argument("--pause-ms", type=int, default=600, help="reading pause for 'pause'")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--timeout-s", type=float, default=5.0, help="a press stalls after this")
    parser.add_argument("--encoder", default="minilm", help="WORKBENCH_ENCODER for the app")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of tables")
    parser.add_argument("--out", type=Path, help="also write that JSON (every press) to FILE")
    args = parser.parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C, so the app, the PostgreSQL server and the temporary
    # folders are stopped and removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not Path(CHROMIUM).exists():
        parser.error("Debian's chromium is needed (apt-get install chromium)")
    databases = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    paces = ("asap", "pause") if args.pace == "both" else (args.pace,)
    runs, results = [], []
    for database in databases:
        for pace in paces:
            run = measure(database, pace, args=args)
            runs.append(run)
            results.append(figures(run))
            if not args.json:
                _print_run(run, results[-1])
            record = json.dumps({"results": results, "runs": [asdict(r) for r in runs],
                                 "before": _before_json(), "goals": GOALS}, indent=2,
                                default=str)
            if args.out:  # after every run, so a long session keeps what it measured
                args.out.write_text(record)
    if args.json:
        print(record)
    else:
        _print_summary(results)


if __name__ == "__main__":
    main()
