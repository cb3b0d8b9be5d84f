"""Safety rules (reviewers and leads): the block and allow lists, a try-it box, and (leads) the
policy thresholds of each safety task. Every change is a new version and an audit event."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, resources
from app.components.safety_view import marked_text
from app.components.untrusted import as_markdown, show_prompt
from app.errors import SERVICE_ERRORS, describe
from labeling.project.authz import Capability
from labeling.project.tasks import list_tasks
from safety import policy as policy_service
from safety import rules as rule_service
from safety.taxonomy import SAFE_LABEL, category_names, get_category

NOTICE = "rules_notice"
UNSAFE = [c for c in category_names() if c != SAFE_LABEL]


def _done(message: str) -> None:
    st.session_state[NOTICE] = message
    st.rerun()


def _lists(rule_set: rule_service.RuleSet) -> None:
    frame = pd.DataFrame([{"id": r.id, "list": r.kind, "category": r.category or "—",
                           "phrase": r.phrase} for r in rule_set.rules])
    shown = st.segmented_control("Show", ["block", "allow"], default="block",
                                 key="rules_show") or "block"
    st.dataframe(frame[frame["list"] == shown], hide_index=True, width="stretch",
                 key="rules_table")


def _add(user: auth.SignedIn) -> None:
    with st.form("rules_add", clear_on_submit=True):
        st.markdown("**Add a phrase**")
        left, middle, right = st.columns([3, 1, 2])
        phrase = left.text_input("Phrase", key="rule_phrase",
                                 placeholder="whole words; end a word with * for any ending")
        kind = middle.selectbox("List", list(rule_service.KINDS), key="rule_kind")
        category = right.selectbox("Category (block list)", UNSAFE, key="rule_category",
                                   format_func=lambda c: get_category(c).title)
        added = st.form_submit_button("Add", key="rule_add", type="primary")
    if not added:
        return
    try:
        version, rule = rule_service.add_rule(engine=resources.engine(), kind=kind,
                                              phrase=phrase, actor=user,
                                              category=category if kind == "block" else None)
    except SERVICE_ERRORS as exc:
        st.error(describe(exc))
        return
    _done(f"Added {rule.id} to the {kind} list: list version {version}.")


def _remove(rule_set: rule_service.RuleSet, user: auth.SignedIn) -> None:
    ids = [r.id for r in rule_set.rules]
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Remove a rule", ids, index=None, key="rule_remove_id",
                            placeholder="rule id",
                            format_func=lambda i: next(f"{r.id} · {r.kind} · {r.phrase}"
                                                       for r in rule_set.rules if r.id == i))
    if right.button("Remove", key="rule_remove", disabled=chosen is None):
        try:
            version = rule_service.remove_rule(engine=resources.engine(), rule_id=chosen,
                                               actor=user)
        except SERVICE_ERRORS as exc:
            st.error(describe(exc))
            return
        _done(f"Removed {chosen}: list version {version}.")


def _try(rule_set: rule_service.RuleSet) -> None:
    text = st.text_input("Try a prompt against the lists", key="rules_try",
                         placeholder="e.g. k i l l   m y s e l f, or kill a python process")
    if not text:
        return
    check = rule_set.check(text)
    show_prompt(text, size=1.1, marked=marked_text(text, [h.as_dict() for h in check.blocks]))
    if check.blocks:
        for hit in check.blocks:
            st.caption(f":material/block: {hit.rule_id} {as_markdown(repr(hit.phrase))} "
                       f"({hit.category}) matched {as_markdown(repr(hit.text))} at "
                       f"{hit.start}-{hit.end}")
    else:
        st.caption(":material/check: No block rule matches.")
    for hit in check.suppressed:
        st.caption(f":material/shield: {hit.rule_id} {as_markdown(repr(hit.phrase))} is inside "
                   "an allowed phrase: " + ", ".join(f"{a.rule_id} {as_markdown(repr(a.phrase))}"
                                                    for a in check.allows))


def _policy(user: auth.SignedIn) -> None:
    tasks = [t.name for t in list_tasks(engine=resources.engine(), actor=user,
                                        kinds=("safety",))]
    if not tasks:
        st.caption("No safety task yet: `workbench task create NAME --kind safety …`.")
        return
    task = st.selectbox("Safety task", tasks, key="policy_task")
    try:
        version, settings = policy_service.policy_settings(engine=resources.engine(),
                                                           actor=user, task_name=task)
    except SERVICE_ERRORS as exc:
        st.error(describe(exc))
        return
    st.caption(f"Policy version {version}. Block at or above the block threshold; allow now "
               "and send to triage at or above the review threshold.")
    with st.form(f"policy_{task}"):
        left, right = st.columns(2)
        block = left.slider("Block threshold, P(unsafe)", 0.0, 1.0, float(settings["block"]),
                            0.01, key="policy_block")
        review = right.slider("Review threshold, P(unsafe)", 0.0, 1.0,
                              float(settings["review"]), 0.01, key="policy_review")
        saved = st.form_submit_button("Save as a new policy version", key="policy_save")
    if saved:
        try:
            new = policy_service.set_policy(engine=resources.engine(), task_name=task,
                                            actor=user, block=block, review=review)
        except SERVICE_ERRORS as exc:
            st.error(describe(exc))
            return
        _done(f"Policy version {new} saved for {task}.")


def render() -> None:
    user = auth.require(Capability.edit_safety)
    st.title("Safety rules")
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.success(notice, icon=":material/check_circle:")
    try:
        rule_set = rule_service.current_rules(engine=resources.engine(), actor=user)
    except SERVICE_ERRORS as exc:
        st.error(describe(exc))
        return
    st.caption(f"Rule list version {rule_set.version}: {len(rule_set.rules)} phrases, matched "
               "on whole words after normalisation (homoglyphs, leetspeak, repeated and "
               "spaced-out letters).")
    _lists(rule_set)
    _add(user)
    _remove(rule_set, user)
    st.divider()
    _try(rule_set)
    if user.role == "lead":
        st.divider()
        st.subheader("Policy thresholds")
        _policy(user)


render()
