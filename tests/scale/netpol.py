"""A small evaluator of Kubernetes NetworkPolicies (networking.k8s.io/v1), for the profile's semantic tests.

It answers: may traffic go from one endpoint to another on (port, protocol)? With the API's rules:
a pod is isolated in a direction once any policy of its namespace selects it with that policy type;
it then admits what the union of those policies' rules allows. Both ends must agree (the source's
egress and the destination's ingress). Fields it does not know make it fail, never guess.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

KNOWN_PEER = {"podSelector", "namespaceSelector", "ipBlock"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    namespace: str | None  # None: outside the cluster (only ipBlock peers match it)
    labels: dict = field(default_factory=dict, hash=False)
    ip: str = "10.244.0.1"


def selects(selector: dict, labels: dict) -> bool:
    unknown = set(selector) - {"matchLabels", "matchExpressions"}
    assert not unknown, f"selector field(s) {unknown} not understood"
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {"In": labels.get(key) in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def _peer_matches(peer: dict, policy_namespace: str, other: Endpoint, namespaces: dict[str, dict]) -> bool:
    assert set(peer) <= KNOWN_PEER, f"peer field(s) {set(peer) - KNOWN_PEER} not understood"
    if "ipBlock" in peer:
        ip = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and not any(ip in ipaddress.ip_network(c) for c in block.get("except", []))
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], namespaces.get(other.namespace, {}))
    else:
        in_namespace = other.namespace == policy_namespace
    return in_namespace and selects(peer.get("podSelector", {}), other.labels)


def _port_matches(ports: list[dict] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        assert not isinstance(entry.get("port"), str), "named ports are not understood"
        if entry.get("protocol", "TCP") != protocol:
            continue
        low = entry.get("port")
        if low is None or low <= port <= entry.get("endPort", low):
            return True
    return False


def _types(policy: dict) -> list[str]:
    spec = policy["spec"]
    return spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))


def admits(policies: list[dict], pod: Endpoint, direction: str, other: Endpoint, port: int, protocol: str,
           namespaces: dict[str, dict]) -> bool:
    """Whether `pod`'s policies let traffic in `direction` ("Ingress"/"Egress") with `other` on (port, protocol)."""
    if pod.namespace is None:
        return True  # outside the cluster: no policy of ours
    mine = [p for p in policies if p["metadata"]["namespace"] == pod.namespace and selects(p["spec"]["podSelector"], pod.labels)
            and direction in _types(p)]
    if not mine:
        return True  # not isolated in that direction
    side, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    for policy in mine:
        for rule in policy["spec"].get(side, []):
            assert set(rule) <= {peers_key, "ports"}, f"rule field(s) {set(rule)} not understood"
            peers = rule.get(peers_key)
            if (not peers or any(_peer_matches(p, policy["metadata"]["namespace"], other, namespaces) for p in peers)) \
                    and _port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def reachable(policies: list[dict], source: Endpoint, target: Endpoint, port: int, protocol: str, namespaces: dict[str, dict]) -> bool:
    """Traffic from `source` to `target`'s port: the source's egress and the target's ingress must both admit it."""
    return (admits(policies, source, "Egress", target, port, protocol, namespaces)
            and admits(policies, target, "Ingress", source, port, protocol, namespaces))
