"""Free text an enclave sends: bounded in length, and checked like a file's text before it is kept.

An egress request's justification, its paths, each file's context, a resubmission's answer, a package request's reason: text typed (or written
by a program) inside a project, stored by the platform and shown to people outside it. Each field
has a named limit (:data:`LIMITS`); a longer one is refused with a 400 naming the field and the
limit. Within it, the text goes through the checks a released text file gets
(:func:`~.checks.identifiers.check_text`: the project's pseudonyms, NIRs, e-mail addresses) and
the encoded-run check (:func:`~.checks.encoded.check_encoded`: base64, hex and other dense encodings, as the seal
cuts them); any failing finding refuses the text, naming the field and what was found, never
echoing it. Nothing is stored, so nothing half-written stays behind.
"""

from __future__ import annotations

from .checks.encoded import check_encoded
from .checks.identifiers import check_text
from .context import CheckContext
from .errors import EgressError
from .findings import Finding, Outcome
from .policy import DEFAULT_POLICY, Policy

MAX_JUSTIFICATION = 2_000  # characters: a paragraph or two says what the files are and why they are safe
MAX_REASON = 1_000  # characters: a withdrawal's or a package request's reason
MAX_PATH = 512  # characters of one path in an egress request
MAX_SHORT_FIELD = 64  # characters: project slugs, request kinds, package names and versions
LIMITS = {"justification": MAX_JUSTIFICATION, "answer": MAX_JUSTIFICATION, "reason": MAX_REASON, "context": MAX_REASON,
          "path": MAX_PATH, "project": MAX_SHORT_FIELD,
          "kind": MAX_SHORT_FIELD, "name": MAX_SHORT_FIELD, "version": MAX_SHORT_FIELD}


class FreeTextRefused(EgressError):
    """A free-text field over its limit or failing a content check (a 400: the sender fixes the text)."""


def check_length(field: str, text: str, limit: int | None = None) -> str:
    """``text`` if it fits ``field``'s limit; :class:`FreeTextRefused` naming both otherwise."""
    limit = LIMITS[field] if limit is None else limit
    if not isinstance(text, str):
        raise FreeTextRefused(f"the {field} must be text, not {type(text).__name__}", "send a string")
    if len(text) > limit:
        raise FreeTextRefused(f"the {field} is {len(text):,} characters, over the limit of {limit:,}",
                              f"shorten it to {limit:,} characters or fewer")
    return text


def text_findings(text: str, context: CheckContext, policy: Policy = DEFAULT_POLICY) -> list[Finding]:
    return check_text(text, policy, context) + check_encoded(text, policy)


def check_free_text(field: str, text: str, context: CheckContext, limit: int | None = None,
                    policy: Policy = DEFAULT_POLICY) -> str:
    """``text`` if it fits its limit and passes the content checks; :class:`FreeTextRefused` otherwise."""
    check_length(field, text, limit)
    failing = [f for f in text_findings(text, context, policy) if f.outcome is Outcome.FAIL]
    if failing:
        found = "; ".join(f.message for f in failing)
        raise FreeTextRefused(f"the {field} cannot be accepted: {found}",
                              f"write the {field} in your own words, without identifiers or data")
    return text
