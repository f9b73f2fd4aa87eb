"""`enclave catalog check`: every source file read once against the catalog, every mismatch reported.

For each table with a source file: the dialect (encoding, delimiter), the columns against the Table
Schema, and every value of every column against its declared type and format. Each mismatch comes
with the role-file line that would fix it, when one would. Each fictive flag's share of rows it
makes "no one" is reported, with a warning past `warn_share` (a flag read wrongly, e.g. True/False
where the catalog expects 0, would otherwise silently cut every link of a table).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from .catalog import Catalog, Column, FictiveFlag, Table
from .dialect import Dialect
from .errors import PseudonymizerError
from .flags import read_flag
from .reading import DEFAULT_FORMATS, Source, find_sources, header_problems, parse, parse_strings, raw_batches, source_columns, source_files

DELIMITERS = (",", ";", "\t", "|")
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d%m%Y", "%Y%m%d", "%d%b%Y:%H:%M:%S", "%d%b%Y", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M:%S")
DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y%m%d %H:%M:%S", "%Y%m%d%H%M%S", "%d%b%Y:%H:%M:%S", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y", "%Y-%m-%d")
EXAMPLES = 3
BATCH_ROWS = 1 << 17
DEFAULT_WARN_SHARE = 0.05  # a flag making more rows "no one" than this is worth a look


@dataclass
class FlagShare:
    table: str  # the source's table name (a family member: T_MCO22C)
    file: Path
    column: str
    applies_to: tuple[str, ...]
    rows: int = 0
    no_one: int = 0
    unknown: dict[str, int] = field(default_factory=dict)  # values the flag does not know, rows holding each

    @property
    def share(self) -> float:
        return self.no_one / self.rows if self.rows else 0.0


@dataclass
class Finding:
    table: str  # catalog table (family) the fix goes to
    file: Path | None
    problem: str
    section: str = ""  # role-file section of the fix: "dialect", "tables.X", "tables.X.columns"
    fix: str = ""  # the line to write there


@dataclass
class Report:
    checked: list[tuple[str, Path, int]] = field(default_factory=list)  # (table, file, rows)
    findings: list[Finding] = field(default_factory=list)
    without_source: list[str] = field(default_factory=list)
    unknown_files: list[Path] = field(default_factory=list)
    tables: set[str] = field(default_factory=set)  # catalog tables checked
    notes: list[str] = field(default_factory=list)  # not mismatches, but worth knowing
    flags: list[FlagShare] = field(default_factory=list)
    warn_share: float = DEFAULT_WARN_SHARE

    @property
    def warnings(self) -> list[FlagShare]:
        return [f for f in self.flags if f.share > self.warn_share]

    def fixes(self) -> dict[str, list[str]]:
        """Role-file lines by section; a dialect fix needed by every checked table goes to [dialect] once."""
        by_section: dict[str, list[str]] = {}
        for f in self.findings:
            if f.fix and f.fix not in by_section.setdefault(f.section, []):
                by_section[f.section].append(f.fix)
        return {s: lines for s, lines in by_section.items() if lines}


def check_sources(catalog: Catalog, sources_dir: Path, tables: list[str] | None = None, warn_share: float = DEFAULT_WARN_SHARE) -> Report:
    sources_dir = Path(sources_dir)
    files = source_files(sources_dir)
    report = Report(warn_share=warn_share)
    claimed: set[Path] = set()
    for name in tables or list(catalog.tables):
        table = catalog.table(name)
        try:
            sources = find_sources(sources_dir, table, None if name == table.name else name, files)
        except PseudonymizerError:
            report.without_source.append(name)
            continue
        for source in sources:
            claimed.add(source.path)
            _check_source(source, report)
    report.unknown_files = sorted(set(files.values()) - claimed) if not tables else []
    _hoist_common_dialect(report)
    return report


def _check_source(source: Source, report: Report) -> None:
    table = source.table
    if source.kind == "csv":
        detected = _detect_dialect(source, report)
        if detected != table.dialect:
            source = replace(source, table=replace(table, dialect=detected))  # read on with what the file is
    try:
        names = source_columns(source)
    except PseudonymizerError as exc:
        report.findings.append(Finding(table.name, source.path, str(exc)))
        return
    missing, extra = header_problems(source, names)
    ignored = [n for n in names if n not in table.names and n not in extra]
    known = [n for n in ignored if n in table.extras]
    if known:
        report.notes.append(f"{source.table_name}: extra column(s) the catalog declares (extras), left out: {', '.join(known)}")
    if len(known) < len(ignored):
        others = [n for n in ignored if n not in known]
        report.notes.append(f"{source.table_name}: column(s) not in the Table Schema, left out as declared (extra = \"drop\"): {', '.join(others)}")
    if missing:
        report.findings.append(Finding(table.name, source.path, f"missing column(s) {', '.join(missing)}: re-export them, or remove them from the Table Schema {table.schema_path.name}"))
    if extra:
        report.findings.append(Finding(table.name, source.path, f"column(s) not in the Table Schema: {', '.join(extra)}", f"tables.{table.name}", "extras = [" + ", ".join(f'"{n}"' for n in (*table.extras, *extra)) + "]"))
    columns = [c for c in table.columns if c.name in names]
    bad: dict[str, tuple[int, list[str], list[pa.Array]]] = {c.name: (0, [], []) for c in columns}
    flags = [(flag, FlagShare(source.table_name, source.path, flag.column, flag.applies_to)) for flag in table.flags if flag.column in names]
    report.flags += [share for _, share in flags]
    rows = 0
    try:
        for batch in raw_batches(source, [c.name for c in columns], BATCH_ROWS):
            rows += batch.num_rows
            for flag, share in flags:
                share.rows += batch.num_rows
                mask, unknown, _ = read_flag(flag, batch.column(flag.column))
                share.no_one += pc.sum(mask).as_py() or 0
                for value in unknown:
                    share.unknown[value] = share.unknown.get(value, 0) + (pc.sum(pc.equal(batch.column(flag.column), value)).as_py() or 0)
            for column in columns:
                values = batch.column(column.name)
                _, mask = parse(source, column, values)
                if mask is None:
                    mask = pc.is_valid(values)
                n = pc.sum(mask).as_py() or 0
                if n:
                    count, examples, samples = bad[column.name]
                    wrong = values.filter(mask)
                    examples += [str(v) for v in pc.unique(wrong).to_pylist()[: EXAMPLES - len(examples)]]
                    if sum(len(s) for s in samples) < 10_000:
                        samples.append(pc.unique(wrong))
                    bad[column.name] = (count + n, examples, samples)
    except PseudonymizerError as exc:
        report.findings.append(Finding(table.name, source.path, str(exc)))
    report.checked.append((source.table_name, source.path, rows))
    report.tables.add(table.name)
    for flag, share in flags:
        if share.unknown:
            report.findings.append(_unknown_flag_finding(table, flag, share))
    for column in columns:
        count, examples, samples = bad[column.name]
        if count:
            _type_finding(source, column, count, examples, pa.chunked_array(samples).combine_chunks() if samples else pa.array([], pa.string()), report)


def _unknown_flag_finding(table: Table, flag: FictiveFlag, share: FlagShare) -> Finding:
    """Unknown flag values: the extraction would stop on them. The proposed line counts them as no one
    (they then link nothing); a value that means a real id goes to `valid` instead."""
    values = sorted(share.unknown)
    problem = (f"the fictive flag {flag.column} holds value(s) the catalog does not know: "
               + ", ".join(f"{v!r} ({share.unknown[v]:,} row{'s' if share.unknown[v] != 1 else ''})" for v in values)
               + "; the extraction stops on them. Declare each as no_one (an id of no one) or valid (an id of someone)")
    if len(table.flags) != 1:
        return Finding(table.name, share.file, problem)
    no_one = list(dict.fromkeys([*flag.no_one_codes, *values]))
    fix = (f"fictive = {{ column = \"{flag.column}\", valid = {_toml_list(flag.valid)}, no_one = {_toml_list(no_one)}, "
           f"applies_to = {_toml_list(flag.applies_to)} }}")
    return Finding(table.name, share.file, problem, f"tables.{table.name}", fix)


def _detect_dialect(source: Source, report: Report) -> Dialect:
    declared = source.table.dialect
    with open(source.path, "rb") as fh:
        sample = fh.read(1 << 16)
    dialect = declared
    encoding = _encoding(sample)
    compatible = encoding == "latin-1" and _codec(declared.encoding) == _codec("cp1252")  # cp1252 reads latin-1 text alike
    if encoding and _codec(encoding) != _codec(declared.encoding) and not compatible:
        dialect = replace(dialect, encoding=encoding)
        report.findings.append(
            Finding(source.table.name, source.path, f"the file is {encoding}, the catalog says {declared.encoding}", "dialect", f'encoding = "{encoding}"')
        )
    text = sample.decode(dialect.encoding, errors="replace").lstrip("\ufeff")
    header = text.splitlines()[0] if text else ""
    expected = set(source.table.names)
    scores = {d: len(expected & {h.strip().strip(dialect.quote) for h in header.split(d)}) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (scores[d], d == declared.delimiter))
    if scores[best] > scores[declared.delimiter]:
        dialect = replace(dialect, delimiter=best)
        shown = "\\t" if best == "\t" else best
        report.findings.append(
            Finding(source.table.name, source.path, f"the file is delimited by {shown!r}, the catalog says {declared.delimiter!r}", "dialect", f'delimiter = "{shown}"')
        )
    return dialect


def _encoding(sample: bytes) -> str | None:
    """The sample's encoding; None when plain ASCII (which every supported encoding reads alike)."""
    if sample.isascii():
        return None
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start > len(sample) - 4:  # a character cut by the end of the sample
            return "utf-8"
    return "cp1252" if any(0x80 <= b <= 0x9F for b in sample) else "latin-1"


