"""Expected roles per service function ("module.function": the roles allowed)."""

from tests.authz.roles import ADMINS, EVERYONE, LABELERS, LEADS, LEADS_ADMINS, REVIEWERS  # noqa: F401

EXPECTED: dict[str, frozenset[str]] = {
    # tasks: everyone reads a task, its settings and guidelines; leads and admins change them
    "labeling.project.tasks.create_task": LEADS_ADMINS,
    "labeling.project.tasks.task_info": EVERYONE,
    "labeling.project.tasks.list_tasks": EVERYONE,
    "labeling.project.tasks.update_settings": LEADS_ADMINS,
    "labeling.project.tasks.save_guideline": LEADS_ADMINS,
    "labeling.project.tasks.guideline_versions": EVERYONE,
    # gold answers: raters label gold items unannounced, so only who keeps them sees them
    "labeling.project.gold.gold_items": LEADS_ADMINS,
    "labeling.project.gold.find_items": LEADS_ADMINS,
    "labeling.project.gold.mark_gold": LEADS_ADMINS,
    "labeling.project.importing.import_file": LEADS_ADMINS,
    # exports name every label's rater
    "labeling.project.exporting.label_rows": LEADS_ADMINS,
    "labeling.project.exporting.export_task": LEADS_ADMINS,
    # the home page's counts (no names)
    "labeling.project.overview.task_summaries": EVERYONE,
    "labeling.project.overview.labels_per_day": EVERYONE,
    # stored vectors: the router and the preview encode through it
    "labeling.project.vectors.embed": EVERYONE,
    "labeling.project.demo.seed_demo_project": LEADS_ADMINS,
    # models: the preview reads what serves (and the versions to compare); leads and admins
    # train, compare, promote and roll back
    "labeling.lifecycle.registry.list_versions": EVERYONE,
    "labeling.lifecycle.registry.serving_version": EVERYONE,
    "labeling.lifecycle.registry.load_serving": EVERYONE,
    "labeling.lifecycle.registry.load_version": EVERYONE,
    "labeling.lifecycle.examples.labeled_examples": EVERYONE,
    "labeling.lifecycle.registry.promote": LEADS_ADMINS,
    "labeling.lifecycle.registry.rollback": LEADS_ADMINS,
    "labeling.lifecycle.registry.set_oos_threshold": LEADS_ADMINS,
    "labeling.lifecycle.comparison.compare_versions": LEADS_ADMINS,
    "labeling.lifecycle.training.retrain": LEADS_ADMINS,
    "labeling.lifecycle.training.evaluate_file": LEADS_ADMINS,
}
