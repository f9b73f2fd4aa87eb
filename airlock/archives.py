"""Archive bombs: a zip or gzip is unpacked as a stream, counting, and stopped at the first limit.

The declared sizes of a zip are not trusted (they can lie): every member is decompressed into a
counter. Refused: an unpacked total above ``max_unpacked_bytes``, a ratio (unpacked / packed)
above ``max_ratio``, an archive inside an archive, and a member whose own bytes are not on the
allow-list (an executable hidden in a zip).
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from pathlib import Path

from .config import ScanConfig
from .sniff import ALLOWED, ARCHIVES, HEAD, sniff_head

CHUNK = 1 << 20


class Bomb(Exception):
    """Why an archive is refused."""


def _count(stream, packed: int, config: ScanConfig, name: str, so_far: int) -> tuple[int, bytes]:
    """Bytes unpacked from ``stream`` (added to ``so_far``) and its first block; raises :class:`Bomb`."""
    total, head = so_far, b""
    while chunk := stream.read(CHUNK):
        if len(head) < HEAD:
            head += chunk[: HEAD - len(head)]
        total += len(chunk)
        if total > config.max_unpacked_bytes:
            raise Bomb(f"{name} unpacks to more than {config.max_unpacked_bytes // 2 ** 20} MB "
                       "(ENCLAVE_IMPORT_MAX_UNPACKED_MB)")
        if total > config.max_ratio * max(packed, 1) and total > CHUNK:
            raise Bomb(f"{name} unpacks to more than {config.max_ratio:g} times its packed size "
                       f"({packed} bytes): an archive bomb (ENCLAVE_IMPORT_MAX_RATIO)")
    return total, head


def _member_kind(name: str, head: bytes) -> None:
    kind = sniff_head(head)
    if kind in ARCHIVES:
        raise Bomb(f"{name} is an archive inside the archive: unpack it and import its files")
    if kind not in ALLOWED:
        raise Bomb(f"{name} is a {kind} file inside the archive: not on the allow-list ({', '.join(ALLOWED)})")


def check_archive(path: Path, kind: str, config: ScanConfig) -> str:
    """A sentence describing a safe archive; raises :class:`Bomb` naming the problem."""
    packed = path.stat().st_size
    try:
        if kind == "gzip":
            with gzip.open(path, "rb") as stream:
                total, head = _count(stream, packed, config, path.name, 0)
            _member_kind(path.name.removesuffix(".gz") or "the content", head)
            return f"gzip unpacking to {total} bytes"
        total = 0
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            for member in members:
                with archive.open(member) as stream:
                    total, head = _count(stream, packed, config, f"{path.name}:{member.filename}", total)
                _member_kind(member.filename, head)
        return f"zip of {len(members)} file(s) unpacking to {total} bytes"
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        raise Bomb(f"{path.name} is not a readable {kind} archive ({exc})") from None
