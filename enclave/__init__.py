"""Enclave: project registry, provisioning, audit log, settings, the `enclave` CLI and hub login."""
