"""Pinning: the latest release of an unversioned ``uvx://``/``npx://`` package, asked of its registry.

A pinned Dockerfile is reproducible and makes the reuse hash honest: a new release gives a new
hash, hence a new image, instead of silently reusing an old build of "latest".
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request

from toolhive.builds.schemes import PackageRef

PYPI_URL = "https://pypi.org/pypi/{name}/json"
NPM_URL = "https://registry.npmjs.org/{name}/latest"
TIMEOUT_S = 10.0


def latest_version(ref: PackageRef, *, ca_cert_path: str = "") -> str | None:
    """The registry's latest version of ``ref``'s package; ``None`` if it cannot be asked (offline,
    Go modules). Raises :class:`LookupError` if the registry says there is no such package."""
    if ref.scheme == "uvx":
        url = PYPI_URL.format(name=urllib.parse.quote(ref.distribution))
    elif ref.scheme == "npx":
        url = NPM_URL.format(name=urllib.parse.quote(ref.package, safe="@/"))
    else:
        return None
    context = ssl.create_default_context()
    if ca_cert_path:
        context.load_verify_locations(cafile=ca_cert_path)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=context) as response:
            data = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise LookupError(url) from None
        return None
    except (OSError, ValueError):
        return None
    version = (
        (data.get("info") or {}).get("version") if ref.scheme == "uvx" else data.get("version")
    )
    return str(version) if version else None
