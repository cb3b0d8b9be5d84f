"""The rater's answer widgets: label buttons with keyboard shortcuts and a slot editor.

Each function takes a ``key``; every widget key it makes starts with that key, so a caller that
passes a key per queue item (``label_<assignment id>``) gets fresh widgets for each item while a
rerun of the same item keeps what the rater entered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from app.components.untrusted import as_markdown

EMPTY = "—"
"""The slot choice that means "not said in the prompt"."""
SKIP_KEY = "S"
UNSURE_KEY = "U"
# "1".."0" first, then letters; never S or U (Skip, Unsure) nor C or R (reserved by Streamlit).
LABEL_KEYS = (*"1234567890", *"QWETYIOPADFGHJKLZXVBNM")


def shortcut_for(index: int) -> str | None:
    """The keyboard shortcut of the ``index``-th label (``None`` past the last free key)."""
    return LABEL_KEYS[index] if index < len(LABEL_KEYS) else None


def label_buttons(labels: Sequence[str], *, key: str, disabled: bool = False) -> str | None:
    """One button per label in a responsive grid; return the label clicked on this run.

    The first ten labels answer to the keys 1-9 and 0, the next ones to letters (Q, W, E, …).
    Streamlit shows each button's key at its right edge, so the label stays just the label.
    """
    clicked: str | None = None
    grid = st.grid("auto", min_column_width=170, gap="xsmall")
    for index, label in enumerate(labels):
        if grid.button(as_markdown(label, one_line=True), key=f"{key}_label_{index}",
                       shortcut=shortcut_for(index), width="stretch", disabled=disabled):
            clicked = label
    return clicked


def _slot_widget(container: Any, slot: str, spec: Mapping[str, Any], *, key: str,
                 initial: Any) -> Any:
    values = list((spec or {}).get("values") or [])
    label = slot.replace("_", " ")
    if values:
        options = [EMPTY, *values]
        index = options.index(initial) if initial in options else 0
        return container.selectbox(label, options, index=index, key=f"{key}_slot_{slot}")
    return container.text_input(label, value=str(initial or ""), placeholder="free text",
                                help=(spec or {}).get("pattern"), key=f"{key}_slot_{slot}")


def slot_editor(schema: Mapping[str, Any] | None, *, key: str,
                initial: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A compact grid with one field per slot; return only the slots the rater filled.

    Slots with a value list get a selectbox (``—`` for "not said"), free slots a text input.
    ``initial`` pre-fills the fields (used when correcting a label).
    """
    if not schema:
        return {}
    initial = initial or {}
    grid = st.grid("auto", min_column_width=140, gap="xsmall")
    filled: dict[str, Any] = {}
    for slot, spec in schema.items():
        value = _slot_widget(grid, slot, spec, key=key, initial=initial.get(slot))
        if isinstance(value, str):
            value = value.strip()
        if value and value != EMPTY:
            filled[slot] = value
    return filled
