"""Where and when a list is played and what the session did so far: the ranker's context, and
parsing it from ``key=value`` texts (the CLI's ``--context``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from routing.profiles import TIMES_OF_DAY


@dataclass(frozen=True)
class Context:
    """Where and when the list is played, and what this session did so far."""

    time_of_day: str | None = None
    device: str | None = None
    skipped_artists: tuple[str, ...] = ()
    """Oldest first; the last ones weigh most."""
    saved_tracks: tuple[str, ...] = ()
    """Track ids, oldest first."""
    liked_tracks: tuple[str, ...] = ()

    def bucket(self) -> str:
        """A coarse key for caches: the parts that change the ranking."""
        return "|".join([self.time_of_day or "-", self.device or "-",
                         ",".join(self.skipped_artists[-10:]),
                         ",".join(self.saved_tracks[-10:]), ",".join(self.liked_tracks[-10:])])


NO_CONTEXT = Context()
DEVICES = ("phone", "desktop", "speaker", "car", "tv")
CONTEXT_KEYS = ("time_of_day", "device", "skipped_artists", "saved_tracks", "liked_tracks")


def context_from_pairs(pairs: Sequence[str]) -> Context:
    """A context from ``key=value`` texts (``time_of_day=morning``, ``device=phone``,
    ``skipped_artists=A|B``: lists split on ``|``, oldest first). Raises ``ValueError`` naming
    the bad pair."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in CONTEXT_KEYS:
            raise ValueError(f"bad context {pair!r}: use KEY=VALUE with KEY one of "
                             f"{', '.join(CONTEXT_KEYS)}")
        if key == "time_of_day" and value not in TIMES_OF_DAY:
            raise ValueError(f"bad context {pair!r}: time_of_day is one of "
                             f"{', '.join(TIMES_OF_DAY)}")
        if key == "device" and value not in DEVICES:
            raise ValueError(f"bad context {pair!r}: device is one of {', '.join(DEVICES)}")
        if key in ("time_of_day", "device"):
            values[key] = value
        else:
            values[key] = tuple(v.strip() for v in value.split("|") if v.strip())
    return Context(**values)
