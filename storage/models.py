"""SQLModel tables: the nouns of ../shared/DESIGN.md.

Times are timezone-aware UTC (``utcnow()``); SQLModel stores them as UTC on SQLite and PostgreSQL.
Free-form structures (label sets, slots, metrics, settings) are JSON columns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


class Role(StrEnum):
    rater = "rater"
    reviewer = "reviewer"
    lead = "lead"
    admin = "admin"


class TaskKind(StrEnum):
    intent = "intent"
    safety = "safety"


class LabelSource(StrEnum):
    rater = "rater"
    import_ = "import"
    adjudication = "adjudication"
    triage = "triage"


# --- accounts ---------------------------------------------------------------------------


class AccountBase(SQLModel):
    username: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    display_name: str = Field(default="", max_length=128)
    role: Role = Field(default=Role.rater, sa_type=String(16))
    active: bool = True


class Account(AccountBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(max_length=256)
    created_at: datetime = Field(default_factory=utcnow)
    failed_sign_ins: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """Wrong passwords in a row since the last successful sign-in (or unlock)."""
    locked_until: datetime | None = None
    """Sign-in refused until then, after too many wrong passwords in a row."""
    session_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """Raised when the password is reset or the account disabled: a browser session signed in
    under an older value is signed out at its next request."""


class AccountPublic(AccountBase):
    id: int


# --- tasks and guidelines -------------------------------------------------------------------


class TaskBase(SQLModel):
    name: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    kind: TaskKind = Field(sa_type=String(16))
    labels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    ordered: bool = False
    slot_schema: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    oos_label: str | None = Field(default=None, max_length=64)
    overlap_k: int = 2
    gold_share: float = 0.1
    lease_seconds: int = 900
    strategy: str = Field(default="margin", max_length=32)
    batch_size: int = 20
    show_suggestions: bool = False
    agreement_threshold: float = 0.6
    confidence_threshold: float = 0.7
    gold_accuracy_threshold: float = Field(
        default=0.8, sa_column_kwargs={"server_default": "0.8"})
    """A rater judged on gold is flagged when their gold accuracy is below it."""
    min_gold_answers: int = Field(default=5, sa_column_kwargs={"server_default": "5"})
    """Gold answers a rater gives before they are judged on gold."""
    aggregation: str = Field(default="majority", max_length=32)
    text_features: bool = False
    """Train on character and word n-grams of the text as well as its embedding."""
    safe_label: str | None = Field(default=None, max_length=64)
    """Safety tasks: the label meaning "nothing to act on"; every other label is unsafe."""
    collect_preview_prompts: bool = Field(
        default=True, sa_column_kwargs={"server_default": sa_true()})
    """Prompts typed in the preview join this task's labeling pool (redacted)."""
    self_training: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    """Retraining adds the model's confident predictions on unlabeled items as pseudo-labels."""


