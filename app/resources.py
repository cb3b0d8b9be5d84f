"""The only ``st.cache_resource`` objects: settings, the engine and the encoder (and the
router, which `routing` keeps per set of versions), and the background refill jobs that select
the next batch of a task before raters run out.

Sessions are never cached: each user action opens its own unit of work.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import streamlit as st
from sqlalchemy.engine import Engine

from labeling.ml.encoders import Encoder, make_encoder
from labeling.project.authz import SYSTEM, Actor
from labeling.queue import assignments as queue
from routing.router import Router
from routing.serving import ROUTERS
from storage.db import make_engine
from storage.settings import Settings

_LOG = logging.getLogger(__name__)


def settings() -> Settings:
    # Read per run (cheap) so tests and operators can change the environment.
    return Settings()


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return make_engine(url)


def engine() -> Engine:
    return _engine(settings().resolved_database_url)


@st.cache_resource(show_spinner="Loading the embedding model…")
def _encoder(name: str) -> Encoder:
    """The encoder, loaded and warmed up once; then everything loaded so far (the model's
    hundreds of thousands of objects) is frozen out of the garbage collector, so a collection
    never walks them again in the middle of a rater's rerun."""
    encoder_ = make_encoder(name, cache_dir=settings().encoders_dir)
    encoder_.encode(["warming up the encoder"])
    gc.collect()
    gc.freeze()
    return encoder_


def encoder() -> Encoder:
    return _encoder(settings().encoder)


def router(intent_version: int | None = None) -> Router:
    """The router for the current versions (rebuilt by ``routing`` when any changes);
    ``intent_version``: another registered intent model, for A/B comparison. Built once for
    everyone by the serving infrastructure, so it loads as ``SYSTEM``; what a signed-in user
    does with it (logging, reporting, collecting) is checked with their own account."""
    return ROUTERS.current(engine=engine(), encoder=encoder(), actor=SYSTEM,
                           intent_version=intent_version)


class Refills:
    """Batch selection off the rater's click: one background job per task at a time.

    ``start`` hands ``queue.refill`` to a small thread pool unless a job for the task is still
    running, or the last one found nothing to select less than ``cooldown`` seconds ago and the
    rater still has prompts on hand (so a used-up pool, or enough left, is not checked again on
    every key press). A rater with nothing on hand is never made to wait out the rest: a check
    that found enough a moment ago may have seen a batch that is used up since.
    """

    def __init__(self, *, workers: int = 2, cooldown: float = 3.0) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refill")
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str], Future[bool]] = {}
        self._finished: dict[tuple[str, str], float] = {}
        self.cooldown = cooldown

    def job(self, task_name: str) -> Future[bool] | None:
        """The latest refill job of the task (running or done), if any."""
        with self._lock:
            return self._jobs.get(_job_key(engine(), task_name))

    def start(self, task_name: str, *, actor: Actor, urgent: bool = True) -> Future[bool]:
        """Start a refill of ``task_name`` for ``actor`` unless one is running or the last found
        nothing a moment ago; return the job that answers for it.

        ``urgent``: the rater has nothing on hand (``Run.needs_batch`` with no items); otherwise
        they are only running low (``Run.running_low``). An urgent start never rests."""
        engine_, encoder_ = engine(), encoder()  # read here: settings come from this session
        key = _job_key(engine_, task_name)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and (not job.done() or not urgent and self._resting(key, job)):
                return job
            job = self._pool.submit(self._refill, key, engine_, encoder_, actor)
            self._jobs[key] = job
            return job

    def _resting(self, key: tuple[str, str], job: Future[bool]) -> bool:
        found_nothing = job.exception() is not None or not job.result()
        return found_nothing and time.monotonic() - self._finished.get(key, 0) < self.cooldown

    def _refill(self, key: tuple[str, str], engine_: Engine, encoder_: Encoder,
                actor: Actor) -> bool:
        task_name = key[1]
        try:
            return queue.refill(engine=engine_, actor=actor, task_name=task_name,
                                encoder=encoder_)
        except Exception:
            _LOG.exception("refilling the queue of %s failed", task_name)
            raise
        finally:
            with self._lock:
                self._finished[key] = time.monotonic()


def _job_key(engine_: Engine, task_name: str) -> tuple[str, str]:
    return engine_.url.render_as_string(hide_password=True), task_name


@st.cache_resource(show_spinner=False)
def refills() -> Refills:
    """The process's refill jobs (shared by every session)."""
    return Refills()
