"""What a server's environment says of its project's tools (:mod:`project_tools`): git and pip find
the project's remote and index at the network's gateway, and authenticate with the server's own token.

git: ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` (git 2.31+) add an
``Authorization`` header for the tools' URL only, the author's name, and ``main`` as first branch,
without writing a file (the home is a fresh tmpfs at each start). jupyterlab-git runs the same git
with the same environment. pip: ``PIP_INDEX_URL`` with the token as basic-auth password (pip hides
it in what it prints), and the index host trusted (plain HTTP at the gateway, never leaving the host).
"""

from __future__ import annotations


def tools_url(gateway: str, port: int) -> str:
    return f"http://{gateway}:{port}/"


def tools_environment(gateway: str, port: int, slug: str, username: str, token: str) -> dict[str, str]:
    base = tools_url(gateway, port)
    git_config = [
        (f"http.{base}.extraHeader", f"Authorization: token {token}"),
        ("user.name", username),
        ("user.email", f"{username}@{slug}.enclave.invalid"),
        ("init.defaultBranch", "main"),
        ("pull.rebase", "false"),
    ]
    env = {
        "ENCLAVE_TOOLS_URL": base,
        "ENCLAVE_GIT_URL": f"{base}git/{slug}.git",
        "PIP_INDEX_URL": f"http://{username}:{token}@{gateway}:{port}/simple/",
        "PIP_NO_INDEX": "0",
        "PIP_TRUSTED_HOST": f"{gateway}:{port}",
        "GIT_CONFIG_COUNT": str(len(git_config)),
    }
    for i, (key, value) in enumerate(git_config):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
    return env
