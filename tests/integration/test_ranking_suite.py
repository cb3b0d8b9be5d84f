"""The ranking suite (``tests/ranking_suite.py``) with MiniLM through PyTorch, the default
encoder."""

from __future__ import annotations

import numpy as np
import pytest

from routing.router import Router
from tests.ranking_suite import CASES, SPOTIFY, check_case, spotify_router

pytestmark = [pytest.mark.slow(seconds=330),
              pytest.mark.skipif(not SPOTIFY.is_file(),
                                 reason=f"Spotify file not found at {SPOTIFY}")]


@pytest.fixture(scope="module")
def router(tmp_path_factory) -> Router:
    return spotify_router("minilm", tmp_path_factory.mktemp("encoders"))


@pytest.mark.parametrize(("prompt", "checks"), CASES, ids=[c[0] for c in CASES])
def test_ranking_case(router, prompt, checks):
    check_case(router, prompt, checks)


def test_the_suite_is_large_enough():
    assert len(CASES) >= 40


def test_stage_times_are_recorded(router):
    result = router.route("upbeat indie for a road trip", use_cache=False)
    timings = result.decision.timings_ms
    assert {"safety", "encode", "intent", "slots", "retrieval", "ranking", "total"} <= set(
        timings)
    assert timings["total"] >= timings["ranking"]
    assert np.isfinite(list(timings.values())).all()
