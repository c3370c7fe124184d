"""Workload upgrades: is the registry's image newer than the one a workload runs, and moving it
there. The one implementation behind ``thv upgrade check|apply``, ``thv list --check-upgrades``
and the REST API's ``…/upgrade-check`` and ``…/upgrade`` (ToolHive's ``pkg/workloads/upgrade``).

**Check** (offline: nothing is pulled). A workload is registry-sourced when its RunConfig names a
``registry_server_name``; that entry is looked up in the configured registry and its image compared
with the workload's (:mod:`toolhive.workloads.upgrade_tags`). The answer is a
:class:`CheckResult` — ``up-to-date``, ``upgrade-available``, ``not-registry-sourced``,
``server-not-found`` or ``unknown`` with a reason — and, when an upgrade is available, the
environment variables the candidate declares that the workload does not supply and the posture
(transport, permission profile name) that differs. A secret variable's default is never shown; a
registry that cannot be read gives ``registry lookup failed``, never its error (it may carry
internal addresses). A package workload on an engine runs an image built from its ``uvx://…``
source: the source is what is compared (and reported as ``current_image``).

**Apply** re-checks (a result computed earlier is never trusted) and acts only on
``upgrade-available``. Everything that can fail is done before the workload is touched: the image
verification setting, the new RunConfig — the old one with only the image, the env vars and
secrets (merged with the caller's; the candidate's required ones asked for or reported) and the
registry URLs changed —, the fail-closed middleware check, the secrets, and the candidate image
made present by the runtime (pulled, or built for a package). A failure there is an
:class:`UpgradePreparationError` (the REST API's 422) and the workload runs on as before. Then the
new RunConfig is saved and the workload restarted on it through :meth:`Workloads.start` (same
name, port, group and client entries; a stopped workload ends up running, as ToolHive's recreate
does). A failure from there on is an :class:`UpgradeRecreateError` (500): there is no rollback.

Image signatures: this ToolHive has no sigstore verifier. ``--image-verification=warn`` (the
default) logs that the candidate was not verified, ``disabled`` skips it, and ``enabled`` refuses
every candidate (fail closed) rather than pretend.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from toolhive.errors import InvalidInputError, NotFoundError, ToolHiveError
from toolhive.models.runconfig import RunConfig
from toolhive.secrets.names import REFERENCE
from toolhive.userpaths import expand_user
from toolhive.workloads.upgrade_tags import Comparison, compare_images

if TYPE_CHECKING:
    from toolhive.contracts.registry import RegistrySource
    from toolhive.plugins import Hooks
    from toolhive.registry.models import ImageMetadata, ServerEntry
    from toolhive.registry.run import Prompt
    from toolhive.workloads.service import Workloads

log = logging.getLogger("toolhive.workloads.upgrade")

VERIFICATION_MODES = ("warn", "enabled", "disabled")
Verification = Literal["warn", "enabled", "disabled"]
#: The only reason a registry failure gives (its own message may carry internal addresses).
LOOKUP_FAILED = "registry lookup failed"


# --- the result -----------------------------------------------------------------------------------


def _empty(value: object) -> bool:
    return value in ("", None, False, [], {})


def _omitempty(default: Any = "") -> Any:
    """A field left out of the JSON when empty, as Go's ``omitempty``."""
    if isinstance(default, list):
        return Field(default_factory=list, exclude_if=_empty)
    return Field(default, exclude_if=_empty)


class UpgradeStatus(StrEnum):
    UP_TO_DATE = "up-to-date"
    UPGRADE_AVAILABLE = "upgrade-available"
    NOT_REGISTRY_SOURCED = "not-registry-sourced"
    SERVER_NOT_FOUND = "server-not-found"
    UNKNOWN = "unknown"


class EnvVarInfo(BaseModel):
    """An environment variable the candidate declares (its default cleared when it is secret)."""

    name: str
    description: str = _omitempty()
    required: bool = False
    secret: bool = _omitempty(False)
    default: str = _omitempty()


class EnvVarDrift(BaseModel):
    #: Declared by the candidate, supplied neither as an env var nor as a secret's target.
    added: list[EnvVarInfo] = _omitempty([])
    #: Supplied but no longer declared (ToolHive leaves this empty too: forward-compatible).
    removed: list[EnvVarInfo] = _omitempty([])


class StringChange(BaseModel):
    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)

    from_: str = Field(alias="from")
    to: str

    @classmethod
    def of(cls, current: str, candidate: str) -> StringChange:
        return cls.model_validate({"from": current, "to": candidate})


class ConfigDrift(BaseModel):
    """Posture the candidate entry declares differently (kept as it is by an upgrade)."""

    transport: StringChange | None = _omitempty(None)
    permission_profile: StringChange | None = _omitempty(None)


