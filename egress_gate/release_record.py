"""A release's machine-readable record, written into its ledger entry (SATRE 3.3.09).

What a reviewer of the release needs to replay it without the registry: the rules applied (the
disclosure policy's version and every threshold, the number of stewards required, whether the
anonymised version left), the versions of the tools that checked it, each file's check results
and provenance (the commit and notebook or script that produced it), and the votes with their
reasons and overrides. :data:`RECORD_VERSION` changes when a field's meaning does.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

from .models import EgressRequest
from .policy import Policy

RECORD_VERSION = 1


def tool_versions() -> dict[str, str]:
    """The versions of what ran the checks: this platform, Python and the libraries the checks read files with."""
    versions = {"python": platform.python_version()}
    for package in ("enclave", "pyarrow", "openpyxl", "pillow"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def check_results(findings: list[dict[str, Any]]) -> dict[str, str]:
    """``{check: outcome}`` of a file's findings, the worst outcome kept when a check reports several."""
    rank = {"pass": 0, "review": 1, "fail": 2}
    out: dict[str, str] = {}
    for finding in findings or []:
        check, outcome = str(finding.get("check")), str(finding.get("outcome"))
        if rank.get(outcome, -1) >= rank.get(out.get(check, ""), -1):
            out[check] = outcome
    return dict(sorted(out.items()))


def build(request: EgressRequest, policy: Policy, anonymised: bool) -> dict[str, Any]:
    """The record of ``request``'s release (read inside the session that loaded it)."""
    return {
        "record_version": RECORD_VERSION,
        "request": {"id": request.id, "project": request.project_slug, "kind": str(request.kind),
                    "requester": request.requester, "submitted_at": request.created_at.isoformat(),
                    "resubmits": request.resubmits_id},
        "rules": {"policy": policy.record(), "policy_version_at_submission": request.policy_version,
                  "stewards_required": request.stewards_required, "released_anonymised": anonymised,
                  "failing_findings_need_override_by_each_approver": True},
        "tools": tool_versions(),
        "files": [{"name": f.name, "sha256": f.sha256, "size": f.size, "checks": check_results(f.findings),
                   "provenance": f.provenance, "context": f.context} for f in request.files],
        "votes": [{"steward": d.steward, "vote": str(d.vote), "reason": d.reason, "at": d.at.isoformat(),
                   "release_anonymised": d.release_anonymised,
                   "overrides": [o.get("finding") for o in d.overrides or []]} for d in request.decisions],
    }
