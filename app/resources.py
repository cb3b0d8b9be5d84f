"""The only ``st.cache_resource`` objects: settings, the engine and the encoder (and the
router, which `routing` keeps per set of versions).

Sessions are never cached: each user action opens its own unit of work.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy.engine import Engine

from labeling.ml.encoders import Encoder, make_encoder
from labeling.project.authz import SYSTEM
from routing.router import Router
from routing.serving import ROUTERS
from storage.db import make_engine
from storage.settings import Settings


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
    return make_encoder(name, cache_dir=settings().encoders_dir)


def encoder() -> Encoder:
    return _encoder(settings().encoder)


def router(intent_version: int | None = None) -> Router:
    """The router for the current versions (rebuilt by ``routing`` when any changes);
    ``intent_version``: another registered intent model, for A/B comparison. Built once for
    everyone by the serving infrastructure, so it loads as ``SYSTEM``; what a signed-in user
    does with it (logging, reporting, collecting) is checked with their own account."""
    return ROUTERS.current(engine=engine(), encoder=encoder(), actor=SYSTEM,
                           intent_version=intent_version)
