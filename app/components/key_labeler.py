"""The keyboard labeler: the prompt card, label buttons with their keys, Unsure, Skip with a
reason and the slot fields, drawn in the browser so a key press shows the next prompt at once.

A Streamlit custom component (v2, inline HTML/CSS/JS from ``key_labeler.js`` and
``key_labeler.css``, no build step). Python hands it the rater's prefetched items; the browser
shows the first, and on a key press or click records an *answer* ``{client, seq, assignment_id,
item_id, kind, value, slots, reason, seconds}``, shows the next item it holds and sends every
answer not yet acknowledged as the component's state ``answers``. Python applies each answer
once (``seq`` above what it applied for that ``client``) and passes back ``applied`` so the
browser forgets what is saved. A press with no prompt on screen is refused in the browser.

Untrusted text (prompts, labels, suggestions, reasons) reaches the page only as text: the
script sets ``textContent`` and ``value``, never HTML.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import streamlit as st

from app.components.label_form import SKIP_KEY, UNSURE_KEY, shortcut_for

_HERE = Path(__file__).resolve().parent
_HTML = """
<div class="kl" data-state="loading">
  <div class="kl-card" aria-live="polite">
    <div class="kl-meta"><span class="kl-num"></span><span class="kl-ready"></span></div>
    <div class="kl-text"></div>
    <div class="kl-suggest"></div>
  </div>
  <div class="kl-slots" hidden></div>
  <div class="kl-labels"></div>
  <div class="kl-actions"></div>
  <div class="kl-msg" role="status" aria-live="assertive"></div>
  <div class="kl-help"></div>
</div>
"""
# In the page's own DOM, not a shadow root (every class starts with "kl-"), so tests and the
# latency bench find the card (".kl", its data-item and data-state) with document.querySelector.
_MOUNT = st.components.v2.component(
    "workbench.key_labeler", html=_HTML,
    css=(_HERE / "key_labeler.css").read_text(encoding="utf-8"),
    js=(_HERE / "key_labeler.js").read_text(encoding="utf-8"),
    isolate_styles=False,
)
Kind = Literal["label", "unsure", "skip"]
Status = Literal["ready", "loading", "done", "offline"]
_KINDS = ("label", "unsure", "skip")
MAX_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class Answer:
    """One press in the browser, for the assignment that was on screen when it was made."""

    client: str
    seq: int
    assignment_id: int
    item_id: int
    kind: Kind
    value: str | None = None
    slots: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    seconds: float | None = None


def _text(raw: Any, limit: int = 512) -> str | None:
    return raw[:limit] if isinstance(raw, str) else None


def _seconds(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return None
    return min(max(float(raw), 0.0), MAX_SECONDS)


def parse_answer(raw: Any) -> Answer | None:
    """An answer as the browser sent it, checked field by field; ``None`` when it is not one
    (the browser is not trusted: every field is checked, nothing else is read)."""
    if not isinstance(raw, Mapping):
        return None
    client, seq = _text(raw.get("client"), 64), raw.get("seq")
    assignment_id, item_id = raw.get("assignment_id"), raw.get("item_id")
    kind = raw.get("kind")
    ints = (seq, assignment_id, item_id)
    if not client or kind not in _KINDS or not all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in ints):
        return None
    raw_slots = raw.get("slots") or {}
    slots = {str(k)[:64]: v[:256] for k, v in raw_slots.items()
             if isinstance(v, str) and v.strip()} if isinstance(raw_slots, Mapping) else {}
    return Answer(client=client, seq=seq, assignment_id=assignment_id, item_id=item_id,
                  kind=kind, value=_text(raw.get("value")), slots=slots,
                  reason=_text(raw.get("reason"), 256), seconds=_seconds(raw.get("seconds")))


def pending_answers(key: str) -> list[Answer | None]:
    """The answers the browser holds for the labeler ``key`` (its state ``answers``) in the
    order they were made; an unreadable entry is ``None``. Read before the labeler is drawn."""
    state = st.session_state.get(key)
    raw = state.get("answers") if isinstance(state, Mapping) else None
    if not isinstance(raw, list):
        return []
    answers = [parse_answer(entry) for entry in raw]
    return sorted(answers, key=lambda a: (0, a.seq) if a else (1, 0))


@dataclass(frozen=True)
class Card:
    """One prompt for the labeler (a prefetched assignment)."""

    assignment_id: int
    item_id: int
    text: str
    suggestion: tuple[str, float] | None = None


def _slot_specs(schema: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    specs = []
    for name, spec in (schema or {}).items():
        values = list((spec or {}).get("values") or [])
        specs.append({"name": name, "label": name.replace("_", " "),
                      "values": [str(v) for v in values] or None})
    return specs


def key_labeler(
    *,
    key: str,
    task: str,
    cards: Sequence[Card],
    labels: Sequence[str],
    slot_schema: Mapping[str, Any] | None,
    skip_reasons: Sequence[str],
    applied: Mapping[str, int],
    status: Status,
) -> None:
    """Draw the labeler with ``cards`` (first shown first); ``applied``: per browser client,
    the last answer seq applied, so the browser drops what is saved. ``status`` says what an
    empty hand means: ``loading`` (the next prompts are being prepared) or ``done``; or
    ``offline``: the database cannot be reached, and the browser keeps its answers and asks
    again every ``RETRY_MS`` (its state ``retry`` counts up, which reruns the fragment)."""
    data = {
        "task": task,
        "items": [{"assignment_id": c.assignment_id, "item_id": c.item_id, "text": c.text,
                   "suggestion": None if c.suggestion is None else
                   {"label": c.suggestion[0], "probability": c.suggestion[1]}}
                  for c in cards],
        "labels": [{"value": label, "key": shortcut_for(i)} for i, label in enumerate(labels)],
        "unsure_key": UNSURE_KEY, "skip_key": SKIP_KEY,
        "slots": _slot_specs(slot_schema),
        "skip_reasons": list(skip_reasons),
        "applied": dict(applied),
        "status": status,
    }
    _MOUNT(key=key, data=data, default={"answers": [], "retry": 0}, on_answers_change=_noop,
           on_retry_change=_noop)


def _noop() -> None:
    """State changes rerun the fragment that drew the labeler; nothing else to do."""
