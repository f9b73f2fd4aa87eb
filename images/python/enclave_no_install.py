"""IPython extension: `%pip install` / `%conda install` say at once why nothing can be
installed in an enclave (no network) and how to ask for a package; `%pip list` and
the other read-only commands still work. Loaded by /etc/ipython/ipython_kernel_config.py.
"""

from __future__ import annotations

from pathlib import Path

from IPython.core.error import UsageError

MESSAGE_FILE = Path("/etc/enclave/NO_PACKAGE_INSTALL.txt")
INSTALLING = {"install", "download", "wheel", "create", "update", "upgrade"}


def message() -> str:
    try:
        return MESSAGE_FILE.read_text()
    except OSError:
        return "Packages cannot be installed inside an enclave (no network): ask ops to add it to the image."


def _guarded(original):
    def magic(line: str = ""):
        words = [w for w in line.split() if not w.startswith("-")]
        if original is None or (words and words[0] in INSTALLING):
            raise UsageError("\n" + message())
        return original(line)

    return magic


def load_ipython_extension(ipython) -> None:
    for name in ("pip", "conda", "mamba", "micromamba"):
        original = ipython.find_line_magic(name)
        ipython.register_magic_function(_guarded(original), "line", name)
