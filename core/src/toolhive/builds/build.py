"""Plan a build (pinned reference, inputs, Dockerfile, input hash), then build or reuse the image.

Reuse: every built image carries :data:`~toolhive.builds.LABEL_BUILD_HASH`, a hash of the
Dockerfile, the context files (CA, auth files) and a local source tree. Before building, the
runtime is asked for a tagged image with that label; if there is one it is used as is.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from toolhive.builds import (
    LABEL_BUILD_HASH,
    LABEL_BUILD_SOURCE,
    BaseImageUnavailableError,
    BuildError,
)
from toolhive.builds.dockerfile import CA_FILE, CONTEXT_DIR, render
from toolhive.builds.schemes import PackageRef, default_tag, parse_ref, validate_tag
from toolhive.builds.settings import AUTH_FILES, BuildInputs, RuntimeSettings, load_inputs
from toolhive.contracts.runtime import ImageBuilder, Runtime
from toolhive.errors import ImageNotFoundError, InvalidInputError

Progress = Callable[[str], None]
HASH_VERSION = "toolhive-build-v1"
#: Not copied from a local source tree into the build context.
_SKIP_DIRS = {".git", CONTEXT_DIR}


@dataclass(frozen=True)
class BuildPlan:
    ref: PackageRef
    inputs: BuildInputs
    dockerfile: str
    #: Files our Dockerfile COPYs, relative to the context: CA certificate and auth files.
    context_files: dict[str, str] = field(repr=False)
    #: For ``go://./path``: the module root copied as the build context.
    source_root: Path | None
    input_hash: str
    #: What happened while planning (e.g. "pinned mcp-server-time to 1.2.3").
    notes: list[str] = field(default_factory=list)

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_BUILD_HASH: self.input_hash, LABEL_BUILD_SOURCE: self.ref.source}


@dataclass(frozen=True)
class BuildResult:
    image: str
    reused: bool
    plan: BuildPlan


def _go_module_root(path: Path) -> tuple[Path, str]:
    """The nearest directory at or above ``path`` with a ``go.mod``, and ``path`` relative to it."""
    for candidate in (path, *path.parents):
        if (candidate / "go.mod").is_file():
            rel = path.relative_to(candidate).as_posix()
            return candidate, "." if rel == "." else f"./{rel}"
    return path, "."


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for item in sorted(root.rglob("*")):
        rel = item.relative_to(root)
        if (rel.parts and rel.parts[0] in _SKIP_DIRS) or not item.is_file():
            continue
        digest.update(rel.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(item.read_bytes()).digest())
    return digest.hexdigest()


def _pin(ref: PackageRef, inputs: BuildInputs, notes: list[str]) -> PackageRef:
    from toolhive.builds.versions import latest_version

    if ref.version or ref.is_local or ref.scheme == "go":
        return ref
    if inputs.custom_index:
        notes.append(f"{ref.package}: not pinned (build env points at a custom package index)")
        return ref
    try:
        version = latest_version(ref, ca_cert_path=inputs.ca_cert_path)
    except LookupError:
        registry = "PyPI" if ref.scheme == "uvx" else "the npm registry"
        msg = f"{ref.source}: no package named {ref.distribution!r} on {registry}; check the name"
        raise InvalidInputError(msg) from None
    if version is None:
        notes.append(f"{ref.package}: registry not reachable, building the latest release unpinned")
        return ref
    notes.append(f"pinned {ref.package} to {version}")
    return ref.with_version(version)


def plan_build(
    target: str,
    *,
    ca_cert_path: str | None = None,
    runtime_override: RuntimeSettings | None = None,
    build_args: list[str] | None = None,
    pin: bool = True,
) -> BuildPlan:
    """Everything about a build that can be known without an engine."""
    ref = parse_ref(target)
    inputs = load_inputs(
        ref.scheme,
        ca_cert_path=ca_cert_path,
        runtime_override=runtime_override,
        build_args=build_args,
    )
    notes: list[str] = []
    if pin:
        ref = _pin(ref, inputs, notes)
    source_root: Path | None = None
    local_target = "."
    tree = ""
    if ref.local_path is not None:
        source_root, local_target = _go_module_root(ref.local_path)
        tree = _tree_digest(source_root)
    files: dict[str, str] = {}
    if inputs.ca_cert:
        files[CA_FILE] = inputs.ca_cert
    for kind, content in inputs.auth_files.items():
        files[f"{CONTEXT_DIR}/{AUTH_FILES[kind]}"] = content
    dockerfile = render(ref, inputs, local_target=local_target)
    material = {
        "v": HASH_VERSION,
        "dockerfile": dockerfile,
        "files": {k: hashlib.sha256(v.encode()).hexdigest() for k, v in sorted(files.items())},
        "tree": tree,
    }
    input_hash = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    return BuildPlan(ref, inputs, dockerfile, files, source_root, input_hash, notes)


def image_builder(runtime: Runtime) -> ImageBuilder:
    if not isinstance(runtime, ImageBuilder):
        msg = (
            f"the {runtime.name} runtime cannot build images; use a container engine "
            "(--runtime podman or docker) or the process runtime for uvx:// and npx://"
        )
        raise BuildError(msg)
    return runtime


def _ensure_bases(runtime: Runtime, plan: BuildPlan, say: Progress) -> None:
    """Builder and runtime images present (pulled if need be), or one error saying what to do."""
    settings = plan.inputs.runtime
    for base in dict.fromkeys([settings.builder_image, settings.runtime_image]):
        try:
            runtime.ensure_image(base, say)
        except ImageNotFoundError as exc:
            scheme = plan.ref.scheme
            msg = (
                f"cannot build {plan.ref.source}: {exc}. Point the build at local images "
                f"(`thv config set-runtime-config {scheme} --builder-image IMAGE --runtime-image "
                f"IMAGE`, or --runtime-image), or run it with --runtime process"
            )
            raise BaseImageUnavailableError(msg) from None


def build_image(
    runtime: Runtime,
    plan: BuildPlan,
    *,
    tag: str | None = None,
    reuse: bool = True,
    progress: Progress | None = None,
) -> BuildResult:
    """Reuse an image built from the same inputs, or build one (tagged ``tag`` or ToolHive's
    ``toolhivelocal/<scheme>-<package>:<timestamp>``)."""
    say = progress or (lambda _line: None)
    builder = image_builder(runtime)
    for note in plan.notes:
        say(note)
    if reuse:
        existing = builder.find_image({LABEL_BUILD_HASH: plan.input_hash})
        if existing:
            say(f"reusing image {existing} (built from the same inputs)")
            return BuildResult(existing, True, plan)
    image = validate_tag(tag) if tag else default_tag(plan.ref)
    _ensure_bases(runtime, plan, say)
    say(f"building {image} from {plan.ref.source}")
    with tempfile.TemporaryDirectory(prefix="toolhive-build-") as tmp:
        context = Path(tmp) / "context"
        if plan.source_root is not None:
            shutil.copytree(
                plan.source_root,
                context,
                symlinks=True,
                ignore=lambda _d, names: [n for n in names if n in _SKIP_DIRS],
            )
        (context / CONTEXT_DIR).mkdir(parents=True, exist_ok=True)
        for rel, content in plan.context_files.items():
            path = context / rel
            path.write_text(content)
            path.chmod(0o600)
        (context / CONTEXT_DIR / "Dockerfile").write_text(plan.dockerfile)
        try:
            builder.build_image(
                str(context),
                image,
                labels=plan.labels,
                dockerfile=f"{CONTEXT_DIR}/Dockerfile",
                progress=say,
            )
        except BuildError as exc:
            if plan.ref.scheme != "go" or plan.ref.is_local:
                raise
            # The usual cause offline or behind a firewall: the module proxy is out of reach.
            msg = (
                f"{exc}\nIf the module could not be fetched: point the build at a reachable "
                "module proxy (`thv config set-build-env GOPROXY URL`) or build a local "
                "checkout with go://./path"
            )
            raise BuildError(msg) from None
    say(f"built {image}")
    return BuildResult(image, False, plan)
