"""Preview sessions: refinements are explicit, idempotent and resettable; signals are kept."""

from __future__ import annotations

import pytest

from routing import session
from routing.session import RefinementError

SHOWN = [{"track_id": f"t{i}", "artist": f"a{i}", "title": f"Song {i}"} for i in range(1, 21)]


def test_refinements_set_slots_and_twice_is_once():
    state = session.start("chill pop")
    once = session.refine(state, "More  Acoustic")
    assert once.slot_overrides == {"acoustic": "more"} and once.applied == ("more acoustic",)
    assert session.refine(once, "more acoustic") == once
    both = session.refine(session.refine(once, "less vocals"), "no explicit")
    assert both.slot_overrides == {"acoustic": "more", "vocals": "instrumental",
                                   "explicit": "avoid"}
    assert session.reset(both) == session.start("chill pop")


def test_longer_and_shorter_start_from_the_first_lists_length():
    state = session.start("pop")
    with pytest.raises(RefinementError, match="route the prompt first"):
        session.refine(state, "longer")
    state = session.remember_length(state, 70 * 60_000)
    assert session.remember_length(state, 10 * 60_000).base_minutes == 70  # first list counts
    longer = session.refine(state, "longer")
    assert longer.slot_overrides["duration"] == "105 min"
    assert session.refine(longer, "longer") == longer
    assert session.refine(state, "shorter").slot_overrides["duration"] == "30 min"


def test_more_like_a_track_seeds_it_once():
    state = session.refine(session.start("pop"), "more like track 3", SHOWN)
    assert state.seeds == ("t3",) and state.applied == ("more like Song 3",)
    assert session.refine(state, "more like 3", SHOWN) == state
    with pytest.raises(RefinementError, match="no track 21"):
        session.refine(state, "more like track 21", SHOWN)


def test_unknown_refinements_and_actions_are_refused():
    with pytest.raises(RefinementError, match="unknown refinement"):
        session.refine(session.start("pop"), "more cowbell")
    with pytest.raises(RefinementError, match="unknown action"):
        session.signal(session.start("pop"), "love", SHOWN[0])


def test_signals_keep_the_recent_ones_and_a_skip_removes_the_track():
    state = session.start("pop", time_of_day="morning", device="phone")
    for track in SHOWN[:12]:
        state = session.signal(state, "like", track)
    assert len(state.liked) == session.RECENT and state.liked[-1] == "t12"
    state = session.signal(state, "like", SHOWN[5])
    assert state.liked[-1] == "t6" and state.liked.count("t6") == 1
    state = session.signal(state, "skip", SHOWN[0])
    state = session.signal(state, "save", SHOWN[1])
    context = state.context()
    assert context.skipped_artists == ("a1",) and context.saved_tracks == ("t2",)
    assert context.time_of_day == "morning" and state.route_arguments()["exclude_ids"] == ("t1",)


def test_a_refinement_is_in_effect_when_the_slots_already_ask_for_it():
    assert session.in_effect("no explicit", {"explicit": "avoid", "occasion": "party"})
    assert not session.in_effect("no explicit", {"explicit": "allow"})
    assert not session.in_effect("no explicit", {})
    assert session.in_effect("calmer", {"energy": "low"})
    assert not session.in_effect("longer", {"duration": "1 hour"})  # not a slot refinement
