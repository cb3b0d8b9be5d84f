"""The ranking suite (``tests/ranking_suite.py``) with MiniLM quantised to int8 and run by
onnxruntime: it must pass every case the PyTorch encoder passes (issue 10: a selectable
quantised encoder costs under a point on the suite)."""

from __future__ import annotations

import pytest

from routing.router import Router
from tests.ranking_suite import CASES, SPOTIFY, check_case, spotify_router

pytestmark = [pytest.mark.slow(seconds=230),
              pytest.mark.skipif(not SPOTIFY.is_file(),
                                 reason=f"Spotify file not found at {SPOTIFY}")]


@pytest.fixture(scope="module")
def router(tmp_path_factory) -> Router:
    return spotify_router("minilm-onnx-int8", tmp_path_factory.mktemp("encoders"))


@pytest.mark.parametrize(("prompt", "checks"), CASES, ids=[c[0] for c in CASES])
def test_ranking_case(router, prompt, checks):
    check_case(router, prompt, checks)
