"""Triage (safety reviewers and leads): decide flagged prompts, most severe first, by keyboard.

One flag at a time: the redacted text with the rule spans marked, why it was flagged, the
model's category scores and earlier decisions on the same text. A allows, B blocks with the
chosen category, E escalates to a lead. Leads also see escalated flags.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from app import auth, resources
from app.components.safety_view import category_scores_chart, marked_text
from app.components.untrusted import as_markdown, show_prompt
from app.errors import SERVICE_ERRORS, describe
from labeling.project.authz import Capability
from labeling.project.tasks import list_tasks
from safety import triage
from safety.taxonomy import SAFE_LABEL, category_names, get_category

NOTICE = "triage_notice"
ALLOW_KEY, BLOCK_KEY, ESCALATE_KEY = "A", "B", "E"
UNSAFE = [c for c in category_names() if c != SAFE_LABEL]


def _age(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    minutes = int((datetime.now(UTC) - moment).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} d"


def _filters(user: auth.SignedIn) -> tuple[tuple[str, ...], list[str], list[str]]:
    left, middle, right = st.columns(3)
    statuses = ["open", "escalated"] if user.role == "lead" else ["open"]
    status = left.multiselect("Status", list(triage.STATUSES), default=statuses,
                              key="triage_status")
    categories = middle.multiselect("Category", UNSAFE, key="triage_categories",
                                    format_func=lambda c: get_category(c).title)
    origins = right.multiselect("Origin", list(triage.ORIGINS), key="triage_origins")
    return tuple(status or statuses), categories, origins


def _metrics(queue: triage.Queue) -> None:
    columns = st.columns(4)
    columns[0].metric("Open", queue.counts["open"])
    columns[1].metric("Escalated", queue.counts["escalated"],
                      help="Waiting for a lead's decision.")
    columns[2].metric("Decided", queue.counts["decided"])
    columns[3].metric("Oldest waiting", _age(queue.oldest_waiting),
                      help="Age of the oldest open or escalated flag.")


def _card(flag: triage.FlagView) -> None:
    with st.container(border=True, key="triage_card"):
        category = get_category(flag.category).title if flag.category in UNSAFE else "—"
        st.caption(f"Flag #{flag.id} · {flag.origin} · verdict {flag.verdict or '—'} · "
                   f"{category} · raised {_age(flag.created_at)} ago · {flag.status}")
        show_prompt(flag.text, size=1.4, marked=marked_text(flag.text, flag.rule_hits))
        if flag.pii_types:
            st.caption("Redacted before storage: " + ", ".join(flag.pii_types))
    for reason in flag.reasons:
        st.caption(f":material/flag: {as_markdown(reason)}")


def _context(flag: triage.FlagView, user: auth.SignedIn) -> None:
    left, right = st.columns([3, 2])
    with left:
        chart = category_scores_chart(flag.scores, highlight=flag.category)
        if chart is None:
            st.caption("No model scores (no safety model served, or a rule decided).")
        else:
            st.altair_chart(chart, width="stretch")
    with right:
        st.markdown("**Earlier decisions on this text**")
        try:
            earlier = triage.earlier_decisions(engine=resources.engine(), actor=user,
                                               text_hash_=flag.text_hash) \
                if flag.text_hash else []
        except SERVICE_ERRORS as exc:
            st.error(f"Could not load earlier decisions: {describe(exc)}.")
            return
        if not earlier:
            st.caption("None yet.")
        for d in earlier:
            st.caption(f"#{d.flag_id}: **{d.decision}**{' · ' + d.category if d.category else ''}"
                       f" by {as_markdown(d.reviewer)}, {d.decided_at:%Y-%m-%d %H:%M}"
                       + (f" — {as_markdown(d.note)}" if d.note else ""))


def _decide(flag: triage.FlagView, user: auth.SignedIn) -> None:
    key = f"triage_{flag.id}"
    default = UNSAFE.index(flag.category) if flag.category in UNSAFE else 0
    category = st.selectbox("Category if blocked", UNSAFE, index=default, key=f"{key}_category",
                            format_func=lambda c: get_category(c).title)
    note = st.text_input("Note", key=f"{key}_note", placeholder="why (optional)")
    row = st.container(horizontal=True, gap="small")
    choice = None
    if row.button("Allow", key=f"{key}_allow", shortcut=ALLOW_KEY, icon=":material/check:"):
        choice = "allow"
    if row.button("Block", key=f"{key}_block", shortcut=BLOCK_KEY, type="primary",
                  icon=":material/block:"):
        choice = "block"
    if flag.status != "escalated" and row.button(
            "Escalate to a lead", key=f"{key}_escalate", shortcut=ESCALATE_KEY,
            icon=":material/arrow_upward:"):
        choice = "escalate"
    st.caption(f":material/keyboard: **{ALLOW_KEY}** allow · **{BLOCK_KEY}** block with the "
               f"category above · **{ESCALATE_KEY}** escalate. Keys do nothing while a text "
               "field has focus.")
    if choice is None:
        return
    try:
        triage.decide(engine=resources.engine(), actor=user, flag_id=flag.id,
                      decision=choice, category=category if choice == "block" else None,
                      note=note)
    except SERVICE_ERRORS as exc:
        st.error(f"Not saved: {describe(exc)}.")
        return
    done = {"allow": "allowed", "block": f"blocked as {category}",
            "escalate": "escalated to a lead"}[choice]
    st.session_state[NOTICE] = f"Flag #{flag.id} {done}."
    st.rerun()


def _list(queue: triage.Queue, shown: int) -> None:
    rest = queue.flags[shown + 1:]
    if not rest:
        return
    with st.expander(f"Next in the queue ({len(rest)})"):
        st.dataframe(pd.DataFrame([{
            "flag": f.id, "category": f.category or "—", "origin": f.origin,
            "uncertainty": f.uncertainty, "raised": f.created_at, "text": f.text[:120],
        } for f in rest]), hide_index=True, width="stretch", key="triage_next")


def render() -> None:
    user = auth.require(Capability.triage)
    st.title("Triage")
    safety_tasks = [t.name for t in list_tasks(engine=resources.engine(), actor=user,
                                               kinds=("safety",))]
    task = st.selectbox("Safety task", safety_tasks, key="triage_task") if len(
        safety_tasks) > 1 else (safety_tasks[0] if safety_tasks else None)
    statuses, categories, origins = _filters(user)
    try:
        queue = triage.triage_queue(engine=resources.engine(), actor=user, task_name=task,
                                    statuses=statuses, categories=categories, origins=origins)
    except SERVICE_ERRORS as exc:
        st.error(f"Could not load the queue: {describe(exc)}.")
        return
    _metrics(queue)
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.success(notice, icon=":material/check_circle:")
    if not queue.flags:
        st.info("Nothing to triage with these filters.", icon=":material/task_alt:")
        return
    flag = queue.flags[0]
    _card(flag)
    _decide(flag, user)
    _context(flag, user)
    _list(queue, 0)


render()
