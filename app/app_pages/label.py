"""Label: the rater's queue, one prompt at a time, answered with a click or a key.

The page asks ``labeling.queue.assignments`` for the rater's item on every run (an open lease
comes back unchanged, so a reload loses nothing) and sends exactly one queue call per click.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app import auth, resources
from app.components.label_form import (
    SKIP_KEY,
    UNSURE_KEY,
    label_buttons,
    slot_editor,
)
from app.components.task_picker import task_picker
from app.components.untrusted import as_markdown, show_prompt
from app.errors import SERVICE_ERRORS, describe
from labeling.project.authz import Capability
from labeling.project.tasks import TaskInfo, task_info
from labeling.queue import assignments as queue

SKIP_REASONS = ("Not English", "Not a music request", "Offensive / distressing", "Can't tell",
                "Other")
# Session-state key: a one-line note about the last saved answer, shown after the rerun.
# (No bare string literals at module level here: Streamlit "magic" would print them.)
FLASH = "label_flash"


def _guideline(task: TaskInfo) -> None:
    with st.sidebar:
        if task.guideline is None:
            st.caption(f"No guideline for {task.name} yet.")
            return
        with st.expander(f"Guideline · {task.name} v{task.guideline_version}",
                         icon=":material/menu_book:"):
            st.markdown(task.guideline)


def _progress_metrics(container: Any, done: queue.Progress, *, on_screen: bool) -> None:
    today, left = container.columns(2)
    today.metric("Labeled today", done.labeled_today)
    # The service counts what comes after the prompt on screen; the rater counts it too.
    left.metric("Left in queue", done.left + int(on_screen))


def _prompt_card(item: queue.QueueItem) -> None:
    with st.container(border=True, key="prompt_card"):
        st.caption(f"Prompt #{item.item_id}")
        show_prompt(item.text)
        if item.suggestion is not None:
            st.caption(f":material/smart_toy: Model suggests: "
                       f"**{as_markdown(item.suggestion.label)}** "
                       f"({item.suggestion.probability:.0%})")


def _save(action: str, alert: Any, **kwargs: Any) -> bool:
    """Run one queue call; on a typed error show what to do next and keep the item."""
    try:
        if action == "skip":
            queue.skip(engine=resources.engine(), **kwargs)
        else:
            queue.submit(engine=resources.engine(), **kwargs)
    except SERVICE_ERRORS as exc:
        alert.error(f"Not saved: {describe(exc)}. Your answer is still on the page — try again, "
                    "or reload the page to get your next item.", icon=":material/error:")
        return False
    return True


def _skip_controls(row: Any, *, key: str) -> tuple[bool, str | None]:
    """The Skip button with its reason; return (pressed, reason or None)."""
    reason = row.selectbox("Skip reason", SKIP_REASONS, index=None, placeholder="Why skip?",
                           key=f"{key}_skip_reason", label_visibility="collapsed", width=220)
    if reason == "Other":
        detail = row.text_input("Say why", placeholder="Say why (optional)",
                                key=f"{key}_skip_detail", label_visibility="collapsed",
                                width=220)
        reason = f"Other: {detail.strip()}" if detail.strip() else reason
    pressed = row.button("Skip", key=f"{key}_skip", shortcut=SKIP_KEY,
                         icon=":material/skip_next:")
    return pressed, reason


def _answer_form(task: TaskInfo, item: queue.QueueItem, user: auth.SignedIn, alert: Any) -> None:
    key = f"label_{item.assignment_id}"  # fresh widgets for every item
    slots: dict[str, Any] = {}
    if task.kind == "intent" and task.slot_schema:
        st.caption("Slots — fill only what the prompt says; they are saved with the label.")
        slots = slot_editor(task.slot_schema, key=f"{key}_slots")
    chosen = label_buttons(task.labels, key=key)
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    unsure = row.button("Unsure", key=f"{key}_unsure", shortcut=UNSURE_KEY,
                        icon=":material/help:")
    skip_pressed, reason = _skip_controls(row, key=key)
    common = {"assignment_id": item.assignment_id, "actor": user}
    saved, note = False, ""
    if chosen is not None:
        saved = _save("submit", alert, value=chosen, slots=slots, **common)
        note = f"Saved **{as_markdown(chosen)}**" + (
            f" with {as_markdown(_slot_text(slots))}" if slots else "")
        note += f" for prompt #{item.item_id}. Fix it under My labels if needed."
    elif unsure:
        saved = _save("submit", alert, value=queue.UNSURE, slots=slots, unsure=True, **common)
        note = f"Saved prompt #{item.item_id} as **unsure**. Change it under My labels."
    elif skip_pressed and not reason:
        alert.warning("Choose a reason in “Why skip?”, then press Skip again.",
                      icon=":material/skip_next:")
    elif skip_pressed:
        saved = _save("skip", alert, reason=reason, **common)
        note = (f"Skipped prompt #{item.item_id} ({as_markdown(reason, one_line=True)}); "
                "it will not come back to you.")
    if saved:
        st.session_state[FLASH] = note
        st.rerun()


def _slot_text(slots: dict[str, Any]) -> str:
    return ", ".join(f"{slot}={value}" for slot, value in slots.items())


def _shortcut_caption(n_labels: int) -> None:
    if n_labels < 10:
        keys = f"1–{n_labels}"
    else:
        keys = "1–9, 0, then letters" if n_labels > 10 else "1–9, 0"
    st.caption(f":material/keyboard: Keyboard: press the key shown on a label button "
               f"({keys}) · **{UNSURE_KEY}** unsure · **{SKIP_KEY}** skip (choose a reason "
               "first). Keys do nothing while a text field has focus.")


def _empty_queue(task: TaskInfo, done: queue.Progress) -> None:
    st.success(f"Nothing left to label in **{task.name}** — thank you! "
               f"You labeled {done.labeled_today} today.", icon=":material/celebration:")
    if done.left:
        st.caption(f"{done.left} more are being labeled by others right now; check back later.")


def render() -> None:
    user = auth.require(Capability.label)
    st.title("Label")
    top = st.columns([3, 2], vertical_alignment="bottom")
    with top[0]:
        name = task_picker(key="label_task", user=user)
    if name is None:
        return
    engine = resources.engine()
    try:
        task = task_info(engine=engine, actor=user, name=name)
        item = queue.next_item(engine=engine, actor=user, task_name=name,
                               encoder=resources.encoder())
        done = queue.progress(engine=engine, actor=user, task_name=name)
    except SERVICE_ERRORS as exc:
        st.error(f"Could not load the queue for {name}: {describe(exc)}. Reload the page; if "
                 "it persists, tell your lead.")
        return
    _guideline(task)
    _progress_metrics(top[1], done, on_screen=item is not None)
    flash = st.session_state.pop(FLASH, None)
    if flash:
        st.caption(f":material/check_circle: {flash}")
    alert = st.empty()
    if item is None:
        _empty_queue(task, done)
        return
    _prompt_card(item)
    _answer_form(task, item, user, alert)
    _shortcut_caption(len(task.labels))


render()
