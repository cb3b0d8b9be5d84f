"""The demo project, composed from the services that own each part: the track catalogue
(routing), the intent and safety tasks with accounts and demo labels (labeling, with the safety
content from safety), each task's consensus (so the Adjudicate page has work at once), and the
flags the safety rules raise on the demo's safety examples (so the Triage page has work too), and
with a models folder, each task's first model trained on the demo labels (it serves at once, so
the preview routes a newcomer's first prompt with real models)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from labeling.lifecycle.training import retrain
from labeling.ml.encoders import Encoder, ProgressCallback
from labeling.project.authz import Operator
from labeling.project.demo import intent_demo_task, seed_demo_project
from labeling.review.consensus import recompute
from routing.tracks import add_demo_catalogue
from safety.demo_content import safety_demo_task
from safety.policy import SafetyGate
from safety.triage import flag_verdicts

DEMO = Operator("demo")
"""Who seeds the demo project: the system itself, audited as ``demo``."""


def seed_demo(
    *, engine: Engine, encoder: Encoder, progress: ProgressCallback | None = None,
    models_dir: Path | None = None,
) -> dict[str, int]:
    """Fill an empty, migrated database with the demo project; return what was added.

    Each part is one unit of work; the catalogue goes first and only where none is stored, so
    a run that fails part-way can simply be repeated.
    """
    counts = {"tracks": add_demo_catalogue(engine=engine, actor=DEMO)}
    tasks = [intent_demo_task(), safety_demo_task()]
    counts.update(seed_demo_project(engine=engine, actor=DEMO, encoder=encoder, tasks=tasks,
                                    progress=progress))
    for demo in tasks:
        summary = recompute(engine=engine, actor=DEMO, task_name=demo.spec["name"])
        counts[f"{summary.task}_to_adjudicate"] = summary.needs_adjudication
    safety = tasks[1].spec["name"]
    gate = SafetyGate.load(engine=engine, encoder=encoder, actor=DEMO, task_name=safety)
    verdicts = gate.check_many([e["text"] for e in tasks[1].examples])
    counts["flags"] = len(flag_verdicts(engine=engine, actor=DEMO, verdicts=verdicts))
    if models_dir is not None:
        for demo in tasks:
            name = demo.spec["name"]
            trained = retrain(engine=engine, task_name=name, encoder=encoder,
                              models_dir=models_dir, actor=DEMO)
            counts[f"{name}_model"] = trained.version
    return counts
