"""Protocol-scheme workloads on container runtimes: build (or reuse) the image before running.

What the RunConfig records (decided here, documented in docs/builds.md):

* ``image`` is the built image (``toolhivelocal/uvx-…:<time>``), as ToolHive records it, so the
  engine runs exactly what was built and a restart needs no build;
* ``runtime_config`` holds ToolHive's builder settings (``builder_image``, ``runtime_image``,
  ``additional_packages``) plus ``source``, the *pinned* scheme reference (``uvx://pkg@1.2.3``),
  and ``ca_cert_path`` when ``--ca-cert`` was given.

A start, restart or ``--from-config`` run plans the build again from ``source`` (no network: it is
pinned) and looks the input hash up among local images: the image is reused when present and
rebuilt only when it is gone (pruned, or another machine).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from toolhive.builds.schemes import is_scheme
from toolhive.builds.settings import RuntimeSettings
from toolhive.contracts.runtime import Runtime
from toolhive.models.runconfig import RunConfig

Progress = Callable[[str], None]


def package_source(config: RunConfig) -> str:
    """The scheme reference a workload's image comes from, or ``""``."""
    if is_scheme(config.image):
        return config.image
    source = (config.runtime_config or {}).get("source")
    return str(source) if isinstance(source, str) and is_scheme(source) else ""


def runtime_override(runtime_config: dict[str, Any] | None) -> RuntimeSettings | None:
    rc = runtime_config or {}
    override = RuntimeSettings(
        builder_image=str(rc.get("builder_image") or ""),
        runtime_image=str(rc.get("runtime_image") or ""),
        additional_packages=[str(p) for p in rc.get("additional_packages") or []],
    )
    return override if override != RuntimeSettings() else None


def ensure_package_image(config: RunConfig, runtime: Runtime, progress: Progress) -> RunConfig:
    """``config`` with ``image`` set to a local image built from its package source (reused when
    one was built from the same inputs). Unchanged when the workload is not a package."""
    from toolhive.builds.build import build_image, plan_build

    source = package_source(config)
    if not source:
        return config
    rc = dict(config.runtime_config or {})
    plan = plan_build(
        source,
        ca_cert_path=rc.get("ca_cert_path") or None,
        runtime_override=runtime_override(rc),
    )
    result = build_image(runtime, plan, progress=progress)
    rc["source"] = plan.ref.source
    return config.model_copy(update={"image": result.image, "runtime_config": rc})