class CheckResult(BaseModel):
    """One workload's upgrade status (ToolHive's ``upgrade.CheckResult``)."""

    workload_name: str
    #: The registry entry the workload came from (empty when it did not).
    registry_server: str = _omitempty()
    status: UpgradeStatus
    current_image: str = _omitempty()
    candidate_image: str = _omitempty()
    #: Why, mostly for ``unknown``.
    reason: str = _omitempty()
    env_var_drift: EnvVarDrift | None = _omitempty(None)
    config_drift: ConfigDrift | None = _omitempty(None)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json")
        return data


# --- the check ------------------------------------------------------------------------------------


def current_reference(config: RunConfig) -> str:
    """What the workload runs, as a registry entry names it: a package workload's ``uvx://…``
    source (an engine runs an image built from it), else its image."""
    from toolhive.builds.workload import package_source

    return package_source(config) or config.image


def _satisfied(config: RunConfig) -> set[str]:
    names = set(config.env_vars)
    for item in config.secrets:
        match = REFERENCE.match(item)
        if match is not None:  # a malformed reference supplies nothing
            names.add(match.group(2).strip())
    return names


def env_drift(config: RunConfig, entry: ImageMetadata) -> EnvVarDrift | None:
    satisfied = _satisfied(config)
    added = [
        EnvVarInfo(
            name=var.name,
            description=var.description,
            required=var.required,
            secret=var.secret,
            default="" if var.secret else var.default,  # a secret's default may be one
        )
        for var in entry.env_vars
        if var.name not in satisfied
    ]
    return EnvVarDrift(added=added) if added else None


def config_drift(config: RunConfig, entry: ImageMetadata) -> ConfigDrift | None:
    """Only where both sides are known and differ."""
    drift = ConfigDrift()
    if entry.transport and config.transport and entry.transport != config.transport:
        drift.transport = StringChange.of(config.transport, entry.transport)
    wanted = str((entry.permissions or {}).get("name") or "")
    current = config.permission_profile_name_or_path
    if wanted and current and wanted != current:
        drift.permission_profile = StringChange.of(current, wanted)
    if drift.transport is None and drift.permission_profile is None:
        return None
    return drift


class UpgradeChecker:
    """Checks workloads against the configured registry, opened once (on first need)."""

    def __init__(self, hooks: Hooks, source: RegistrySource | None = None) -> None:
        self.hooks = hooks
        self._source = source
        self._failed = False

    def _registry(self) -> RegistrySource | None:
        if self._source is None and not self._failed:
            from toolhive.registry.sources import open_registry

            try:
                self._source = open_registry(self.hooks)
            except ToolHiveError as exc:
                log.debug("%s: %s", LOOKUP_FAILED, exc)
                self._failed = True
        return self._source

    @property
    def source(self) -> RegistrySource | None:
        """The registry read (``None`` when it could not be opened)."""
        return self._registry()

    def lookup(self, config: RunConfig) -> tuple[CheckResult, ServerEntry | None]:
        """The result for ``config`` and the candidate entry it was decided on."""
        result = CheckResult(
            workload_name=config.name,
            registry_server=config.registry_server_name,
            status=UpgradeStatus.UNKNOWN,
            current_image=current_reference(config),
        )
        if not config.registry_server_name:
            result.status = UpgradeStatus.NOT_REGISTRY_SOURCED
            return result, None
        source = self._registry()
        entry: ServerEntry | None = None
        try:
            if source is not None:
                from toolhive.registry.sources import resolve

                entry = resolve(source, config.registry_server_name)
        except ToolHiveError as exc:
            log.debug("%s for %s: %s", LOOKUP_FAILED, config.registry_server_name, exc)
            source = None
        if source is None:
            result.reason = LOOKUP_FAILED
            return result, None
        if entry is None:
            result.status = UpgradeStatus.SERVER_NOT_FOUND
            return result, None
        from toolhive.registry.models import ImageMetadata

        if not isinstance(entry, ImageMetadata):
            result.reason = (
                f"registry entry {config.registry_server_name!r} is not a container image "
                "(cannot determine upgrade)"
            )
            return result, entry
        result.candidate_image = entry.image
        comparison, reason = compare_images(result.current_image, entry.image)
        if comparison is Comparison.NEWER:
            result.status = UpgradeStatus.UPGRADE_AVAILABLE
            result.env_var_drift = env_drift(config, entry)
            result.config_drift = config_drift(config, entry)
        elif comparison is Comparison.SAME_OR_OLDER:
            result.status = UpgradeStatus.UP_TO_DATE
        else:
            result.reason = reason
        return result, entry

    def check(self, config: RunConfig) -> CheckResult:
        return self.lookup(config)[0]

    def check_all(self, configs: Iterable[RunConfig]) -> list[CheckResult]:
        """One result per config, in order; a failure is in its result, never raised."""
        return [self.check(config) for config in configs]


