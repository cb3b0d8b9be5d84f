"""A small team under load on each database (issue 14): raters in separate processes with
skips, unsure answers and leases running out, while a lead retrains and promotes and a reviewer
adjudicates. Nothing is lost, nobody labels an item twice, no item gets more raters than it
wants, and nothing fails with an error that is not one of the workbench's own refusals."""

from __future__ import annotations

import pytest

from bench.load_raters import run

pytestmark = pytest.mark.slow(seconds=125)


def test_a_small_team_loses_nothing_and_breaks_no_rule(db_url):
    figures = run(db_url, raters=3, seconds=6, lease_seconds=2)
    assert figures["unexpected"] == {}, figures
    assert (figures["lost"], figures["over_k"], figures["twice"]) == (0, 0, 0), figures
    assert figures["answers"] > 30 and figures["labels"] > 0, figures
    assert figures["lead"].get("retrain", 0) >= 1 and figures["lead"].get("promote", 0) >= 1, \
        figures
