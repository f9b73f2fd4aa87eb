"""Every action the audit log knows, once: :func:`enclave.audit.record` refuses any other name.

A project's lifecycle actions (``project.<action>`` of :class:`enclave.lifecycle.Action`) and the
egress gate's (``egress.<action>`` of :class:`egress_gate.workflow.Action`) are listed here too;
each workflow resolves its enum with :func:`audit_actions_of` when imported, and tests check it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar


class AuditAction(StrEnum):
    db_upgrade = "db.upgrade"
    audit_anchor = "audit.anchor"
    audit_keyed = "audit.keyed"  # the first event of the keyed chain: the unkeyed events before it, closed
    audit_key_rotate = "audit.key_rotate"
    audit_purge = "audit.purge"  # events older than the retention removed (seq range, count, link kept)
    user_add = "user.add"
    # login (enclave/auth)
    auth_refused = "auth.refused"
    totp_enrolment_started = "auth.totp.enrolment_started"
    totp_enrolled = "auth.totp.enrolled"
    totp_success = "auth.totp.success"
    totp_failure = "auth.totp.failure"
    totp_locked = "auth.totp.locked"
    totp_reset = "auth.totp.reset"
    # projects: registration and provisioning
    project_register = "project.register"
    project_update = "project.update"
    project_member_add = "project.member.add"
    project_member_role = "project.member.role"
    project_member_remove = "project.member.remove"
    project_member_suspend = "project.member.suspend"  # one member's access to one project (enclave.suspension)
    project_member_lift = "project.member.lift"
    project_extract = "project.extract"
    project_provision_unchanged = "project.provision.unchanged"
    # projects: lifecycle transitions (enclave.lifecycle.Action)
    project_review = "project.review"
    project_authorise = "project.authorise"
    project_provision = "project.provision"
    project_activate = "project.activate"
    project_suspend = "project.suspend"
    project_resume = "project.resume"
    project_freeze = "project.freeze"
    project_unfreeze = "project.unfreeze"
    project_close = "project.close"
    project_deprovision = "project.deprovision"
    project_reprovision = "project.reprovision"
    # servers
    server_start = "server.start"
    server_stop = "server.stop"
    server_refused = "server.refused"  # started but not hardened (any backend): removed, never handed out
    # the egress gate (egress_gate.workflow.Action, then what is only read)
    egress_submit = "egress.submit"
    egress_start_review = "egress.start_review"
    egress_vote = "egress.vote"
    egress_approve = "egress.approve"
    egress_request_changes = "egress.request_changes"
    egress_reject = "egress.reject"
    egress_withdraw = "egress.withdraw"
    egress_resubmit = "egress.resubmit"
    egress_release = "egress.release"
    egress_update_file = "egress.update_file"  # a file's new bytes in a request: the votes cast on it are cancelled
    egress_view = "egress.view"
    egress_preview = "egress.preview"
    egress_download = "egress.download"
    egress_refused = "egress.refused"  # a submission refused before anything was queued
    # the seal between browsers and enclave servers (spawner_config.seal)
    seal_refused = "seal.refused"
    seal_output_capped = "seal.output_capped"
    seal_content_cut = "seal.content_cut"  # a payload the seal's guard cut (encoded run, known content, image...)
    # a security event: a content hit, or a share of a day's output budget crossed; details: kind
    # (enclave.alarms), counted by the reconciler towards a suspension
    seal_alarm = "seal.alarm"
    # the hub API gate (spawner_config.hub_api_gate): a call from an enclave outside its allow-list
    hub_api_refused = "hub_api.refused"
    # the project tools (project_tools): package requests and decisions, the git remote
    package_request = "package.request"
    package_approve = "package.approve"
    package_refuse = "package.refuse"
    code_push = "code.push"
    # the import airlock (airlock.workflow.Action): data brought into a project, scanned and reviewed
    import_create = "import.create"
    import_add_file = "import.add_file"
    import_submit = "import.submit"
    import_scan = "import.scan"  # details: the outcome per file (blocked or scanned)
    import_vote = "import.vote"
    import_approve = "import.approve"  # the files published read-only at ~/imports (names, hashes)
    import_reject = "import.reject"
    tools_refused = "tools.refused"  # a call at the tools' enclave port refused (not an enclave server, wrong project)
    # the front office (portal.workflow.Action, then what is not a transition)
    access_request_create = "access_request.create"
    access_request_edit = "access_request.edit"
    access_request_comment = "access_request.comment"
    access_request_conflict = "access_request.conflict"
    access_request_opinion = "access_request.opinion"
    access_request_manifest = "access_request.manifest"
    access_request_submit = "access_request.submit"
    access_request_send_back = "access_request.send_back"
    access_request_approve = "access_request.approve"
    access_request_reject = "access_request.reject"
    access_request_revise = "access_request.revise"
    access_request_authorise = "access_request.authorise"
    access_request_refuse = "access_request.refuse"
    access_request_withdraw = "access_request.withdraw"
    result_publish = "result.publish"
    # metering and billing (metering/)
    usage_invoice = "usage.invoice"


A = TypeVar("A", bound=StrEnum)


def audit_actions_of(domain: str, actions: Iterable[A]) -> dict[A, AuditAction]:
    """The audit action of each action of a workflow's enum (``<domain>.<action>``), resolved once, at
    import: a workflow action without its audit action stops the import, not a transition later."""
    return {action: AuditAction(f"{domain}.{action}") for action in actions}
