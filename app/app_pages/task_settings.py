"""Task settings (leads): queue settings, guideline versions, gold items, retraining."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, resources
from app.components.task_picker import task_picker
from app.components.untrusted import as_markdown
from app.errors import SERVICE_ERRORS, describe
from labeling.lifecycle.registry import serving_version
from labeling.lifecycle.training import retrain
from labeling.metrics.aggregation import AGGREGATORS
from labeling.ml.strategies import STRATEGIES
from labeling.project import gold as gold_service
from labeling.project import tasks as task_service
from labeling.project.authz import Capability
from labeling.project.tasks import TaskInfo


def _settings_form(task: TaskInfo, user: auth.SignedIn) -> None:
    with st.form(f"settings_{task.name}"):
        st.subheader("Queue")
        left, right = st.columns(2)
        overlap_k = left.number_input("Raters per item (k)", 1, 20, task.overlap_k,
                                      key="set_overlap_k")
        gold_share = left.slider("Share of gold items", 0.0, 0.5, float(task.gold_share), 0.01,
                                 key="set_gold_share")
        lease_minutes = left.number_input("Lease (minutes)", 1, 10080,
                                          max(1, task.lease_seconds // 60), key="set_lease")
        names = list(STRATEGIES)
        strategy = right.selectbox("Query strategy", names, index=names.index(task.strategy),
                                   key="set_strategy")
        batch_size = right.number_input("Batch size", 1, 1000, task.batch_size,
                                        key="set_batch_size")
        st.subheader("Consensus")
        third, fourth, fifth = st.columns(3)
        methods = list(AGGREGATORS)
        aggregation = third.selectbox("Aggregation", methods,
                                      index=methods.index(task.aggregation),
                                      key="set_aggregation")
        agreement = fourth.slider("Agreement threshold", 0.0, 1.0,
                                  float(task.agreement_threshold), 0.05, key="set_agreement",
                                  help="Items below it go to adjudication.")
        confidence = fifth.slider("Confidence threshold", 0.0, 1.0,
                                  float(task.confidence_threshold), 0.05, key="set_confidence",
                                  help="Items whose consensus is less sure go to adjudication.")
        st.subheader("Raters on gold")
        gold_left, gold_right = st.columns(2)
        gold_accuracy = gold_left.slider(
            "Gold accuracy threshold", 0.0, 1.0, float(task.gold_accuracy_threshold), 0.05,
            key="set_gold_accuracy",
            help="A rater judged on gold is flagged on the Label quality page when their "
                 "accuracy on gold items is below it.")
        min_gold = gold_right.number_input(
            "Gold answers before judging", 1, 10_000, task.min_gold_answers,
            key="set_min_gold",
            help="A rater is judged on gold only after this many answers on gold items "
                 "(unsure ones do not count); until then gold does not flag them.")
        suggestions = right.toggle("Show raters the model's suggestion",
                                   value=task.show_suggestions, key="set_suggestions",
                                   help="Off by default: suggestions anchor raters' answers.")
        collect = right.toggle("Collect preview prompts", value=task.collect_preview_prompts,
                               key="set_collect_preview",
                               help="Prompts typed in the Preview join this task's labeling "
                                    "pool (PII redacted, users pseudonymised).")
        st.subheader("Training")
        self_training = st.toggle(
            "Self-training", value=task.self_training, key="set_self_training",
            help="Retraining also learns from unlabeled items: the model's own confident "
                 "predictions on them join training as pseudo-labels at half weight. Not used "
                 "by an intent task with an out-of-scope label.")
        if task.kind == "intent" and task.oos_label:
            st.caption(f"This task has an out-of-scope label ({task.oos_label}): it trains on "
                       "the raters' labels alone, whether or not self-training is on.")
        saved = st.form_submit_button("Save settings", type="primary", key="save_settings")
    if not saved:
        return
    changes = {"overlap_k": overlap_k, "gold_share": gold_share,
               "lease_seconds": int(lease_minutes) * 60, "strategy": strategy,
               "batch_size": batch_size, "show_suggestions": suggestions,
               "aggregation": aggregation, "agreement_threshold": agreement,
               "confidence_threshold": confidence, "collect_preview_prompts": collect,
               "gold_accuracy_threshold": gold_accuracy, "min_gold_answers": min_gold,
               "self_training": self_training}
    try:
        task_service.update_settings(engine=resources.engine(), task_name=task.name,
                                     changes=changes, actor=user)
    except (*SERVICE_ERRORS, ValueError) as exc:
        st.error(describe(exc))
    else:
        st.success("Settings saved.")


def _guideline(task_name: str, user: auth.SignedIn) -> None:
    st.subheader("Guideline")
    versions = task_service.guideline_versions(engine=resources.engine(), actor=user,
                                               task_name=task_name)
    current = versions[0] if versions else None
    st.caption(f"Version {current.version if current else '—'}; labels keep the version "
               "they were made under.")
    text = st.text_area("Guideline (Markdown)", value=current.text if current else "",
                        height=260, key=f"guideline_{task_name}")
    if st.button("Save as a new version", key="save_guideline"):
        try:
            version = task_service.save_guideline(
                engine=resources.engine(), task_name=task_name, text=text, actor=user)
        except SERVICE_ERRORS as exc:
            st.error(describe(exc))
        else:
            st.success(f"Saved as version {version}.")
    if len(versions) > 1:
        with st.expander(f"Earlier versions ({len(versions) - 1})"):
            for older in versions[1:]:
                st.markdown(f"**Version {older.version}** · {older.created_at:%Y-%m-%d %H:%M}")
                st.code(older.text[:2000], language="markdown")


def _gold(task: TaskInfo, user: auth.SignedIn) -> None:
    st.subheader("Gold items")
    st.caption("Items with a known answer, shown to raters unannounced and scored; "
               "never used for training. Import many with `workbench import --gold`.")
    task_name, engine = task.name, resources.engine()
    gold = gold_service.gold_items(engine=engine, actor=user, task_name=task_name)
    if gold:
        st.dataframe(pd.DataFrame([(g.item_id, g.text, g.gold_label) for g in gold],
                                  columns=["item", "prompt", "answer"]),
                     hide_index=True, width="stretch", key="gold_table")
    query = st.text_input("Find an item to mark as gold", key="gold_search",
                          placeholder="words from the prompt")
    matches = [(m.item_id, m.text) for m in
               gold_service.find_items(engine=engine, actor=user, task_name=task_name,
                                       words=query)]
    if not matches:
        if query:
            st.caption("No item matches.")
        return
    choice = st.selectbox("Item", matches, format_func=lambda m: f"#{m[0]} · {m[1][:90]}",
                          key="gold_item")
    answer = st.selectbox("Known answer", ["(not gold)", *task.labels], key="gold_answer")
    if st.button("Save gold answer", key="save_gold"):
        try:
            gold_service.mark_gold(
                engine=engine, task_name=task_name, item_id=choice[0],
                answer=None if answer == "(not gold)" else answer, actor=user)
        except SERVICE_ERRORS as exc:
            st.error(describe(exc))
        else:
            st.success(f"Item #{choice[0]}: {as_markdown(answer)}.")


def _retrain(task_name: str, user: auth.SignedIn) -> None:
    st.subheader("Model")
    serving = serving_version(engine=resources.engine(), actor=user, task_name=task_name)
    st.caption(f"Serving: v{serving.version} (trained {serving.trained_at:%Y-%m-%d %H:%M}, "
               f"{serving.metrics.get('n_train', '?')} labels)" if serving else
               "No model yet: the queue starts with a diverse k-means seed set.")
    if st.button("Retrain now", key="retrain", icon=":material/model_training:"):
        with st.spinner("Training on the settled labels…"):
            try:
                result = retrain(engine=resources.engine(), task_name=task_name,
                                 encoder=resources.encoder(),
                                 models_dir=resources.settings().models_dir, actor=user)
            except SERVICE_ERRORS as exc:
                st.error(describe(exc))
                return
        st.success(f"Model v{result.version} trained on {result.n_train} labels in "
                   f"{result.seconds:.1f} s; " + ("the queue now selects with it." if
                                                  result.serving else
                                                  "it serves once a lead promotes it."))


def render() -> None:
    user = auth.require(Capability.manage_tasks)
    st.title("Task settings")
    task_name = task_picker(key="settings_task", user=user)
    if task_name is None:
        return
    try:
        task = task_service.task_info(engine=resources.engine(), actor=user, name=task_name)
    except SERVICE_ERRORS as exc:
        st.error(describe(exc))
        return
    settings_tab, guideline_tab, gold_tab, model_tab = st.tabs(
        ["Queue", "Guideline", "Gold items", "Model"])
    with settings_tab:
        _settings_form(task, user)
    with guideline_tab:
        _guideline(task_name, user)
    with gold_tab:
        _gold(task, user)
    with model_tab:
        _retrain(task_name, user)


render()
