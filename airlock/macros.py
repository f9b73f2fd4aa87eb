"""Office macros, with ``oletools`` (olevba reads both OLE2 and Office Open XML documents)."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

from oletools.olevba import VBA_Parser

logging.getLogger("olevba").setLevel(logging.CRITICAL)


def _vba_part(path: Path) -> bool:
    """Whether an Office Open XML package holds a VBA project part (a macro-enabled document)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(n.lower().endswith("vbaproject.bin") for n in archive.namelist())


def scan_macros(path: Path) -> tuple[str, str]:
    """``(outcome, detail)``: ``fail`` when the document carries VBA or XLM macros, or cannot be analysed."""
    refuse = f"{path.name} carries Office macros: save it without macros (e.g. as .xlsx or .docx) and import that"
    if _vba_part(path):
        return "fail", refuse
    try:
        parser = VBA_Parser(str(path))
        try:
            found = parser.detect_vba_macros() or parser.detect_xlm_macros()
        finally:
            parser.close()
    except Exception as exc:  # noqa: BLE001 — olevba raises many kinds on malformed files: refuse, naming it
        return "fail", f"{path.name} could not be analysed for macros ({type(exc).__name__}: {exc}): not imported"
    return ("fail", refuse) if found else ("pass", "no Office macro")
