"""Experiments (leads): evaluate ranker configurations offline on the Preview's impression log,
with every off-policy estimator, per intent and per context, in plain-words verdicts against a
baseline; and promote a configuration as the Preview's default, with a reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import streamlit as st

from app import auth, resources
from app.components.experiment_charts import estimates_chart, estimates_frame
from app.components.untrusted import as_markdown
from app.errors import SERVICE_ERRORS, describe
from labeling.lifecycle.registry import list_versions
from labeling.project.authz import Capability
from routing.experiments import Evaluation, IntentTarget, default_baseline, evaluate_log
from routing.promotion import BY_INTENT, current_promotion, promote_config
from routing.ranker import CONFIGS
from routing.reward import RewardWeights
from routing.router import default_intent_task
from routing.verdicts import ESTIMATOR_NAMES

RESULT, NOTICE = "experiments_result", "experiments_notice"
DEFAULT_DAYS = 30
WEIGHT_HELP = {"like": "per liked track", "save": "per saved track",
               "skip": "per skipped track (usually negative)",
               "diversity": "per list, on its diversity (0-1)",
               "novelty": "per list, on its novelty (0-1)"}
KIND_ICONS = {"better": ":material/trending_up:", "worse": ":material/trending_down:",
              "tie": ":material/drag_handle:"}


def _current(user: auth.SignedIn) -> None:
    promoted = current_promotion(engine=resources.engine(), actor=user)
    if promoted is None or promoted.config_name is None:
        st.info(f"The Preview picks the configuration **{BY_INTENT}** (discovery prompts get "
                "discovery, the rest balanced)"
                + (f"; set by {as_markdown(promoted.promoted_by_name)} on "
                   f"{promoted.promoted_at:%Y-%m-%d}: “{as_markdown(promoted.reason)}”"
                   if promoted else ": nothing promoted yet") + ".",
                icon=":material/queue_music:")
        return
    st.info(f"The Preview uses **{promoted.label}** by default, promoted by "
            f"{as_markdown(promoted.promoted_by_name)} on "
            f"{promoted.promoted_at:%Y-%m-%d %H:%M} UTC: “{as_markdown(promoted.reason)}”.",
            icon=":material/queue_music:")


def _weights(on_saves: bool, values: dict[str, float]) -> RewardWeights:
    if on_saves:
        return RewardWeights(like=0.0, save=1.0, skip=0.0, diversity=0.0, novelty=0.0)
    return RewardWeights(**values)


def _intent_targets(user: auth.SignedIn) -> dict[str, IntentTarget]:
    """The intent task's registered versions, to judge by the configurations their intents
    pick (none when there is no intent task or its versions cannot be read)."""
    try:
        task = default_intent_task(engine=resources.engine(), actor=user)
        versions = [] if task is None else list_versions(engine=resources.engine(), actor=user,
                                                         task_name=task)
    except SERVICE_ERRORS:
        return {}
    targets = [IntentTarget(task=task, version=v.version) for v in versions if task]
    return {t.name: t for t in targets}


def _form(today: date, user: auth.SignedIn) -> dict[str, Any] | None:
    intents = _intent_targets(user)
    with st.form("experiments_form"):
        left, right = st.columns(2)
        since = left.date_input("From (UTC)", value=today - timedelta(days=DEFAULT_DAYS - 1),
                                max_value=today, key="exp_since", format="YYYY-MM-DD")
        until = right.date_input("To (UTC, included)", value=today, max_value=today,
                                 key="exp_until", format="YYYY-MM-DD")
        baseline = left.selectbox(
            "Baseline", list(CONFIGS), key="exp_baseline",
            index=list(CONFIGS).index(default_baseline(engine=resources.engine(), actor=user)),
            help="Every other configuration is compared with this one on the same sessions.")
        targets = right.multiselect(
            "Compare with", [*CONFIGS, *intents], key="exp_targets",
            default=[n for n in CONFIGS if n != "relevance-only"][:2],
            help="Ranker configurations, and intent model versions (\"intent vN\": each logged "
                 "prompt is served the configuration its intent picks under that version).")
        st.caption("Reward weights (the composite the configurations are judged on)")
        defaults, columns = RewardWeights(), st.columns(5)
        values = {name: float(column.number_input(
            name, value=float(getattr(defaults, name)), step=0.5, key=f"exp_w_{name}",
            help=WEIGHT_HELP[name])) for column, name in zip(columns, WEIGHT_HELP, strict=True)}
        on_saves = st.toggle("Judge on saves alone", key="exp_on_saves",
                             help="The same evaluation with save 1 and every other weight 0.")
        run = st.form_submit_button("Evaluate", type="primary", key="exp_run",
                                    icon=":material/query_stats:")
    if not run:
        return None
    return {"since": datetime.combine(since, time.min, UTC),
            "until": datetime.combine(until + timedelta(days=1), time.min, UTC),
            "configs": [baseline, *[t for t in targets if t != baseline]],
            "intents": {name: intents[name] for name in targets if name in intents},
            "on_saves": on_saves, "values": values}


def _evaluate(request: dict[str, Any], user: auth.SignedIn) -> None:
    bar = st.progress(0.0, text="Replaying the logged lists…")

    def progress(done: int, total: int) -> None:
        bar.progress(min(done / max(total, 1), 1.0),
                     text=f"Replaying the logged lists… {done:,}/{total:,}")

    try:
        if len(request["configs"]) < 2:
            st.error("Choose at least one configuration to compare with the baseline.")
            return
        intents = request.get("intents") or {}
        evaluation = evaluate_log(
            engine=resources.engine(), actor=user,
            targets=[intents.get(n) or CONFIGS[n] for n in request["configs"]],
            encoder=resources.encoder() if intents else None,
            since=request["since"], until=request["until"],
            weights=_weights(request["on_saves"], request["values"]), progress=progress)
    except SERVICE_ERRORS as exc:
        st.session_state.pop(RESULT, None)
        st.error(f"Cannot evaluate: {describe(exc)}.")
        return
    finally:
        bar.empty()
    st.session_state[RESULT] = evaluation


def _counts(evaluation: Evaluation) -> None:
    w = evaluation.weights
    st.caption(f"{evaluation.used:,} impressions logged {evaluation.first_logged:%Y-%m-%d %H:%M}"
               f" to {evaluation.last_logged:%Y-%m-%d %H:%M} UTC · reward: like {w.like:g}, "
               f"save {w.save:g}, skip {w.skip:g}, diversity {w.diversity:g}, novelty "
               f"{w.novelty:g} · mean per logged list {evaluation.overall.logged_mean:.3f}")
    if evaluation.skipped:
        st.caption("Left out: " + "; ".join(f"{count:,} {reason}"
                                            for reason, count in evaluation.skipped.items()))


def _verdicts(evaluation: Evaluation) -> None:
    st.subheader(f"Against {evaluation.baseline}")
    for v in evaluation.verdicts:
        icon = KIND_ICONS.get(v.kind, ":material/help:")
        st.markdown(f"{icon} **{v.target}**: {v.text}")


# The tables' first estimator: on simulated cascade users (bench.ope_simulated) its error was
# below the plain reward-interaction estimator's on every target, and it needs no model of how
# users browse beyond reading down the list. (A comment, not a docstring: Streamlit's magic
# would print a bare string on the page.)
TABLE_ESTIMATOR = "sn_reward_interaction"


def _segments(evaluation: Evaluation) -> None:
    estimator = st.selectbox("Estimator for the tables", list(ESTIMATOR_NAMES),
                             index=list(ESTIMATOR_NAMES).index(TABLE_ESTIMATOR),
                             format_func=ESTIMATOR_NAMES.get, key="exp_estimator")
    by_intent, by_context = st.tabs(["Per intent", "Per context (time of day / device)"])
    for tab, dimension in ((by_intent, "intent"), (by_context, "context")):
        rows = [r for r in evaluation.rows()
                if r["dimension"] == dimension and r["estimator"] == estimator]
        tab.dataframe(estimates_frame(rows), hide_index=True, width="stretch",
                      key=f"exp_table_{dimension}")


def _result(evaluation: Evaluation) -> None:
    _counts(evaluation)
    if evaluation.notice is not None:
        st.warning(evaluation.notice[0].upper() + evaluation.notice[1:] + ".",
                   icon=":material/block:")
        return
    _verdicts(evaluation)
    overall = [r for r in evaluation.rows() if r["dimension"] == "all"]
    chart = estimates_chart(overall, logged_mean=evaluation.overall.logged_mean)
    if chart is None:
        st.warning("Every estimator refused: the configurations are too far from what was "
                   "logged. Log with more exploration, or compare closer configurations.")
    else:
        st.altair_chart(chart)
    st.dataframe(estimates_frame(overall), hide_index=True, width="stretch",
                 key="exp_table_all")
    st.caption("Beyond support: the share of a configuration's lists that reach tracks the "
               "logged configuration could not show (the log keeps twice its pool). That share "
               "is valued by a reward model fitted on the log; above 50% the estimators "
               "refuse.")
    _segments(evaluation)


def _promote(user: auth.SignedIn) -> None:
    st.subheader("Promote for the Preview")
    options = [BY_INTENT, *CONFIGS]
    with st.form("exp_promote_form"):
        chosen = st.selectbox("Configuration", options, key="exp_promote_config",
                              help=f"{BY_INTENT}: the router picks by the prompt's intent.")
        reason = st.text_input("Reason (required, kept and audited)", key="exp_promote_reason",
                               max_chars=2000)
        clicked = st.form_submit_button("Promote", key="exp_promote",
                                        icon=":material/upgrade:")
    if not clicked:
        return
    evaluation: Evaluation | None = st.session_state.get(RESULT)
    evidence = {} if evaluation is None else {
        "window": [evaluation.since.isoformat() if evaluation.since else None,
                   evaluation.until.isoformat() if evaluation.until else None],
        "used": evaluation.used, "weights": vars(evaluation.weights),
        "verdicts": [v.text for v in evaluation.verdicts if v.target == chosen]}
    try:
        promoted = promote_config(engine=resources.engine(), name=chosen, actor=user,
                                  reason=reason, evidence=evidence)
    except SERVICE_ERRORS as exc:
        st.error(f"Not promoted: {describe(exc)}.")
        return
    st.session_state[NOTICE] = f"The Preview now uses {promoted.label} by default."
    st.rerun()


def render() -> None:
    user = auth.require(Capability.run_experiments)
    st.title("Experiments")
    st.caption("Estimate how ranker configurations would have done on the lists the Preview "
               "logged (each impression replayed with its own candidates), with "
               f"{len(ESTIMATOR_NAMES)} off-policy estimators and 95% intervals (bootstrap; "
               "empirical likelihood for IPS, doubly robust and reward-interaction). Estimates "
               "need a log with exploration (WORKBENCH_EXPLORATION above 0). For a check "
               "where the truth is known: `workbench experiments simulate`.")
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.success(notice, icon=":material/check_circle:")
    try:
        _current(user)
        request = _form(datetime.now(UTC).date(), user)
    except SERVICE_ERRORS as exc:
        st.error(f"Cannot read the experiments' settings: {describe(exc)}.")
        return
    if request is not None:
        _evaluate(request, user)
    evaluation = st.session_state.get(RESULT)
    if evaluation is not None:
        _result(evaluation)
    _promote(user)


render()
