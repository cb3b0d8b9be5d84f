"""Simulation (leads): replay active learning on a task's settled labels to choose a strategy."""

from __future__ import annotations

import streamlit as st

from app import auth, resources
from app.components.simulation_charts import learning_curve_chart
from app.components.task_picker import task_picker
from app.errors import SERVICE_ERRORS, describe
from labeling.dataio.spreadsheet import to_csv
from labeling.ml.simulation import summarise
from labeling.ml.strategies import STRATEGIES
from labeling.project.authz import Capability
from labeling.queue.simulation import simulate_task

_RESULT = "simulation_result"


def _run(user: auth.SignedIn, task_name: str, strategies: list[str], seed_size: int, batch: int,
         seeds: int) -> None:
    bar = st.progress(0.0, text="Replaying the loop…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Replaying the loop… {done}/{total} rounds")

    try:
        runs = simulate_task(engine=resources.engine(), actor=user, task_name=task_name,
                             encoder=resources.encoder(), strategies=strategies,
                             seed_size=seed_size, batch=batch, seeds=list(range(seeds)),
                             progress=progress)
    except (*SERVICE_ERRORS, ValueError) as exc:
        bar.empty()
        st.error(describe(exc))
        return
    bar.empty()
    st.session_state[_RESULT] = {"task": task_name, "summary": summarise(runs)}


def render() -> None:
    user = auth.require(Capability.simulate)
    st.title("Strategy simulation")
    st.caption("The task's settled labels act as the oracle: a quarter is held out as the test "
               "set, and each strategy labels the rest batch by batch from the same seed set. "
               "For a file of your own: `workbench simulate --data FILE --test FILE`.")
    task_name = task_picker(key="simulation_task", user=user)
    if task_name is None:
        return
    with st.form("simulation_form"):
        strategies = st.multiselect("Strategies", list(STRATEGIES), default=["margin", "random"],
                                    key="sim_strategies")
        left, middle, right = st.columns(3)
        seed_size = left.number_input("Seed labels", 2, 5000, 30, key="sim_seed_size")
        batch = middle.number_input("Batch", 1, 2000, 20, key="sim_batch")
        seeds = right.number_input("Repeats (seeds)", 1, 10, 3, key="sim_seeds")
        run = st.form_submit_button("Run simulation", type="primary", key="sim_run")
    if run:
        if not strategies:
            st.error("Choose at least one strategy.")
        else:
            _run(user, task_name, strategies, int(seed_size), int(batch), int(seeds))
    result = st.session_state.get(_RESULT)
    if not result or result["task"] != task_name:
        return
    summary = result["summary"]
    st.altair_chart(learning_curve_chart(summary), width="stretch")
    st.dataframe(summary, hide_index=True, width="stretch", key="sim_summary")
    st.download_button("Download CSV", to_csv(summary), file_name=(
        f"simulation_{task_name}.csv"), mime="text/csv", key="sim_download")


render()