class Task(TaskBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    selecting_until: datetime | None = None
    """A batch selection for the task is running (claimed until then; one at a time)."""
    items_deleted: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """How many times items of the task were deleted (an erasure, retention): what a process
    keeps in memory about the task's items (vectors, selection scores) is keyed on it, so it is
    forgotten, and SQLite, which gives a deleted highest id to the next row, never serves an
    erased text's vector for a new item."""


class GuidelineVersion(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("task_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    version: int
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_by: int | None = Field(default=None, foreign_key="account.id")
    created_at: datetime = Field(default_factory=utcnow)


# --- items ---------------------------------------------------------------------------------


class Item(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("task_id", "text_hash"),
        # The few items sent back for more raters (what a consensus refresh checks).
        Index("ix_item_task_extra_raters", "task_id", "extra_raters",
              sqlite_where=text("extra_raters > 0"), postgresql_where=text("extra_raters > 0")),
    )
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    text_hash: str = Field(max_length=64, index=True)
    source: str = Field(default="import", max_length=256)
    end_user_id: str | None = Field(default=None, max_length=64, index=True)
    opted_out: bool = False
    gold_label: str | None = Field(default=None, max_length=64)
    gold_slots: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    pii_types: list[str] | None = Field(default=None, sa_column=Column(JSON))
    """Kinds of personal data redacted from the text at ingest (never the values)."""
    extra_raters: int = 0
    """Raters wanted beyond the task's k (an item sent back for relabeling)."""
    live_labels: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """How many live rater labels the item has (a rater's, sure, not superseded): kept by the
    database (triggers on ``label``, migration 0014), never written by the application."""
    created_at: datetime = Field(default_factory=utcnow)


class EndUserOptOut(SQLModel, table=True):
    """An end user who opted out of human review: their prompts never enter a labeling pool.
    Keyed by a one-way digest of the pseudonym (never the id or the pseudonym itself), so the
    opt-out outlives an erasure without keeping what the erasure removed."""

    __tablename__ = "end_user_opt_out"
    reference: str = Field(primary_key=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class ImportRecord(SQLModel, table=True):
    """One import of a file into a task, by content hash."""

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    file_name: str = Field(max_length=512)
    file_sha256: str = Field(max_length=64, index=True)
    rows: int
    items_added: int
    labels_added: int
    imported_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


# --- selection, assignments, labels -----------------------------------------------------------


# The conditions of the partial unique indexes that keep the queue's and registry's rules
# (the same SQL on SQLite and PostgreSQL; migration 0011 creates them).
OPEN_LEASE = "status = 'leased'"
LIVE_RATER_LABEL = "source = 'rater' AND NOT superseded AND rater_id IS NOT NULL"
SERVING = "serving"
ACTIVE = "active"


class Selection(SQLModel, table=True):
    """An item picked for labeling in a batch, with the strategy, model and score."""

    __table_args__ = (
        # An item sits in at most one active batch.
        Index("ux_selection_one_active", "item_id", unique=True,
              sqlite_where=text(ACTIVE), postgresql_where=text(ACTIVE)),
    )

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    batch_id: str = Field(max_length=64, index=True)
    strategy: str = Field(max_length=32)
    model_version_id: int | None = Field(default=None, foreign_key="modelversion.id")
    score: float | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)




class Assignment(SQLModel, table=True):
    """An item leased to a rater until ``expires_at``."""

    __table_args__ = (
        Index("ix_assignment_open", "task_id", "status", "expires_at"),
        # A rater holds at most one open lease on an item (their prefetched run is several items).
        Index("ux_assignment_one_open_lease", "item_id", "rater_id", unique=True,
              sqlite_where=text(OPEN_LEASE), postgresql_where=text(OPEN_LEASE)),
    )
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id")
    item_id: int = Field(foreign_key="item.id", index=True)
    rater_id: int = Field(foreign_key="account.id", index=True)
    selection_id: int | None = Field(default=None, foreign_key="selection.id", index=True)
    status: str = Field(default="leased", max_length=16)  # leased, submitted, skipped, expired
    skip_reason: str | None = Field(default=None, max_length=256)
    leased_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class Label(SQLModel, table=True):
    """A rater's (or import's, adjudicator's, triage reviewer's) answer, with provenance."""

    __table_args__ = (
        # One live answer per rater and item: a correction supersedes the old label first.
        Index("ux_label_one_live_per_rater", "item_id", "rater_id", unique=True,
              sqlite_where=text(LIVE_RATER_LABEL), postgresql_where=text(LIVE_RATER_LABEL)),
        # A task's labels over a range of days (Label quality).
        Index("ix_label_task_submitted", "task_id", "submitted_at"),
        # A task's superseded labels (what a consensus refresh checks).
        Index("ix_label_task_superseded", "task_id",
              sqlite_where=text("superseded"), postgresql_where=text("superseded")),
    )

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    rater_id: int | None = Field(default=None, foreign_key="account.id", index=True)
    value: str = Field(max_length=64)
    slots: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    unsure: bool = False
    source: LabelSource = Field(default=LabelSource.rater, sa_type=String(16))
    source_detail: str | None = Field(default=None, max_length=512)
    shown_at: datetime | None = None
    submitted_at: datetime = Field(default_factory=utcnow)
    seconds: float | None = None
    guideline_version: int | None = None
    strategy: str | None = Field(default=None, max_length=32)
    model_version_id: int | None = Field(default=None, foreign_key="modelversion.id")
    selection_score: float | None = None
    batch_id: str | None = Field(default=None, max_length=64)
    is_gold: bool = False
    corrects_label_id: int | None = Field(default=None, foreign_key="label.id", index=True)
    superseded: bool = False


WAITING = "needs_adjudication"


class Consensus(SQLModel, table=True):
    """Per item: the aggregated value, how it was reached, and whether it is settled."""

    __table_args__ = (
        # The Adjudicate queue: the items waiting, least confident first.
        Index("ix_consensus_waiting", "task_id", "confidence",
              sqlite_where=text(WAITING), postgresql_where=text(WAITING)),
    )

    item_id: int = Field(foreign_key="item.id", primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    value: str | None = Field(default=None, max_length=64)
    method: str = Field(max_length=32)  # majority, dawid_skene, adjudicated, imported
    confidence: float | None = None
    agreement: float | None = None
    n_labels: int = 0
    settled: bool = False
    needs_adjudication: bool = False
    suspect: bool = False
    """Flagged by label-error detection and sent back for relabeling."""
    updated_at: datetime = Field(default_factory=utcnow)


class ConsensusRefresh(SQLModel, table=True):
    """Per task: the labels and settings its consensus rows were last computed from, so a
    refresh with nothing new computes nothing, and one after new labels computes only the items
    they touched (``labeling.review.consensus.recompute``)."""

    task_id: int = Field(foreign_key="task.id", primary_key=True)
    labels: int = 0
    newest_label_id: int = 0
    superseded: int = 0
    basis: str = Field(default="", max_length=256)
    """The settings and item state the rows depend on besides the labels (aggregation, k,
    thresholds, items and their extra raters): another basis means a full recompute."""
    refreshed_at: datetime = Field(default_factory=utcnow)


# --- embeddings and models -------------------------------------------------------------------


class Embedding(SQLModel, table=True):
    """A text's vector under one model, stored once by (text hash, model name)."""

    text_hash: str = Field(max_length=64, primary_key=True)
    model_name: str = Field(max_length=128, primary_key=True)
    dim: int
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ModelVersion(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("task_id", "version"),
        # One serving version per task.
        Index("ux_modelversion_one_serving", "task_id", unique=True,
              sqlite_where=text(SERVING), postgresql_where=text(SERVING)),
    )
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    version: int
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    label_snapshot_hash: str = Field(max_length=64)
    file_path: str = Field(max_length=1024)
    file_hash: str = Field(max_length=64)
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    parent_id: int | None = Field(default=None, foreign_key="modelversion.id")
    trained_by: str | None = Field(default=None, max_length=64)
    trained_at: datetime = Field(default_factory=utcnow)
    serving: bool = False


# --- safety: rules, policy, flags and triage ------------------------------------------------


class RuleListVersion(SQLModel, table=True):
    """One version of the block and allow lists: every change makes a new row with the whole
    list, so a rule hit can always name the list it came from."""

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(sa_column=Column(Integer, unique=True, nullable=False))
    entries: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    change: str = Field(default="", max_length=512)
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class SafetyPolicy(SQLModel, table=True):
    """A version of a safety task's policy thresholds (block, review, per category)."""

    __table_args__ = (UniqueConstraint("task_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    version: int
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class Flag(SQLModel, table=True):
    """A prompt or router output flagged by policy, a rule or a user report (text redacted)."""

    id: int | None = Field(default=None, primary_key=True)
    prompt: str = Field(sa_column=Column(Text, nullable=False))
    output: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    origin: str = Field(max_length=32)  # policy, rule, user_report
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    scores: dict[str, float] = Field(default_factory=dict, sa_column=Column(JSON))
    reported_by: int | None = Field(default=None, foreign_key="account.id")
    status: str = Field(default="open", max_length=16)  # open, escalated, decided
    created_at: datetime = Field(default_factory=utcnow)
    task_id: int | None = Field(default=None, foreign_key="task.id", index=True)
    item_id: int | None = Field(default=None, foreign_key="item.id", index=True)
    text_hash: str | None = Field(default=None, max_length=64, index=True)
    verdict: str | None = Field(default=None, max_length=16)  # allow, review, block
    category: str | None = Field(default=None, max_length=64)
    severity: int = 0
    """Rank of the category in the taxonomy's severity order: higher is more severe."""
    uncertainty: float | None = None
    rule_hits: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    pii_types: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    versions: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    """Policy, rule list, model and normaliser versions behind the verdict."""


class TriageDecision(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    flag_id: int = Field(foreign_key="flag.id", index=True)
    reviewer_id: int = Field(foreign_key="account.id")
    decision: str = Field(max_length=32)  # allow, block, escalate
    category: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, sa_column=Column(Text))
    label_id: int | None = Field(default=None, foreign_key="label.id")
    decided_at: datetime = Field(default_factory=utcnow)


# --- audit -------------------------------------------------------------------------------


class AuditEvent(SQLModel, table=True):
    """Who did what to which row, when, before and after. Append-only."""

    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64, index=True)
    entity: str = Field(max_length=64)
    entity_id: str | None = Field(default=None, max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


# --- catalogue ---------------------------------------------------------------------------


class CatalogueVersion(SQLModel, table=True):
    """One import of the track catalogue: the tracks table holds the newest one."""

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(sa_column=Column(Integer, unique=True, nullable=False))
    source: str = Field(max_length=512)
    file_sha256: str | None = Field(default=None, max_length=64)
    n_tracks: int
    mapping: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class LexiconVersion(SQLModel, table=True):
    """One version of the slot lexicon (synonyms and slang mapped to slot values)."""

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(sa_column=Column(Integer, unique=True, nullable=False))
    entries: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    change: str = Field(default="", max_length=512)
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class Impression(SQLModel, table=True):
    """One playlist shown in the preview: what was asked, what the ranker could choose from,
    what it showed, and with what probability it chose each position."""

    id: int | None = Field(default=None, primary_key=True)
    prompt_id: str = Field(max_length=16, index=True)
    prompt: str = Field(sa_column=Column(Text, nullable=False))
    """Redacted."""
    session_id: str = Field(max_length=64, index=True)
    account_id: int | None = Field(default=None, foreign_key="account.id")
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    ranker: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    versions: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    slots: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    candidates: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    """The ranker's pool: track ids with their scores."""
    shown: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    propensities: list[float] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)


class Feedback(SQLModel, table=True):
    """A like, skip or save of one shown track."""

    id: int | None = Field(default=None, primary_key=True)
    impression_id: int = Field(foreign_key="impression.id", index=True)
    track_id: str = Field(max_length=64)
    position: int
    action: str = Field(max_length=16)
    account_id: int | None = Field(default=None, foreign_key="account.id")
    created_at: datetime = Field(default_factory=utcnow)


class RankerPromotion(SQLModel, table=True):
    """A ranker configuration a lead promoted for the preview, with why and on what evidence.
    Append-only: the newest row is the one the preview uses by default."""

    id: int | None = Field(default=None, primary_key=True)
    config_name: str | None = Field(default=None, max_length=64)
    """``None``: back to choosing the configuration by intent."""
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    """The configuration's weights as promoted (``RankerConfig.as_dict``)."""
    reason: str = Field(sa_column=Column(Text, nullable=False))
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    """What the lead saw: the evaluation window and verdicts, if any."""
    promoted_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class Track(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    track_id: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    title: str = Field(max_length=256)
    artist: str = Field(max_length=256, index=True)
    genre: str = Field(max_length=64, index=True)
    year: int
    energy: float
    valence: float
    danceability: float
    acousticness: float
    instrumentalness: float
    speechiness: float
    tempo: float
    loudness: float
    duration_ms: int
    explicit: bool
    popularity: int
    tags: str | None = Field(default=None, max_length=512)
    """Extra descriptors for retrieval (sub-genre, album), space-separated words."""
