"""The enclave's seccomp profile as shipped (enclave/seccomp_profile.json): Docker's default profile,
with every call that lets a process take over another of the same user denied, whatever the
capabilities; and the probe's and security options' readings (spawner_config.hardening), pure.
(In force in real containers: test_ptrace_denied.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from enclave import seccomp
from spawner_config.hardening import probe_problems, security_opt_problems

TAKEOVER = {"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "process_madvise", "perf_event_open"}


def test_the_shipped_profile_denies_each_takeover_call_with_eperm():
    profile = seccomp.profile()
    assert set(seccomp.DENIED) >= TAKEOVER
    for arch in ("amd64", "arm64", "x86", "x32"):
        assert not TAKEOVER & seccomp.allowed_without_capabilities(profile, arch), arch
    allowing = [rule for rule in profile["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW"]
    assert not any(TAKEOVER & set(rule["names"]) for rule in allowing), "not even with a capability"
    denying = [rule for rule in profile["syscalls"] if set(rule["names"]) == set(seccomp.DENIED)]
    assert len(denying) == 1 and denying[0]["action"] == "SCMP_ACT_ERRNO" and denying[0]["errnoRet"] == 1
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"


def test_the_rest_is_dockers_default_profile():
    """Control: the profile was derived from Docker's default, which does allow ptrace (and only the
    denied calls are gone); ``derive`` of the default gives the shipped file again."""
    profile = seccomp.profile()
    allowed = seccomp.allowed_without_capabilities(profile)
    assert {"read", "write", "clone", "execve", "kill", "pidfd_open", "pidfd_send_signal", "seccomp"} <= allowed
    assert len(allowed) > 300
    if seccomp.MOBY_DEFAULT.is_file():  # with Debian's golang-github-docker-docker-dev installed
        default = json.loads(seccomp.MOBY_DEFAULT.read_text())
        assert "ptrace" in seccomp.allowed_without_capabilities(default)
        assert seccomp.derive(default) == profile
        assert seccomp.allowed_without_capabilities(default) - allowed == {"ptrace"}


def test_the_self_filter_numbers_are_the_x86_64_calls():
    assert set(seccomp.X86_64) == set(seccomp.DENIED)
    header = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
    if not header.exists():
        pytest.skip("no kernel headers to compare with (linux-libc-dev)")
    numbers = dict(re.findall(r"#define __NR_(\w+) (\d+)", header.read_text()))
    assert {name: int(numbers[name]) for name in seccomp.DENIED} == seccomp.X86_64
    program = seccomp.filter_program()
    assert program[-1] == (0x06, 0, 0, 0x00050001) and program[-2] == (0x06, 0, 0, 0x7FFF0000)
    for index, (code, jt, jf, _) in enumerate(program):  # every jump lands on the final EPERM or falls through
        if code in (0x15, 0x35) and (jt or jf):
            assert index + 1 + (jt or jf) == len(program) - 1, (index, code, jt, jf)


def test_the_probe_reading():
    sound = {"ptrace": 1, "process_vm_readv": 1, "server": 7, "server_memory": 13, "server_ptrace": 1}
    assert probe_problems(json.dumps(sound) + "\n") == []
    found = probe_problems(json.dumps({**sound, "ptrace": 0}))
    assert len(found) == 1 and "ptrace on a process of the same uid allowed" in found[0] and "seccomp" in found[0]
    assert "gave errno 38" in probe_problems(json.dumps({**sound, "process_vm_readv": 38}))[0]
    assert "not non-dumpable" in probe_problems(json.dumps({**sound, "server_memory": 0}))[0]
    assert "ptrace on jupyter-server (process 7) is allowed" in probe_problems(json.dumps({**sound, "server_ptrace": 0}))[0]
    assert "no jupyterhub-singleuser" in probe_problems(json.dumps({**sound, "server": 0}))[0]
    # Swarm: the denials are the entry point's filter, which an exec'd probe lacks; the server has one more.
    stacked = {**sound, "ptrace": 0, "process_vm_readv": 1, "filters": 1, "server_filters": 2}
    assert probe_problems(json.dumps(stacked), filter_in_entry_point=True) == []
    found = probe_problems(json.dumps({**stacked, "server_filters": 1}), filter_in_entry_point=True)
    assert len(found) == 1 and "without the entry point's seccomp filter" in found[0]
    assert "no answer" in probe_problems("Traceback ...\nOSError")[0]
    assert "no answer" in probe_problems("")[0]


def test_the_security_options_reading():
    wanted = ["no-new-privileges", seccomp.security_opt()]
    assert security_opt_problems({"HostConfig": {"SecurityOpt": wanted}}, wanted) == []
    assert "seccomp=<the enclave profile> is missing" in security_opt_problems({"HostConfig": {"SecurityOpt": ["no-new-privileges"]}},
                                                                               wanted)[0]
    weakened = security_opt_problems({"HostConfig": {"SecurityOpt": ["no-new-privileges", "seccomp=unconfined"]}}, wanted)
    assert any("missing" in p for p in weakened) and any("seccomp=..." in p for p in weakened)
    assert security_opt_problems({"HostConfig": {}}, wanted)
