"""A kernel that runs nothing and says why: the launcher entry of a language that is
not in this build of the image (Julia on the offline Debian base).

It is honest, not a fake interpreter: every cell ends in an error carrying the
explanation, so "Run all" stops at the first cell.
"""

from __future__ import annotations

import os
from typing import ClassVar

from ipykernel.kernelapp import IPKernelApp
from ipykernel.kernelbase import Kernel

LANGUAGE = os.environ.get("ENCLAVE_UNAVAILABLE_LANGUAGE", "Julia")
MESSAGE = f"""\
{LANGUAGE} is not in this build of the Enclave notebook image: nothing in this cell was run.

The image was built from the offline Debian base because no container image
registry was reachable when it was built, and {LANGUAGE} is packaged neither by
Debian nor on PyPI. Use the Python or R kernel, or ask ops for a build with
{LANGUAGE}: JULIA_TARBALL=<julia-x.y.z-linux-x86_64.tar.gz> scripts/build_images.sh
(the stack image, from a local tarball), or BASE_IMAGE=<a Jupyter Docker Stacks
{LANGUAGE.lower()} image> scripts/build_images.sh on a machine that reaches an image registry.
"""
if os.environ.get("ENCLAVE_UNAVAILABLE_NOTE"):  # what there is instead (e.g. Julia in the terminal)
    MESSAGE += "\n" + os.environ["ENCLAVE_UNAVAILABLE_NOTE"] + "\n"


class UnavailableKernel(Kernel):
    implementation = "enclave-unavailable"
    implementation_version = "1.0"
    language = LANGUAGE.lower()
    language_info: ClassVar[dict] = {"name": "text", "mimetype": "text/plain", "file_extension": ".txt"}
    banner = MESSAGE

    def do_execute(self, code, silent, store_history=True, user_expressions=None, allow_stdin=False, **kwargs):
        error = {
            "ename": "NotInThisBuild",
            "evalue": f"{LANGUAGE} is not in this build of the image",
            "traceback": MESSAGE.splitlines(),
        }
        if not silent:
            self.send_response(self.iopub_socket, "error", error)
        return {"status": "error", "execution_count": self.execution_count, **error}


if __name__ == "__main__":
    IPKernelApp.launch_instance(kernel_class=UnavailableKernel)
