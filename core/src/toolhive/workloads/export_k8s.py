"""A workload's RunConfig as a Kubernetes ``MCPServer`` (``thv export --format k8s``) and back
(``thv run --from-config mcpserver.yaml``).

Plain dicts and PyYAML: no Kubernetes client in core. The export follows ToolHive's
``pkg/export/k8s.go`` (``toolhive.stacklok.dev/v1beta1``, the name sanitized, image, transport,
``proxyPort``/``mcpPort``, ``proxyMode`` for stdio, args, env, volumes, inline Cedar policies,
``audit.enabled``), and goes further where Go loses what the workload had:

* secrets become ``spec.secrets`` references (Go drops them); values never leave the store;
* the tools filter and overrides become an ``MCPToolConfig`` document with a ``toolConfigRef``
  (Go drops them; its own example ``mcpserver_fetch_tools_filter.yaml`` has this shape);
* a permission profile is kept: ``builtin`` for ``none``/``network``, else a ``ConfigMap``
  document holding the profile JSON (Go writes ``builtin``/``none`` whatever the profile was);
* ``trustProxyHeaders``, ``endpointPrefix`` and a non-default group (``groupRef``).

What has no MCPServer field (OIDC, telemetry, token exchange, custom audit settings, a non-Cedar
authz config) is left out with a warning, as Go warns for OIDC and telemetry. The reverse maps
what the operator maps (Go's ``mcpserver_runconfig.go``) and resolves references to objects in the
same file; a reference it cannot resolve to a protection (OIDC, authz, external auth, webhooks,
rate limits) is refused rather than run without it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from toolhive.errors import InvalidInputError, format_validation_error
from toolhive.models.permissions import BUILTIN_PROFILES, PermissionProfile, builtin_profile
from toolhive.models.runconfig import RunConfig
from toolhive.secrets.names import parse_reference

GROUP = "toolhive.stacklok.dev"
API_VERSION = f"{GROUP}/v1beta1"
#: Where the ConfigMap documents keep what they hold (Go's operator mounts a profile ConfigMap's
#: key at ``/etc/toolhive/profiles/<key>``; ``authz.json`` is its default authz key).
PROFILE_KEY = "profile.json"
AUTHZ_KEY = "authz.json"
#: ToolHive's ``audit.DefaultConfig()``: what ``audit.enabled`` turns on.
DEFAULT_AUDIT: dict[str, Any] = {"maxDataSize": 1024, "detectApplicationErrors": True}
CEDAR_INLINE = {"policies": "policies", "entities_json": "entitiesJson"}
CEDAR_CLAIMS = {
    "group_claim_name": "groupClaimName",
    "role_claim_name": "roleClaimName",
    "group_entity_type": "groupEntityType",
}

#: Spec fields that only mean something in a cluster: ignored locally, with a note.
CLUSTER_ONLY = (
    "resources",
    "replicas",
    "backendReplicas",
    "podTemplateSpec",
    "resourceOverrides",
    "serviceAccount",
    "sessionAffinity",
    "sessionStorage",
    "proxyDeployment",
    "proxyService",
    "telemetryConfigRef",
)
#: References to cluster objects that configure a protection: refused when read locally.
UNRESOLVABLE = (
    "oidcConfigRef",
    "authzConfigRef",
    "externalAuthConfigRef",
    "webhookConfigRef",
    "authServerRef",
    "rateLimiting",
)
MAPPED = (
    "image",
    "transport",
    "proxyMode",
    "proxyPort",
    "mcpPort",
    "args",
    "env",
    "volumes",
    "secrets",
    "permissionProfile",
    "toolConfigRef",
    "authzConfig",
    "audit",
    "trustProxyHeaders",
    "endpointPrefix",
    "groupRef",
)


@dataclass
class Manifest:
    """Kubernetes objects (dependencies first, the MCPServer last) and what could not be said."""

    documents: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        return yaml.dump_all(
            self.documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False
        )


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (a ConfigMap's profile JSON) as ``|`` blocks, readable in the file."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


@dataclass
class Imported:
    """The RunConfig an MCPServer manifest describes, and what of it was ignored."""

    config: RunConfig
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------- export


def k8s_name(name: str) -> str:
    """Go's ``sanitizeK8sName``: lowercase, ``[a-z0-9-]`` (others become ``-``), trimmed, 253."""
    out = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")
    return out[:253].rstrip("-")


def _secret_key(name: str) -> str:
    """A Secret data key (``[-._a-zA-Z0-9]+``) for a local secret name."""
    return re.sub(r"[^-._a-zA-Z0-9]", "-", name) or "value"


def _obj(api_version: str, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **body}


