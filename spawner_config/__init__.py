"""The hub side of the enclave: which project a server belongs to, and how its container is made.

Only ``jupyterhub_config.py`` imports this package.
"""
