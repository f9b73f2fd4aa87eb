"""The scan of one imported file: five families, each a finding ``{"check", "outcome", "detail"}``.

- ``type``: what the bytes are (:mod:`airlock.sniff`), against the allow-list; an executable or a
  script renamed ``.csv`` fails here, whatever its name;
- ``archive``: bombs (ratio, total size), nested archives, disallowed members (:mod:`airlock.archives`);
- ``macros``: VBA/XLM macros in Office documents (:mod:`airlock.macros`, oletools);
- ``malware``: ClamAV signatures, or a plain "not checked" when there are none (:mod:`airlock.malware`);
- ``identifiers``: NIRs, e-mails, phones, identifying column names (:mod:`airlock.identifiers`).

Outcomes are the gate's (:class:`egress_gate.findings.Outcome`): ``fail`` blocks the import,
``review`` is shown to stewards, ``pass``. A file whose type fails is not opened further.
Run it in a worker (:func:`airlock.scan_worker.scan_in_worker`), never in a request handler.
"""

from __future__ import annotations

from pathlib import Path

from egress_gate.findings import Outcome

from .archives import Bomb, check_archive
from .config import ScanConfig
from .identifiers import scan_identifiers
from .macros import scan_macros
from .malware import scan_malware
from .sniff import ALLOWED, ARCHIVES, OFFICE, sniff


def finding(check: str, outcome: Outcome | str, detail: str) -> dict:
    return {"check": check, "outcome": Outcome(outcome).value, "detail": detail}


def scan_file(path: Path, config: ScanConfig, on_check=lambda name: None) -> list[dict]:
    """Every finding of the scan of ``path`` (see the module's docstring)."""
    on_check("type")
    kind = sniff(path)
    if kind not in ALLOWED:
        return [finding("type", Outcome.FAIL, f"{path.name} is a{'n' if kind[0] in 'aeiou' else ''} {kind} file by "
                        f"its content: only {', '.join(ALLOWED)} files may be imported")]
    found = [finding("type", Outcome.PASS, f"{kind} file by its content")]
    if kind in ARCHIVES:
        on_check("archive")
        try:
            found.append(finding("archive", Outcome.PASS, check_archive(path, kind, config)))
        except Bomb as exc:
            return found + [finding("archive", Outcome.FAIL, str(exc))]
    if kind in OFFICE:
        on_check("macros")
        found.append(finding("macros", *scan_macros(path)))
    on_check("malware")
    found.append(finding("malware", *scan_malware(path, config.clamav_db)))
    on_check("identifiers")
    found.append(finding("identifiers", *scan_identifiers(path, kind)))
    return found


def blocked(findings: list[dict]) -> bool:
    return any(f["outcome"] == Outcome.FAIL.value for f in findings)
