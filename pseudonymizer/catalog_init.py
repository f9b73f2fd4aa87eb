"""`enclave catalog init`: a proposed catalog for a folder of SNDS Table Schemas.

Roles come from :mod:`.snds_rules` (known linkage columns, direct identifiers, quasi-identifiers)
and from the schemas' foreign keys (a column referencing a linkage column gets its domain). One
role file per product (the schema's folder), included by a root ``catalog.toml`` that declares the
domains and the dialect. Year-suffixed tables (T_MCO19C, T_MCO22C) are described once (T_MCOaaC).
Every proposal a rule did not settle is marked ``# REVIEW`` for a human.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .coarsening import RULES
from .errors import PseudonymizerError
from .snds_rules import DOMAINS, EXTRAS, FICTIVE_FLAGS, RET_NOTE, proposal

_FAMILIES = (
    (re.compile(r"^(T_(?:MCO|HAD|SSR|RIP|SUP))\d\d(\w+)$"), r"\1aa\2"),
    (re.compile(r"^(CT_[A-Z]+_)\d{4}(_\w+)$"), r"\1AAAA\2"),
)
REVIEW = "REVIEW"
DIALECT = {
    "date_formats": ["%d%b%Y:%H:%M:%S", "%d/%m/%Y", "%d%b%Y", "%Y-%m-%d %H:%M:%S"],
    "datetime_formats": ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%d%b%Y:%H:%M:%S", "%d/%m/%Y %H:%M:%S", "%Y-%m-%d"],
    "booleans_in_integers": True,
}


def family_name(name: str) -> str:
    for pattern, template in _FAMILIES:
        if pattern.match(name):
            return pattern.sub(template, name)
    return name


@dataclass
class Proposed:
    name: str
    schema: str  # relative to the schemas folder
    product: str
    title: str
    fields: list[dict]
    foreign_keys: list[dict]
    entries: dict[str, dict] = field(default_factory=dict)
    review: dict[str, str] = field(default_factory=dict)


def propose(schemas_dir: Path) -> list[Proposed]:
    schemas_dir = Path(schemas_dir)
    paths = sorted(schemas_dir.rglob("*.json"))
    if not paths:
        raise PseudonymizerError(f"no Table Schema (*.json) under {schemas_dir}", "pass the folder of the SNDS Table Schemas")
    tables: dict[str, Proposed] = {}
    for path in paths:
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PseudonymizerError(f"Table Schema {path} is not valid JSON ({exc})", "fix or remove the file") from None
        if "fields" not in schema:
            continue
        name = family_name(path.stem)
        if name in tables:
            continue  # another year of a family already described
        rel = path.relative_to(schemas_dir)
        product = rel.parent.as_posix() or "other"
        tables[name] = Proposed(name, rel.as_posix(), product, schema.get("title", ""), schema["fields"], schema.get("foreignKeys", []))
    for table in tables.values():
        for f in table.fields:
            entry, why = proposal(f["name"], f.get("description", ""))
            table.entries[f["name"]] = entry
            if why:
                table.review[f["name"]] = why
    _follow_foreign_keys(tables)
    for table in tables.values():
        _fit_rules(table)
    return list(tables.values())


def _fit_rules(table: Proposed) -> None:
    """A quasi-identifier's rule must accept its type: read it as the type the rule takes."""
    for f in table.fields:
        entry = table.entries[f["name"]]
        if entry["role"] != "quasi":
            continue
        accepts = RULES[entry["rule"]].accepts
        ftype = entry.get("type", f.get("type", "string"))
        if ftype in accepts and not (ftype == "date" and f.get("format") == "%m"):
            continue
        target = next((t for t in ("integer", "string") if t in accepts), None)
        if target and ftype in ("integer", "number", "string"):
            entry["type"] = target
            entry["note"] = entry.get("note", "") + f"; the Table Schema says {ftype}: read as {target} for the rule"
        else:
            table.entries[f["name"]] = {"role": "direct", "note": f"rule {entry['rule']} cannot coarsen a {ftype}: dropped"}
            table.review[f["name"]] = "quasi-identifier no rule fits"


def _as_list(value) -> list[str]:
    return list(value) if isinstance(value, list) else [value]


def _follow_foreign_keys(tables: dict[str, Proposed]) -> None:
    """Both ends of a foreign key between tables get the same treatment: same domain, same type."""
    for _ in range(3):  # domains travel along chains of keys
        for child in tables.values():
            for fk in child.foreign_keys:
                parent = tables.get(family_name(fk["reference"]["resource"]))
                if parent is None:
                    continue
                for ccol, pcol in zip(_as_list(fk["fields"]), _as_list(fk["reference"]["fields"])):
                    if ccol not in child.entries or pcol not in parent.entries:
                        continue
                    c, p = child.entries[ccol], parent.entries[pcol]
                    for a, b, table, col in ((p, c, child, ccol), (c, p, parent, pcol)):
                        if a["role"] == "linkage" and b["role"] != "linkage":
                            b.clear()
                            b.update(role="linkage", domain=a["domain"], note=f"joins {child.name}.{ccol} -> {parent.name}.{pcol} (foreign key): same domain", type="string")
                            table.review.pop(col, None)
                    if c["role"] == "linkage" and p["role"] == "linkage" and c["domain"] != p["domain"]:
                        child.review[ccol] = f"domain {c['domain']} differs from {parent.name}.{pcol}'s {p['domain']}: the join would break"
                    ctype = c.get("type", _field(child, ccol).get("type"))
                    ptype = p.get("type", _field(parent, pcol).get("type"))
                    if ctype != ptype:
                        for entry in (c, p):
                            if entry.get("type") != "string":
                                entry["type"] = "string"
                                why = f"read as string: {child.name}.{ccol} -> {parent.name}.{pcol} (foreign key) joins a {ctype} to a {ptype}"
                                entry["note"] = "; ".join(filter(None, [entry.get("note", ""), why]))


