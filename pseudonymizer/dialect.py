"""How a CSV source is written: delimiter, encoding, quoting, decimal mark, null tokens, extra date formats.

Declared in the role file, for every table (``[dialect]``) or one table (``dialect = {...}`` in its
section, overriding the catalog's keys). Options given for one run (``--dialect KEY=VALUE``, a project
manifest's ``[pseudonymisation] dialect``) replace the catalog's single values (delimiter, encoding...)
and *add to* its lists (null_values, true_values, false_values, date_formats, datetime_formats): a
source with one more date format keeps every format the catalog knows. A UTF-8 byte-order mark is
always skipped, and a value made only of whitespace is always null. Parquet sources ignore the dialect.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, fields, replace

from .errors import PseudonymizerError

ENCODINGS = ("utf-8", "latin-1", "cp1252")


@dataclass(frozen=True)
class Dialect:
    delimiter: str = ","
    encoding: str = "utf-8"
    quote: str = '"'
    decimal: str = "."
    null_values: tuple[str, ...] = ("",)
    true_values: tuple[str, ...] = ("true", "True", "TRUE", "1")
    false_values: tuple[str, ...] = ("false", "False", "FALSE", "0")
    booleans_in_integers: bool = False  # integer columns read true/false values as 1/0 (SAS, pandas exports)
    # Accepted besides each column's own Table Schema format, tried in this order.
    date_formats: tuple[str, ...] = ()
    datetime_formats: tuple[str, ...] = ()

    def merged(self, where: str, spec: dict) -> "Dialect":
        """This dialect with the keys of `spec` (a role-file table) replaced; checked."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise PseudonymizerError(f"{where}: unknown dialect key(s) {', '.join(unknown)}", f"known keys: {', '.join(sorted(known))}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
        dialect = replace(self, **values)
        dialect.check(where)
        return dialect

    def extended(self, where: str, spec: dict) -> "Dialect":
        """This dialect with the single values of `spec` replaced and its lists added to (one run's options)."""
        added = {}
        for key, value in spec.items():
            current = getattr(self, key, None)
            if isinstance(current, tuple):
                value = tuple(dict.fromkeys(current + tuple(value)))
            added[key] = value
        return self.merged(where, added)

    def check(self, where: str) -> None:
        for name in ("delimiter", "quote", "decimal"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) != 1:
                raise PseudonymizerError(f"{where}: dialect {name} = {value!r} is not one character", f'e.g. {name} = ";"')
        try:
            codec = codecs.lookup(self.encoding).name
        except (LookupError, TypeError):
            codec = None
        if codec not in {codecs.lookup(e).name for e in ENCODINGS}:
            raise PseudonymizerError(f"{where}: dialect encoding = {self.encoding!r} is not supported", f"use one of {', '.join(ENCODINGS)}")
        if self.decimal == self.delimiter:
            raise PseudonymizerError(f"{where}: the decimal mark and the delimiter are both {self.delimiter!r}", "quote such files' numbers, or fix the dialect")

    def toml(self, keys: list[str]) -> str:
        """`keys` of this dialect as an inline TOML table, for the role-file lines `catalog check` proposes."""
        parts = []
        for key in keys:
            value = getattr(self, key)
            parts.append(f"{key} = {_toml_value(value)}")
        return "{ " + ", ".join(parts) + " }"


def _toml_value(value) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
