"""Expected roles per service function ("module.function": the roles allowed)."""

from tests.authz.roles import ADMINS, EVERYONE, LABELERS, LEADS, LEADS_ADMINS, REVIEWERS  # noqa: F401

EXPECTED: dict[str, frozenset[str]] = {
    # The rater's queue: each acts for the acting rater only (admins do not label).
    "labeling.queue.leases.next_item": LABELERS,
    "labeling.queue.leases.upcoming": LABELERS,
    "labeling.queue.assignments.submit": LABELERS,
    "labeling.queue.assignments.skip": LABELERS,
    "labeling.queue.assignments.correct": LABELERS,
    "labeling.queue.assignments.progress": LABELERS,
    "labeling.queue.assignments.history": LABELERS,
    # A rater's request for an item selects the next batch when the active ones run dry.
    "labeling.queue.batches.select_batch": LABELERS,
    # The Label page selects ahead of need in the background; a retrain (a lead) refills too.
    "labeling.queue.batches.refill": LABELERS,
    "labeling.queue.simulation.simulate_task": LEADS,
    "labeling.review.adjudication.cases": REVIEWERS,
    "labeling.review.adjudication.decide": REVIEWERS,
    # Derived state refreshed on the visits of reviewers (Adjudicate), leads and admins (Quality,
    # training): read_tasks is the one capability they share, so raters hold it too.
    "labeling.review.consensus.recompute": EVERYONE,
    "labeling.review.consensus.bring_up_to_date": EVERYONE,
    "labeling.review.label_issues.find_suspects": LEADS_ADMINS,
    "labeling.review.label_issues.send_back": LEADS_ADMINS,
    "labeling.review.quality.quality_report": LEADS_ADMINS,
}
