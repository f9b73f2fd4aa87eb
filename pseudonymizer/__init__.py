"""Pseudonymizer: identifying SNDS-like sources -> per-project pseudonymised Parquet extracts.

Knows nothing of Docker, the hub or the projects' lifecycle: `enclave` provisioning calls
:func:`pseudonymizer.extract.extract`.
"""
