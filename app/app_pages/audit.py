"""Audit trail (leads and admins): every change, newest first, searched by time window, actor,
action prefix, entity and text in the before/after values; the rows found export as CSV (the
export is audited too). The rows cannot be changed: the database refuses it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import streamlit as st

from app import auth, resources
from app.components.untrusted import as_markdown
from app.errors import SERVICE_ERRORS, describe
from labeling.project import audit_log
from labeling.project.audit_log import AuditFilter, AuditPage
from labeling.project.authz import Capability

PAGE_SIZE = 100
COLUMNS = ["time", "actor_name", "action", "entity", "entity_id", "before", "after", "actor",
           "id"]
EXPORT = "audit_export"
PAGE_KEY = "audit_page"
ANY = "(any)"


def _rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")


def _day(moment: date, *, end: bool = False) -> datetime:
    start = datetime.combine(moment, time.min, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def _filters(actors: list[str], entities: list[str]) -> AuditFilter:
    left, middle, right = st.columns(3)
    with left:
        window = st.date_input("Days (UTC)", value=(), key="audit_days",
                               help="One day, or a first and a last day; empty for all time.")
        actor = st.selectbox("Actor", [ANY, *actors], key="audit_actor")
    with middle:
        action = st.text_input("Action starts with", key="audit_action",
                               placeholder="account.")
        entity = st.selectbox("Entity", [ANY, *entities], key="audit_entity")
    with right:
        text = st.text_input("Text in before/after", key="audit_text")
    days = list(window) if isinstance(window, tuple | list) else [window]
    return AuditFilter(
        since=_day(days[0]) if days else None,
        until=_day(days[-1], end=True) if days else None,
        actor="" if actor == ANY else actor, action=action,
        entity="" if entity == ANY else entity, text=text)


def _table(page: AuditPage) -> None:
    frame = pd.DataFrame([asdict(e) for e in page.entries], columns=COLUMNS)
    frame["time"] = [f"{e.time:%Y-%m-%d %H:%M:%S} UTC" for e in page.entries]
    st.dataframe(frame, hide_index=True, width="stretch", key="audit_table")


def _search(user: auth.SignedIn, flt: AuditFilter) -> AuditPage:
    """The page of rows picked (the first again when the filters leave fewer pages)."""
    engine = resources.engine()
    offset = (int(st.session_state.get(PAGE_KEY, 1)) - 1) * PAGE_SIZE
    page = audit_log.search(engine=engine, actor=user, flt=flt, limit=PAGE_SIZE, offset=offset)
    if offset and offset >= page.total:
        st.session_state[PAGE_KEY] = 1
        page = audit_log.search(engine=engine, actor=user, flt=flt, limit=PAGE_SIZE)
    return page


def _pager(total: int) -> None:
    count = max(1, -(-total // PAGE_SIZE))
    if count > 1:
        st.number_input(f"Page (of {count}, {PAGE_SIZE} rows each)", min_value=1,
                        max_value=count, step=1, key=PAGE_KEY)


def _export(user: auth.SignedIn, flt: AuditFilter) -> None:
    prepared = st.session_state.get(EXPORT)
    if prepared is not None and prepared[0] != flt:  # the filters changed since
        del st.session_state[EXPORT]
        prepared = None
    if prepared is None:
        if st.button("Prepare CSV of these rows", key="audit_prepare_csv",
                     icon=":material/table_view:"):
            try:
                text, rows, total = audit_log.export_csv(
                    engine=resources.engine(), actor=user, flt=flt)
            except SERVICE_ERRORS as exc:
                st.error(f"Could not export: {describe(exc)}.", icon=":material/error:")
                return
            st.session_state[EXPORT] = (flt, text, rows, total)
            st.rerun()
        return
    _, text, rows, total = prepared
    capped = f" (the newest of {total:,})" if rows < total else ""
    st.download_button(f"Download CSV: {_rows(rows)}{capped}", data=text.encode("utf-8"),
                       file_name="audit.csv", mime="text/csv", key="audit_download_csv",
                       on_click="ignore", icon=":material/download:")


def render() -> None:
    user = auth.require(Capability.read_audit)
    st.title("Audit trail")
    st.caption("Every change, newest first. Rows are append-only: the database refuses to "
               "change or delete them.")
    engine = resources.engine()
    try:
        actors, entities = audit_log.filter_choices(engine=engine, actor=user)
    except SERVICE_ERRORS as exc:
        st.error(f"Could not load the audit trail: {describe(exc)}. Reload the page.")
        return
    flt = _filters(actors, entities)
    try:
        page = _search(user, flt)
    except SERVICE_ERRORS as exc:
        message = describe(exc)
        st.error(message[:1].upper() + message[1:] + "; nothing was searched.",
                 icon=":material/error:")
        return
    shown = (f"{page.offset + 1:,}–{page.offset + len(page.entries):,}" if page.entries
             else "none")
    st.caption(f"{_rows(page.total)} match · showing {shown}"
               + (f" · actor {as_markdown(flt.actor)}" if flt.actor else ""))
    _table(page)
    _pager(page.total)
    _export(user, flt)


render()
