"""The Markdown data dictionary shipped with every extract, for researchers."""

from __future__ import annotations

from pathlib import Path

from .catalog import STATUS_COLUMN
from .coarsening import RULES
from .nomenclatures import Nomenclatures

TREATMENT = {
    "linkage": "pseudonym (keyed, this project only): equal pseudonyms are the same identifier, in every table of this project",
    "attribute": "as in the source",
}
POLICY = {
    "keep": "pseudonymised as usual: they link as in the source, where one value may stand for many people "
            "(people who share a fictive NIR are merged into one pseudonym)",
    "null": "left empty",
    "random": "given a pseudonym of their own that links nothing (the same on every re-run)",
    "drop": "removed, with their whole row",
}
# Why a policy is the default (pseudonymizer.catalog.DEFAULT_FICTIVE_POLICY) or a sound choice.
POLICY_REASON = {
    "random": "Why: a fictive or temporary NIR is shared by many different people (newborns, foreigners, "
              "temporary registrations); hashing it like a real one would merge them into one person. A pseudonym "
              "of its own keeps them apart and each row still counts as someone, at the cost of the link "
              "(a real NIR elsewhere cannot be joined).",
    "keep": "Caution: different people who share a fictive NIR carry one pseudonym here; count distinct people "
            "with the status column in mind.",
}
WHY_DROPPED = {"direct": "direct identifier, never extracted"}


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_dictionary(manifest: dict, plans: list, nomenclatures: Nomenclatures | None = None) -> str:
    lines = [
        f"# Data dictionary — project `{manifest['project']}`",
        "",
        "Pseudonymised extracts. Direct identifiers (NIR, names, addresses, phones, e-mails) were removed;",
        "identifiers were replaced by pseudonyms that exist only in this project; quasi-identifiers were coarsened.",
        f"Pseudonym key version {manifest['key_version']} (fingerprint `{manifest['key_fingerprint']}`).",
        f"Identifiers that are no one (a fictive flag's code such as BEN_CDI_NIR ≠ 00 or PMSI NIR_RET ≠ 0, in the columns "
        f"that flag speaks about only; a declared placeholder value): policy `{manifest['fictive_policy']}`, {POLICY[manifest['fictive_policy']]}.",
        POLICY_REASON.get(manifest["fictive_policy"]),
    ]
    if manifest.get("status_column"):
        lines.append(f"Column `{STATUS_COLUMN}` says, per row, `ok` or which identifiers are no one and why (e.g. `fictive_id:BEN_NIR_PSA`).")
    lines += _links(plans), ""
    for plan in plans:
        lines += _table(manifest["tables"][plan.name], plan, nomenclatures)
    return "\n".join(line for line in lines if line is not None)


def _links(plans: list) -> str | None:
    """The joins between the extracted tables, from their Table Schemas' foreign keys."""
    names = {p.table.name: p for p in plans}
    links = []
    for plan in plans:
        for fk in plan.table.foreign_keys:
            ref = fk.get("reference", {})
            parent = ref.get("resource")
            child_cols = _as_list(fk.get("fields"))
            parent_cols = _as_list(ref.get("fields"))
            if parent not in names or not set(child_cols) <= {c.name for c in plan.output}:
                continue
            if not set(parent_cols) <= {c.name for c in names[parent].output}:
                continue
            links.append(f"- `{plan.name}`({', '.join(child_cols)}) → `{names[parent].name}`({', '.join(parent_cols)})")
    if not links:
        return None
    return "\n## Links between the tables\n\nFrom the Table Schemas' foreign keys; pseudonyms of one domain are equal across tables.\n\n" + "\n".join(sorted(set(links)))


def _as_list(value) -> list[str]:
    return list(value) if isinstance(value, list) else [value] if value else []


def _table(entry: dict, plan, nomenclatures: Nomenclatures | None) -> list[str]:
    dropped = ", ".join(f"{reason}: {n:,}" for reason, n in entry["rows_dropped"].items() if n) or "none"
    lines = [
        f"## {plan.name} — {_cell(plan.table.title)}",
        "",
        f"File `{entry['output']['file']}`: {entry['rows_out']:,} rows (of {entry['rows_in']:,} in the source; rows dropped: {dropped}).",
    ]
    affected = entry.get("ids_of_no_one_by_column", {})
    if affected:
        parts = [f"`{col}` {reason.replace('_id', '')} {n:,}" for col, counts in affected.items() for reason, n in counts.items() if n]
        lines.append("Identifiers that are no one, by column: " + ", ".join(parts) + ".")
    if entry["rows_with_random_pseudonym"]:
        lines.append(f"{entry['rows_with_random_pseudonym']:,} rows have random pseudonyms that link to nothing.")
    if entry["filters"]:
        lines.append("Row filters: " + "; ".join(f"`{f}`" for f in entry["filters"]) + ".")
    for flag in plan.table.flags:
        lines.append(f"Fictive flag `{flag.column}` (valid: {', '.join(flag.valid)}, in any written form such as 0/False/N) "
                     f"speaks about {', '.join(f'`{c}`' for c in flag.applies_to)} only.")
    for note in plan.table.notes:
        lines.append(f"Note: {note}")
    lines += ["", "| column | type | treatment | description |", "|---|---|---|---|"]
    for column, spec in zip(plan.output, entry["columns"]):
        treatment = RULES[column.rule].description if column.role == "quasi" else TREATMENT[column.role]
        if column.role == "linkage" and column.domain != column.name:
            treatment += f" (same pseudonyms as `{column.domain}`)"
        description = f"{column.description} ({column.note})" if column.note else column.description
        labels = nomenclatures.summary(column.nomenclature) if nomenclatures and column.nomenclature else ""
        if labels:
            description += f" — codes ({column.nomenclature.split(':')[0]}): {labels}"
        lines.append(f"| `{column.name}` | {spec['type']} | {_cell(treatment)} | {_cell(description)} |")
    if entry.get("status_column"):
        lines.append(f"| `{STATUS_COLUMN}` | string | added | `ok`, or the identifiers of the row that are no one |")
    gone = [c for c in plan.table.columns if c.name in entry["dropped_columns"]]
    reasons = [f"`{c.name}` ({_why(c)})" for c in gone]
    reasons += [f"`{name}` (in the source file, not in the Table Schema: " + ("a known extra of this export, " if name in plan.table.extras else "")
                + "left out as the catalog declares)" for name in entry.get("extra_source_columns_dropped", [])]
    if reasons:
        lines += ["", "Columns not in this extract: " + "; ".join(reasons) + "."]
    lines.append("")
    return lines


def _why(column) -> str:
    if column.role == "direct":
        return "direct identifier" + (f": {column.note}" if column.note else "")
    return "not requested by the project"


def write_dictionary(path: Path, manifest: dict, plans: list, nomenclatures: Nomenclatures | None = None) -> None:
    path.write_text(render_dictionary(manifest, plans, nomenclatures), encoding="utf-8")
