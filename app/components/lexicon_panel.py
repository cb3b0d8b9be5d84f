"""The slot lexicon on the Models page: its precision and recall per slot against the slots
raters labeled, and (for leads) adding and removing phrases, each change a new version."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app import resources
from app.auth import SignedIn
from app.components.untrusted import as_markdown
from app.errors import SERVICE_ERRORS, describe
from labeling.project.authz import Capability, may
from routing.lexicon import add_phrase, current_lexicon, measure_lexicon, remove_phrase

NOTICE = "lexicon_notice"


def slot_quality_chart(rows: list[dict]) -> alt.Chart | None:
    """Grouped bars: precision and recall per slot."""
    data = [{"slot": r["slot"], "measure": m, "value": r[m]} for r in rows
            for m in ("precision", "recall") if r[m] is not None]
    if not data:
        return None
    return (alt.Chart(pd.DataFrame(data)).mark_bar()
            .encode(y=alt.Y("slot:N", title=None), x=alt.X("value:Q", title=None,
                                                           scale=alt.Scale(domain=[0, 1])),
                    yOffset="measure:N", color=alt.Color("measure:N", title=None),
                    tooltip=["slot:N", "measure:N", alt.Tooltip("value:Q", format=".2f")])
            .properties(height=34 * len(rows)))


def lexicon_panel(task_name: str, user: SignedIn) -> None:
    st.subheader("Slot lexicon")
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.success(notice)
    try:
        quality = measure_lexicon(engine=resources.engine(), actor=user, task_name=task_name)
    except SERVICE_ERRORS as exc:
        st.error(f"Could not measure the lexicon: {describe(exc)}.")
        return
    st.caption(f"Lexicon version {quality.lexicon_version}, measured on {quality.n_labels} "
               "rater labels of this task: precision over the slots the lexicon filled, recall "
               "over the slots raters filled.")
    if quality.rows:
        left, right = st.columns([3, 2])
        left.dataframe(pd.DataFrame(quality.rows), hide_index=True, width="stretch",
                       column_config={m: st.column_config.NumberColumn(format="%.2f")
                                      for m in ("precision", "recall", "f1")})
        chart = slot_quality_chart(quality.rows)
        if chart is not None:
            right.altair_chart(chart, width="stretch")
    else:
        st.info("No rater has labeled slots in this task yet.")
    if may(user.role, Capability.edit_lexicon):
        _editor(user)


def _editor(user: SignedIn) -> None:
    try:
        lexicon = current_lexicon(engine=resources.engine(), actor=user)
    except SERVICE_ERRORS as exc:
        st.error(f"Could not read the lexicon: {describe(exc)}.")
        return
    entries = pd.DataFrame(lexicon.entries)
    slots = sorted(entries["slot"].unique()) if not entries.empty else []
    with st.expander(f"Edit the lexicon ({len(entries)} phrases)"):
        with st.form("lexicon_add", border=False):
            cols = st.columns([2, 2, 3, 1], vertical_alignment="bottom")
            slot = cols[0].selectbox("Slot", slots, key="lexicon_slot")
            value = cols[1].text_input("Value", key="lexicon_value", placeholder="calm")
            phrase = cols[2].text_input("Phrase", key="lexicon_phrase",
                                        placeholder="lofi beats")
            added = cols[3].form_submit_button("Add", type="primary")
        if added:
            try:
                version, entry = add_phrase(engine=resources.engine(), slot=slot, value=value,
                                            phrase=phrase, actor=user)
            except SERVICE_ERRORS as exc:
                st.error(f"Not added: {describe(exc)}.")
            else:
                st.session_state[NOTICE] = (
                    f"Added {entry}: {as_markdown(repr(phrase))} -> "
                    f"{slot}={as_markdown(value)} (lexicon version {version}).")
                st.rerun()
        shown = entries[entries["slot"] == slot] if slot else entries
        st.dataframe(shown, hide_index=True, width="stretch", height=240)
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        entry_id = left.selectbox("Remove a phrase", shown["id"].tolist() if len(shown) else [],
                                  key="lexicon_remove_id", format_func=lambda i: _label(
                                      entries, i))
        if right.button("Remove", key="lexicon_remove") and entry_id:
            try:
                version = remove_phrase(engine=resources.engine(), entry_id=entry_id,
                                        actor=user)
            except SERVICE_ERRORS as exc:
                st.error(f"Not removed: {describe(exc)}.")
            else:
                st.session_state[NOTICE] = f"Removed {entry_id} (lexicon version {version})."
                st.rerun()


def _label(entries: pd.DataFrame, entry_id: str) -> str:
    row = entries[entries["id"] == entry_id].iloc[0]
    return f"{entry_id}: {row['phrase']} -> {row['slot']}={row['value']}"
