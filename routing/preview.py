"""The live preview's services around one routed prompt: the list shown is logged as an
impression (with the candidate set, the shown order and each position's probability), likes,
skips and saves are logged against it, an output can be reported to the safety triage queue, and
the prompt joins the labeling pool of the intent and safety tasks that collect preview prompts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.engine import Engine

from labeling.exceptions import LabelingError
from labeling.ml.encoders import Encoder
from labeling.project import authz
from labeling.project.authz import Actor, Capability, requires
from labeling.project.items import add_texts, pseudonymise
from labeling.project.tasks import get_task, list_tasks
from routing.ranker import PARTS
from routing.router import Router, RouteResult
from routing.session import ACTIONS, SessionState
from safety.triage import report
from storage.db import session_scope, write_scope
from storage.models import Feedback, Impression
from storage.repositories import audit
from storage.repositories import routing as routing_repo

PREVIEW_SOURCE = "preview"
MAX_CANDIDATES = 1_000
"""At most this many of a list's candidates are logged (``Playlist.candidate_rows``: twice
the usual pool of 300)."""


class PreviewError(LabelingError):
    """A preview action that cannot be stored as asked."""


@dataclass(frozen=True)
class ImpressionView:
    id: int
    prompt_id: str
    prompt: str
    session_id: str
    ranker: dict[str, Any]
    versions: dict[str, Any]
    shown: list[str]
    propensities: list[float]
    n_candidates: int
    feedback: list[dict[str, Any]]


@requires(Capability.preview)
def log_impression(*, engine: Engine, actor: Actor, result: RouteResult, state: SessionState,
                   session_id: str, interactive: bool = True) -> int | None:
    """Log the list ``result`` shows to ``actor`` (nothing is logged when it shows none).

    The ranker's record keeps the intent the router read (``None`` without an intent model or
    for a blocked prompt) and, when ``interactive`` is false, that the list was shown where no
    like, skip or save could be given (side by side): offline evaluation leaves those out."""
    playlist = result.playlist
    if playlist is None or not playlist.tracks:
        return None
    shown = [str(t["track_id"]) for t in result.tracks]
    pool_ids = result.candidate_ids[:MAX_CANDIDATES]
    parts = playlist.candidate_parts
    candidates = [{"track_id": track_id, "score": round(float(playlist.candidate_scores[i]), 4),
                   "parts": {name: round(float(parts[name][i]), 5) for name in PARTS}
                   if parts else {}}
                  for i, track_id in enumerate(pool_ids)]
    decision = result.decision
    context = asdict(state.context())
    context = {k: list(v) if isinstance(v, tuple) else v for k, v in context.items()}
    with write_scope(engine) as session:
        who = authz.principal(session, actor)
        row = routing_repo.add_impression(session=session, row=Impression(
            prompt_id=decision.prompt_id, prompt=decision.prompt, session_id=session_id[:64],
            account_id=who.account_id, context=context,
            ranker={**result.ranker, "config": playlist.config.as_dict(),
                    "intent": decision.intent, "interactive": interactive},
            versions=dict(decision.versions), slots=decision.slot_values(),
            candidates=candidates, shown=shown,
            propensities=[float(p) for p in playlist.propensities]))
        return row.id


@requires(Capability.preview)
def record_feedback(*, engine: Engine, actor: Actor, impression_id: int, track_id: str,
                    action: str) -> int:
    """Log ``actor``'s like, skip or save of a track the impression showed; return its
    position."""
    if action not in ACTIONS:
        raise PreviewError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    with write_scope(engine) as session:
        who = authz.principal(session, actor)
        impression = routing_repo.get_impression(session=session, impression_id=impression_id)
        if impression is None:
            raise PreviewError(f"no impression {impression_id}")
        if track_id not in impression.shown:
            raise PreviewError(f"track {track_id} was not shown in impression {impression_id}")
        position = impression.shown.index(track_id) + 1
        routing_repo.add_feedback(session=session, row=Feedback(
            impression_id=impression_id, track_id=track_id, position=position, action=action,
            account_id=who.account_id))
        return position


@requires(Capability.run_experiments)
def impression_log(*, engine: Engine, actor: Actor, session_id: str | None = None,
                   limit: int = 1000) -> list[ImpressionView]:
    """The newest impressions first, each with its feedback (everyone's prompts: for the
    people who evaluate the ranker)."""
    with session_scope(engine) as session:
        rows = routing_repo.impressions(session=session, session_id=session_id, limit=limit)
        feedback = routing_repo.feedback_for(session=session,
                                             impression_ids=[r.id for r in rows if r.id])
        by_impression: dict[int, list[dict[str, Any]]] = {}
        for f in feedback:
            by_impression.setdefault(f.impression_id, []).append(
                {"track_id": f.track_id, "position": f.position, "action": f.action})
        return [ImpressionView(
            id=r.id or 0, prompt_id=r.prompt_id, prompt=r.prompt, session_id=r.session_id,
            ranker=dict(r.ranker), versions=dict(r.versions), shown=list(r.shown),
            propensities=list(r.propensities), n_candidates=len(r.candidates),
            feedback=by_impression.get(r.id or 0, [])) for r in rows]


@requires(Capability.preview)
def report_output(*, engine: Engine, actor: Actor, router: Router, result: RouteResult,
                  note: str | None) -> int:
    """Send a routed prompt and what it got to the triage queue, reported by ``actor`` with
    their note; return the flag's id."""
    decision = result.decision
    if not decision.prompt.strip():
        raise PreviewError("nothing to report: the prompt is empty")
    verdict = router.gate.check(decision.prompt)
    output = {"intent": decision.intent, "confidence": decision.confidence,
              "abstain": decision.abstain, "fallback": decision.fallback,
              "message": decision.message, "slots": decision.slot_values(),
              "tracks": [f"{t['artist']} - {t['title']}" for t in result.tracks[:20]],
              "versions": decision.versions, "source": PREVIEW_SOURCE}
    return report(engine=engine, actor=actor, verdict=verdict, note=note, output=output)


