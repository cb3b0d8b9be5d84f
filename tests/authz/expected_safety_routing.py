"""Expected roles per service function ("module.function": the roles allowed)."""

from tests.authz.roles import ADMINS, EVERYONE, LABELERS, LEADS, LEADS_ADMINS, REVIEWERS  # noqa: F401

EXPECTED: dict[str, frozenset[str]] = {
    # safety: the gate's rules and policy are read by the live preview (everyone); the safety
    # team (reviewers and leads) keeps them, triages flags and raises them in bulk; anyone
    # using the preview may report an output.
    "safety.policy.policy_settings": EVERYONE,
    "safety.policy.set_policy": REVIEWERS,
    "safety.policy.default_safety_task": EVERYONE,
    "safety.policy.check_texts": EVERYONE,
    "safety.policy.task_of": EVERYONE,
    "safety.rules.current_rules": EVERYONE,
    "safety.rules.rule_versions": REVIEWERS,
    "safety.rules.add_rule": REVIEWERS,
    "safety.rules.remove_rule": REVIEWERS,
    "safety.triage.flag_verdicts": REVIEWERS,
    "safety.triage.report": EVERYONE,
    "safety.triage.triage_queue": REVIEWERS,
    "safety.triage.earlier_decisions": REVIEWERS,
    "safety.triage.decide": REVIEWERS,
    # routing: what the preview's router reads, and the preview's own writes (impressions,
    # feedback, reports, collected prompts), are everyone's; the impression log, offline
    # evaluation and ranker promotion are the leads'; the lexicon is edited by leads and
    # measured against raters' labels by those who see quality; catalogues are imported by
    # leads and admins.
    "routing.experiments.evaluate_log": LEADS,
    "routing.experiments.default_baseline": LEADS,
    "routing.impression_log.load_log": LEADS,
    "routing.lexicon.current_lexicon": EVERYONE,
    "routing.lexicon.add_phrase": LEADS,
    "routing.lexicon.remove_phrase": LEADS,
    "routing.lexicon.measure_lexicon": LEADS_ADMINS,
    "routing.preview.log_impression": EVERYONE,
    "routing.preview.record_feedback": EVERYONE,
    "routing.preview.impression_log": LEADS,
    "routing.preview.report_output": EVERYONE,
    "routing.preview.collecting_tasks": EVERYONE,
    "routing.preview.collect_prompt": EVERYONE,
    "routing.promotion.promote_config": LEADS,
    "routing.promotion.current_promotion": LEADS,
    "routing.promotion.promotion_history": LEADS,
    "routing.promotion.preview_default": EVERYONE,
    "routing.promotion.preview_config": EVERYONE,
    "routing.router.default_intent_task": EVERYONE,
    "routing.serving.current_versions": EVERYONE,
    "routing.tracks.add_demo_catalogue": LEADS_ADMINS,
    "routing.tracks.current_catalogue": EVERYONE,
    "routing.tracks.load_catalogue": EVERYONE,
    "routing.tracks.import_catalogue": LEADS_ADMINS,
}
