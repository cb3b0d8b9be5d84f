"""Choosing a task: one picker shared by the pages, remembered across pages by name."""

from __future__ import annotations

import streamlit as st

from app import resources
from app.auth import SignedIn
from labeling.project.tasks import list_tasks

_REMEMBERED = "chosen_task"


def task_picker(*, key: str, user: SignedIn, kinds: tuple[str, ...] | None = None
                ) -> str | None:
    """A selectbox over the tasks (optionally of some kinds) ``user`` may see; ``None`` when
    there are none."""
    names = [t.name for t in list_tasks(engine=resources.engine(), actor=user, kinds=kinds)]
    if not names:
        st.info("No tasks yet: create one with `workbench task create`.")
        return None
    remembered = st.session_state.get(_REMEMBERED)
    index = names.index(remembered) if remembered in names else 0
    chosen = st.selectbox("Task", names, index=index, key=key)
    st.session_state[_REMEMBERED] = chosen
    return chosen