@requires(Capability.preview)
def collecting_tasks(*, engine: Engine, actor: Actor) -> list[str]:
    """The intent and safety tasks whose pools take preview prompts."""
    return [t.name for t in list_tasks(engine=engine, actor=actor, kinds=("intent", "safety"))
            if t.collect_preview_prompts]


@requires(Capability.preview)
def collect_prompt(*, engine: Engine, encoder: Encoder, actor: Actor, result: RouteResult,
                   end_user_id: str | None, pseudonym_key: str) -> list[str]:
    """Add the routed prompt (as the router redacted it) to the labeling pool of every task
    that collects preview prompts; the end user's id is stored only as a pseudonym, and the
    addition is audited under ``actor``. Returns the tasks it was new to."""
    decision = result.decision
    text = decision.prompt.strip()
    if not text or decision.fallback == "error":
        return []
    user = pseudonymise(end_user_id, key=pseudonym_key) if end_user_id else None
    added = []
    names = collecting_tasks(engine=engine, actor=actor)
    if not names:
        return []
    with write_scope(engine) as session:
        who = authz.principal(session, actor)
        for name in names:
            task = get_task(session=session, name=name)
            result_ = add_texts(session=session, task=task, texts=[text], labels=[None],
                                source=PREVIEW_SOURCE, encoder=encoder, vectors={},
                                end_user_ids=[user],
                                pii_types=[list(decision.safety.get("pii_types") or [])])
            if result_.items_added:
                added.append(name)
        if added:
            audit.record(session=session, actor=who.audit_name, action="items.add",
                         entity="task", after={"tasks": added, "source": PREVIEW_SOURCE,
                                               "prompt_id": decision.prompt_id})
    return added
