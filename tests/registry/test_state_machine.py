"""One state machine for every workflow: each table's states all reachable, final states final, one wording
for refusals, and the diagrams drawn from the tables."""

from __future__ import annotations

import pytest

from airlock import workflow as imports
from egress_gate import workflow as egress
from enclave import lifecycle
from enclave.errors import EnclaveError
from enclave.state_machine import StateMachine
from portal import workflow as access

WORKFLOWS = {"project": lifecycle, "egress": egress, "access": access, "import": imports}


def reachable(machine: StateMachine) -> set:
    seen, frontier = {machine.initial}, [machine.initial]
    while frontier:
        state = frontier.pop()
        for action in machine.allowed_actions(state):
            target = machine.transitions[state, action]
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


@pytest.mark.parametrize("name", WORKFLOWS)
def test_every_state_is_reachable_and_final_states_are_final(name):
    machine = WORKFLOWS[name].MACHINE
    assert isinstance(machine, StateMachine)
    assert reachable(machine) == set(type(machine.initial)), f"{name}: a state no move leads to"
    for state in machine.final:
        assert machine.allowed_actions(state) == [], f"{name}: {state} is final yet allows moves"


@pytest.mark.parametrize("name", WORKFLOWS)
def test_a_refusal_names_the_state_and_what_is_allowed(name):
    machine = WORKFLOWS[name].MACHINE
    (state, action), _ = next(iter(machine.transitions.items()))
    refused = next(a for a in type(action) if not machine.is_allowed(state, a))
    with pytest.raises(EnclaveError) as caught:
        machine.next_state(state, refused, "thing 7")
    assert isinstance(caught.value, machine.error)
    allowed = ", ".join(str(a) for a in machine.allowed_actions(state))
    assert str(caught.value).startswith("thing 7 is ") and f"it cannot {refused}" in str(caught.value)
    assert f"allowed now: {allowed}" in str(caught.value)
    assert machine.next_state(state, action, "thing 7") is machine.transitions[state, action]  # positive control


@pytest.mark.parametrize("name", WORKFLOWS)
def test_the_diagram_draws_every_move(name):
    machine = WORKFLOWS[name].MACHINE
    diagram = WORKFLOWS[name].mermaid_diagram()
    assert diagram.startswith(f"stateDiagram-v2\n    [*] --> {machine.initial}")
    for (source, action), target in machine.transitions.items():
        assert f"    {source} --> {target} : {action}\n" in diagram
    assert all(f"    {state} --> [*]\n" in diagram for state in machine.final)
