"""Plain functions putting an import in a given state through the real workflow (audited).

The cast is the egress tests' (project ``cohort-a``: ``remi`` the requester, ``mona`` and ``max``
members, ``max`` also a steward; stewards from outside ``sven``, ``stella``, ``sam``).
"""

from __future__ import annotations

from pathlib import Path

from airlock import staging, workflow
from airlock.models import ImportRequest

from ..egress.workflow_fixtures import REQUESTER, SLUG, setup_project  # noqa: F401 - re-exported for the tests

PURPOSE = "ICD-10 chapter labels, to name the diagnoses in table 2"


def create_submitted(session, project_dir: Path, files: list[Path], requester: str = REQUESTER) -> ImportRequest:
    request = workflow.create(session, SLUG, requester, PURPOSE)
    for path in files:
        token, staged = staging.stage_file(project_dir, request.id, path)
        workflow.add_file(session, request.id, requester, staged, project_dir)
        staging.discard(project_dir, token)
    return workflow.submit(session, request.id, requester)


def clean_findings(request: ImportRequest) -> dict[str, list[dict]]:
    return {f.name: [{"check": "type", "outcome": "pass", "detail": "text file by its content"}] for f in request.files}
