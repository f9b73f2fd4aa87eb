"""Project manifests: the operator's TOML description of one approved project, validated.

One file per project, ``<projects_dir>/<slug>.toml``::

    slug = "demo-cardio"
    title = "Cardiovascular outcomes after a hospital stay"
    purpose = "health_information"            # one of the six legal purposes
    principal_investigator = "alice"          # a registered user
    members = ["alice", "bob"]                # registered users (the PI is always a member)

    [approvals]
    committee_reference = "CESREES-2026-0142" # scientific and ethics committee opinion
    committee_date = 2026-03-02
    cnil_reference = "DR-2026-088"            # CNIL authorisation
    cnil_date = 2026-04-15
    expires_on = 2027-04-15

    [data]                                    # what the extracts may contain
    tables = ["IR_BEN_R", "ER_PRS_F"]
    columns = ["ER_PRS_F.EXE_SOI_DTD"]        # TABLE.COLUMN; a table not named gets all its allowed columns
    where = ["ER_PRS_F.EXE_SOI_DTD >= 2019-01-01"]
    key_version = 1

    [egress]
    small_cell_threshold = 10
    stewards_required = 2
    model_attack_auc = 0.65                   # optional: a model whose membership-inference attack AUC is
                                              # above this is refused (default: egress_gate.policy.Policy)

    [resources]                               # per container
    mem_limit = "2G"
    cpu_limit = 1.0
    pids_limit = 256
    workspace_quota = "10G"                   # the shared workspace's size (default 10G)
    output_message_cap = "512K"               # one kernel/terminal message to the browser (the seal)
    output_budget_per_hour = "146K"           # what a member's browser receives from the server, per hour
    output_budget_per_day = "244K"            # ... and per UTC day (the seal; information bytes; default:
                                              # models.DEFAULT_OUTPUT_BUDGET_PER_HOUR / _PER_DAY, 150 / 250 KB)
    image = "slim"                            # the notebook image: "slim" (default) or "stack" (models.NOTEBOOK_IMAGES)

    [pseudonymisation]                        # how the sources are read, ids of no one treated (default: the catalog's)
    fictive_policy = "random"                 # keep, null, random or drop (pseudonymizer.catalog.FICTIVE_POLICIES)
    status_column = true                      # add ID_STATUS: "ok" or which ids of the row are no one and why
    dialect = { delimiter = ";", encoding = "latin-1", date_formats = ["%d/%m/%Y"] }  # the export's CSV dialect; lists add to the catalog's

    [extraction]                              # where provisioning runs the pseudonymizer (default: local)
    engine = "dask"                           # local, dask or spark: the same extract, byte for byte
    workers = 2                               # without address: worker processes started for the run
    address = "tcp://scheduler:8786"          # optional: an existing Dask scheduler or Spark master URL
    [billing]                                 # how usage is priced (tariffs/*.toml)
    organisation_type = "academic"            # academic, public or private (default academic)
    monthly_budget = "250.00"                 # optional, in the tariff's currency: the team is warned near it

Every error names the file and the field, and says what to do.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field as dataclass_field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from enclave.errors import EnclaveError
from enclave.models import (
    DEFAULT_NOTEBOOK_IMAGE,
    NOTEBOOK_IMAGES,
    SLUG_PATTERN,
    Billing,
    DataRequest,
    EgressPolicy,
    OrganisationType,
    Purpose,
    Resources,
    default_billing,
    default_egress_policy,
    default_resources,
)
from pseudonymizer.catalog import FICTIVE_POLICIES, Catalog, with_dialect
from pseudonymizer.dialect import Dialect
from pseudonymizer.engines import ENGINES, EngineSpec
from pseudonymizer.errors import PseudonymizerError
from pseudonymizer.extract import check_request, parse_columns

MEMORY = re.compile(r"^\d+(\.\d+)?[kmgKMG]?$")
TOP_LEVEL = {"slug", "title", "purpose", "principal_investigator", "members", "approvals", "data", "egress", "resources", "extraction",
             "billing", "pseudonymisation"}
SECTIONS = {  # the fields of each table; a misspelt one must not silently fall back to a default
    "approvals": {"committee_reference", "committee_date", "cnil_reference", "cnil_date", "expires_on"},
    "data": {"tables", "columns", "where", "key_version"},
    "egress": {"small_cell_threshold", "stewards_required", "model_attack_auc"},
    "resources": {"mem_limit", "cpu_limit", "pids_limit", "workspace_quota", "output_message_cap",
                  "output_budget_per_hour", "output_budget_per_day", "image"},
    "extraction": {"engine", "workers", "address"},
    "pseudonymisation": {"fictive_policy", "status_column", "dialect"},
    "billing": {"organisation_type", "monthly_budget"},
}


@dataclass(frozen=True)
class Approvals:
    committee_reference: str
    committee_date: date
    cnil_reference: str | None
    cnil_date: date | None
    expires_on: date


@dataclass(frozen=True)
class Pseudonymisation:
    """How provisioning reads this project's sources; None / empty: the catalog's own choice."""

    fictive_policy: str | None = None
    status_column: bool | None = None
    dialect: dict[str, Any] = dataclass_field(default_factory=dict)  # one run's dialect keys (lists add to the catalog's)

    def catalog(self, catalog: Catalog, where: str = "pseudonymisation.dialect") -> Catalog:
        """`catalog` read in this project's dialect."""
        return with_dialect(catalog, self.dialect, where)


