"""Deploy one server from a separate process, print ``ready <pid>``, then wait to be killed.

Used to test what other processes see (``thv stop`` from another shell) and that a server dies
with the process that started it. Argument: JSON with ``name``, ``code`` (a Python snippet) and
optionally ``unsandboxed`` and ``profile`` (a permission profile as JSON; default ``none``).
"""

from __future__ import annotations

import json
import shutil
import sys
import time

from toolhive.contracts.runtime import DeployRequest, PermissionProfile, builtin_profile
from toolhive_runtime_process.runtime import ProcessRuntime


def main() -> None:
    spec = json.loads(sys.argv[1])
    bwrap = None if spec.get("unsandboxed") else shutil.which("bwrap")
    rt = ProcessRuntime(bwrap=bwrap)
    deployment = rt.deploy(
        DeployRequest(
            name=spec["name"],
            image=sys.executable,
            command=["-c", spec["code"]],
            permission_profile=PermissionProfile.model_validate(spec["profile"])
            if "profile" in spec
            else builtin_profile("none"),
        )
    )
    print("ready", deployment.id, flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    main()
