"""The committee's rules on SQLite and PostgreSQL: opinions arriving together give exactly one outcome."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from enclave.audit import verify
from enclave.db import session_scope
from enclave.models import AuditEvent
from portal import workflow
from portal.config import PortalConfig
from portal.models import AccessRequest, RequestState
from portal.service import Office

from .factories import GOOD, REASONS, create_cast, request_at_state


@pytest.fixture
def office(registry):  # noqa: F811
    config = PortalConfig.from_env({"ENCLAVE_HOME": str(registry.home), "ENCLAVE_DB_URL": registry.url,
                                    "ENCLAVE_PROJECTS_DIR": str(registry.projects_dir), "ENCLAVE_ACTOR": "test"})
    office = Office(config, registry.engine)
    with office.session() as s:
        create_cast(s)
    return office


def test_simultaneous_opinions_give_exactly_one_outcome(office):
    with office.session() as s:
        rid = request_at_state(s, office.catalog, RequestState.submitted).id
    start, outcomes = threading.Barrier(3), {}

    def vote(member: str) -> None:
        start.wait()
        try:
            with session_scope(office.engine, office.config.settings.audit_head) as s:
                outcomes[member] = workflow.give_opinion(s, member, workflow.get_request(s, rid), GOOD, REASONS)
        except workflow.WorkflowError as refusal:
            outcomes[member] = refusal

    threads = [threading.Thread(target=vote, args=(m,)) for m in ("cleo", "cyril", "cora")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    refused = [m for m, o in outcomes.items() if isinstance(o, workflow.WorkflowError)]
    assert len(refused) == 1 and "opinions are closed" in str(outcomes[refused[0]])
    with office.session() as s:
        request = s.get(AccessRequest, rid)
        assert request.state is RequestState.approved and len(request.opinions) == 2
        approvals = s.scalars(select(AuditEvent).where(AuditEvent.action == "access_request.approve")).all()
        assert len(approvals) == 1
        assert verify(s, office.config.settings.audit_head).ok