def _volume(entry: str, index: int) -> dict[str, Any]:
    parts = entry.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "ro"):
        msg = (
            f"volume {entry!r} cannot be exported: Kubernetes export takes "
            "'host-path:container-path[:ro]' (as ToolHive does)"
        )
        raise InvalidInputError(msg)
    volume: dict[str, Any] = {"name": f"volume-{index}", "hostPath": parts[0]}
    volume["mountPath"] = parts[1]
    if len(parts) == 3:
        volume["readOnly"] = True
    return volume


def to_manifest(config: RunConfig) -> Manifest:
    """The MCPServer (with its MCPToolConfig and profile ConfigMap, if any) for ``config``."""
    workload = config.name or config.base_name
    if config.is_remote:
        msg = (
            f"{workload} is a remote MCP server ({config.remote_url}): remote MCP servers are not "
            "supported in Kubernetes deployments (ToolHive refuses them too); describe it as an "
            "MCPRemoteProxy by hand, or export it with --format json"
        )
        raise InvalidInputError(msg)
    if config.is_vmcp:
        msg = (
            f"{workload} is a vMCP gateway: on Kubernetes a gateway is a VirtualMCPServer over an "
            "MCPGroup, not an MCPServer; export it with --format json"
        )
        raise InvalidInputError(msg)
    if not config.image:
        msg = f"{workload} has no image: an image is required for Kubernetes export"
        raise InvalidInputError(msg)
    name = k8s_name(config.base_name or config.container_name or config.name)
    if not name:
        msg = f"workload name {workload!r} gives no valid Kubernetes name"
        raise InvalidInputError(msg)
    warnings: list[str] = []
    before: list[dict[str, Any]] = []
    spec: dict[str, Any] = {"image": config.image, "transport": config.transport}
    if config.transport == "stdio" and config.proxy_mode:
        spec["proxyMode"] = config.proxy_mode
    if config.port > 0:
        spec["proxyPort"] = config.port
    if config.target_port > 0:
        spec["mcpPort"] = config.target_port
    if config.cmd_args:
        spec["args"] = list(config.cmd_args)
    if config.env_vars:
        spec["env"] = [{"name": k, "value": v} for k, v in sorted(config.env_vars.items())]
    if config.volumes:
        spec["volumes"] = [_volume(v, i) for i, v in enumerate(config.volumes)]
    if config.secrets:
        spec["secrets"] = _secrets(config.secrets, warnings)
    profile = _permission_profile(config, name)
    if profile is not None:
        spec["permissionProfile"], configmap = profile
        if configmap is not None:
            before.append(configmap)
    if config.tools_filter or config.tools_override:
        tools: dict[str, Any] = {}
        if config.tools_filter:
            tools["toolsFilter"] = list(config.tools_filter)
        if config.tools_override:
            tools["toolsOverride"] = dict(config.tools_override)
        before.append(_obj(API_VERSION, "MCPToolConfig", f"{name}-tools", {"spec": tools}))
        spec["toolConfigRef"] = {"name": f"{name}-tools"}
    authz = _authz(config, warnings)
    if authz is not None:
        spec["authzConfig"] = authz
    if config.audit_config is not None or config.audit_config_path:
        spec["audit"] = {"enabled": True}
        if config.audit_config_path or config.audit_config != DEFAULT_AUDIT:
            warnings.append(
                "Custom audit settings are not exported: the MCPServer's audit.enabled audits "
                "with ToolHive's defaults."
            )
    if config.trust_proxy_headers:
        spec["trustProxyHeaders"] = True
    if config.endpoint_prefix:
        spec["endpointPrefix"] = config.endpoint_prefix
    if config.group and config.group != "default":
        spec["groupRef"] = {"name": config.group}
    _warn_dropped(config, warnings)
    server = _obj(API_VERSION, "MCPServer", name, {"spec": spec})
    return Manifest([*before, server], warnings)


def _secrets(references: list[str], warnings: list[str]) -> list[dict[str, str]]:
    out = []
    for text in references:
        ref = parse_reference(text)
        if not k8s_name(ref.name):
            msg = f"secret {ref.name!r} has no Kubernetes form of its name: rename it to export"
            raise InvalidInputError(msg)
        out.append(
            {"name": k8s_name(ref.name), "key": _secret_key(ref.name), "targetEnvName": ref.target}
        )
    listed = ", ".join(f"{s['name']} (key {s['key']})" for s in out)
    warnings.append(
        "This server uses secrets; their values are not exported. Create these Kubernetes "
        f"Secrets before applying the manifest: {listed}."
    )
    return out