@dataclass(frozen=True)
class ProjectManifest:
    path: Path
    sha256: str
    slug: str
    title: str
    purpose: Purpose
    principal_investigator: str
    members: tuple[str, ...]
    approvals: Approvals
    data: DataRequest
    egress: EgressPolicy
    resources: Resources
    billing: Billing
    extraction: EngineSpec = EngineSpec()  # how provisioning runs the pseudonymizer; not part of the extract's fingerprint
    pseudonymisation: Pseudonymisation = Pseudonymisation()  # part of the extract's fingerprint

    @property
    def authorised(self) -> bool:
        return self.approvals.cnil_reference is not None


class ManifestError(EnclaveError):
    """A manifest that cannot be used as it is."""


class _Reader:
    """Typed access to one manifest's fields, raising errors that name file and field."""

    def __init__(self, path: Path, spec: dict[str, Any]):
        self.path, self.spec = path, spec

    def error(self, field: str, problem: str, hint: str) -> ManifestError:
        return ManifestError(f"{self.path}: {field}: {problem}", hint)

    def get(self, field: str, kind: type | tuple[type, ...], default: Any = ..., hint: str = "") -> Any:
        node: Any = self.spec
        for part in field.split("."):
            node = node.get(part, ...) if isinstance(node, dict) else ...
        if node is ...:
            if default is ...:
                raise self.error(field, "missing", hint or f"add {field} to the manifest")
            return default
        if not isinstance(node, kind) or (kind is int and isinstance(node, bool)):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise self.error(field, f"{node!r} is not a {names}", hint or f"write {field} as a {names}")
        return node

    def strings(self, field: str, default: list[str] | None = None) -> list[str]:
        values = self.get(field, list, [] if default is None else default)
        for i, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                raise self.error(f"{field}[{i}]", f"{value!r} is not a non-empty string", "write it as a quoted string")
        return values


UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """``"10G"``, ``"512M"``, ``"1048576"`` -> bytes (powers of 1024, as Docker's sizes)."""
    text = str(text).strip()
    unit = text[-1:].lower() if text[-1:].isalpha() else ""
    number = text[: len(text) - len(unit)]
    try:
        value = float(number)
    except ValueError:
        raise EnclaveError(f"{text!r} is not a size", 'write e.g. "10G" or "512M"') from None
    if unit not in UNITS or value <= 0:
        raise EnclaveError(f"{text!r} is not a size", 'write e.g. "10G" or "512M"')
    return int(value * UNITS[unit])