def _codec(name: str) -> str:
    return codecs.lookup(name).name


def _type_finding(source: Source, column: Column, count: int, examples: list[str], wrong: pa.Array, report: Report) -> None:
    table = source.table
    what = f"column {column.name} ({column.type}{'' if column.format == 'default' else ' ' + column.format}): {count:,} value(s) do not parse, e.g. {', '.join(repr(e) for e in examples)}"
    section, fix = _proposal(table, column, wrong)
    report.findings.append(Finding(table.name, source.path, what, section, fix))


def _proposal(table: Table, column: Column, wrong: pa.Array) -> tuple[str, str]:
    """(section, line) that would make every wrong value parse, or ("", "") when none would."""
    dialect = table.dialect
    columns_section = f"tables.{table.name}.columns"
    if column.type in ("date", "datetime", "yearmonth") and not (column.type == "date" and column.format == "%m"):
        candidates = DATETIME_FORMATS if column.type == "datetime" else DATE_FORMATS
        own = DEFAULT_FORMATS[column.type] if column.format == "default" else column.format
        for fmt in candidates:
            if fmt == own:
                continue
            if _all_parse(column, wrong, replace(dialect), (fmt,)):
                key = "datetime_formats" if column.type == "datetime" else "date_formats"
                return "dialect", f"{key} = {_toml_list(getattr(dialect, key) + (fmt,))}"
        return columns_section, column_line(column, type="string")
    if column.type == "integer":
        if _all_parse(column, wrong, replace(dialect, booleans_in_integers=True)):
            return "dialect", "booleans_in_integers = true"
        if _all_parse(replace(column, type="number"), wrong, dialect):
            return columns_section, column_line(column, type="number")
        return columns_section, column_line(column, type="string")
    if column.type == "number":
        if dialect.decimal == "." and _all_parse(column, wrong, replace(dialect, decimal=",")):
            return "dialect", 'decimal = ","'
        return columns_section, column_line(column, type="string")
    return columns_section, column_line(column, type="string")


