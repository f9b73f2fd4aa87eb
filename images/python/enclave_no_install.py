"""IPython extension: `%pip install NAME` installs from the project's index only (the packages ops
approved), and for any other name says at once how to ask for it; `%conda install` explains that
conda has no index here. `%pip list` and the other read-only commands work as usual. Loaded by
/etc/ipython/ipython_kernel_config.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from IPython.core.error import UsageError

MESSAGE_FILE = Path("/etc/enclave/NO_PACKAGE_INSTALL.txt")
INSTALLING = {"install", "download", "wheel", "create", "update", "upgrade"}


def message() -> str:
    try:
        return MESSAGE_FILE.read_text()
    except OSError:
        return "Packages come from the project's index only: enclave-package request NAME --reason \"...\""


def _pip(original):
    def magic(line: str = ""):
        words = [w for w in line.split() if not w.startswith("-")]
        if words and words[0] in INSTALLING:
            # The image's pip rules (enclave_package.pip_main): the project's index, ~/.local/enclave-packages.
            done = subprocess.run([sys.executable, "-m", "enclave_package", "pip", *line.split()],
                                  capture_output=True, text=True)
            print(done.stdout, end="")
            if done.returncode != 0:
                raise UsageError("\n" + done.stderr)
            print("Installed: import it in this kernel, or restart the kernel if an older version was imported.")
            return None
        if original is None:
            raise UsageError("\n" + message())
        return original(line)

    return magic


def _guarded(original):
    def magic(line: str = ""):
        words = [w for w in line.split() if not w.startswith("-")]
        if original is None or (words and words[0] in INSTALLING):
            raise UsageError("\n" + message())
        return original(line)

    return magic


def load_ipython_extension(ipython) -> None:
    ipython.register_magic_function(_pip(ipython.find_line_magic("pip")), "line", "pip")
    for name in ("conda", "mamba", "micromamba"):
        original = ipython.find_line_magic(name)
        ipython.register_magic_function(_guarded(original), "line", name)
