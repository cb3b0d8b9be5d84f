"""My labels: the rater's recent labels on a task, and a correction for one of them.

Only the signed-in rater's own labels are read (``history`` filters by rater). A
correction is a new label; the old one stays in the provenance, marked superseded.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app import auth, resources
from app.components.label_form import slot_editor
from app.components.task_picker import task_picker
from app.components.untrusted import as_markdown
from app.errors import SERVICE_ERRORS, describe
from labeling.project.authz import Capability
from labeling.project.tasks import TaskInfo, task_info
from labeling.queue import assignments as queue

# Session-state key: the confirmation of the last correction, shown after the rerun.
FLASH = "history_flash"
PROMPT_CHARS = 60


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PROMPT_CHARS else text[: PROMPT_CHARS - 1] + "…"


def _slot_text(slots: dict[str, Any]) -> str:
    return ", ".join(f"{slot}={value}" for slot, value in slots.items())


def _table(entries: list[queue.HistoryEntry], *, key: str) -> list[int]:
    """The labels as a table; return the selected row positions."""
    frame = pd.DataFrame([{
        "Label #": e.label_id, "Time": e.submitted_at, "Prompt": e.text,
        "Label": "unsure" if e.unsure and e.value == queue.UNSURE else e.value,
        "Slots": _slot_text(e.slots), "Unsure": e.unsure,
        "Corrected": e.corrects_label_id is not None,
    } for e in entries])
    event = st.dataframe(
        frame, hide_index=True, width="stretch", key=key, on_select="rerun",
        selection_mode="single-row",
        column_config={
            "Label #": st.column_config.NumberColumn(width=70, format="%d"),
            "Time": st.column_config.DatetimeColumn(format="MMM D, HH:mm", width=110),
            "Prompt": st.column_config.TextColumn(width=280),
            "Label": st.column_config.TextColumn(width=130),
            "Slots": st.column_config.TextColumn(width=150),
            "Unsure": st.column_config.CheckboxColumn(width=70),
            "Corrected": st.column_config.CheckboxColumn(width=80),
        },
    )
    return list(event.selection.rows)


def _pick(entries: list[queue.HistoryEntry], rows: list[int], *, key: str
          ) -> queue.HistoryEntry:
    """A selectbox over the labels; a row clicked in the table selects it too."""
    by_id = {e.label_id: e for e in entries}
    pick_key, last_key = f"{key}_pick", f"{key}_last_row"
    if rows and rows != st.session_state.get(last_key) and rows[0] < len(entries):
        st.session_state[pick_key] = entries[rows[0]].label_id  # before the widget is made
    st.session_state[last_key] = rows
    if st.session_state.get(pick_key) not in by_id:
        st.session_state.pop(pick_key, None)
    label_id = st.selectbox(
        "Label to correct", list(by_id), key=pick_key,
        format_func=lambda i: f"Label #{i} · {_short(by_id[i].text)} → {by_id[i].value}",
    )
    return by_id[label_id]


def _correct(task: TaskInfo, entry: queue.HistoryEntry, user: auth.SignedIn) -> None:
    key = f"correct_{entry.label_id}"
    with st.container(border=True):
        st.caption("Prompt")
        st.text(entry.text)  # the rater's prompt as typed, never read as Markdown
        current = "unsure" if entry.value == queue.UNSURE else entry.value
        st.caption(f"Your label now: **{as_markdown(current)}**"
                   + (f" · {as_markdown(_slot_text(entry.slots))}" if entry.slots else ""))
        index = task.labels.index(entry.value) if entry.value in task.labels else None
        value = st.selectbox("New label", task.labels, index=index, placeholder="Choose a label",
                             key=f"{key}_value")
        slots: dict[str, Any] = {}
        if task.kind == "intent" and task.slot_schema:
            slots = slot_editor(task.slot_schema, key=f"{key}_slots", initial=entry.slots)
        pressed = st.button("Save correction", type="primary", key=f"{key}_save",
                            icon=":material/save:")
    if not pressed:
        return
    if value is None:
        st.warning("Choose the new label first.")
        return
    try:
        new_id = queue.correct(engine=resources.engine(), actor=user, label_id=entry.label_id,
                               value=value, slots=slots)
    except SERVICE_ERRORS as exc:
        st.error(f"Correction not saved: {describe(exc)}. Reload the page and try again.",
                 icon=":material/error:")
        return
    st.session_state[FLASH] = (
        f"Saved label #{new_id}: **{value}** replaces #{entry.label_id} ({current}). "
        f"The old label is kept in the provenance, marked as superseded."
    )
    st.rerun()


def render() -> None:
    user = auth.require(Capability.label)
    st.title("My labels")
    name = task_picker(key="history_task", user=user)
    if name is None:
        return
    flash = st.session_state.pop(FLASH, None)
    if flash:
        st.success(flash, icon=":material/check_circle:")
    try:
        task = task_info(engine=resources.engine(), actor=user, name=name)
        entries = queue.history(engine=resources.engine(), actor=user, task_name=name)
    except SERVICE_ERRORS as exc:
        st.error(f"Could not load your labels: {describe(exc)}. Reload the page.")
        return
    if not entries:
        st.info(f"You have no labels in **{name}** yet — they appear here once you label on "
                "the Label page.")
        return
    st.caption(f"Your {len(entries)} most recent labels in {name}, newest first. Only you see "
               "them. Click a row (or pick below) to correct it.")
    rows = _table(entries, key=f"history_table_{name}")
    st.subheader("Correct a label")
    _correct(task, _pick(entries, rows, key=f"history_{name}"), user)


render()
