"""The role sets the expected authorisation matrix is written in (tests/authz/expected_*.py)."""

EVERYONE = frozenset({"rater", "reviewer", "lead", "admin"})
LABELERS = frozenset({"rater", "reviewer", "lead"})
"""Who labels items: admins run the installation and do not label."""
REVIEWERS = frozenset({"reviewer", "lead"})
"""Who adjudicates, triages and keeps the safety rules."""
LEADS = frozenset({"lead"})
"""Who runs the project's lexicon, experiments and simulations."""
LEADS_ADMINS = frozenset({"lead", "admin"})
"""Who sees quality and every rater's labels, manages tasks, models, catalogues, accounts, and
reads the audit trail."""
ADMINS = frozenset({"admin"})
"""Who exports, erases and expires end users' data."""
ROLES = ("rater", "reviewer", "lead", "admin")
