"""SQLModel tables of the tag store. Every table but `runs` is keyed by the run it belongs to.

A person keeps one number across runs (`person_numbers`; the column is `person_idx` wherever a
row belongs to a person), so that a run's tags are stored as roaring bitmaps of those numbers
and two runs' bitmaps compare directly; the pseudonymous `person_id` (keyed HMAC) is what
leaves the service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, LargeBinary, Table, Text
from sqlmodel import Field, SQLModel


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a model, for statements that need no ORM objects."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


class Run(SQLModel, table=True):
    __tablename__ = "runs"

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(index=True)  # running | committed | failed
    # The data's last moment used, written once by the commit: null while the run reads its
    # data (and for a run that failed before it knew).
    as_of: datetime | None = None
    started_at: datetime
    finished_at: datetime | None = None
    source: str
    pid: int | None = None
    persons: int = 0
    tag_rows: int = 0
    stored_bytes: int = 0  # what the run's rows hold (profiles, bitmaps, ...), roughly
    # The names of the values in each profile's `features` array, in order.
    feature_names: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    quality: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    timings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text))


class RunReport(SQLModel, table=True):
    """One section of what a run found beyond its row accounts (basket mining, models, ...)."""

    __tablename__ = "run_reports"

    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    section: str = Field(primary_key=True)
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class RunFile(SQLModel, table=True):
    """A file a run keeps whole, such as its order baskets (Parquet) for mining a segment."""

    __tablename__ = "run_files"

    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    name: str = Field(primary_key=True)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class TagDefinition(SQLModel, table=True):
    __tablename__ = "tag_definitions"

    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    key: str = Field(primary_key=True)
    kind: str
    description: str
    source: str  # built_in | catalog | model
    value_type: str  # category | score | number | flag
    values: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class PersonNumber(SQLModel, table=True):
    """The persons registry: every person number ever given, and whose it is.

    A number is never reused. A person_id holds one number at a time (the row whose
    `retired_into` is empty). When identity resolution merges persons, the merged person keeps
    the lowest of their numbers and the others are retired into it; when it splits one, the
    part holding the canonical identifier (the same person_id) keeps the number and the other
    parts get new ones (`store.profiles.numbering`). A forgotten person's row loses its person_id.
    """

    __tablename__ = "person_numbers"
    __table_args__ = (Index("ix_person_numbers_person_id", "person_id"),)

    number: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    person_id: str | None
    first_run_id: int
    retired_into: int | None = None


class PersonIdentifier(SQLModel, table=True):
    """The only table that holds the shop's raw identifiers (user ids, device ids, ...): the
    person number each one belonged to in the newest run that met it."""

    __tablename__ = "person_identifiers"
    __table_args__ = (Index("ix_person_identifiers_person", "person_idx"),)

    kind: str = Field(primary_key=True)
    identifier: str = Field(primary_key=True)
    person_idx: int  # the person's stable number


class Profile(SQLModel, table=True):
    """One person in one run: attributes, tags and features, the row a profile read needs.

    `person_idx` is the person's stable number (`person_numbers`). `tags` is a JSON array with
    one entry per tag: `[code]`, `[code, score]`, or for a number key `[code, score, value]`,
    where `code` names a row of `tag_bitmaps` of the same run (the view `profile_tags` spells
    them out). `attributes` is JSON text; `features` a zlib-compressed JSON array of the values
    named by the run's `feature_names` (null where missing): a fifth of the JSON object's size.
    """

    __tablename__ = "profiles"
    __table_args__ = (Index("ix_profiles_run_person_id", "run_id", "person_id", unique=True),)

    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    person_idx: int = Field(primary_key=True)
    person_id: str
    attributes: str = Field(sa_column=Column(Text, nullable=False))
    tags: str = Field(sa_column=Column(Text, nullable=False))
    features: bytes | None = Field(default=None, sa_column=Column(LargeBinary))


class TagBitmap(SQLModel, table=True):
    """The persons of one run holding one tag value, as a serialized roaring bitmap of person
    numbers; a row with no `value` holds the key's persons (any value) and, for a key with
    scores, its scored rows sorted by score (`score_persons` uint32, `score_values` float64,
    each zlib-compressed), which `score > x` reads without touching a profile."""

    __tablename__ = "tag_bitmaps"
    __table_args__ = (Index("ix_tag_bitmaps_key", "run_id", "key", "value"),)

    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    code: int = Field(primary_key=True)
    key: str
    value: str | None = None
    persons: int
    members: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    score_persons: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    score_values: bytes | None = Field(default=None, sa_column=Column(LargeBinary))


class RunMembers(SQLModel, table=True):
    """Every person of a run, as a serialized roaring bitmap of person numbers."""

    __tablename__ = "run_members"

    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    members: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class SavedAudience(SQLModel, table=True):
    """An audience saved by name: its current expression, and who saved it when."""

    __tablename__ = "audiences"

    name: str = Field(primary_key=True)
    expression: str = Field(sa_column=Column(Text, nullable=False))
    version: int
    saved_by: str
    saved_at: datetime
    created_by: str
    created_at: datetime


class AudienceVersion(SQLModel, table=True):
    """Every expression an audience has had, the current one included."""

    __tablename__ = "audience_versions"

    name: str = Field(foreign_key="audiences.name", primary_key=True)
    version: int = Field(primary_key=True)
    expression: str = Field(sa_column=Column(Text, nullable=False))
    saved_by: str
    saved_at: datetime


class AudienceSize(SQLModel, table=True):
    """How many persons an audience had on a run it was evaluated on: its size over time."""

    __tablename__ = "audience_sizes"

    name: str = Field(foreign_key="audiences.name", primary_key=True)
    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    version: int
    persons: int
    entered: int | None = None  # persons in it on this run and not on the previous kept run
    left: int | None = None  # persons in it on the previous kept run and not on this one
    evaluated_at: datetime


class AudienceChange(SQLModel, table=True):
    """The audit of saved audiences: every creation, edit and deletion, by which key and role.
    A deletion copies each version the audience had, so its history outlives it."""

    __tablename__ = "audience_changes"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    name: str = Field(index=True)
    action: str  # created | edited | deleted
    version: int
    expression: str = Field(sa_column=Column(Text, nullable=False))
    by: str
    key_id: int | None  # None: an open development store
    role: str | None


class AssociationRule(SQLModel, table=True):
    """One basket rule of a run: antecedents -> consequents, at item or category level."""

    __tablename__ = "association_rules"

    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    level: str = Field(primary_key=True)  # item | category
    rank: int = Field(primary_key=True)  # 1 = the highest lift
    antecedents: list[str] = Field(sa_column=Column(JSON, nullable=False))
    consequents: list[str] = Field(sa_column=Column(JSON, nullable=False))
    antecedent_support: float
    consequent_support: float
    support: float
    confidence: float
    lift: float
    leverage: float
    conviction: float | None = None  # None: the rule never failed (infinite conviction)


class Recommendation(SQLModel, table=True):
    """An item the run's rules recommend to a person, with the item rule behind it."""

    __tablename__ = "recommendations"

    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    person_idx: int = Field(primary_key=True)
    rank: int = Field(primary_key=True)  # 1 = the best
    item_id: str
    score: float
    rule_rank: int  # association_rules.rank at level "item"


