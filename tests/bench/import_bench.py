"""make bench (import airlock): what scanning an imported file costs, against reading it once, in this one run.

A generated CSV table (IMPORT_BENCH_MB, default 256 MiB: a pseudonymised cohort's care lines, no
direct identifier, so every family runs to its end) is scanned as the gate scans an import
(:func:`airlock.scan_worker.scan_in_worker`: a budgeted worker process; type, malware, identifiers),
twice: without malware signatures (the "not checked" finding) and with a signature folder (one
EICAR hash signature: clamscan reads the whole file). The baseline is reading the file once, in
8 MiB blocks, in this process. Before every run the file's pages are dropped from the page cache
(``posix_fadvise(DONTNEED)`` on this file alone), so the read and the scans start from the disk alike;
the warm read (from the cache) is given too. Each figure is the best of three.
Written to .bench/import.json; printed ratio = scan seconds / read seconds.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from airlock.config import ScanConfig
from airlock.scan import blocked
from airlock.scan_worker import scan_in_worker
from tests.imports.hostile_imports import eicar_signatures

REPO = Path(__file__).resolve().parents[2]
ROUNDS = 3
SIZE = int(os.environ.get("IMPORT_BENCH_MB") or 256) << 20


def make_table(path: Path, size: int) -> Path:
    """A CSV of ``size`` bytes or a little more: pseudonyms, age bands, dates, ICD-10 codes, amounts."""
    rng = random.Random(25)
    codes = [f"{letter}{n:02d}" for letter in "ABCEIJKN" for n in range(100)]
    lines = [f"{rng.getrandbits(64):016x},{rng.choice(('40-49', '50-59', '60-69', '70-79'))},"
             f"2019-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},{rng.choice(codes)},{rng.randint(1, 99999) / 100}\n"
             for _ in range(50_000)]
    block = "".join(lines).encode()
    with open(path, "wb") as fh:
        fh.write(b"pseudonym,age_band,care_date,icd10,amount_eur\n")
        written = 0
        while written < size:
            fh.write(block)
            written += len(block)
    return path


def evict(path: Path) -> None:
    """Drop this file's pages from the page cache (written back first): the next read is from the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_once(path: Path, cold: bool = True) -> float:
    if cold:
        evict(path)
    started = time.perf_counter()
    with open(path, "rb") as fh:
        while fh.read(8 << 20):
            pass
    return time.perf_counter() - started


def scan_once(path: Path, config: ScanConfig) -> float:
    evict(path)
    started = time.perf_counter()
    findings = scan_in_worker(path, config)
    seconds = time.perf_counter() - started
    if blocked(findings):
        raise SystemExit(f"the bench's table was blocked: {findings}")
    return seconds


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="import-bench-"))
    try:
        table = make_table(folder / "care_lines.csv", SIZE)
        size = table.stat().st_size
        unsigned = ScanConfig(clamav_db=folder / "no-signatures", seconds=3600, memory_bytes=4096 << 20)
        signed = ScanConfig(clamav_db=eicar_signatures(folder / "signatures"), seconds=3600, memory_bytes=4096 << 20)
        read = min(read_once(table) for _ in range(ROUNDS))
        warm = min(read_once(table, cold=False) for _ in range(ROUNDS))
        scan = min(scan_once(table, unsigned) for _ in range(ROUNDS))
        scan_signed = min(scan_once(table, signed) for _ in range(ROUNDS))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    mib = size / 2 ** 20
    result = {
        "file_mib": mib, "rounds": ROUNDS,
        "read_once_seconds": read, "read_once_mib_per_second": mib / read,
        "read_once_warm_seconds": warm, "read_once_warm_mib_per_second": mib / warm,
        "scan_seconds": scan, "scan_mib_per_second": mib / scan,
        "scan_with_signatures_seconds": scan_signed, "scan_with_signatures_mib_per_second": mib / scan_signed,
        "ratio_scan_vs_read": scan / read, "ratio_scan_with_signatures_vs_read": scan_signed / read,
        "load_average": os.getloadavg(),
    }
    out = REPO / ".bench"
    out.mkdir(exist_ok=True)
    (out / "import.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"import scan of a {mib:.0f} MiB CSV (best of {ROUNDS}): read once {read:.2f} s ({mib / read:.0f} MiB/s, "
          f"{mib / warm:.0f} MiB/s from the cache); "
          f"scan {scan:.2f} s ({mib / scan:.0f} MiB/s, {scan / read:.0f}x reading it); "
          f"with signatures {scan_signed:.2f} s ({mib / scan_signed:.0f} MiB/s, {scan_signed / read:.0f}x)")


if __name__ == "__main__":
    main()
