"""Which router serves now: the versions a router depends on, read cheaply, and one router per
set of versions and encoder, shared by a process (the app, the CLI); a promotion, a lexicon or
rule edit, a policy change or a catalogue import builds a new one."""

from __future__ import annotations

import gc
import threading

from sqlalchemy.engine import Engine

from labeling.lifecycle.registry import serving_version
from labeling.ml.encoders import Encoder
from labeling.project.authz import Actor, Capability, requires
from routing.catalogue_index import CatalogueIndex
from routing.lexicon import current_lexicon
from routing.router import Router, default_intent_task
from routing.tracks import current_catalogue
from safety.policy import default_safety_task
from safety.policy import policy_settings as safety_policy_settings
from safety.rules import current_rules
from safety.rules import versions as rule_versions


@requires(Capability.preview)
def current_versions(*, engine: Engine, actor: Actor) -> tuple:
    """Everything a router depends on, cheaply read: a new value means a new router."""
    intent_task = default_intent_task(engine=engine, actor=actor)
    intent = serving_version(engine=engine, actor=actor, task_name=intent_task) \
        if intent_task else None
    safety_task = default_safety_task(engine=engine, actor=actor)
    safety = serving_version(engine=engine, actor=actor, task_name=safety_task) \
        if safety_task else None
    policy = safety_policy_settings(engine=engine, actor=actor, task_name=safety_task)[0] \
        if safety_task else None
    catalogue = current_catalogue(engine=engine, actor=actor)
    return (intent_task, intent.version if intent else None,
            intent.settings.get("oos_threshold") if intent else None, safety_task,
            safety.version if safety else None, policy,
            tuple(sorted(rule_versions(current_rules(engine=engine, actor=actor)).items())),
            current_lexicon(engine=engine, actor=actor).version,
            (catalogue.version, catalogue.n_tracks) if catalogue else None)


class RouterCache:
    """One router per set of versions and per encoder, shared by a process (the app, the CLI);
    built by serving infrastructure (``actor``: ``authz.SYSTEM`` in the app, the operator at the
    command line), never by a signed-in user's request."""

    def __init__(self) -> None:
        self._routers: dict[tuple, Router] = {}
        self._catalogues: dict[tuple, CatalogueIndex] = {}
        self._lock = threading.Lock()

    def current(self, *, engine: Engine, encoder: Encoder, actor: Actor,
                intent_version: int | None = None) -> Router:
        versions = current_versions(engine=engine, actor=actor)
        key = (str(engine.url), encoder.name, versions, intent_version)
        with self._lock:
            router = self._routers.get(key)
        if router is not None:
            return router
        catalogue_key = (str(engine.url), encoder.name, versions[-1])
        with self._lock:
            catalogue = self._catalogues.get(catalogue_key)
        if catalogue is None:
            catalogue = CatalogueIndex.load(engine=engine, encoder=encoder, actor=actor)
        router = Router.load(engine=engine, encoder=encoder, actor=actor, catalogue=catalogue,
                             intent_version=intent_version)
        router.warm()
        with self._lock:
            kept_catalogues = {k: v for k, v in self._catalogues.items()
                               if k[:2] != catalogue_key[:2]}
            kept_routers = {k: v for k, v in self._routers.items()
                            if k[:2] != key[:2] or k[3] != intent_version}
            replaced = (len(kept_routers) < len(self._routers)
                        or len(kept_catalogues) < len(self._catalogues))
            self._catalogues = {**kept_catalogues, catalogue_key: catalogue}
            self._routers = {**kept_routers, key: router}
        settle_heap(replaced=replaced)
        return router


def settle_heap(*, replaced: bool) -> None:
    """Put what is alive once a router is warm (the imported libraries, the models, the
    catalogue) out of the cyclic garbage collector's reach (``gc.freeze``), so that no route
    waits for a full collection: with torch and the router loaded, a process tracks about
    650,000 objects and a full collection stops it for 0.4-0.5 s, which struck about one route
    in a thousand (``bench.router_latency``'s worst route). Objects freed by their reference
    count go as before. ``replaced``: a router was dropped, so it is unfrozen and collected
    first, for whatever of it sits in reference cycles."""
    if replaced:
        gc.unfreeze()
    gc.collect()
    gc.freeze()


ROUTERS = RouterCache()