def _all_parse(column: Column, values: pa.Array, dialect: Dialect, formats: tuple[str, ...] | None = None) -> bool:
    if not len(values):
        return False
    parsed = parse_strings(column, values, dialect, formats)
    return parsed.null_count == values.null_count


def column_line(column: Column, **changes) -> str:
    """The role-file line of `column`, with `changes` (e.g. type = "string")."""
    spec = {"role": column.role}
    if column.domain and column.role == "linkage":
        spec["domain"] = column.domain
    if column.rule:
        spec["rule"] = column.rule
    spec.update(changes)
    if column.note:
        spec["note"] = column.note
    body = ", ".join(f'{k} = "{v}"' for k, v in spec.items())
    return f"{column.name} = {{ {body} }}"


def _hoist_common_dialect(report: Report) -> None:
    """A dialect fix is catalog-wide ([dialect]) when every checked table needs it; else per table."""
    tables = {f.table for f in report.findings} | set(report.tables)
    needing: dict[str, set[str]] = {}
    for f in report.findings:
        if f.section == "dialect":
            needing.setdefault(f.fix, set()).add(f.table)
    for f in report.findings:
        if f.section == "dialect" and needing[f.fix] != tables:
            key, _, value = f.fix.partition(" = ")
            f.section = f"tables.{f.table}"
            f.fix = f"dialect = {{ {key} = {value} }}"


