"""The hardening check (spawner_config.hardening) on specs and statuses: the one the Swarm spawner gives
passes; each weakening, alone, is named. (The same check against real services: test_swarm_isolation.)"""

from __future__ import annotations

import copy

import pytest

from spawner_config.hardening import Hardening, container_problems, spec_problems, status_problems

WANT = Hardening(user="1000:100", network_id="net1", image="enclave/notebook:latest", pids_limit=256, mem_limit=1 << 30,
                 nano_cpus=10 ** 9, binds={"/home/jovyan/data": ("/p/extracts", True), "/home/jovyan/work": ("/p/workspace", False)},
                 tmpfs=frozenset({"/tmp", "/home/jovyan"}), secret_names=frozenset({"tok"}))

SPEC = {
    "TaskTemplate": {
        "ContainerSpec": {
            "Image": "enclave/notebook:latest", "User": "1000:100", "ReadOnly": True, "CapabilityDrop": ["ALL"],
            "Command": ["setpriv", "--no-new-privs", "--", "sh", "-c", "..."], "Env": ["ENCLAVE_PROJECT=alpha"],
            "Secrets": [{"SecretName": "tok"}],
            "Mounts": [{"Type": "bind", "Source": "/p/extracts", "Target": "/home/jovyan/data", "ReadOnly": True},
                       {"Type": "bind", "Source": "/p/workspace", "Target": "/home/jovyan/work"},
                       {"Type": "tmpfs", "Target": "/tmp"}, {"Type": "tmpfs", "Target": "/home/jovyan"}]},
        "Resources": {"Limits": {"Pids": 256, "MemoryBytes": 1 << 30, "NanoCPUs": 10 ** 9}},
        "Networks": [{"Target": "net1"}]},
    "EndpointSpec": {"Mode": "dnsrr"},
}

CONTAINER = {
    "HostConfig": {"ReadonlyRootfs": True, "CapDrop": ["ALL"], "PidsLimit": 256, "Memory": 1 << 30, "NetworkMode": "default"},
    "Mounts": [{"Type": "bind", "Source": "/p/extracts", "Destination": "/home/jovyan/data", "RW": False},
               {"Type": "bind", "Source": "/p/workspace", "Destination": "/home/jovyan/work", "RW": True},
               {"Type": "bind", "Source": "/var/lib/docker/x/secrets/id", "Destination": "/run/secrets/jupyterhub-api-token", "RW": False},
               {"Type": "tmpfs", "Destination": "/tmp"}, {"Type": "tmpfs", "Destination": "/home/jovyan"}],
}

STATUS = "Name:\ttini\nUid:\t1000\t1000\t1000\t1000\nNoNewPrivs:\t1\nSeccomp:\t2\nCapEff:\t0000000000000000\n" \
         "CapPrm:\t0000000000000000\nCapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\n"


def weakened(path: list, value):
    spec = copy.deepcopy(SPEC)
    node = spec
    for key in path[:-1]:
        node = node[key]
    if value is None:
        node.pop(path[-1])
    else:
        node[path[-1]] = value
    return spec


CS = ["TaskTemplate", "ContainerSpec"]


def test_the_spawners_spec_passes():
    assert spec_problems(SPEC, WANT) == []
    assert container_problems(CONTAINER, WANT) == []
    assert status_problems(STATUS, 1000) == []


@pytest.mark.parametrize("path, value, named", [
    (CS + ["User"], "0:0", "user is"),
    (CS + ["ReadOnly"], False, "root filesystem is writable"),
    (CS + ["CapabilityDrop"], None, "capabilities dropped"),
    (CS + ["CapabilityAdd"], ["SYS_ADMIN"], "capabilities added"),
    (CS + ["Command"], ["sh", "-c", "..."], "setpriv --no-new-privs"),
    (CS + ["Image"], "other:latest", "image is"),
    (CS + ["Env"], ["JUPYTERHUB_API_TOKEN=abc"], "JUPYTERHUB_API_TOKEN is in the service spec"),
    (CS + ["Mounts"], SPEC["TaskTemplate"]["ContainerSpec"]["Mounts"] + [{"Type": "bind", "Source": "/var/run/docker.sock",
                                                                         "Target": "/var/run/docker.sock"}], "bind mounts"),
    (CS + ["Mounts"], [dict(m, ReadOnly=False) if m["Target"].endswith("data") else m for m in SPEC["TaskTemplate"]["ContainerSpec"]["Mounts"]],
     "bind mounts"),
    (CS + ["Mounts"], SPEC["TaskTemplate"]["ContainerSpec"]["Mounts"][:3], "tmpfs mounts"),
    (["TaskTemplate", "Resources", "Limits", "Pids"], None, "limit Pids"),
    (["TaskTemplate", "Networks"], [{"Target": "net1"}, {"Target": "ingress"}], "networks"),
    (["EndpointSpec", "Ports"], [{"TargetPort": 8888, "PublishedPort": 30000}], "ports published"),
])
def test_each_weakening_of_the_spec_is_named(path, value, named):
    problems = spec_problems(weakened(path, value), WANT)
    assert any(named in p for p in problems), problems


@pytest.mark.parametrize("change, named", [
    ({"ReadonlyRootfs": False}, "writable"),
    ({"CapAdd": ["NET_RAW"]}, "capabilities"),
    ({"Privileged": True}, "privileged"),
    ({"PidsLimit": 0}, "pids limit"),
    ({"PidMode": "host"}, "PidMode is host"),
])
def test_each_weakening_of_the_container_is_named(change, named):
    container = copy.deepcopy(CONTAINER)
    container["HostConfig"].update(change)
    assert any(named in p for p in container_problems(container, WANT))


def test_a_host_socket_in_the_container_is_named():
    container = copy.deepcopy(CONTAINER)
    container["Mounts"].append({"Type": "bind", "Source": "/var/run/docker.sock", "Destination": "/var/run/docker.sock", "RW": True})
    assert any("bind mounts" in p for p in container_problems(container, WANT))


@pytest.mark.parametrize("line, named", [
    ("NoNewPrivs:\t0", "NoNewPrivs"),
    ("CapEff:\t00000000a80425fb", "CapEff"),
    ("CapBnd:\t00000000a80425fb", "CapBnd"),
    ("Seccomp:\t0", "Seccomp"),
    ("Uid:\t0\t0\t0\t0", "uids"),
])
def test_each_weakening_of_the_process_is_named(line, named):
    name = line.split(":")[0]
    status = "\n".join(line if row.startswith(name + ":") else row for row in STATUS.splitlines())
    assert any(named in p for p in status_problems(status, 1000))


def test_a_missing_status_is_not_a_pass():
    assert status_problems("", 1000)
