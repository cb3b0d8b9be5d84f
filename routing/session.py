"""A preview session: the prompt, the refinements applied to it and the listener's signals, as
one explicit, immutable state (pure functions, no database).

Refinements ("more acoustic", "less vocals", "longer", "no explicit", "more like track 3") set
slots on top of the prompt's own, so applying one twice gives the same state as applying it
once; "longer" and "shorter" are measured from the first list's length, not the last one's.
Likes and saves raise similar tracks; a skip sinks the artist and removes the track.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from routing.context import Context
from routing.lexicon import duration_value

SLOT_REFINEMENTS: dict[str, dict[str, str]] = {
    "more acoustic": {"acoustic": "more"},
    "less acoustic": {"acoustic": "less"},
    "less vocals": {"vocals": "instrumental"},
    "more vocals": {"vocals": "vocals"},
    "more energy": {"energy": "high"},
    "calmer": {"energy": "low"},
    "faster": {"tempo": "fast"},
    "slower": {"tempo": "slow"},
    "no explicit": {"explicit": "avoid"},
}
LENGTH_REFINEMENTS = {"longer": 1.5, "shorter": 0.5}
REFINEMENTS = (*SLOT_REFINEMENTS, *LENGTH_REFINEMENTS, "more like track N")
"""What the refinement chips offer, in order."""
MORE_LIKE = re.compile(r"^more like (?:track )?#?(?P<n>\d{1,3})$")
ACTIONS = ("like", "skip", "save")
RECENT = 10
"""Signals kept per kind: the last ones weigh most (``ranker``)."""


class RefinementError(ValueError):
    """A refinement or signal that does not apply to this session."""


@dataclass(frozen=True)
class SessionState:
    prompt: str
    overrides: tuple[tuple[str, str], ...] = ()
    seeds: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    liked: tuple[str, ...] = ()
    saved: tuple[str, ...] = ()
    skipped_artists: tuple[str, ...] = ()
    time_of_day: str | None = None
    device: str | None = None
    base_minutes: float | None = None
    """The first list's length, for "longer" and "shorter"."""
    applied: tuple[str, ...] = field(default=())

    @property
    def slot_overrides(self) -> dict[str, str]:
        return dict(self.overrides)

    def context(self) -> Context:
        return Context(time_of_day=self.time_of_day, device=self.device,
                       skipped_artists=self.skipped_artists, saved_tracks=self.saved,
                       liked_tracks=self.liked)

    def route_arguments(self) -> dict[str, Any]:
        """Keyword arguments for ``Router.route`` besides the prompt and the configuration."""
        return {"context": self.context(), "slot_overrides": self.slot_overrides,
                "exclude_ids": self.excluded, "seed_ids": self.seeds}


def start(prompt: str, *, time_of_day: str | None = None, device: str | None = None
          ) -> SessionState:
    """A new session for ``prompt`` (a new prompt resets refinements and signals)."""
    return SessionState(prompt=prompt, time_of_day=time_of_day, device=device)


def reset(state: SessionState) -> SessionState:
    """The same prompt and context, without refinements or signals."""
    return start(state.prompt, time_of_day=state.time_of_day, device=state.device)


def with_context(state: SessionState, *, time_of_day: str | None, device: str | None
                 ) -> SessionState:
    return replace(state, time_of_day=time_of_day, device=device)


def remember_length(state: SessionState, total_ms: int) -> SessionState:
    """Keep the first list's length (later lists do not change it)."""
    if state.base_minutes is not None or total_ms <= 0:
        return state
    return replace(state, base_minutes=total_ms / 60_000)


def refine(state: SessionState, refinement: str, shown: Sequence[Mapping[str, Any]] = ()
           ) -> SessionState:
    """Apply one refinement; ``shown`` is the list on screen (for "more like track 3")."""
    name = " ".join(refinement.lower().split())
    if name in SLOT_REFINEMENTS:
        return _set(state, name, SLOT_REFINEMENTS[name])
    if name in LENGTH_REFINEMENTS:
        if state.base_minutes is None:
            raise RefinementError("route the prompt first: longer and shorter start from the "
                                  "first list's length")
        minutes = max(15.0, round(state.base_minutes * LENGTH_REFINEMENTS[name] / 15) * 15)
        return _set(state, name, {"duration": duration_value(minutes)})
    match = MORE_LIKE.match(name)
    if match:
        position = int(match["n"])
        if not 1 <= position <= len(shown):
            raise RefinementError(f"there is no track {position} in this list of {len(shown)}")
        track_id = str(shown[position - 1]["track_id"])
        seeds = state.seeds if track_id in state.seeds else (*state.seeds, track_id)
        label = f"more like {shown[position - 1]['title']}"
        return replace(state, seeds=seeds, applied=_added(state.applied, label))
    raise RefinementError(f"unknown refinement {refinement!r}; try one of "
                          f"{', '.join(REFINEMENTS)}")


def in_effect(refinement: str, slots: Mapping[str, str]) -> bool:
    """Whether a slot refinement asks for what the list was already made with: the prompt
    said it ("kids party songs" already leaves explicit songs out) or it was applied."""
    wanted = SLOT_REFINEMENTS.get(refinement)
    return bool(wanted) and all(slots.get(slot) == value for slot, value in wanted.items())


def _set(state: SessionState, name: str, slots: Mapping[str, str]) -> SessionState:
    overrides = {**state.slot_overrides, **slots}
    return replace(state, overrides=tuple(sorted(overrides.items())),
                   applied=_added(state.applied, name))


def _added(applied: tuple[str, ...], name: str) -> tuple[str, ...]:
    return applied if name in applied else (*applied, name)


def signal(state: SessionState, action: str, track: Mapping[str, Any]) -> SessionState:
    """A like, save or skip of a shown track (a skip also removes it from later lists)."""
    track_id, artist = str(track["track_id"]), str(track["artist"])
    if action == "like":
        return replace(state, liked=_recent(state.liked, track_id))
    if action == "save":
        return replace(state, saved=_recent(state.saved, track_id))
    if action == "skip":
        excluded = state.excluded if track_id in state.excluded else (*state.excluded, track_id)
        return replace(state, skipped_artists=_recent(state.skipped_artists, artist),
                       excluded=excluded)
    raise RefinementError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")


def _recent(values: tuple[str, ...], value: str) -> tuple[str, ...]:
    """``value`` moved to the end (most recent), the last ``RECENT`` kept."""
    return (*[v for v in values if v != value], value)[-RECENT:]
