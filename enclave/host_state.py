"""Keep Docker and the host firewall in step with the registry after each project state change.

Nothing is registered by importing this module: each entry point that may change a project's
state (the ``enclave`` command, the reconciler, the hub) calls :func:`follow_state_changes` once
with its :class:`~enclave.settings.Settings`, so every process that suspends, resumes, closes or
expires a project also removes or recreates its network and firewall opening.
"""

from __future__ import annotations

from dataclasses import dataclass

from enclave import firewall, lifecycle, networks
from enclave.models import Project, ProjectState
from enclave.settings import Settings

_WITH_NETWORK = (ProjectState.provisioned, ProjectState.active, ProjectState.suspended)
_WITHOUT_NETWORK = (ProjectState.suspended, ProjectState.closed, ProjectState.authorised)


@dataclass(frozen=True)
class FollowState:
    """The lifecycle hook: a project leaving reach loses its network; a resumed one gets it back."""

    settings: Settings

    def __call__(self, project: Project, old: ProjectState, new: ProjectState) -> None:
        if old in _WITH_NETWORK and new in _WITHOUT_NETWORK and old is not new:
            networks.remove_network(project.slug)
        elif new is ProjectState.active and old is ProjectState.suspended:
            networks.ensure_network(project.slug)
        else:
            return
        firewall.apply(firewall.current_openings(), self.settings.firewall_ports)


def follow_state_changes(settings: Settings) -> None:
    """Register :class:`FollowState` with these settings in :data:`enclave.lifecycle.STATE_CHANGE_HOOKS`
    (replacing one registered before, so calling it twice does not act twice)."""
    hooks = lifecycle.STATE_CHANGE_HOOKS
    hooks[:] = [hook for hook in hooks if not isinstance(hook, FollowState)]
    hooks.append(FollowState(settings))
