"""Exports shaped as real SNDS extractions deliver them, for the tests: one flat folder of
semicolon-delimited Latin-1 CSV files, SAS datetimes, year-suffixed PMSI files (T_MCO19C.csv),
an accented value, and the PMSI's mother-child structure (newborns' stays with a fictive own NIR
and their mother's NIR_ANO_MAM).

Built from the public synthetic SNDS sample (10 rows per table, ../shared/data/synthetic-snds),
whose values fit each column's Table Schema; only the ids and flags are set here.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path

from pseudonymizer.catalog import load_catalog

from ..conftest import REPO, SHARED_SNDS

SCHEMAS = SHARED_SNDS / "schemas"
CATALOG = REPO / "pseudonymizer" / "catalogs" / "snds" / "catalog.toml"
FICTIVE_NEWBORN_NIR = "NOUVEAUNEFICTIF01"  # what a newborn without a NIR of its own gets: one value for many babies
ACCENTED = "Hôpital-Éloïse"


@dataclass
class Stay:
    own: str  # NIR_ANO_17
    mother: str = ""  # NIR_ANO_MAM
    flag: str = "0"  # NIR_RET as written in the file


@dataclass
class Export:
    folder: Path
    people: list[str]  # IR_BEN_R.BEN_NIR_PSA, each with BEN_RNG_GEM 1
    stays: list[Stay] = field(default_factory=list)


def sample(name: str) -> tuple[list[str], list[list[str]]]:
    table = load_catalog(CATALOG, schema_dir=SCHEMAS).table(name)
    with open(table.schema_path.with_suffix(".csv"), encoding="utf-8", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    return header, rows


def _sas(value: str) -> str:
    try:
        return dt.date.fromisoformat(value).strftime("%d%b%Y:00:00:00").upper()
    except ValueError:
        return value


def write_csv(path: Path, header: list[str], rows: list[list[str]], delimiter: str = ";", encoding: str = "latin-1") -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))


def mother_child_export(folder: Path, stays: list[Stay], flag_forms: tuple[str, str] = ("0", "1")) -> Export:
    """IR_BEN_R (every person with a normal NIR code, SAS birth dates, one accented value) and T_MCO19C
    holding `stays`; a stay's flag "0"/"1" is written as `flag_forms` (e.g. False/True, N/O)."""
    folder.mkdir(parents=True)
    header, rows = sample("IR_BEN_R")
    people = sorted({s.own for s in stays if s.flag == "0"} | {s.mother for s in stays if s.mother})
    template = rows[0]
    ben = []
    for i, person in enumerate(people):
        row = list(rows[i % len(rows)])
        row[header.index("BEN_NIR_PSA")] = person
        row[header.index("BEN_RNG_GEM")] = "1"
        row[header.index("BEN_CDI_NIR")] = "00"
        row[header.index("BEN_IDT_ANO")] = f"IDT{i:014d}"
        row[header.index("BEN_NAI_ANN")] = template[header.index("BEN_NAI_ANN")]
        row[header.index("ORG_AFF_BEN")] = ACCENTED
        ben.append([_sas(v) for v in row])
    write_csv(folder / "IR_BEN_R.csv", header, ben)
    header, rows = sample("T_MCOaaC")
    written = {"0": flag_forms[0], "1": flag_forms[1]}
    mco = []
    for i, stay in enumerate(stays):
        row = list(rows[i % len(rows)])
        row[header.index("NIR_ANO_17")] = stay.own
        row[header.index("NIR_ANO_MAM")] = stay.mother
        row[header.index("NIR_RET")] = written.get(stay.flag, stay.flag)
        row[header.index("RSA_NUM")] = str(1000 + i)
        mco.append(row)
    write_csv(folder / "T_MCO19C.csv", header, mco)
    return Export(folder, people, stays)


def newborns_and_mothers() -> list[Stay]:
    """Four mothers' own stays, then their babies' stays: each baby's own NIR is the shared fictive
    one (NIR_RET 1), its mother's number is real; the fourth mother has twins."""
    mothers = [f"MERE{i:013d}" for i in range(1, 5)]
    stays = [Stay(m) for m in mothers]
    stays += [Stay(FICTIVE_NEWBORN_NIR, mother=m, flag="1") for m in mothers]
    stays += [Stay(FICTIVE_NEWBORN_NIR, mother=mothers[3], flag="1")]  # the twin
    return stays