def saved_configs(workloads: Workloads, names: Iterable[str]) -> list[RunConfig]:
    """The RunConfigs of ``names`` (a workload removed meanwhile, or unreadable, is skipped)."""
    out = []
    for name in names:
        try:
            out.append(workloads.export(name))
        except ToolHiveError as exc:
            log.debug("no upgrade check for %s: %s", name, exc)
    return out


# --- apply ----------------------------------------------------------------------------------------


class UpgradePreparationError(ToolHiveError):
    """The candidate could not be made ready; the workload was not touched (safe to retry)."""

    http_status = 422


class UpgradeRecreateError(ToolHiveError):
    """The upgrade failed after the workload was being replaced: its state is uncertain."""

    http_status = 500


@dataclass(frozen=True)
class ApplyOptions:
    """What the caller adds to an upgrade (``thv upgrade apply`` flags, the API's body)."""

    #: Added to (and overriding) the workload's env vars.
    env_vars: Mapping[str, str] = field(default_factory=dict)
    #: ``NAME,target=ENV`` references added for targets the workload does not cover yet.
    secrets: Sequence[str] = ()
    image_verification: Verification = "warn"
    #: CA certificate to trust when a package candidate (``uvx://`` …) is built on an engine.
    ca_cert: str = ""
    #: Asks for the candidate's required env vars the workload lacks; ``None``: report them.
    prompt: Prompt | None = None
    #: Seconds to wait for the upgraded workload to be running.
    wait: float = 120.0


def merge_secrets(old: Sequence[str], added: Sequence[str]) -> list[str]:
    """``old`` plus each of ``added`` whose target none of them covers (ToolHive's rule)."""
    from toolhive.secrets.names import parse_reference

    merged = list(old)
    targets = {m.group(2).strip() for m in map(REFERENCE.match, old) if m is not None}
    for item in added:
        target = parse_reference(item).target
        if target not in targets:
            targets.add(target)
            merged.append(item)
    return merged


def check_options(options: ApplyOptions) -> None:
    """Reject malformed input before anything is looked up (a 400, not a 422)."""
    from toolhive.secrets.names import parse_references

    if options.image_verification not in VERIFICATION_MODES:
        msg = (
            f"invalid --image-verification {options.image_verification!r}: "
            f"use {', '.join(VERIFICATION_MODES)}"
        )
        raise InvalidInputError(msg)
    parse_references(list(options.secrets))
    if options.ca_cert:
        from toolhive.builds.settings import read_ca_cert

        read_ca_cert(options.ca_cert)


def verify_image(entry: ImageMetadata, mode: Verification) -> None:
    if mode == "disabled":
        log.warning("image verification is disabled for %s", entry.image)
        return
    if mode == "warn":
        what = "has no provenance information" if not entry.provenance else "was not verified"
        log.warning(
            "%s %s (no signature verifier here); continuing as --image-verification=warn says",
            entry.image,
            what,
        )
        return
    if not entry.provenance:
        msg = f"{entry.image} has no provenance information: it cannot be verified"
    else:
        msg = f"{entry.image} cannot be verified: this ToolHive has no signature verifier"
    raise UpgradePreparationError(f"{msg} (--image-verification=enabled)")


def _registry_urls(source: RegistrySource | None) -> dict[str, str]:
    """Where the candidate came from, recorded as ``thv run`` records it."""
    kind = source.kind if source is not None else "default"
    location = source.location if source is not None else ""
    return {
        "registry_api_url": location if kind == "api" else "",
        "registry_url": location if kind in {"url", "file"} else "",
    }


def upgraded_config(
    hooks: Hooks,
    old: RunConfig,
    entry: ImageMetadata,
    source: RegistrySource | None,
    options: ApplyOptions,
) -> RunConfig:
    """``old`` with the candidate image, the merged env vars and secrets, the registry URLs — and
    nothing else changed. The candidate's required env vars must be supplied (or asked for)."""

    from toolhive.builds.schemes import is_scheme
    from toolhive.builds.workload import package_source
    from toolhive.registry.run import env_for_entry
    from toolhive.secrets.names import parse_references
    from toolhive.workloads.request import RunRequest

    env = {**old.env_vars, **options.env_vars}
    secrets = merge_secrets(old.secrets, options.secrets)
    given = RunRequest(image=entry.image, env_vars=env, secrets=parse_references(secrets))

    def store_secret(var: str, value: str) -> str:
        from toolhive.secrets.selection import open_secrets

        name = f"{entry.short_name}-{var}".lower()
        open_secrets(hooks).set(name, value)
        return name

    defaults, prompted = env_for_entry(
        entry, given, prompt=options.prompt, store_secret=store_secret
    )
    update: dict[str, Any] = {
        "image": entry.image,
        "env_vars": {**defaults, **env},
        "secrets": [*secrets, *(str(ref) for ref in prompted)],
        **_registry_urls(source),
    }
    runtime_config = dict(old.runtime_config or {})
    if package_source(old) and old.image != package_source(old):
        runtime_config.pop("source", None)  # the build records the new one
        update["runtime_config"] = runtime_config
    if options.ca_cert:
        if not is_scheme(entry.image):
            msg = (
                f"--ca-cert applies to uvx://, npx:// and go:// candidates; {entry.image} is "
                "pulled by the engine with its own trust store"
            )
            raise InvalidInputError(msg)
        runtime_config["ca_cert_path"] = str(expand_user(options.ca_cert, "--ca-cert").resolve())
        update["runtime_config"] = runtime_config
    return old.model_copy(update=update)


