"""Home: the state of the project from the database, per task."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, resources
from app.components.charts import labels_per_day
from labeling.project import overview
from labeling.project.authz import Capability

TASK_COLUMNS = {
    "task": "Task", "kind": "Kind", "labels_in_set": "Label set", "items": "Items",
    "labeled_items": "Labeled items", "labels": "Labels", "raters": "Raters",
    "gold_items": "Gold items", "model_versions": "Model versions",
    "serving_version": "Serving model",
}
FLOW = "prompt → queue → labels → agreement → training → router / ranker → preview → triage"


def render() -> None:
    user = auth.require(Capability.read_tasks)
    st.title("Project overview")
    st.caption(FLOW)
    tasks = overview.task_summaries(engine=resources.engine(), actor=user)
    daily = overview.labels_per_day(engine=resources.engine(), actor=user, days=30)
    if not tasks:
        st.info("No tasks yet. Create one with `workbench task create`, or start with "
                "`workbench init --demo`.")
        return
    columns = st.columns(4)
    columns[0].metric("Tasks", len(tasks))
    columns[1].metric("Items", sum(t["items"] for t in tasks))
    columns[2].metric("Labels", sum(t["labels"] for t in tasks))
    columns[3].metric("Model versions", sum(t["model_versions"] for t in tasks))
    st.subheader("Tasks")
    frame = pd.DataFrame(tasks).rename(columns=TASK_COLUMNS)
    frame["Serving model"] = frame["Serving model"].map(lambda v: "—" if pd.isna(v) else f"v{v:g}")
    st.dataframe(frame, hide_index=True, width="stretch", key="home_tasks")
    st.subheader("Labels per day (last 30 days)")
    if daily:
        st.altair_chart(labels_per_day(pd.DataFrame(daily)), width="stretch")
    else:
        st.caption("No labels in the last 30 days.")


render()