class CatalogItem(SQLModel, table=True):
    """Name and category of the items that rules and recommendations mention."""

    __tablename__ = "items"

    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    item_id: str = Field(primary_key=True)
    name: str | None = None
    category: str | None = None


class PersonaRow(SQLModel, table=True):
    """One K-Means persona of a run: its generated name, description, size and centroid."""

    __tablename__ = "personas"

    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    persona_id: int = Field(primary_key=True)
    name: str
    description: str = Field(sa_column=Column(Text, nullable=False))
    size: int
    share: float
    top_tags: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    centroid: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))


class DriftRow(SQLModel, table=True):
    """How far one tag key's distribution moved from the previous committed run (PSI)."""

    __tablename__ = "drift"

    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    key: str = Field(primary_key=True)
    previous_run_id: int
    psi: float
    flagged: bool
    threshold: float
    measured_at: datetime


class Outcome(SQLModel, table=True):
    """When a person ordered next after the run's as_of, when the data goes on past it."""

    __tablename__ = "outcomes"

    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    person_idx: int = Field(primary_key=True)
    next_order_days: int  # calendar days from the as_of day to the day of the next order


class ApiKey(SQLModel, table=True):
    """An API key: only its SHA-256 is stored; the key itself is shown once, when created."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(index=True, unique=True)
    role: str  # operator | analyst | admin
    name: str
    created_at: datetime
    revoked_at: datetime | None = None


class ApiKeyEvent(SQLModel, table=True):
    """One operation on an API key (created, revoked), and who did it: a key's name and id, or
    `command line` for `portrait keys`."""

    __tablename__ = "api_key_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    key_id: int = Field(index=True)
    action: str  # created | revoked
    by: str


class AuditEntry(SQLModel, table=True):
    """One read of one person through the API: who, when, which person, which query."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_person", "person_id"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    at: datetime
    key_id: int
    key_name: str
    role: str
    run_id: int
    person_id: str  # the pseudonym: the audit log holds no raw identifier
    query: str  # the root field and the operation's name, e.g. "profile (CheckoutCard)"


class Suppression(SQLModel, table=True):
    """An identifier of a forgotten person, as a keyed HMAC (never the identifier itself):
    later runs leave out every person one of whose identifiers is listed."""

    __tablename__ = "suppressions"

    digest: str = Field(primary_key=True)  # HMAC-SHA256 of "kind:identifier"
    forgotten_at: datetime
    forgotten_by: str