def manifest_path(projects_dir: Path, slug: str) -> Path:
    return projects_dir / f"{slug}.toml"


def load_manifest(path: Path, catalog: Catalog, known_users: set[str], today: date | None = None) -> ProjectManifest:
    """Read and validate ``path`` against the catalog (tables, columns, filters) and the registry's users."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"no manifest at {path}", f"write the project's manifest there (see {Path(__file__).name})") from None
    try:
        spec = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: not valid TOML ({exc})", "fix the syntax") from None
    r = _Reader(path, spec)
    unknown = sorted(set(spec) - TOP_LEVEL)
    if unknown:
        raise r.error(unknown[0], "unknown field", f"known fields: {', '.join(sorted(TOP_LEVEL))}")
    for section, known in SECTIONS.items():
        fields = spec.get(section)
        unknown = sorted(set(fields) - known) if isinstance(fields, dict) else []
        if unknown:
            raise r.error(f"{section}.{unknown[0]}", "unknown field", f"known fields of [{section}]: {', '.join(sorted(known))}")

    slug = r.get("slug", str)
    if not SLUG_PATTERN.match(slug):
        raise r.error("slug", f"{slug!r} is not a valid slug", "use 3-40 lowercase letters, digits and dashes, starting with a letter")
    if path.stem != slug:
        raise r.error("slug", f"{slug!r} differs from the file name {path.name}", f"name the file {slug}.toml")
    purpose_text = r.get("purpose", str)
    try:
        purpose = Purpose(purpose_text)
    except ValueError:
        raise r.error("purpose", f"{purpose_text!r} is not one of the six legal purposes",
                      f"use one of: {', '.join(p.value for p in Purpose)}") from None
    pi = r.get("principal_investigator", str)
    members = tuple(dict.fromkeys([pi, *r.strings("members")]))
    for i, name in enumerate(members):
        if name not in known_users:
            field = "principal_investigator" if i == 0 else "members"
            raise r.error(field, f"{name!r} is not a registered user", f"add them first: enclave user add {name} --role researcher")

    return ProjectManifest(
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        slug=slug,
        title=r.get("title", str),
        purpose=purpose,
        principal_investigator=pi,
        members=members,
        approvals=_approvals(r, today or date.today()),
        data=_data_request(r, catalog),
        egress=_egress(r),
        resources=_resources(r),
        extraction=_extraction(r),
        billing=_billing(r),
        pseudonymisation=_pseudonymisation(r, catalog),
    )


def _pseudonymisation(r: _Reader, catalog: Catalog) -> Pseudonymisation:
    policy = r.get("pseudonymisation.fictive_policy", str, None)
    if policy is not None and policy not in FICTIVE_POLICIES:
        raise r.error("pseudonymisation.fictive_policy", f"{policy!r} is not a policy",
                      f"use one of: {', '.join(FICTIVE_POLICIES)} (random keeps people who share a fictive NIR apart)")
    status = r.get("pseudonymisation.status_column", bool, None)
    spec = r.get("pseudonymisation.dialect", dict, {}, hint='write it as a table: dialect = { delimiter = ";", encoding = "latin-1" }')
    known = {f for f in Dialect.__dataclass_fields__}
    dialect: dict[str, Any] = {}
    for key, value in spec.items():
        field_name = f"pseudonymisation.dialect.{key}"
        if key not in known:
            raise r.error(field_name, "unknown dialect key", f"known keys: {', '.join(sorted(known))}")
        single = getattr(Dialect(), key)
        if isinstance(single, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise r.error(field_name, f"{value!r} is not a list of strings", f'write e.g. {key} = ["%d/%m/%Y"]')
            value = tuple(value)
        elif not isinstance(value, type(single)):
            raise r.error(field_name, f"{value!r} is not a {type(single).__name__}", f"write e.g. {key} = {single!r}".replace("'", '"'))
        dialect[key] = value
    chosen = Pseudonymisation(policy, status, dialect)
    try:
        chosen.catalog(catalog, f"{r.path}: pseudonymisation.dialect")
    except PseudonymizerError as exc:
        raise ManifestError(exc.problem, exc.hint or "fix pseudonymisation.dialect") from None
    return chosen


def _extraction(r: _Reader) -> EngineSpec:
    engine = r.get("extraction.engine", str, "local")
    if engine not in ENGINES:
        raise r.error("extraction.engine", f"{engine!r} is not an engine", f"use one of: {', '.join(ENGINES)}")
    workers = r.get("extraction.workers", int, None)
    address = r.get("extraction.address", str, None)
    if engine == "local" and (workers is not None or address is not None):
        raise r.error("extraction.workers" if workers is not None else "extraction.address", "the local engine takes none",
                      'set extraction.engine = "dask" or "spark", or remove it')
    if workers is not None and workers < 1:
        raise r.error("extraction.workers", f"{workers} is below 1", "give at least one worker")
    return EngineSpec(engine, workers, address)


def _approvals(r: _Reader, today: date) -> Approvals:
    committee_ref = r.get("approvals.committee_reference", str, hint="record the scientific and ethics committee's opinion reference")
    committee_date = r.get("approvals.committee_date", date, hint="write the opinion's date as YYYY-MM-DD (no quotes)")
    cnil_ref = r.get("approvals.cnil_reference", str, None)
    cnil_date = r.get("approvals.cnil_date", date, None, hint="write the authorisation's date as YYYY-MM-DD (no quotes)")
    if (cnil_ref is None) != (cnil_date is None):
        raise r.error("approvals.cnil_date" if cnil_date is None else "approvals.cnil_reference", "missing",
                      "record both the CNIL authorisation's reference and its date")
    expires_on = r.get("approvals.expires_on", date, hint="write the authorisation's expiry as YYYY-MM-DD (no quotes)")
    if expires_on < today:
        raise r.error("approvals.expires_on", f"{expires_on} is in the past", "record the renewed authorisation's expiry, or close the project")
    if cnil_date is not None and cnil_date < committee_date:
        raise r.error("approvals.cnil_date", f"{cnil_date} is before the committee's opinion ({committee_date})", "check both dates")
    return Approvals(committee_ref, committee_date, cnil_ref, cnil_date, expires_on)


def _data_request(r: _Reader, catalog: Catalog) -> DataRequest:
    tables = r.strings("data.tables")
    if not tables:
        raise r.error("data.tables", "empty", f"name the authorised tables, among: {', '.join(sorted(catalog.tables))}")
    for i, table in enumerate(tables):
        if not any(t.describes(table) for t in catalog.tables.values()):  # a name, or a year-family member (T_MCO22C)
            raise r.error(f"data.tables[{i}]", f"{table!r} is not in the catalog", f"known tables: {', '.join(sorted(catalog.tables))}")
    column_specs = r.strings("data.columns")
    where = r.strings("data.where")
    key_version = r.get("data.key_version", int, 1)
    if key_version < 1:
        raise r.error("data.key_version", f"{key_version} is not a key version", "key versions start at 1")
    # Each column and row filter checked on its own, so that the error names the one at fault.
    for field, items, check in (
        ("data.columns", column_specs, lambda item: check_request(catalog, tables, parse_columns([item]), [])),
        ("data.where", where, lambda item: check_request(catalog, tables, None, [item])),
    ):
        for i, item in enumerate(items):
            try:
                check(item)
            except PseudonymizerError as exc:
                raise r.error(f"{field}[{i}]", exc.problem, exc.hint or f"fix {field}") from None
    try:
        columns = parse_columns(column_specs)
        check_request(catalog, tables, columns, where)
    except PseudonymizerError as exc:
        raise r.error("data", exc.problem, exc.hint or "fix the data section") from None
    return {"tables": tables, "columns": columns, "where": where, "key_version": key_version}


def _egress(r: _Reader) -> EgressPolicy:
    default = default_egress_policy()
    threshold = r.get("egress.small_cell_threshold", int, default["small_cell_threshold"])
    stewards = r.get("egress.stewards_required", int, default["stewards_required"])
    if threshold < 1:
        raise r.error("egress.small_cell_threshold", f"{threshold} is below 1", "use the smallest count that may be released, e.g. 10")
    if stewards < 1:
        raise r.error("egress.stewards_required", f"{stewards} is below 1", "at least one steward reviews every output")
    policy: EgressPolicy = {"small_cell_threshold": threshold, "stewards_required": stewards}
    auc = r.get("egress.model_attack_auc", (int, float), None)
    if auc is not None:
        if isinstance(auc, bool) or not 0.5 <= auc <= 1:
            raise r.error("egress.model_attack_auc", f"{auc} is not between 0.5 and 1",
                          "an attack AUC of 0.5 is guessing; the gate's default is 0.65")
        policy["model_attack_auc"] = float(auc)
    return policy


def _resources(r: _Reader) -> Resources:
    default = default_resources()
    mem = r.get("resources.mem_limit", str, default["mem_limit"])
    if not MEMORY.match(mem):
        raise r.error("resources.mem_limit", f"{mem!r} is not a memory size", "write e.g. \"2G\" or \"512M\"")
    cpu = float(r.get("resources.cpu_limit", (int, float), default["cpu_limit"]))
    pids = r.get("resources.pids_limit", int, default["pids_limit"])
    if cpu <= 0 or pids < 32:
        field = "resources.cpu_limit" if cpu <= 0 else "resources.pids_limit"
        raise r.error(field, "too small", "give at least 0.1 CPU and 32 processes")
    sizes = {}
    # The output budgets are kept only when the manifest sets them: their defaults live in one place
    # (models.DEFAULT_OUTPUT_BUDGET_PER_*), read by the seal.
    for field, default, least in (("workspace_quota", "10G", 16 * 1024**2), ("output_message_cap", "512K", 4096),
                                  ("output_budget_per_hour", None, 16384), ("output_budget_per_day", None, 16384)):
        text = r.get(f"resources.{field}", str, default, hint=f'write e.g. "{default or "244K"}"')
        if text is None:
            continue
        try:
            sizes[field] = parse_size(text)
        except EnclaveError:
            raise r.error(f"resources.{field}", f"{text!r} is not a size", f'write e.g. "{default or "244K"}"') from None
        if sizes[field] < least:
            raise r.error(f"resources.{field}", "too small", f"give at least {least // 1024} KiB")
    image = r.get("resources.image", str, DEFAULT_NOTEBOOK_IMAGE, hint=f'write e.g. image = "{DEFAULT_NOTEBOOK_IMAGE}"')
    if image not in NOTEBOOK_IMAGES:
        choices = "; ".join(f'"{name}" ({what})' for name, what in NOTEBOOK_IMAGES.items())
        raise r.error("resources.image", f"{image!r} is not a notebook image", f"choose one of: {choices}")
    return {"mem_limit": mem, "cpu_limit": cpu, "pids_limit": pids, **sizes, "image": image}


def _billing(r: _Reader) -> Billing:
    kind = r.get("billing.organisation_type", str, default_billing()["organisation_type"])
    if kind not in {t.value for t in OrganisationType}:
        raise r.error("billing.organisation_type", f"{kind!r} is not an organisation type",
                      f"use one of: {', '.join(t.value for t in OrganisationType)}")
    billing: Billing = {"organisation_type": kind}
    budget = r.get("billing.monthly_budget", (str, int), None, hint='write the amount as a string, e.g. "250.00"')
    if budget is not None:
        try:
            amount = Decimal(str(budget))
        except InvalidOperation:
            amount = Decimal("NaN")
        if not amount.is_finite() or amount <= 0:
            raise r.error("billing.monthly_budget", f"{budget!r} is not a positive amount", 'write e.g. "250.00"')
        billing["monthly_budget"] = str(amount.quantize(Decimal("0.01")))
    return billing
