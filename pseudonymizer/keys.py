"""Per-project pseudonymisation keys, derived from one master secret.

project key = HKDF-SHA256(master secret, salt = key version, info = project slug). The master
secret never leaves the provisioning host; a project key is never written anywhere. Rotating the
key version gives a project entirely new pseudonyms.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import PseudonymizerError

MASTER_KEY_ENV = "ENCLAVE_MASTER_KEY"
MASTER_KEY_FILE_ENV = "ENCLAVE_MASTER_KEY_FILE"
MIN_MASTER_KEY_BYTES = 32


def load_master_key(key_file: str | Path | None = None) -> bytes:
    """The master secret, from a file (hex or base64) or the ENCLAVE_MASTER_KEY variable."""
    key_file = key_file or os.environ.get(MASTER_KEY_FILE_ENV)
    if key_file:
        try:
            text = Path(key_file).read_text(encoding="ascii").strip()
        except (FileNotFoundError, PermissionError, UnicodeDecodeError) as exc:
            raise PseudonymizerError(
                f"cannot read the master key file {key_file}: {exc.__class__.__name__}",
                "point --master-key-file (or ENCLAVE_MASTER_KEY_FILE) at a readable file holding the key",
            ) from None
        where = f"master key file {key_file}"
    else:
        text = os.environ.get(MASTER_KEY_ENV, "").strip()
        where = f"variable {MASTER_KEY_ENV}"
        if not text:
            raise PseudonymizerError(
                f"no master key: neither {MASTER_KEY_ENV} nor {MASTER_KEY_FILE_ENV} is set",
                f"generate one with `enclave keygen > master.key` and set {MASTER_KEY_FILE_ENV}=master.key",
            )
    key = _decode(text)
    if key is None or len(key) < MIN_MASTER_KEY_BYTES:
        raise PseudonymizerError(
            f"the {where} does not hold a key of at least {MIN_MASTER_KEY_BYTES} bytes (hex or base64)",
            "generate one with `enclave keygen`",
        )
    return key


def _decode(text: str) -> bytes | None:
    try:
        return bytes.fromhex(text)
    except ValueError:
        pass
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def new_master_key() -> str:
    return os.urandom(MIN_MASTER_KEY_BYTES).hex()


def project_key(master: bytes, project: str, version: int) -> bytes:
    if version < 1:
        raise PseudonymizerError(f"key version {version} is invalid", "key versions start at 1")
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=f"enclave-pseudonym-v{version}".encode(),
        info=f"project:{project}".encode(),
    ).derive(master)


def fingerprint(key: bytes) -> str:
    """A public name for a key: tells which key made an extract without revealing it."""
    return hmac.new(key, b"enclave key fingerprint", hashlib.sha256).hexdigest()[:16]