def plan_upgrade(
    workloads: Workloads,
    name: str,
    options: ApplyOptions,
    checker: UpgradeChecker | None = None,
) -> tuple[CheckResult, RunConfig, RunConfig | None]:
    """The fresh check, the workload's RunConfig and — when an upgrade is available — the one it
    would run on, ready (image present). Nothing of the workload is touched."""
    from toolhive.registry.models import ImageMetadata
    from toolhive.workloads.prepare import prepare_image
    from toolhive.workloads.protection import require_enforceable
    from toolhive.workloads.secrets_check import check_secrets

    check_options(options)
    old = workloads.export(name)
    checker = checker or UpgradeChecker(workloads.hooks)
    result, entry = checker.lookup(old)
    if result.status != UpgradeStatus.UPGRADE_AVAILABLE:
        return result, old, None
    if not isinstance(entry, ImageMetadata):  # a remote server has nothing to pull and recreate
        msg = f"registry server {old.registry_server_name!r} is not a container image"
        raise UpgradePreparationError(f"cannot upgrade {name!r} in place: {msg}")
    try:
        verify_image(entry, options.image_verification)
        new = upgraded_config(workloads.hooks, old, entry, checker.source, options)
        require_enforceable(workloads.hooks, new)
        check_secrets(workloads.hooks, new, workloads.environ)
        new = prepare_image(workloads.hooks, new, workloads.progress)
    except UpgradePreparationError:
        raise
    except ToolHiveError as exc:
        msg = f"upgrade of {name!r} to {entry.image} could not be prepared: {exc}"
        raise UpgradePreparationError(_without_values(msg, options)) from None
    return result, old, new


def _without_values(message: str, options: ApplyOptions) -> str:
    """No env value the caller sent comes back in an error (it may be a token)."""
    for value in options.env_vars.values():
        if len(value) >= 4:
            message = message.replace(value, "***")
    return message


def apply_upgrade(
    workloads: Workloads,
    name: str,
    options: ApplyOptions | None = None,
    *,
    checker: UpgradeChecker | None = None,
) -> CheckResult:
    """Upgrade ``name`` when the registry has a newer image; the result that drove it (the
    current result, unchanged, when there is nothing to do). See the module docstring."""
    from toolhive.models.workload import WorkloadStatus
    from toolhive.state import store
    from toolhive.workloads.events import EventType
    from toolhive.workloads.processes import workload_lock
    from toolhive.workloads.status import merged_status

    options = options or ApplyOptions()
    result, old, new = plan_upgrade(workloads, name, options, checker)
    if new is None:
        return result
    try:
        with workload_lock(old.base_name):
            if not store.runconfig_exists(old.base_name):
                msg = f"workload {name!r} was removed while it was being upgraded"
                raise NotFoundError(msg)
            if store.load_runconfig(old.base_name) != old:  # no lost update: nothing touched yet
                msg = f"workload {name!r} was changed while it was being upgraded; try again"
                raise UpgradePreparationError(msg)
            store.save_runconfig(new)
            status, _ = merged_status(store.read_workload(old.base_name))
        workloads.events.emit(EventType.UPDATED, new, previous=old, status=status)
    except (NotFoundError, UpgradePreparationError):
        raise
    except ToolHiveError as exc:
        msg = f"upgrade of {name!r} could not save the new configuration: {exc}"
        raise UpgradeRecreateError(msg) from None
    try:
        row = workloads.start(old.base_name, wait=options.wait)
        if row.status != WorkloadStatus.RUNNING:  # still starting after the wait: not done
            msg = f"it is still {row.status} after {options.wait:.0f}s"
            raise ToolHiveError(msg)
    except ToolHiveError as exc:
        msg = (
            f"upgrade of {name!r} to {new.image} failed after the recreate began; its state is "
            f"uncertain ({exc}); see `thv status {name}` and `thv logs --proxy {name}`"
        )
        raise UpgradeRecreateError(_without_values(msg, options)) from None
    return result
