"""Models (leads, admins): the versions of a task's classifier, their evaluation, and training,
promotion and rollback; for intent tasks, the slot lexicon's precision and recall per slot (and,
for leads, its editor)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from app import auth, resources
from app.components.lexicon_panel import lexicon_panel
from app.components.model_charts import (
    confusion_heatmap,
    oos_tradeoff_chart,
    per_class_f1_bars,
    reliability_diagram,
)
from app.components.task_picker import task_picker
from app.components.untrusted import as_markdown
from app.errors import SERVICE_ERRORS, describe
from labeling.exceptions import LabelingError
from labeling.lifecycle import registry
from labeling.lifecycle.comparison import MIN_HELD_OUT, Comparison, compare_versions
from labeling.lifecycle.model_files import ModelFileError
from labeling.lifecycle.registry import ModelInfo, PromotionError
from labeling.lifecycle.training import TrainingError, retrain
from labeling.ml.evaluation import figure, operating_point, point_at
from labeling.project.authz import Capability
from labeling.project.tasks import task_info

DASH = "—"
NOTICE = "models_notice"  # the last action's outcome, shown after the rerun it triggers
NOT_EVALUATED = "not evaluated (trained before evaluation was stored)"

NEXT_STEP: dict[type[LabelingError], str] = {
    TrainingError: "Label more items (at least two classes need settled labels), then train "
                   "again.",
    ModelFileError: "The file on disk no longer matches the registry: train a new version, or "
                    "roll back to a version whose file verifies.",
    PromotionError: "Pick another version, or tick “Force” and give a reason.",
}


def _done(message: str) -> None:
    """Rerun, so every widget shows the new state, and say what happened on top."""
    st.session_state[NOTICE] = message
    st.rerun()


def _fail(exc: Exception) -> None:
    hint = next((text for kind, text in NEXT_STEP.items() if isinstance(exc, kind)), "")
    st.error(f"{describe(exc)}. {hint}".strip())


def _fmt(value: float | None, pattern: str = "{:.3f}") -> str:
    return DASH if value is None else pattern.format(value)


# --- the versions table --------------------------------------------------------------------


def _table(versions: Sequence[ModelInfo]) -> pd.DataFrame:
    by_id = {v.id: v.version for v in versions}
    rows = []
    for v in reversed(versions):  # newest first
        m = v.metrics or {}
        rows.append({
            "version": f"v{v.version}",
            "serving": "✓" if v.serving else "",
            "trained at (UTC)": f"{v.trained_at:%Y-%m-%d %H:%M}",
            "trained by": v.trained_by or DASH,
            "n_train": _fmt(figure(m, "n_train"), "{:.0f}"),
            "pseudo-labels": _fmt((v.settings or {}).get("n_pseudo") or None, "{:.0f}"),
            "accuracy": _fmt(figure(m, "accuracy")),
            "macro-F1": _fmt(figure(m, "macro_f1")),
            "ECE": _fmt(figure(m, "ece")),
            "OOS in-scope acc.": _fmt(figure(m, "in_scope_accuracy", within="oos")),
            "OOS recall": _fmt(figure(m, "oos_recall", within="oos")),
            "parent": f"v{by_id[v.parent_id]}" if v.parent_id in by_id else DASH,
        })
    return pd.DataFrame(rows)


def _versions_table(versions: Sequence[ModelInfo]) -> None:
    st.dataframe(_table(versions), hide_index=True, width="stretch", key="models_table")
    if any("macro_f1" not in (v.metrics or {}) for v in versions):
        st.caption(f"{DASH}: not evaluated (the version was trained before evaluation figures "
                   "were stored).")


# --- actions: one service call each ----------------------------------------------------------


def _train(task_name: str, user: auth.SignedIn) -> None:
    if not st.button("Train a new version", key="models_train", type="primary",
                     icon=":material/model_training:"):
        return
    with st.status("Training on the settled labels…", expanded=True) as status:
        st.write("Recomputing consensus, embedding the texts, fitting and evaluating.")
        try:
            result = retrain(engine=resources.engine(), task_name=task_name,
                             encoder=resources.encoder(),
                             models_dir=resources.settings().models_dir, actor=user)
        except SERVICE_ERRORS as exc:
            status.update(label="Training failed", state="error")
            _fail(exc)
            return
        status.update(label=f"Trained v{result.version} in {result.seconds:.1f} s",
                      state="complete", expanded=False)
    metrics = getattr(result, "metrics", None) or {}
    evaluated = (f", macro-F1 {_fmt(figure(metrics, 'macro_f1'))} on {metrics['n_eval']} "
                 "held-out items" if metrics.get("n_eval") else "")
    pseudo = (metrics.get("settings") or {}).get("n_pseudo")
    self_trained = f" and {pseudo} pseudo-labels of unlabeled items" if pseudo else ""
    _done(f"Model v{result.version} trained on {result.n_train} labels{self_trained} "
          f"({len(result.classes)} classes{evaluated}); " +
          ("it serves now: the queue selects with it." if result.serving else
           "it waits for promotion (compare it below, then promote it)."))


def _label(versions: Sequence[ModelInfo]) -> Callable[[int], str]:
    serving = {v.version for v in versions if v.serving}
    return lambda n: f"v{n} (serving)" if n in serving else f"v{n}"


@st.cache_data(ttl=60, show_spinner="Scoring both versions on the current evaluation split…")
def _comparison(task_name: str, candidate: int, baseline: int | None, versions: int,
                database: str, user: auth.SignedIn) -> Comparison:
    """Both versions scored on the same current split (kept a minute per user; ``versions``,
    the number of versions, and ``database`` are only part of the cache key)."""
    del versions, database
    return compare_versions(engine=resources.engine(), actor=user, task_name=task_name,
                            encoder=resources.encoder(), candidate=candidate, baseline=baseline)


def _database() -> str:
    return resources.engine().url.render_as_string(hide_password=True)


def _gate_table(compared: Comparison) -> None:
    if not compared.checks:
        return
    st.table(pd.DataFrame([{"rule": c.rule.replace("_", " "),
                            "verdict": "✓ passes" if c.passed else "✗ blocks",
                            "detail": c.detail} for c in compared.checks]).set_index("rule"))


def _promote(task_name: str, versions: Sequence[ModelInfo], user: auth.SignedIn) -> None:
    numbers = [v.version for v in versions]
    label = _label(versions)
    chosen = st.selectbox("Version to promote", numbers, index=len(numbers) - 1,
                          format_func=label, key="promote_version")
    candidate = next(v for v in versions if v.version == chosen)
    serving = next((v for v in versions if v.serving), None)
    if serving is not None and candidate is not serving:
        try:
            compared = _comparison(task_name, chosen, serving.version, len(versions),
                                   _database(), user)
        except SERVICE_ERRORS as exc:
            _fail(exc)
            return
        st.caption(f"The gate scores v{chosen} and the serving v{serving.version} on the same "
                   f"{compared.n_eval} held-out items.")
        _gate_table(compared)
        if compared.problem:
            blocking = ", ".join(c.rule.replace("_", " ") for c in compared.blocking)
            st.warning(f"The promotion gate would refuse v{chosen} ({blocking}): "
                       f"{compared.problem}.")
    force = st.checkbox("Force past the gate", key="promote_force",
                        help="Audited with your reason and the gate's verdict.")
    reason = st.text_input("Reason (needed when forcing)", key="promote_reason",
                           disabled=not force)
    if not st.button("Promote", key="promote", icon=":material/upgrade:"):
        return
    try:
        served = registry.promote(engine=resources.engine(), task_name=task_name,
                                  version=chosen, actor=user,
                                  encoder=resources.encoder(), force=force,
                                  reason=reason if force else None)
    except SERVICE_ERRORS as exc:
        _fail(exc)
        return
    _comparison.clear()
    _done(f"v{served} serves now.")


def _rollback(task_name: str, versions: Sequence[ModelInfo], user: auth.SignedIn) -> None:
    earlier = [v.version for v in versions[:-1]]
    serving = next((v.version for v in versions if v.serving), None)
    below = [n for n in earlier if serving is None or n < serving]
    if not below:
        st.caption("No version older than the serving one: nothing to roll back to.")
        return
    chosen = st.selectbox("Roll back to", below, index=len(below) - 1,
                          format_func=_label(versions), key="rollback_version")
    if not st.button("Roll back", key="rollback", icon=":material/history:"):
        return
    try:
        served = registry.rollback(engine=resources.engine(), task_name=task_name,
                                   version=chosen, actor=user)
    except SERVICE_ERRORS as exc:
        _fail(exc)
        return
    _done(f"Rolled back: v{served} serves again.")


# --- comparing two versions ----------------------------------------------------------------

COMPARED = (  # (title, key, within, format, lower is better)
    ("accuracy", "accuracy", None, "{:.3f}", False),
    ("macro-F1", "macro_f1", None, "{:.3f}", False),
    ("ECE", "ece", None, "{:.3f}", True),
    ("OOS in-scope acc.", "in_scope_accuracy", "oos", "{:.3f}", False),
    ("OOS recall", "oos_recall", "oos", "{:.3f}", False),
    ("training labels", "n_train", None, "{:.0f}", False),
)


def _metric_row(name: str, metrics: Mapping[str, Any], other: Mapping[str, Any] | None) -> None:
    st.markdown(f"**{name}**")
    for column, (title, key, within, pattern, inverse) in zip(
            st.columns(len(COMPARED)), COMPARED, strict=True):
        value = figure(metrics, key, within=within)
        base = None if other is None else figure(other, key, within=within)
        delta = None if value is None or base is None else value - base
        shown = None if delta is None else pattern.replace("{:", "{:+").format(delta)
        if shown is not None and not float(shown):
            shown = "no change"
        column.metric(title, _fmt(value, pattern), delta=shown,
                      delta_color="off" if shown == "no change" else
                      "inverse" if inverse else "normal",
                      delta_arrow="off" if shown == "no change" else "auto")


def _compare(task_name: str, versions: Sequence[ModelInfo], user: auth.SignedIn) -> ModelInfo:
    numbers = [v.version for v in versions]
    label = _label(versions)
    serving = next((v.version for v in versions if v.serving), numbers[-1])
    other = serving if serving != numbers[-1] or len(numbers) == 1 else numbers[-2]
    left, right = st.columns(2)
    a = left.selectbox("Version", numbers, index=len(numbers) - 1, format_func=label,
                       key="compare_a")
    b = right.selectbox("against", numbers, index=numbers.index(other), format_func=label,
                        key="compare_b")
    first = next(v for v in versions if v.version == a)
    second = next(v for v in versions if v.version == b)
    same = first.version == second.version
    try:
        compared = _comparison(task_name, a, None if same else b, len(versions),
                               _database(), user)
    except SERVICE_ERRORS as exc:
        _fail(exc)
        return first
    if compared.enough:
        ours, theirs = (None if m is None else {**m, "n_train": v.metrics.get("n_train")}
                        for m, v in ((compared.metrics.get(a), first),
                                     (compared.metrics.get(b), second)))
        st.caption(f"Scored now on the current evaluation split: {compared.n_eval} held-out "
                   f"items ({compared.n_gold} gold)" +
                   (f", leaving out {compared.n_excluded} that a version was trained on"
                    if compared.n_excluded else "") + ". The same items for both versions.")
    else:
        ours, theirs = first.metrics, second.metrics
        st.caption(f"Not enough held-out items to compare: {compared.n_eval} (at least "
                   f"{MIN_HELD_OUT} needed). The figures below are each version's own "
                   "evaluation at training time, on different items: they do not say which "
                   "version is better.")
    for note in compared.notes:
        st.caption(note)
    _metric_row(f"v{a}" + ("" if same else f" (change against v{b})"), ours or {},
                None if same else theirs or {})
    if not same:
        _metric_row(f"v{b}", theirs or {}, None)
    st.markdown("**F1 per class**")
    chart = per_class_f1_bars(ours, None if same else theirs, names=(f"v{a}", f"v{b}"))
    if chart is None:
        st.caption(f"Per-class F1: {NOT_EVALUATED}.")
    else:
        st.altair_chart(chart, width="stretch")
    return first


def _evaluation(version: ModelInfo) -> None:
    st.subheader(f"Evaluation of v{version.version} at training time")
    metrics = version.metrics or {}
    n_eval = metrics.get("n_eval")
    st.caption(f"Held-out evaluation on {n_eval} items when v{version.version} was trained." if
               n_eval else f"v{version.version}: {NOT_EVALUATED}.")
    if metrics.get("eval_note"):
        st.caption(str(metrics["eval_note"]))
    left, right = st.columns(2)
    with left:
        st.markdown("**Confusion matrix**")
        heatmap = confusion_heatmap(metrics)
        if heatmap is None:
            st.caption(f"Confusion matrix: {NOT_EVALUATED}.")
        else:
            st.altair_chart(heatmap)
    with right:
        st.markdown("**Reliability diagram**")
        diagram = reliability_diagram(metrics)
        if diagram is None:
            st.caption(f"Reliability diagram: {NOT_EVALUATED}.")
        else:
            st.altair_chart(diagram, width="stretch")
            st.caption("Accuracy against confidence per bin (a point's size is its number "
                       "of items); on the dashed diagonal the model's confidence is its "
                       "accuracy. ECE " +
                       _fmt(figure(metrics, "ece")) + ".")
    oos = metrics.get("oos")
    if oos:
        st.caption(f"Out of scope ({as_markdown(oos.get('label', DASH))}): threshold "
                   f"{_fmt(figure(oos, 'threshold'))} for a target recall of "
                   f"{_fmt(figure(oos, 'target_recall'), '{:.0%}')} at training.")
    counts = metrics.get("class_counts") or {}
    if counts:
        st.caption("Training labels per class: " +
                   ", ".join(f"{as_markdown(label)} {n}" for label, n in counts.items()) + ".")


# --- the out-of-scope operating point -------------------------------------------------------

HELD_OUT_CURVE = "held-out evaluation split"
CV_CURVE = "training rows, cross-validated"


def _oos_operating_point(task_name: str, version: ModelInfo, user: auth.SignedIn) -> None:
    metrics = version.metrics or {}
    held = (metrics.get("oos") or {}).get("curve") or []
    cv = metrics.get("oos_curve_cv") or []
    if not held and not cv:
        return
    st.markdown(f"**Out of scope: the trade-off of v{version.version}**")
    threshold = version.settings.get("oos_threshold")
    in_use = None if threshold is None else point_at(held or cv, float(threshold))
    chart = oos_tradeoff_chart({name: curve for name, curve in ((HELD_OUT_CURVE, held),
                                                                (CV_CURVE, cv)) if curve},
                               in_use)
    st.altair_chart(chart, width="stretch")
    score = ("its in-scope score (the classifier's largest logit plus the similarity to the "
             "nearest labeled prompts)" if version.settings.get("oos_score") == "scope" else
             "its largest probability")
    st.caption(f"Each point is a threshold: a prompt is out of scope when the model predicts "
               f"the out-of-scope label or {score} is below it. Rejecting more raises "
               "out-of-scope recall and costs in-scope accuracy. The ringed point is the "
               "threshold in use. New kinds of out-of-scope prompts are caught less often than "
               "the ones a task was trained with: leave some margin.")
    source = cv or held
    target = st.slider("Out-of-scope recall to aim for", min_value=0.5, max_value=1.0,
                       value=0.9, step=0.01, key=f"oos_target_{version.version}",
                       help=f"On the {CV_CURVE if cv else HELD_OUT_CURVE}.")
    point = operating_point(source, target_recall=target)
    held_point = point_at(held, point["threshold"]) if held else None
    st.caption(
        f"Threshold {point['threshold']:.3f}: out-of-scope recall {point['oos_recall']:.3f} "
        f"and in-scope accuracy {point['in_scope_accuracy']:.3f} on the "
        f"{CV_CURVE if cv else HELD_OUT_CURVE}" +
        (f"; {held_point['oos_recall']:.3f} and {held_point['in_scope_accuracy']:.3f} on the "
         f"{HELD_OUT_CURVE}" if held_point and cv else "") + ".")
    if not st.button("Use this operating point", key="oos_apply", icon=":material/tune:"):
        return
    try:
        registry.set_oos_threshold(engine=resources.engine(), task_name=task_name,
                                   version=version.version, threshold=point["threshold"],
                                   actor=user)
    except SERVICE_ERRORS as exc:
        _fail(exc)
        return
    _comparison.clear()
    _done(f"v{version.version} now rejects below {point['threshold']:.3f} "
          f"(out-of-scope recall {point['oos_recall']:.3f}).")


def render() -> None:
    user = auth.require(Capability.manage_models)
    st.title("Models")
    task_name = task_picker(key="models_task", user=user)
    if task_name is None:
        return
    try:
        versions = registry.list_versions(engine=resources.engine(), actor=user,
                                          task_name=task_name)
    except SERVICE_ERRORS as exc:
        _fail(exc)
        return
    st.subheader("Versions")
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.success(notice)
    _train(task_name, user)
    if not versions:
        st.info(f"Task {task_name!r} has no model yet: once items have settled labels in at "
                "least two classes, press “Train a new version”. The first version serves "
                "at once.")
        _lexicon(task_name, user)
        return
    _versions_table(versions)
    with st.expander("Promote or roll back", expanded=True):
        promote_col, rollback_col = st.columns(2, gap="large")
        with promote_col:
            _promote(task_name, versions, user)
        with rollback_col:
            _rollback(task_name, versions, user)
    st.subheader("Compare two versions")
    chosen = _compare(task_name, versions, user)
    _evaluation(chosen)
    _oos_operating_point(task_name, chosen, user)
    _lexicon(task_name, user)


def _lexicon(task_name: str, user: auth.SignedIn) -> None:
    if task_info(engine=resources.engine(), actor=user, name=task_name).kind == "intent":
        lexicon_panel(task_name, user)


render()
