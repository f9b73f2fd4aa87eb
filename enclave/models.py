"""The registry's tables: users (and their second login factor), projects, memberships and audit events.

The schema changes only through Alembic (``enclave/migrations``); a test checks that the migrations
and these classes describe the same tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, TypedDict

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Enum as SqlEnum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from enclave.errors import EnclaveError

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
# JupyterHub lower-cases user names; an OIDC e-mail address is a valid name.
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


class Role(StrEnum):
    """What a user may do on the platform (a user may hold several)."""

    researcher = "researcher"
    steward = "steward"
    ops = "ops"
    committee = "committee"  # the scientific and ethics committee (portal: opinions on access requests)


class Purpose(StrEnum):
    """The six purposes for which the SNDS may be processed (Code de la santé publique, L1461-1 III)."""

    health_information = "health_information"
    health_policy = "health_policy"
    health_spending = "health_spending"
    professional_information = "professional_information"
    innovation = "innovation"
    surveillance = "surveillance"

    @property
    def label_fr(self) -> str:
        return _PURPOSE_LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _PURPOSE_LABELS[self][1]


_PURPOSE_LABELS: dict[Purpose, tuple[str, str]] = {
    Purpose.health_information: ("information sur la santé", "health information"),
    Purpose.health_policy: ("mise en œuvre des politiques de santé", "health policy"),
    Purpose.health_spending: ("connaissance des dépenses de santé", "knowledge of health spending"),
    Purpose.professional_information: (
        "information des professionnels et des établissements sur leur activité",
        "information of professionals and institutions on their activity",
    ),
    Purpose.innovation: (
        "innovation dans les domaines de la santé et de la prise en charge médico-sociale",
        "innovation in health and care",
    ),
    Purpose.surveillance: ("veille, surveillance et sécurité sanitaires", "surveillance, monitoring and health safety"),
}


class ProjectState(StrEnum):
    """Where a project is in its life; the allowed moves are in :data:`enclave.lifecycle.TRANSITIONS`."""

    requested = "requested"
    reviewed = "reviewed"
    authorised = "authorised"
    provisioned = "provisioned"
    active = "active"
    suspended = "suspended"
    frozen = "frozen"  # held by ops (an investigation, a legal hold): data out of reach, nothing deleted
    closed = "closed"


@dataclass(frozen=True)
class StateTraits:
    """What a project state means beyond the moves into and out of it (those are in
    :data:`enclave.lifecycle.TRANSITIONS`): one row per state, read by hosting and provisioning."""

    data_reachable: bool = False  # servers may run, outputs may be submitted, the expiry is enforced
    holds_extracts: bool = False  # provisioned once and not deprovisioned: extracts on disk, maybe a network
    provision_refusal: str | None = None  # why `enclave provision` refuses a project in it ({slug}: the project)


_P = ProjectState
STATE_TRAITS: dict[ProjectState, StateTraits] = {
    _P.requested: StateTraits(),
    _P.reviewed: StateTraits(),
    _P.authorised: StateTraits(),
    _P.provisioned: StateTraits(data_reachable=True, holds_extracts=True),
    _P.active: StateTraits(data_reachable=True, holds_extracts=True),
    _P.suspended: StateTraits(holds_extracts=True, provision_refusal="resume it first: enclave project resume {slug} --reason ..."),
    _P.frozen: StateTraits(holds_extracts=True, provision_refusal="unfreeze it first: enclave project unfreeze {slug} --reason ..."),
    _P.closed: StateTraits(provision_refusal="a closed project stays closed; register a new one"),
}
if set(STATE_TRAITS) != set(ProjectState):  # a new state is described here or the registry does not load
    raise RuntimeError(f"project states without traits: {sorted(set(ProjectState) - set(STATE_TRAITS))}")

DATA_REACHABLE = frozenset(state for state, traits in STATE_TRAITS.items() if traits.data_reachable)
"""The states in which a project's data is within its members' reach: servers may run, outputs
may be submitted, and the authorisation must not have expired."""


class MemberRole(StrEnum):
    pi = "pi"
    member = "member"


class DataRequest(TypedDict):
    """What the project may see: the arguments of :func:`pseudonymizer.extract.extract`."""

    tables: list[str]
    columns: dict[str, list[str]]
    where: list[str]
    key_version: int


class EgressPolicy(TypedDict, total=False):
    small_cell_threshold: int
    stewards_required: int
    model_attack_auc: float  # optional: see egress_gate.policy.Policy.model_attack_auc for its default


class Resources(TypedDict, total=False):
    """Limits of each of the project's containers, in Docker's terms; sizes in bytes."""

    mem_limit: str
    cpu_limit: float
    pids_limit: int
    workspace_quota: int          # the shared workspace's filesystem (enclave.workspace)
    output_message_cap: int       # what the seal lets through to the browser (spawner_config.seal)
    output_budget_per_hour: int   # information bytes per hour and per UTC day (spawner_config.seal_budget);
    output_budget_per_day: int    # unset: DEFAULT_OUTPUT_BUDGET_PER_HOUR / _PER_DAY
    image: str                    # which notebook image: one of NOTEBOOK_IMAGES (enclave.settings maps it to a tag)


# What one member's browser may receive from one project's server, in the information bytes the
# seal's content guard charges, when the manifest sets no budget. Measured (spawner_config.seal_content's
# docstring, tests/bench/content_bench.py): an ordinary analysis day costs 168 KB, JupyterLab's start
# 35 KB; the demo's extract set, in its cheapest printable form, 290 KB.
DEFAULT_OUTPUT_BUDGET_PER_HOUR = 150_000
DEFAULT_OUTPUT_BUDGET_PER_DAY = 250_000


# The researcher images a project may choose (manifest [resources] image), lightest first.
NOTEBOOK_IMAGES = {
    "slim": "JupyterLab, Python (pandas, pyarrow, scikit-learn, statsmodels, matplotlib) and R",
    "stack": "slim + R tidyverse essentials, data.table, survival, lme4; lifelines, polars, DuckDB, Keras 3 on JAX",
}
DEFAULT_NOTEBOOK_IMAGE = "slim"


class OrganisationType(StrEnum):
    """Who holds the project, for pricing (the tariff has a price list per type)."""

    academic = "academic"
    public = "public"
    private = "private"


class Billing(TypedDict, total=False):
    """How a project is charged (manifest ``[billing]``): its organisation type and an optional
    monthly budget (a decimal string, in the tariff's currency) that warns the team when neared."""

    organisation_type: str
    monthly_budget: str


def default_billing() -> Billing:
    """The billing of a project whose manifest sets none (the one place this default lives)."""
    return {"organisation_type": OrganisationType.academic.value}


def default_data_request() -> DataRequest:
    return {"tables": [], "columns": {}, "where": [], "key_version": 1}


def default_egress_policy() -> EgressPolicy:
    """The egress policy of a project whose manifest sets none (the one place these defaults live)."""
    return {"small_cell_threshold": 10, "stewards_required": 2}


def default_resources() -> Resources:
    """The container limits of a project whose manifest sets none (the one place these defaults live)."""
    return {"mem_limit": "4G", "cpu_limit": 2.0, "pids_limit": 512}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware one (datetime.now(UTC))")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _enum(cls: type[StrEnum], name: str) -> SqlEnum:
    """A VARCHAR + CHECK column holding the enum's values: portable, and readable in SQL."""
    return SqlEnum(cls, name=name, native_enum=False, create_constraint=True, length=32,
                   values_callable=lambda members: [m.value for m in members])


class Base(DeclarativeBase):
    # Named constraints, so that later migrations can drop or alter them on every backend.
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    oidc_sub: Mapped[str | None] = mapped_column(String(255), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    role_rows: Mapped[list[UserRole]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(row.role for row in self.role_rows)

    @roles.setter
    def roles(self, roles: frozenset[Role] | set[Role]) -> None:
        # Keep the rows that stay: deleting and re-adding the same key in one flush would collide.
        self.role_rows = [row for row in self.role_rows if row.role in roles]
        self.role_rows.extend(UserRole(role=role) for role in sorted(set(roles) - self.roles))

    @validates("username")
    def _check_username(self, _key: str, username: str) -> str:
        if not USERNAME_PATTERN.match(username):
            raise EnclaveError(f"user name {username!r} is not valid", "use 1-64 lower-case letters, digits, "
                               "'.', '_', '@' or '-', starting with a letter or digit")
        return username


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), primary_key=True)


class UserTotp(Base):
    """A user's TOTP second factor (see :mod:`enclave.auth.totp`); no row means not enrolled.

    ``secret_encrypted`` is the base32 secret encrypted with Fernet (key ``ENCLAVE_TOTP_KEY``), so
    a copy of the database alone does not give anyone codes. ``last_step`` is the time step of the
    last accepted code: a code is accepted only for a later step, so each is used once.
    """

    __tablename__ = "user_totp"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret_encrypted: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    purpose: Mapped[Purpose] = mapped_column(_enum(Purpose, "purpose"))
    principal_investigator_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    state: Mapped[ProjectState] = mapped_column(_enum(ProjectState, "state"), default=ProjectState.requested)
    # The two approvals behind the data access (ethics/expert committee, then the CNIL);
    # lifecycle refuses to authorise a project until both are recorded.
    committee_reference: Mapped[str | None] = mapped_column(String(100))
    committee_date: Mapped[date | None] = mapped_column(Date)
    cnil_reference: Mapped[str | None] = mapped_column(String(100))
    cnil_date: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    data_request: Mapped[DataRequest] = mapped_column(JSON, default=default_data_request)
    egress_policy: Mapped[EgressPolicy] = mapped_column(JSON, default=default_egress_policy)
    resources: Mapped[Resources] = mapped_column(JSON, default=default_resources)
    billing: Mapped[Billing] = mapped_column(JSON, default=default_billing, server_default="{}")
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    provisioned_fingerprint: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    principal_investigator: Mapped[User] = relationship(lazy="joined")
    memberships: Mapped[list[Membership]] = relationship(back_populates="project", cascade="all, delete-orphan",
                                                         lazy="selectin")

    @validates("slug")
    def _check_slug(self, _key: str, slug: str) -> str:
        if not SLUG_PATTERN.match(slug):
            raise EnclaveError(f"project slug {slug!r} is not valid", "use 3-40 lower-case letters, digits "
                               "and '-', starting with a letter and not ending with '-'")
        return slug

    def days_to_expiry(self, today: date | None = None) -> int:
        """Days left before ``expires_on`` (0 on the last day, negative once expired)."""
        return (self.expires_on - (today or date.today())).days


class Membership(Base):
    __tablename__ = "memberships"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[MemberRole] = mapped_column(_enum(MemberRole, "member_role"), default=MemberRole.member)

    project: Mapped[Project] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(lazy="joined")


class AuditEvent(Base):
    """One line of the append-only, hash-chained audit log (see :mod:`enclave.audit`).

    ``project`` is a slug, not a foreign key: events outlive their project and must never cascade.
    Database triggers refuse UPDATE, and DELETE but of events a retention purge covers.
    """

    __tablename__ = "audit_events"
    # The reconciler reads the recent events of one action every pass (enclave.alarms).
    __table_args__ = (Index("ix_audit_events_action_at", "action", "at"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    project: Mapped[str | None] = mapped_column(String(40), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The keyed chain (revision 0008): NULL on events written before it, verified by plain SHA-256.
    key_id: Mapped[str | None] = mapped_column(String(16))
    mac: Mapped[str | None] = mapped_column(String(64))


class AuditPurge(Base):
    """A retention purge's marker: the append-only trigger lets events up to ``upto_seq`` be deleted.

    Append-only itself; the keyed ``audit.purge`` event written with it is what verification trusts.
    """

    __tablename__ = "audit_purges"

    upto_seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class MemberSuspension(Base):
    """A member's access to one project, suspended (by whom, when, why) and perhaps lifted since
    (:mod:`enclave.suspension`). At most one row per project and user has no ``lifted_at``: that one
    is in force. Rows are kept once lifted, so the alarms a suspension answered are never counted
    again (``through_seq``: the last audit event it answered)."""

    __tablename__ = "member_suspensions"
    __table_args__ = (
        Index("ix_member_suspensions_project_user", "project_slug", "username"),
        # One suspension in force per project and member, even with two writers at once.
        Index("uq_member_suspensions_open", "project_slug", "username", unique=True,
              sqlite_where=text("lifted_at IS NULL"), postgresql_where=text("lifted_at IS NULL")),
        CheckConstraint("length(trim(reason)) > 0", name="reason_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_slug: Mapped[str] = mapped_column(ForeignKey("projects.slug"))
    username: Mapped[str] = mapped_column(ForeignKey("users.username"))
    suspended_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    suspended_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    through_seq: Mapped[int] = mapped_column(Integer, default=0)
    lifted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(200))
    lift_reason: Mapped[str | None] = mapped_column(Text)


class OutputBudget(Base):
    """What the seal let through from one project's server to one member's browser in one window
    (``hour`` or ``day``, UTC, named by its start), in the information bytes it charged.

    Written behind by the seal (:mod:`spawner_config.seal_budget`) and read back on its first use of
    a (member, project): a seal or server restart refills nothing. Slug and user name, not foreign
    keys: like audit events, these outlive the project's registry rows.
    """

    __tablename__ = "output_budgets"

    project: Mapped[str] = mapped_column(String(40), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    window: Mapped[str] = mapped_column(String(8), primary_key=True)
    start: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    spent: Mapped[int] = mapped_column(BigInteger, default=0)


class PackageState(StrEnum):
    """Where a researcher's package request is: ops approve (the wheels are fetched) or refuse it."""

    requested = "requested"
    approved = "approved"
    refused = "refused"


class PackageEcosystem(StrEnum):
    pypi = "pypi"  # served from the project's wheelhouse (pip install NAME inside the enclave)
    cran = "cran"  # a Debian r-cran-* package, added to the image by ops (see the README)


class PackageRequest(Base):
    """A researcher's request for a package in one project, and ops' decision (:mod:`enclave.packages`).

    ``name`` is normalised (PEP 503 for PyPI: lower case, runs of ``-_.`` as one ``-``); one open
    or approved request per project, ecosystem and name. ``files`` lists the wheels an approval
    put in the project's wheelhouse, with their hashes."""

    __tablename__ = "package_requests"
    __table_args__ = (
        CheckConstraint("length(trim(reason)) > 0", name="reason_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_slug: Mapped[str] = mapped_column(ForeignKey("projects.slug"), index=True)
    requester: Mapped[str] = mapped_column(ForeignKey("users.username"))
    ecosystem: Mapped[PackageEcosystem] = mapped_column(_enum(PackageEcosystem, "package_ecosystem"))
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(100), default="")  # a requirement specifier, or "" for the newest
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[PackageState] = mapped_column(_enum(PackageState, "package_state"), default=PackageState.requested)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decision_note: Mapped[str] = mapped_column(Text, default="")
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
