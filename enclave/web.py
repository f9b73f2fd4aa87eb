"""What the platform's hub services (the egress gate, the portal, the usage pages) share to serve pages."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from enclave.shell import TEMPLATES as SHELL_TEMPLATES


def escaping_templates(folder: Path | str) -> Environment:
    """Jinja templates of ``folder`` (and the shell's, as ``shell/...``) with autoescaping on, whatever the file name."""
    loader = ChoiceLoader([FileSystemLoader(str(folder)), FileSystemLoader(str(SHELL_TEMPLATES))])
    env = Environment(loader=loader, autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    assert env.autoescape is not False
    return env


def persistent_cookie_secret(data_dir: Path) -> bytes:
    """A service's cookie secret, kept in ``data_dir`` (0600) so that a restart logs no one out."""
    path = data_dir / "cookie_secret"
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