def _permission_profile(
    config: RunConfig, name: str
) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    chosen = config.permission_profile_name_or_path
    if chosen in BUILTIN_PROFILES:
        return {"type": "builtin", "name": chosen}, None
    profile = config.permission_profile
    if profile is None:
        return None
    body = json.dumps(profile.model_dump(mode="json", exclude_defaults=True), indent=2)
    cm_name = f"{name}-permission-profile"
    configmap = _obj("v1", "ConfigMap", cm_name, {"data": {PROFILE_KEY: body + "\n"}})
    return {"type": "configmap", "name": cm_name, "key": PROFILE_KEY}, configmap


def _authz(config: RunConfig, warnings: list[str]) -> dict[str, Any] | None:
    raw = config.authz_config
    if not raw:
        if config.authz_config_path:
            warnings.append(
                f"Authorization config {config.authz_config_path} is not exported (only a file "
                "path was recorded): add spec.authzConfig to the MCPServer."
            )
        return None
    cedar = raw.get("cedar") if isinstance(raw, dict) else None
    if raw.get("type") != "cedarv1" or not isinstance(cedar, dict) or not cedar.get("policies"):
        warnings.append(
            f"Authorization config of type {raw.get('type')!r} is not exported: create an "
            "MCPAuthzConfig resource and add an authzConfigRef to the exported MCPServer."
        )
        return None
    inline = {out: cedar[key] for key, out in CEDAR_INLINE.items() if cedar.get(key)}
    ref: dict[str, Any] = {"type": "inline", "inline": inline}
    ref |= {out: cedar[key] for key, out in CEDAR_CLAIMS.items() if cedar.get(key)}
    lost = sorted(k for k, v in cedar.items() if v and k not in {*CEDAR_INLINE, *CEDAR_CLAIMS})
    if lost:
        warnings.append(
            f"Cedar options {', '.join(lost)} have no MCPServer field and are not exported."
        )
    return ref


def _warn_dropped(config: RunConfig, warnings: list[str]) -> None:
    """ToolHive's warnings for what an MCPServer cannot hold inline (and ours for the rest)."""
    if config.telemetry_config is not None:
        warnings.append(
            "Telemetry configuration detected but not exported. Create an MCPTelemetryConfig "
            "resource and add a telemetryConfigRef to the exported MCPServer."
        )
    if config.oidc_config is not None:
        warnings.append(
            "OIDC configuration detected but not exported. Create an MCPOIDCConfig resource and "
            "add an oidcConfigRef to the exported MCPServer."
        )
    if config.runtime == "process":
        warnings.append(
            f"This workload runs on the process runtime: spec.image ({config.image}) is a "
            "command or package on this machine; set a container image before applying it."
        )
    if config.token_exchange_config is not None:
        warnings.append(
            "Token exchange configuration detected but not exported. Create an "
            "MCPExternalAuthConfig resource and add an externalAuthConfigRef to the MCPServer."
        )


# ---------------------------------------------------------------------------------- import


def is_manifest(data: Any) -> bool:
    """A Kubernetes object (or a ``List`` of them) rather than a RunConfig."""
    return isinstance(data, dict) and "apiVersion" in data and "kind" in data


