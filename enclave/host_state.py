"""Keep Docker and the host firewall in step with the registry after each project state change.

Nothing is registered by importing this module: each entry point that may change a project's
state (the ``enclave`` command, the reconciler, the hub) calls :func:`follow_state_changes` once
with its :class:`~enclave.settings.Settings`, so every process that suspends, resumes, closes or
expires a project also removes or recreates its network and firewall opening.
"""

from __future__ import annotations

from dataclasses import dataclass

from enclave import firewall, lifecycle, networks
from enclave.models import STATE_TRAITS, Project, ProjectState
from enclave.settings import Settings


@dataclass(frozen=True)
class FollowState:
    """The lifecycle hook: a project with extracts leaving reach loses its network (suspended, frozen,
    deprovisioned, closed); one coming back into reach with its extracts gets it back (resumed, unfrozen).
    Both read the states' traits (:data:`enclave.models.STATE_TRAITS`), not a list of states."""

    settings: Settings

    def __call__(self, project: Project, old: ProjectState, new: ProjectState) -> None:
        if old is new or not STATE_TRAITS[old].holds_extracts:
            return
        if not STATE_TRAITS[new].data_reachable:
            networks.remove_network(project.slug)
        elif not STATE_TRAITS[old].data_reachable:
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
