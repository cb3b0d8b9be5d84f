"""Adjudication (reviewers and leads): settle disagreements; find and send back label errors.

A reviewer sees the raters' labels under neutral names ("rater 1"), a lead under their names;
items the signed-in reviewer labeled are left out for another reviewer."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, resources
from app.components.consensus import refresh_once
from app.components.label_form import slot_editor
from app.components.task_picker import task_picker
from app.components.untrusted import as_markdown, show_prompt
from app.errors import SERVICE_ERRORS, describe
from labeling.project.authz import Capability, may
from labeling.project.tasks import TaskInfo, task_info
from labeling.review import adjudication
from labeling.review.label_issues import Suspect, find_suspects, send_back

_SUSPECTS = "label_issue_suspects"


def _case(task: TaskInfo, case: adjudication.Case, user: auth.SignedIn) -> None:
    with st.container(border=True):
        st.caption(f"Item #{case.item_id} · consensus "
                   f"{as_markdown(case.consensus) if case.consensus else 'tie'} · confidence "
                   f"{case.confidence or 0:.0%}"
                   + (f" · agreement {case.agreement:.0%}" if case.agreement is not None else ""))
        show_prompt(case.text)
    st.dataframe(pd.DataFrame([{
        "rater": lab.rater, "label": lab.value, "slots": lab.slots or "", "unsure": lab.unsure,
        "submitted": lab.submitted_at} for lab in case.labels]),
        hide_index=True, width="stretch", key=f"case_labels_{case.item_id}")
    options = list(task.labels)
    # No preselection on a tie: the reviewer chooses rather than confirming an arbitrary side.
    default = options.index(case.consensus) if case.consensus in options else None
    value = st.radio("Final label", options, index=default, horizontal=True,
                     key=f"decide_value_{case.item_id}",
                     format_func=lambda label: as_markdown(label, one_line=True))
    slots = slot_editor(task.slot_schema, key=f"decide_{case.item_id}") if (
        task.kind == "intent" and task.slot_schema) else {}
    note = st.text_input("Note (why)", key=f"decide_note_{case.item_id}",
                         placeholder="e.g. guideline: workout wins over mood")
    if st.button("Decide", type="primary", key="decide", icon=":material/gavel:"):
        if value is None:
            st.warning("Choose the final label first.")
            return
        try:
            adjudication.decide(engine=resources.engine(), actor=user, task_name=task.name,
                                item_id=case.item_id, value=value, slots=slots, note=note)
        except SERVICE_ERRORS as exc:
            st.error(describe(exc))
            return
        st.session_state["adjudication_note"] = (f"Item #{case.item_id} settled as "
                                                 f"{as_markdown(value)}.")
        st.rerun()


def _disagreements(task_name: str, user: auth.SignedIn) -> None:
    try:
        refresh_once(task_name, actor=user)
        if st.button("Recompute consensus", key="recompute", icon=":material/refresh:"):
            summary = refresh_once(task_name, actor=user, force=True)
            st.session_state["adjudication_note"] = (
                f"{summary.settled} settled, {summary.needs_adjudication} to adjudicate, "
                f"{summary.pending} waiting for raters ({summary.method}).")
        cases = adjudication.cases(engine=resources.engine(), actor=user, task_name=task_name)
    except SERVICE_ERRORS as exc:
        st.error(describe(exc))
        return
    note = st.session_state.pop("adjudication_note", None)
    if note:
        st.success(note)
    if not cases:
        st.info("Nothing to adjudicate: every complete item is settled, or waits for another "
                "reviewer because you labeled it.")
        return
    names = ("under their names" if may(user.role, Capability.view_quality)
             else "as rater 1, rater 2… (leads see their names)")
    st.caption(f"{len(cases)} item(s) waiting, least confident first. Raters' labels are shown "
               f"{names}; items you labeled are left to another reviewer.")
    _case(task_info(engine=resources.engine(), actor=user, name=task_name), cases[0], user)


def _label_errors(task_name: str, user: auth.SignedIn) -> None:
    st.caption("cleanlab looks for settled labels that the model, trained without them "
               "(cross-validation), finds implausible. Sent back items get one more rater.")
    if st.button("Find likely label errors", key="find_issues"):
        with st.spinner("Cross-validating the classifier…"):
            try:
                suspects = find_suspects(engine=resources.engine(), actor=user,
                                         task_name=task_name, encoder=resources.encoder())
            except SERVICE_ERRORS as exc:
                st.error(describe(exc))
                return
        st.session_state[_SUSPECTS] = {"task": task_name,
                                       "ids": [s.item_id for s in suspects],
                                       "rows": [s.__dict__ for s in suspects]}
    found = st.session_state.get(_SUSPECTS)
    if not found or found["task"] != task_name:
        return
    if not found["rows"]:
        st.success("No likely label errors found.")
        return
    frame = pd.DataFrame(found["rows"])
    st.dataframe(frame, hide_index=True, width="stretch", key="suspects_table")
    if st.button(f"Send {len(frame)} back for relabeling", key="send_back"):
        try:
            count = send_back(engine=resources.engine(), actor=user, task_name=task_name,
                              suspects=[Suspect(**row) for row in found["rows"]])
        except SERVICE_ERRORS as exc:
            st.error(describe(exc))
            return
        del st.session_state[_SUSPECTS]
        st.success(f"{count} item(s) are back in the queue, marked for relabeling.")


def render() -> None:
    user = auth.require(Capability.adjudicate)
    st.title("Adjudicate")
    task_name = task_picker(key="adjudicate_task", user=user)
    if task_name is None:
        return
    if may(user.role, Capability.view_quality):  # leads: label errors too
        disagreements, errors = st.tabs(["Disagreements", "Label errors"])
        with disagreements:
            _disagreements(task_name, user)
        with errors:
            _label_errors(task_name, user)
    else:
        _disagreements(task_name, user)


render()