def load_run_config(path: Path) -> Imported:
    """``thv run --from-config``'s file: ToolHive's RunConfig JSON, or an MCPServer manifest
    (YAML or JSON, several documents or a ``List``), told apart by ``apiVersion``/``kind``."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        msg = f"config file {path} does not exist"
        raise InvalidInputError(msg) from None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None  # RunConfig.from_json says what is wrong
        if not is_manifest(data):
            return Imported(RunConfig.from_json(text, source=str(path)))
        return from_documents([data], source=str(path))
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        msg = f"{path}: neither RunConfig JSON nor valid YAML ({exc})"
        raise InvalidInputError(msg) from None
    return from_documents(documents, source=str(path))


def from_documents(documents: list[Any], *, source: str = "manifest") -> Imported:
    """The RunConfig of the one MCPServer among ``documents``; its ``toolConfigRef`` and
    ConfigMap references are resolved among the same documents."""
    objects: list[dict[str, Any]] = []
    for doc in documents:
        if is_manifest(doc) and doc["kind"] == "List":
            objects.extend(d for d in doc.get("items") or [] if is_manifest(d))
        elif is_manifest(doc):
            objects.append(doc)
        else:
            msg = f"{source}: not a RunConfig or Kubernetes objects (no apiVersion and kind)"
            raise InvalidInputError(msg)
    servers = [o for o in objects if o["kind"] == "MCPServer"]
    if len(servers) != 1:
        msg = f"{source}: expected one MCPServer, found {len(servers)}"
        raise InvalidInputError(msg)
    server = servers[0]
    if server["apiVersion"] != API_VERSION:
        msg = f"{source}: MCPServer apiVersion {server['apiVersion']!r} is not {API_VERSION!r}"
        raise InvalidInputError(msg)
    return _Reader(source, objects).server(server)


class _Reader:
    def __init__(self, source: str, objects: list[dict[str, Any]]) -> None:
        self.source = source
        self.objects = objects
        self.warnings: list[str] = []

    def fail(self, what: str) -> InvalidInputError:
        return InvalidInputError(f"{self.source}: {what}")

    def find(self, kind: str, name: str, api_version: str) -> dict[str, Any]:
        for obj in self.objects:
            meta = obj.get("metadata") or {}
            if obj["kind"] == kind and meta.get("name") == name:
                if obj["apiVersion"] != api_version:
                    msg = f"{kind} {name} has apiVersion {obj['apiVersion']!r}, not {api_version!r}"
                    raise self.fail(msg)
                return obj
        msg = (
            f"the MCPServer refers to {kind} {name!r}, which is not in this file; add it as "
            "another document (thv cannot read it from a cluster)"
        )
        raise self.fail(msg)

    def server(self, obj: dict[str, Any]) -> Imported:
        name = str((obj.get("metadata") or {}).get("name") or "")
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            raise self.fail("the MCPServer has no spec")
        unknown = sorted(set(spec) - {*MAPPED, *CLUSTER_ONLY, *UNRESOLVABLE})
        if unknown:
            raise self.fail(f"unknown MCPServer field spec.{unknown[0]}")
        refused = [k for k in UNRESOLVABLE if spec.get(k)]
        if refused:
            msg = (
                f"spec.{refused[0]} configures a protection from cluster objects thv cannot "
                "read, and the server will not run without it; configure it with `thv run` "
                "flags instead, or remove it from the file"
            )
            raise self.fail(msg)
        ignored = [k for k in CLUSTER_ONLY if spec.get(k) not in (None, "", {}, [])]
        if ignored:
            self.warnings.append(
                f"Ignored (cluster-only) MCPServer fields: {', '.join(f'spec.{k}' for k in ignored)}."
            )
        fields = self.fields(spec)
        fields |= {"name": name, "base_name": name, "container_name": name}
        try:
            config = RunConfig.model_validate(fields)
        except ValidationError as exc:
            raise self.fail(f"MCPServer {format_validation_error(exc)}") from None
        return Imported(config, self.warnings)

    def fields(self, spec: dict[str, Any]) -> dict[str, Any]:
        image = spec.get("image")
        if not isinstance(image, str) or not image:
            raise self.fail("the MCPServer has no spec.image")
        transport = spec.get("transport") or "stdio"
        out: dict[str, Any] = {"image": image, "transport": transport}
        if transport == "stdio" and spec.get("proxyMode"):
            out["proxy_mode"] = spec["proxyMode"]
        # Unset ports stay 0 (chosen when the workload runs), not the operator's 8080.
        out["port"] = spec.get("proxyPort") or 0
        out["target_port"] = spec.get("mcpPort") or 0
        out["cmd_args"] = self.strings(spec.get("args"), "spec.args")
        out["env_vars"] = {e["name"]: self.env_value(e) for e in self.items(spec, "env")}
        out["volumes"] = [self.volume(v) for v in self.items(spec, "volumes")]
        out["secrets"] = [self.secret(s) for s in self.items(spec, "secrets")]
        out |= self.permission_profile(self.mapping(spec, "permissionProfile"))
        if spec.get("toolConfigRef"):
            ref = str(self.mapping(spec, "toolConfigRef").get("name", ""))
            tools = self.find("MCPToolConfig", ref, API_VERSION).get("spec") or {}
            out["tools_filter"] = self.strings(tools.get("toolsFilter"), f"{ref}.toolsFilter")
            out["tools_override"] = dict(tools.get("toolsOverride") or {})
        if spec.get("authzConfig"):
            out["authz_config"] = self.authz(self.mapping(spec, "authzConfig"))
        if self.mapping(spec, "audit").get("enabled"):
            out["audit_config"] = dict(DEFAULT_AUDIT)
        out["trust_proxy_headers"] = bool(spec.get("trustProxyHeaders"))
        out["endpoint_prefix"] = spec.get("endpointPrefix") or ""
        if spec.get("groupRef"):
            out["group"] = self.mapping(spec, "groupRef").get("name") or "default"
        return out

    def strings(self, value: Any, where: str) -> list[str]:
        """A list of scalars, as strings (a bare string is refused, not split into letters)."""
        if value is None:
            return []
        if not isinstance(value, list) or any(isinstance(v, (dict, list)) for v in value):
            raise self.fail(f"{where} must be a list of strings")
        return [str(v) for v in value]

    def mapping(self, spec: dict[str, Any], key: str) -> dict[str, Any]:
        value = spec.get(key) or {}
        if not isinstance(value, dict):
            raise self.fail(f"spec.{key} must be an object")
        return value

    def items(self, spec: dict[str, Any], key: str) -> list[dict[str, Any]]:
        value = spec.get(key) or []
        if not isinstance(value, list) or not all(
            isinstance(v, dict) and v.get("name") for v in value
        ):
            raise self.fail(f"spec.{key} must be a list of objects with a name")
        return value

    def env_value(self, item: dict[str, Any]) -> str:
        if set(item) - {"name", "value"} or isinstance(item.get("value"), (dict, list)):
            msg = f"spec.env {item['name']}: only name and value (secrets go in spec.secrets)"
            raise self.fail(msg)
        value = item.get("value")
        return "" if value is None else str(value)

    def volume(self, item: dict[str, Any]) -> str:
        if not item.get("hostPath") or not item.get("mountPath"):
            raise self.fail(f"volume {item['name']} needs hostPath and mountPath")
        suffix = ":ro" if item.get("readOnly") else ""
        return f"{item['hostPath']}:{item['mountPath']}{suffix}"

    def secret(self, item: dict[str, Any]) -> str:
        """A local secret reference: the Secret's name, or its key when the key is what the
        export made that name from (so a local name such as ``GitHub_Token`` round-trips)."""
        key = str(item.get("key") or "")
        if not key:
            raise self.fail(f"secret {item['name']} needs a key")
        local = key if k8s_name(key) == item["name"] else str(item["name"])
        target = str(item.get("targetEnvName") or key)
        return str(parse_reference(f"{local},target={target}"))

    def permission_profile(self, ref: dict[str, Any]) -> dict[str, Any]:
        if not ref:
            return {}
        kind, name = ref.get("type") or "builtin", str(ref.get("name") or "")
        if kind == "builtin":
            profile = builtin_profile(name)
            if profile is None:
                msg = f"unknown builtin permission profile {name!r} (use none or network)"
                raise self.fail(msg)
            return {"permission_profile_name_or_path": name, "permission_profile": profile}
        if kind != "configmap":
            raise self.fail(f"unknown permissionProfile type {kind!r}")
        key = str(ref.get("key") or "")
        text = self.configmap_value(name, key, "permissionProfile")
        try:
            profile = PermissionProfile.model_validate(json.loads(text))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise self.fail(
                f"ConfigMap {name} key {key}: not a permission profile ({exc})"
            ) from None
        profile.check_mounts()
        return {"permission_profile_name_or_path": "", "permission_profile": profile}

    def configmap_value(self, name: str, key: str, user: str) -> str:
        if not key:
            raise self.fail(f"spec.{user} names ConfigMap {name} but no key")
        data = self.find("ConfigMap", name, "v1").get("data") or {}
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"ConfigMap {name} has no key {key!r} (for spec.{user})")
        return value

    def authz(self, ref: dict[str, Any]) -> dict[str, Any]:
        kind = ref.get("type") or "configMap"
        if kind == "configMap":
            cm = ref.get("configMap") or {}
            text = self.configmap_value(
                str(cm.get("name", "")), cm.get("key") or AUTHZ_KEY, "authzConfig"
            )
            try:
                loaded = yaml.safe_load(text)  # JSON is YAML too
            except yaml.YAMLError as exc:
                raise self.fail(
                    f"authz ConfigMap {cm.get('name')}: not JSON or YAML ({exc})"
                ) from None
            if not isinstance(loaded, dict):
                raise self.fail(f"authz ConfigMap {cm.get('name')}: expected an object")
            config: dict[str, Any] = loaded
        elif kind == "inline":
            inline = ref.get("inline") or {}
            if not inline.get("policies"):
                raise self.fail("spec.authzConfig.inline needs policies")
            cedar = {
                "policies": self.strings(inline["policies"], "spec.authzConfig.inline.policies"),
                "entities_json": inline.get("entitiesJson") or "[]",
            }
            config = {"version": "1.0", "type": "cedarv1", "cedar": cedar}
        else:
            raise self.fail(f"unknown authzConfig type {kind!r}")
        claims = {key: ref[out] for key, out in CEDAR_CLAIMS.items() if ref.get(out)}
        if claims:  # on the reference, they win over the ConfigMap's (as in ToolHive)
            config.setdefault("cedar", {}).update(claims)
        return config
