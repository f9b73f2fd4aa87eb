"""The Markdown data dictionary shipped with every extract, for researchers."""

from __future__ import annotations

from pathlib import Path

from .coarsening import RULES

TREATMENT = {
    "linkage": "pseudonym (keyed, this project only): equal pseudonyms are the same identifier, in every table of this project",
    "attribute": "as in the source",
}


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render_dictionary(manifest: dict, plans: list) -> str:
    lines = [
        f"# Data dictionary — project `{manifest['project']}`",
        "",
        "Pseudonymised extracts. Direct identifiers (NIR, names, addresses, phones, e-mails) were removed;",
        "identifiers were replaced by pseudonyms that exist only in this project; quasi-identifiers were coarsened.",
        f"Pseudonym key version {manifest['key_version']} (fingerprint `{manifest['key_fingerprint']}`).",
        f"Rows whose identifier is fictive or a placeholder: policy `{manifest['fictive_policy']}`.",
        "",
    ]
    for plan in plans:
        entry = manifest["tables"][plan.table.name]
        dropped = ", ".join(f"{reason}: {n:,}" for reason, n in entry["rows_dropped"].items() if n) or "none"
        lines += [
            f"## {plan.table.name} — {_cell(plan.table.title)}",
            "",
            f"File `{entry['output']['file']}`: {entry['rows_out']:,} rows (of {entry['rows_in']:,} in the source; dropped {dropped}).",
        ]
        if entry["rows_with_random_pseudonym"]:
            lines.append(
                f"{entry['rows_with_random_pseudonym']:,} rows had a fictive or placeholder identifier: "
                "their pseudonyms are random and link to nothing."
            )
        if entry["filters"]:
            lines.append("Row filters: " + "; ".join(f"`{f}`" for f in entry["filters"]) + ".")
        lines += ["", "| column | type | treatment | description |", "|---|---|---|---|"]
        for column, spec in zip(plan.output, entry["columns"]):
            treatment = RULES[column.rule].description if column.role == "quasi" else TREATMENT[column.role]
            if column.role == "linkage" and column.domain != column.name:
                treatment += f" (same pseudonyms as `{column.domain}`)"
            description = f"{column.description} ({column.note})" if column.note else column.description
            lines.append(f"| `{column.name}` | {spec['type']} | {_cell(treatment)} | {_cell(description)} |")
        lines.append("")
    return "\n".join(lines)


def write_dictionary(path: Path, manifest: dict, plans: list) -> None:
    path.write_text(render_dictionary(manifest, plans), encoding="utf-8")