def _field(table: Proposed, name: str) -> dict:
    return next(f for f in table.fields if f["name"] == name)


def write_catalog(tables: list[Proposed], out_dir: Path, schemas_dir: Path | None = None) -> dict:
    """Write catalog.toml and one role file per product under `out_dir`; return counts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    products: dict[str, list[Proposed]] = {}
    for table in tables:
        products.setdefault(table.product, []).append(table)
    files = {product: _slug(product) + ".toml" for product in products}
    used = sorted({e["domain"] for t in tables for e in t.entries.values() if e["role"] == "linkage"})
    root = [
        "# SNDS catalog: roles of every column of the SNDS Table Schemas, one role file per product.",
        "# Written by `enclave catalog init` from the rules in pseudonymizer/snds_rules.py; lines marked",
        "# REVIEW are proposals no rule settled. Load with the schemas folder:",
        "#     enclave pseudonymize --catalog <this file> --schemas <SNDS schemas folder> ...",
        "",
        "# Ids that are no one (a fictive flag's code, in the columns the flag applies to; declared",
        "# placeholders) get a pseudonym of their own: people who share a fictive NIR stay apart (keep",
        "# would merge them), and the ID_STATUS column says which they are (see the data dictionary).",
        'fictive_policy = "random"',
        "status_column = true",
        "# Real exports carry columns the public schemas lack: the known ones are declared per table",
        "# (extras = [...]); any other is left out too, and listed in the manifest and data dictionary.",
        'extra = "drop"',
    ]
    if schemas_dir is not None:
        root.append(f'schema_dir = "{schemas_dir}"')
    root += ["include = [", *[f'    "{files[p]}",' for p in sorted(products)], "]", "", "[dialect]"]
    for key, value in DIALECT.items():
        root.append(f"{key} = {_toml(value)}")
    for name in used:
        spec = DOMAINS.get(name, {"nir": False, "description": ""})
        mark = "" if name in DOMAINS else f"  # {REVIEW}: unknown domain, is it NIR-derived?"
        root += ["", f"[domains.{name}]", f"nir = {_toml(spec['nir'])}{mark}"]
        if spec.get("placeholders"):
            root.append(f"placeholders = {_toml(spec['placeholders'])}")
        root.append(f"description = {_toml(spec.get('description', ''))}")
    (out_dir / "catalog.toml").write_text("\n".join(root) + "\n", encoding="utf-8")
    reviews = 0
    for product, members in products.items():
        lines = [f"# {product}: {len(members)} table(s).", f'product = {_toml(product)}', ""]
        for table in sorted(members, key=lambda t: t.name):
            lines += _table_lines(table)
            reviews += len(table.review)
        (out_dir / files[product]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"tables": len(tables), "columns": sum(len(t.fields) for t in tables), "files": len(files) + 1, "review": reviews}


def _table_lines(table: Proposed) -> list[str]:
    names = [f["name"] for f in table.fields]
    lines = [f"[tables.{table.name}]", f"title = {_toml(table.title)}", f"schema = {_toml(table.schema)}"]
    for flag, spec in FICTIVE_FLAGS.items():
        applies_to = [n for n in spec["applies_to"] if n in names and table.entries[n]["role"] == "linkage"]
        if flag in names and applies_to:
            no_one = f", no_one = {_toml(spec['no_one'])}" if spec.get("no_one") else ""
            lines.append(f"fictive = {{ column = {_toml(flag)}, valid = {_toml(spec['valid'])}{no_one}, applies_to = {_toml(applies_to)} }}")
    if table.name in EXTRAS:
        lines.append(f"extras = {_toml(EXTRAS[table.name])}")
    if any(n.upper().endswith("_RET") for n in names):
        lines.append(f"notes = [{_toml(RET_NOTE)}]")
    lines += ["", f"[tables.{table.name}.columns]"]
    width = max(len(_key(n)) for n in names)
    for f in table.fields:
        entry = table.entries[f["name"]]
        value = '"attribute"' if entry == {"role": "attribute"} else "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in entry.items()) + " }"
        comment = f"{f.get('type', 'string')}: {' '.join(str(f.get('description', '')).split())}"
        if f["name"] in table.review:
            comment = f"{REVIEW} ({table.review[f['name']]}) — {comment}"
        lines.append(f"{_key(f['name']):{width}} = {value}  # {comment}")
    return lines + [""]


def _key(name: str) -> str:
    return name if re.match(r"^[A-Za-z0-9_-]+$", name) else _toml(name)


def _slug(product: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", product).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "other"


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)
