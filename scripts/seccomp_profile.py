"""Write enclave.seccomp/enclave.json from Docker's default seccomp profile (enclave.seccomp).

    python scripts/seccomp_profile.py [DEFAULT_JSON]

DEFAULT_JSON: moby's profiles/seccomp/default.json; by default the one Debian's
golang-github-docker-docker-dev installs. Without that package installed:

    apt-get download golang-github-docker-docker-dev && dpkg-deb -x golang-github-docker-docker-dev_*.deb x
    python scripts/seccomp_profile.py x/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from enclave.seccomp import MOBY_DEFAULT, PROFILE, derive  # noqa: E402


def main(argv: list[str]) -> int:
    source = Path(argv[0]) if argv else MOBY_DEFAULT
    if not source.is_file():
        print(f"no Docker default seccomp profile at {source}: give its path (see this script's docstring)", file=sys.stderr)
        return 2
    PROFILE.write_text(json.dumps(derive(json.loads(source.read_text())), indent=1) + "\n")
    print(f"wrote {PROFILE} from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