def render(report: Report) -> str:
    lines = []
    for table, path, rows in report.checked:
        problems = [f for f in report.findings if f.file == path]
        lines.append(f"{'ok  ' if not problems else 'FAIL'} {table:16} {rows:>12,} rows  {path}")
        for f in problems:
            lines.append(f"       - {f.problem}")
    for f in report.findings:
        if f.file is None or f.file not in {p for _, p, _ in report.checked}:
            lines.append(f"FAIL {f.table}: {f.problem}")
    lines += [f"note: {n}" for n in report.notes]
    for f in report.flags:
        line = (f"flag {f.column} of {f.table}: {f.no_one:,} of {f.rows:,} rows ({f.share:.1%}) make {', '.join(f.applies_to)} "
                "no one (fictive_policy applies)")
        if f.share > report.warn_share:
            line = (f"WARNING: {line}: above {report.warn_share:.0%} — check the flag's declared valid values against the file's "
                    f"(fictive = {{ column = \"{f.column}\", valid = [...] }}), or the threshold ENCLAVE_FICTIVE_WARN_PERCENT")
        lines.append(line)
    if report.without_source:
        lines.append(f"no source file for {len(report.without_source)} catalog table(s): {', '.join(report.without_source)}")
    if report.unknown_files:
        lines.append(f"{len(report.unknown_files)} source file(s) match no catalog table: {', '.join(str(p) for p in report.unknown_files)}")
    fixes = report.fixes()
    if fixes:
        lines += ["", "Role-file lines that would fix them:"]
        for section, body in sorted(fixes.items(), key=lambda kv: (kv[0] != "dialect", kv[0])):
            lines.append(f"[{section}]")
            lines += body
            if section == "dialect":
                lines.append("# or, for one run: " + " ".join(f"--dialect '{line.replace(' = ', '=').replace(chr(34), '')}'" for line in body if not line.startswith(("date", "datetime"))))
            lines.append("")
    n = len(report.findings)
    lines.append(f"{len(report.checked)} file(s) checked, {n} mismatch(es)" + (" — fix them, then run the check again" if n else ": the sources match the catalog")
                 + (f"; {len(report.warnings)} flag warning(s)" if report.warnings else ""))
    return "\n".join(lines)


def _toml_list(values) -> str:
    return "[" + ", ".join('"' + v + '"' for v in values) + "]"
