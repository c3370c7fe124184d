"""Protocol-scheme builds: ``uvx://``, ``npx://`` and ``go://`` packages as container images.

:mod:`~toolhive.builds.schemes` parses and validates what the user typed,
:mod:`~toolhive.builds.settings` gathers the build inputs (builder/runtime images, CA, build env,
auth files), :mod:`~toolhive.builds.dockerfile` renders the Dockerfile and
:mod:`~toolhive.builds.build` builds it through a runtime's :class:`~toolhive.contracts.runtime.ImageBuilder`
API, reusing an image already built from the same inputs. This module stays import-light: runtime
plugins import :class:`BuildError` from it.
"""

from __future__ import annotations

from toolhive.errors import ToolHiveError

#: Image label holding the hash of everything a build was made from (reuse key).
LABEL_BUILD_HASH = "toolhive-build-hash"
#: Image label holding the scheme reference the image was built from (for people reading labels).
LABEL_BUILD_SOURCE = "toolhive-build-source"


class BuildError(ToolHiveError):
    """Building an image failed; the message carries the build's last output lines."""

    http_status = 500


class BaseImageUnavailableError(BuildError):
    """The builder or runtime base image is neither local nor pullable (e.g. offline)."""
