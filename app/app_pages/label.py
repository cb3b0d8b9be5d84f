"""Label: the rater's queue, answered by key press or click without waiting.

The prompt card and the answer buttons are the keyboard labeler (``key_labeler``): it holds the
rater's prefetched run of items and shows the next one the moment a key is pressed, while the
answers travel to the page. Only the fragment ``_labeler`` reruns on an answer: it applies each
new answer once, to the assignment that was on screen when it was pressed (``queue.submit`` /
``queue.skip``), says so visibly when one is refused, and hands the labeler the rater's fresh
``queue.upcoming`` run. Batch selection never runs here: when the active batches run low a
background job (``resources.refills``) selects the next batch, and the fragment polls only while
the rater has nothing on screen. The sidebar's guideline and the page around the fragment are
drawn on full runs only; the counters are kept in session state, not recounted over the pool.

When the database cannot be reached, an answer is not taken as refused: the page leaves it
unacknowledged, so the browser keeps it (and sends it again), says how many answers wait, lets
the rater go on with the prompts already on hand, and asks again every few seconds; the first run
that reaches the database saves them, oldest first. Only an acknowledged answer is dropped by the
browser.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from app import auth, resources
from app.components.key_labeler import Answer, Card, Status, key_labeler, pending_answers
from app.components.task_picker import task_picker
from app.components.untrusted import as_markdown
from app.errors import SERVICE_ERRORS, describe, unreachable
from labeling.project.authz import Capability
from labeling.project.tasks import TaskInfo, task_info
from labeling.queue import assignments as queue

SKIP_REASONS = ("Not English", "Not a music request", "Offensive / distressing", "Can't tell",
                "Other")
# Session-state keys (no bare string literals at module level: Streamlit "magic" prints them).
LABELER = "key_labeler"  # the labeler's key: its state holds the answers not yet applied
APPLIED = "label_applied"  # {browser client: last answer seq applied}
REFUSALS = "label_refusals"  # [(time.monotonic(), message)] shown for REFUSAL_SECONDS
COUNTS = "label_counts"  # {"task": name, "today": labels today, "left": from the last run}
WAITING = "label_waiting"  # the task whose next batch is being selected while the hand is empty
OFFLINE = "label_offline"  # answers held while the database is unreachable (-1: just back)
LAST_RUN = "label_last_run"  # (task, cards) last handed to the labeler, drawn again while offline
TASK = "label_task_info"  # the last TaskInfo read, so the page still draws while offline
POLL_SECONDS = 0.5
REFUSAL_SECONDS = 30.0
MAX_CLIENTS = 8


def _guideline(task: TaskInfo) -> None:
    with st.sidebar:
        if task.guideline is None:
            st.caption(f"No guideline for {task.name} yet.")
            return
        with st.expander(f"Guideline · {task.name} v{task.guideline_version}",
                         icon=":material/menu_book:"):
            st.markdown(task.guideline)


class _Unreachable(Exception):
    """The database could not be reached: the answer is neither saved nor refused."""


def _apply(answer: Answer, *, engine: Any, user: auth.SignedIn) -> str | None:
    """Save one answer for its own assignment; the refusal to show, or ``None`` when saved.
    Raises ``_Unreachable`` when the database cannot be reached (nothing was kept)."""
    where = f"Prompt #{answer.item_id}"
    try:
        if answer.kind == "skip":
            queue.skip(engine=engine, actor=user, assignment_id=answer.assignment_id,
                       reason=answer.reason or "")
        else:
            unsure = answer.kind == "unsure"
            queue.submit(engine=engine, actor=user, assignment_id=answer.assignment_id,
                         value=queue.UNSURE if unsure else (answer.value or ""),
                         slots=answer.slots, unsure=unsure, seconds=answer.seconds)
    except SERVICE_ERRORS as exc:
        if unreachable(exc):
            raise _Unreachable from exc
        what = "skip" if answer.kind == "skip" else (
            "unsure" if answer.kind == "unsure" else answer.value)
        return f"{where}: your {what} was not saved — {describe(exc, markdown=False)}."
    return None


def _apply_answers(*, engine: Any, user: auth.SignedIn) -> tuple[int, int]:
    """Apply every answer the labeler holds that is not applied yet, oldest first; record
    refusals; return how many labels were stored, and how many answers wait because the
    database cannot be reached (left unacknowledged, so the browser keeps them)."""
    applied: dict[str, int] = dict(st.session_state.get(APPLIED) or {})
    stored = 0
    answers = [answer for answer in pending_answers(LABELER)
               if answer is not None and answer.seq > applied.get(answer.client, 0)]
    for done, answer in enumerate(answers):  # others: saved on an earlier run, or not ours
        try:
            refusal = _apply(answer, engine=engine, user=user)
        except _Unreachable:
            return stored, len(answers) - done
        applied.pop(answer.client, None)  # most recent client last, so trimming keeps it
        applied[answer.client] = answer.seq
        # At once, before any element is drawn: a rerun that interrupts this one re-reads it.
        st.session_state[APPLIED] = dict(list(applied.items())[-MAX_CLIENTS:])
        if refusal is not None:
            st.session_state[REFUSALS] = [*st.session_state.get(REFUSALS, []),
                                          (time.monotonic(), refusal)]
        elif answer.kind != "skip":
            stored += 1
    return stored, 0


def _show_refusals() -> None:
    now = time.monotonic()
    recent = [(at, text) for at, text in st.session_state.get(REFUSALS, [])
              if now - at < REFUSAL_SECONDS][-3:]
    st.session_state[REFUSALS] = recent
    for _, text in reversed(recent):
        st.error(as_markdown(text, one_line=True), icon=":material/block:")


def _metrics(box: Any, counts: dict[str, Any]) -> None:
    today, left = box.container().columns(2)
    today.metric("Labeled today", counts["today"])
    left.metric("Left for you", counts["left"])


def _cards(run: queue.Run) -> list[Card]:
    return [Card(assignment_id=item.assignment_id, item_id=item.item_id, text=item.text,
                 suggestion=None if item.suggestion is None else
                 (item.suggestion.label, round(item.suggestion.probability, 3)))
            for item in run.items]


def _refill(task: TaskInfo, run: queue.Run, user: auth.SignedIn) -> tuple[bool, str | None]:
    """Start selecting the next batch in the background when the rater runs low (before their
    run is used up); return whether one is being selected now, and why the last one failed."""
    jobs = resources.refills()
    job = jobs.start(task.name, actor=user, urgent=run.needs_batch and not run.items) \
        if run.running_low else jobs.job(task.name)
    if job is None:
        return False, None
    if not job.done():
        return True, None
    failed = job.exception()
    return False, None if failed is None else describe(failed) if isinstance(
        failed, SERVICE_ERRORS) else "the next batch could not be selected; tell your lead"


def _poll_switch(task: TaskInfo, *, waiting: bool) -> None:
    """Poll (rerun the fragment every POLL_SECONDS) only while the hand is empty and the next
    batch is being selected; switching costs one full run."""
    if (st.session_state.get(WAITING) == task.name) != waiting:
        st.session_state[WAITING] = task.name if waiting else None
        st.rerun(scope="app")


def _offline(task: TaskInfo, box: Any, waiting: int) -> None:
    """The database is unreachable: say what waits and keep the prompts on hand; the labeler
    asks again every few seconds (status ``offline``), rerunning only this fragment (a full
    run would stop at the app's own database check)."""
    st.session_state[OFFLINE] = max(waiting, 1)
    _metrics(box, st.session_state[COUNTS])
    _show_refusals()
    held = f"{waiting} answer{'s' if waiting != 1 else ''} wait" if waiting else "Nothing waits"
    st.warning(f"The database cannot be reached. {held} in this browser and will be saved, in "
               "order, as soon as it is back: keep this tab open. You can go on with the "
               "prompts on screen.", icon=":material/cloud_off:")
    last_task, cards = st.session_state.get(LAST_RUN) or (None, [])
    _draw(task, cards if last_task == task.name else [], "offline")


def _draw(task: TaskInfo, cards: list[Card], status: Status) -> None:
    """The keyboard labeler with ``cards``; what the browser has saved is acknowledged."""
    key_labeler(key=LABELER, task=task.name, cards=cards, labels=task.labels,
                slot_schema=task.slot_schema if task.kind == "intent" else None,
                skip_reasons=SKIP_REASONS, applied=st.session_state.get(APPLIED) or {},
                status=status)


def _labeler(task: TaskInfo, user: auth.SignedIn, box: Any) -> None:
    engine = resources.engine()
    counts = st.session_state[COUNTS]
    stored, held = _apply_answers(engine=engine, user=user)
    counts["today"] += stored
    if held:
        _offline(task, box, held)
        return
    try:
        run = queue.upcoming(engine=engine, actor=user, task_name=task.name,
                             encoder=resources.encoder())
    except SERVICE_ERRORS as exc:
        if unreachable(exc):
            _offline(task, box, 0)
            return
        _show_refusals()
        st.error(f"Could not load your next prompts: {describe(exc)}. Your answers so far are "
                 "saved; reload the page, and if it persists, tell your lead.")
        return
    if st.session_state.get(OFFLINE, 0) > 0:
        st.session_state[OFFLINE] = -1  # back: said once, below
    counts["left"] = run.left
    selecting, failed = _refill(task, run, user)
    # A job that finished before it was looked at (a fast selection, or one that found a batch
    # stored meanwhile) is no answer: the pool still has prompts for this rater, so wait for them.
    waiting = not run.items and (selecting or run.needs_batch and failed is None)
    _poll_switch(task, waiting=waiting)
    _metrics(box, counts)
    _show_refusals()
    if st.session_state.get(OFFLINE) == -1:  # shown once, after the outage
        st.session_state[OFFLINE] = 0
        st.success("The database is back: every answer you gave is saved.",
                   icon=":material/cloud_done:")
    if not run.items and failed:
        st.error(f"Could not prepare more prompts: {failed}.", icon=":material/error:")
    elif not run.items and not waiting:
        st.success(f"Nothing left to label in **{as_markdown(task.name)}** — thank you! "
                   f"You labeled {counts['today']} today.", icon=":material/celebration:")
    cards = _cards(run)
    st.session_state[LAST_RUN] = (task.name, cards)
    _draw(task, cards, "ready" if run.items else "loading" if waiting else "done")


@st.fragment
def _live(task: TaskInfo, user: auth.SignedIn, box: Any) -> None:
    _labeler(task, user, box)


@st.fragment(run_every=POLL_SECONDS)
def _polling(task: TaskInfo, user: auth.SignedIn, box: Any) -> None:
    _labeler(task, user, box)


def render() -> None:
    user = auth.require(Capability.label)
    st.title("Label")
    top = st.columns([3, 2], vertical_alignment="bottom")
    with top[0]:
        name = task_picker(key="label_task", user=user)
    if name is None:
        return
    task = _task(name, user)
    if task is None:
        return
    _guideline(task)
    box = top[1].empty()
    (_polling if st.session_state.get(WAITING) == name else _live)(task, user, box)


def _task(name: str, user: auth.SignedIn) -> TaskInfo | None:
    """The task and the rater's counters; while the database is unreachable, the ones read last
    (so the labeler still draws, keeps the answers and polls); ``None`` after an error shown."""
    engine = resources.engine()
    try:
        task = task_info(engine=engine, actor=user, name=name)
        done = queue.progress(engine=engine, actor=user, task_name=name)
    except SERVICE_ERRORS as exc:
        task = st.session_state.get(TASK)
        if unreachable(exc) and task is not None and task.name == name \
                and (st.session_state.get(COUNTS) or {}).get("task") == name:
            return task
        st.error(f"Could not load the queue for {name}: {describe(exc)}. Reload the page; if "
                 "it persists, tell your lead.")
        return None
    st.session_state[TASK] = task
    st.session_state[COUNTS] = {"task": name, "today": done.labeled_today, "left": done.left}
    return task


render()
