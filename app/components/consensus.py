"""Keeping a task's stored consensus fresh without rewriting it on every Streamlit rerun."""

from __future__ import annotations

import streamlit as st

from app import resources
from labeling.project.authz import Actor
from labeling.review.consensus import ConsensusSummary, recompute

_FRESH = "consensus_fresh"


def refresh_due(task_name: str, *, force: bool = False) -> bool:
    """Whether the task's consensus is to be recomputed now: on the first visit in this
    session, or when ``force``."""
    return force or task_name not in st.session_state.get(_FRESH, [])


def mark_fresh(task_name: str) -> None:
    """Note that the task's consensus was recomputed in this session."""
    fresh: list[str] = st.session_state.setdefault(_FRESH, [])
    if task_name not in fresh:
        fresh.append(task_name)


def refresh_once(task_name: str, *, actor: Actor, force: bool = False
                 ) -> ConsensusSummary | None:
    """Recompute the task's consensus on the first visit in this session, or when ``force``.

    Returns the summary when it recomputed, ``None`` when the stored consensus was kept.
    """
    if not refresh_due(task_name, force=force):
        return None
    summary = recompute(engine=resources.engine(), actor=actor, task_name=task_name)
    mark_fresh(task_name)
    return summary
