"""``python -m project_tools``: the project tools' service (the hub runs it as ``enclave-tools``)."""

from .service import main

main()
