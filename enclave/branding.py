"""A deployment's branding, in one place: the name, the logo, the colour of the header and whom to
ask for help. The hub and every service read it with :meth:`Branding.from_env` and hand it to the
shell (:mod:`enclave.shell`); nothing else spells the platform's name.

Every variable's default and meaning is written once, in :mod:`enclave.configuration` (``docs/configuration.md``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from enclave.errors import EnclaveError

VARIABLES = ("ENCLAVE_BRAND_NAME", "ENCLAVE_BRAND_LOGO", "ENCLAVE_BRAND_COLOUR", "ENCLAVE_SUPPORT_CONTACT")
DEFAULT_COLOUR = "#1d3f6e"
MIN_CONTRAST = 4.5  # WCAG AA for the header's white text


class BrandingError(EnclaveError):
    """A branding setting that cannot be used as given."""


def contrast_with_white(colour: str) -> float:
    """The WCAG contrast ratio of white text on ``colour`` (``#rrggbb``)."""
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (luminance + 0.05)


@dataclass(frozen=True)
class Branding:
    name: str = "Enclave"
    logo: Path | None = None
    colour: str = DEFAULT_COLOUR
    support: str = "the platform's operators"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Branding:
        env = os.environ if environ is None else environ
        colour = (env.get("ENCLAVE_BRAND_COLOUR") or DEFAULT_COLOUR).strip().lower()
        if not re.fullmatch(r"#[0-9a-f]{6}", colour):
            raise BrandingError(f"ENCLAVE_BRAND_COLOUR={colour!r} is not a colour as #rrggbb",
                                "write it as six hexadecimal digits, e.g. ENCLAVE_BRAND_COLOUR=#1d3f6e")
        if contrast_with_white(colour) < MIN_CONTRAST:
            raise BrandingError(f"ENCLAVE_BRAND_COLOUR={colour} is too light: white text on it has a contrast of "
                                f"{contrast_with_white(colour):.1f}:1, under {MIN_CONTRAST}:1 (WCAG AA)",
                                "choose a darker colour for the header")
        logo = env.get("ENCLAVE_BRAND_LOGO") or None
        if logo is not None:
            path = Path(logo)
            if not path.is_file():
                raise BrandingError(f"ENCLAVE_BRAND_LOGO={logo!r} is not a file", "give the path of a PNG or SVG image")
            if path.suffix.lower() not in (".png", ".svg"):
                raise BrandingError(f"ENCLAVE_BRAND_LOGO={logo!r} is neither a PNG nor an SVG image",
                                    "convert the logo to PNG or SVG")
        return cls(name=(env.get("ENCLAVE_BRAND_NAME") or cls.name).strip(), logo=Path(logo) if logo else None,
                   colour=colour, support=(env.get("ENCLAVE_SUPPORT_CONTACT") or cls.support).strip())

    def css(self) -> str:
        """The stylesheet's variables for this deployment (prepended to ``shell.css`` when served)."""
        return f":root {{ --brand: {self.colour}; }}\n"
