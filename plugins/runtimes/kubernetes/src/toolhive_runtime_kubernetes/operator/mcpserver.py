"""MCPServer: RBAC, the RunConfig ConfigMap, the proxy runner Deployment and its Service.

The proxy runner (``thv-proxyrunner run``) deploys the MCP server itself, as a StatefulSet named
after the resource, through the kubernetes runtime. The operator adopts that StatefulSet (owner
reference, so deleting the MCPServer removes it), and when it is deleted by hand bounces the
proxy so the runner deploys it again — the status says Pending meanwhile instead of Ready
(stacklok/toolhive#6343).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from toolhive_runtime_kubernetes.crd.config_objects import MCPExternalAuthConfig, MCPToolConfig
from toolhive_runtime_kubernetes.crd.mcpserver import MCPServer
from toolhive_runtime_kubernetes.crd.oidc_config import MCPOIDCConfig
from toolhive_runtime_kubernetes.crd.telemetry_config import MCPTelemetryConfig
from toolhive_runtime_kubernetes.operator import objects, sessions, status
from toolhive_runtime_kubernetes.operator.apply import apply_object
from toolhive_runtime_kubernetes.operator.framework import (
    Context,
    Controller,
    Key,
    Result,
    controller_owner,
    delete_owned_deployment,
    owner_reference,
)
from toolhive_runtime_kubernetes.operator.kube import Kube, Obj
from toolhive_runtime_kubernetes.operator.runconfig import (
    AUTHZ_CONFIG_VALIDATED,
    OIDC_CONFIG_REF_VALIDATED,
    TELEMETRY_CONFIG_REF_VALIDATED,
    TOKEN_EXCHANGE_SECRET_DIR,
    ConfigError,
    ProtectionError,
    authz_configmap_key,
    mcp_service_account_name,
    mcpserver_runconfig,
    oidc_client_secret_env,
)
from toolhive_runtime_kubernetes.operator.toolconfig import config_hash

log = logging.getLogger("toolhive.operator")

FINALIZER = "mcpserver.toolhive.stacklok.dev/finalizer"
APP = "mcpserver"
#: Go's condition types and reasons (``api/v1beta1``).
TOOL_CONFIG_VALIDATED = "ToolConfigValidated"
EXTERNAL_AUTH_VALIDATED = "ExternalAuthConfigValidated"
STDIO_REPLICA_CAPPED = "StdioReplicaCapped"
#: Conditions a refused protection sets; dropped again once the spec no longer asks for it.
PROTECTION_CONDITIONS = (
    "OIDCConfigRefValidated",
    "AuthzConfigRefValidated",
    "AuthzConfigValidated",
    "WebhookConfigValidated",
    "ProtectionSupported",
    "TelemetryConfigRefValidated",
)
#: Kinds an MCPServer references: an event on one re-reconciles the servers naming it.
REFERENCED_KINDS = (
    "MCPToolConfig",
    "MCPExternalAuthConfig",
    "MCPOIDCConfig",
    "MCPTelemetryConfig",
    "ConfigMap",
)
#: Conditions whose Invalid means the running proxy lacks protection the spec asks for.
PROTECTION_INVALID = (AUTHZ_CONFIG_VALIDATED, OIDC_CONFIG_REF_VALIDATED)
#: Do not bounce the proxy again within this while the StatefulSet is still missing (Go's).
BOUNCE_COOLDOWN = timedelta(minutes=2)
#: Waiting reasons that will not fix themselves: the pod is Failed, not Pending.
FAILED_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
    }
)


def drop_protection(
    conditions: list[dict[str, Any]], keep: str | None = None
) -> list[dict[str, Any]]:
    """Conditions without the protection refusals (but ``keep``, about to be set again)."""
    return [
        c for c in conditions if c.get("type") == keep or c.get("type") not in PROTECTION_CONDITIONS
    ]


def _get(kube: Kube, kind: str, namespace: str, name: str) -> Obj | None:
    api_version = {"Deployment": "apps/v1", "StatefulSet": "apps/v1"}.get(kind, "v1")
    return kube.get(api_version, kind, namespace, name)


class Invalid(Exception):
    """A spec problem the user must fix: becomes a condition and phase Failed, no retry."""

    def __init__(self, condition: dict[str, Any], message: str) -> None:
        super().__init__(message)
        self.condition = condition


def load_refs(
    kube: Kube, namespace: str, toolconfig_name: str | None, extauth_name: str | None
) -> tuple[MCPToolConfig | None, MCPExternalAuthConfig | None, list[dict[str, Any]]]:
    """The referenced config objects, and conditions saying whether they were found.

    Raises :class:`Invalid` for a missing reference (a user error, as Go's ``Failed``)."""
    conditions: list[dict[str, Any]] = []
    toolconfig = extauth = None
    if toolconfig_name:
        raw = kube.get(
            MCPToolConfig.model_fields["api_version"].default,
            "MCPToolConfig",
            namespace,
            toolconfig_name,
        )
        if raw is None:
            msg = f"MCPToolConfig {toolconfig_name} not found"
            raise Invalid(
                status.condition(TOOL_CONFIG_VALIDATED, False, "ToolConfigNotFound", msg), msg
            )
        toolconfig = MCPToolConfig.model_validate(raw)
        conditions.append(
            status.condition(
                TOOL_CONFIG_VALIDATED,
                True,
                "ToolConfigValid",
                f"MCPToolConfig {toolconfig_name} is valid",
            )
        )
    if extauth_name:
        api_version = MCPExternalAuthConfig.model_fields["api_version"].default
        raw = kube.get(api_version, "MCPExternalAuthConfig", namespace, extauth_name)
        if raw is None:
            msg = f"MCPExternalAuthConfig {extauth_name} not found"
            raise Invalid(
                status.condition(EXTERNAL_AUTH_VALIDATED, False, "ExternalAuthConfigNotFound", msg),
                msg,
            )
        extauth = MCPExternalAuthConfig.model_validate(raw)
        conditions.append(
            status.condition(
                EXTERNAL_AUTH_VALIDATED,
                True,
                "ExternalAuthConfigValid",
                f"MCPExternalAuthConfig {extauth_name} is valid",
            )
        )
    return toolconfig, extauth, conditions


def load_protection_refs(
    kube: Kube, namespace: str, server: Any
) -> tuple[MCPOIDCConfig | None, MCPTelemetryConfig | None, list[dict[str, Any]]]:
    """The MCPOIDCConfig / MCPTelemetryConfig an MCPServer or MCPRemoteProxy references (and
    conditions saying so). Raises :class:`Invalid` when one is missing or invalid, or the OIDC
    client secret's Secret/key is missing (Go's checks): the workload must not run without the
    token validation it asks for."""
    spec = server.spec
    conditions: list[dict[str, Any]] = []
    oidc = telemetry = None
    api_version = MCPOIDCConfig.model_fields["api_version"].default
    if spec.oidc_config_ref is not None:
        name = spec.oidc_config_ref.name
        raw = kube.get(api_version, "MCPOIDCConfig", namespace, name)
        cond_type = OIDC_CONFIG_REF_VALIDATED
        if raw is None:
            msg = f"MCPOIDCConfig {name} not found"
            raise Invalid(status.condition(cond_type, False, "OIDCConfigRefNotFound", msg), msg)
        try:
            oidc = MCPOIDCConfig.model_validate(raw)
        except ValidationError as exc:
            msg = f"MCPOIDCConfig {name} is invalid: {status.spec_error(exc)}"
            raise Invalid(
                status.condition(cond_type, False, "OIDCConfigRefNotValid", msg), msg
            ) from None
        ref = oidc.spec.inline.client_secret_ref if oidc.spec.inline else None
        if ref is not None:
            secret = kube.get("v1", "Secret", namespace, ref.name)
            if secret is None or ref.key not in (secret.get("data") or {}):
                what = "not found" if secret is None else f"has no key {ref.key!r}"
                msg = f"MCPOIDCConfig {name}: client secret Secret {ref.name} {what}"
                raise Invalid(status.condition(cond_type, False, "OIDCConfigRefError", msg), msg)
        conditions.append(
            status.condition(
                cond_type, True, "OIDCConfigRefValid", f"MCPOIDCConfig {name} is valid"
            )
        )
    if spec.telemetry_config_ref is not None:
        name = spec.telemetry_config_ref.name
        raw = kube.get(api_version, "MCPTelemetryConfig", namespace, name)
        cond_type = TELEMETRY_CONFIG_REF_VALIDATED
        if raw is None:
            msg = f"MCPTelemetryConfig {name} not found"
            raise Invalid(
                status.condition(cond_type, False, "TelemetryConfigRefNotFound", msg), msg
            )
        try:
            telemetry = MCPTelemetryConfig.model_validate(raw)
        except ValidationError as exc:
            msg = f"MCPTelemetryConfig {name} is invalid: {status.spec_error(exc)}"
            raise Invalid(
                status.condition(cond_type, False, "TelemetryConfigRefInvalid", msg), msg
            ) from None
        conditions.append(
            status.condition(
                cond_type, True, "TelemetryConfigRefValid", f"MCPTelemetryConfig {name} is valid"
            )
        )
    return oidc, telemetry, conditions


def load_authz_configmap(kube: Kube, namespace: str, server: MCPServer) -> str | None:
    """The document of the ConfigMap ``spec.authzConfig`` (type configMap) names, or None when
    there is none to read. Raises :class:`Invalid` when it or its key is missing: the server
    must not run without the policy it asks for."""
    ref = server.spec.authz_config
    if ref is None or ref.type != "configMap":
        return None
    name = ref.config_map.name if ref.config_map else ""
    key = authz_configmap_key(ref)
    if not name:
        msg = "spec.authzConfig has type configMap but no configMap name"
        raise Invalid(
            status.condition(AUTHZ_CONFIG_VALIDATED, False, "AuthzConfigInvalid", msg), msg
        )
    raw = kube.get("v1", "ConfigMap", namespace, name)
    if raw is None:
        msg = f"spec.authzConfig: ConfigMap {name} not found"
        raise Invalid(
            status.condition(AUTHZ_CONFIG_VALIDATED, False, "AuthzConfigNotFound", msg), msg
        )
    data = raw.get("data") or {}
    if key not in data:
        msg = f"spec.authzConfig: ConfigMap {name} has no key {key!r}"
        raise Invalid(
            status.condition(AUTHZ_CONFIG_VALIDATED, False, "AuthzConfigNotFound", msg), msg
        )
    return str(data[key])


def token_exchange_volume(extauth: MCPExternalAuthConfig | None) -> tuple[list[Obj], list[Obj]]:
    """The token-exchange client secret as a file in the proxy pod (volumes, mounts)."""
    te = extauth.spec.token_exchange if extauth is not None else None
    if te is None or te.client_secret_ref is None:
        return [], []
    ref = te.client_secret_ref
    volume = {
        "name": "token-exchange-secret",
        "secret": {"secretName": ref.name, "items": [{"key": ref.key, "path": ref.key}]},
    }
    mount = {
        "name": "token-exchange-secret",
        "mountPath": TOKEN_EXCHANGE_SECRET_DIR,
        "readOnly": True,
    }
    return [volume], [mount]


def desired_objects(
    obj: Obj,
    server: MCPServer,
    *,
    runner_image: str,
    toolconfig: MCPToolConfig | None = None,
    extauth: MCPExternalAuthConfig | None = None,
    authz_configmap_text: str | None = None,
    pull_policy: str = "IfNotPresent",
    oidc: MCPOIDCConfig | None = None,
    telemetry: MCPTelemetryConfig | None = None,
) -> list[Obj]:
    """Every object an MCPServer owns, in apply order. Pure: no API calls."""
    name = server.name
    spec = server.spec
    labels = objects.labels_for(APP, name)
    runconfig = mcpserver_runconfig(
        server,
        toolconfig=toolconfig,
        extauth=extauth,
        authz_configmap_text=authz_configmap_text,
        oidc=oidc,
        telemetry=telemetry,
    )
    configmap = objects.runconfig_configmap(obj, name, runconfig, labels)
    runner_sa = objects.proxy_runner_name(name)
    out = objects.rbac_objects(obj, runner_sa, labels, objects.PROXY_RUNNER_RULES)
    if spec.service_account is None:
        out.append(objects.service_account(obj, mcp_service_account_name(name), labels))
    out.append(configmap)
    replicas = spec.replicas
    if spec.transport == "stdio" and replicas is not None and replicas > 1:
        replicas = 1  # one proxy per stdio stream (Go caps it too)
    overrides = spec.resource_overrides.to_json() if spec.resource_overrides else {}
    volumes, mounts = token_exchange_volume(extauth)
    out.append(
        objects.proxy_deployment(
            obj,
            name=name,
            labels=labels,
            runner_image=runner_image,
            args=["run", spec.image],
            runconfig_checksum=configmap["metadata"]["annotations"][
                objects.CONTENT_CHECKSUM_ANNOTATION
            ],
            proxy_port=spec.proxy_port,
            service_account_name=runner_sa,
            replicas=replicas,
            resources=spec.resources.to_json() if spec.resources else None,
            overrides=overrides.get("proxyDeployment"),
            pull_policy=pull_policy,
            extra_env=oidc_client_secret_env(oidc),
            extra_volumes=volumes,
            extra_mounts=mounts,
            recreate=spec.transport == "stdio",
        )
    )
    out.append(
        objects.proxy_service(
            obj,
            service_name=objects.proxy_service_name(name),
            labels=labels,
            port=spec.proxy_port,
            session_affinity=spec.session_affinity,
            overrides=overrides.get("proxyService"),
        )
    )
    return out


def pod_failure(pods: list[Obj]) -> str | None:
    """The first reason a pod will not start by itself (image pull, crash loop …)."""
    for pod in pods:
        if (pod.get("status") or {}).get("phase") == "Failed":
            return f"pod {pod['metadata']['name']} failed"
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in FAILED_WAITING:
                return f"{waiting['reason']}: {waiting.get('message', '')}".strip().rstrip(":")
    return None


def phase_and_message(
    deployment: Obj | None, statefulset: Obj | None, failure: str | None, stdio: bool
) -> tuple[str, str, int]:
    """Go's phases from what runs: (phase, message, readyReplicas)."""
    if deployment is None:
        return "Pending", "MCP server is being created", 0
    if (deployment.get("spec") or {}).get("replicas") == 0:
        return "Stopped", "MCP server is stopped (scaled to zero)", 0
    ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
    if failure:
        return "Failed", f"MCP server pod failed: {failure}", ready
    if ready == 0:
        return "Pending", "MCP server is starting", 0
    if statefulset is None:
        return (
            "Pending",
            "MCP server proxy is running; recreating missing workload StatefulSet",
            ready,
        )
    if int((statefulset.get("status") or {}).get("readyReplicas") or 0) == 0:
        return "Pending", "MCP server proxy is running; waiting for the MCP server pod", ready
    return "Ready", "MCP server is running", ready


class MCPServerController(Controller):
    kind = "MCPServer"
    plural = "mcpservers"
    finalizer = FINALIZER
    owns = (
        "Deployment",
        "Service",
        "ConfigMap",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "StatefulSet",
    )

    def map_event(self, ctx: Context, obj: Obj) -> list[Key]:
        # The runner's StatefulSet before adoption: no owner reference yet, Go maps it by label.
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        if (
            obj.get("kind") == "StatefulSet"
            and labels.get("toolhive") == "true"
            and controller_owner(obj) is None
        ):
            return [
                Key(
                    self.kind,
                    meta.get("namespace", ""),
                    labels.get("toolhive-name") or meta["name"],
                )
            ]
        # A referenced config object changed: every MCPServer using it. (An authz ConfigMap is
        # watched only with the label toolhive=true; without it the resync picks a change up.)
        if obj.get("kind") in REFERENCED_KINDS:
            return ctx.index.referrers(Key.of(obj), kind=self.kind)
        return []

    def reconcile(self, ctx: Context, obj: Obj) -> Result | None:
        kube = ctx.kube
        key = Key.of(obj)
        meta = obj["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        generation = meta.get("generation")
        old = obj.get("status") or {}
        conditions = list(old.get("conditions") or [])
        new_status: dict[str, Any] = {"observedGeneration": generation}

        def failed(
            condition: dict[str, Any] | None, message: str, reason: str = status.REASON_NOT_READY
        ) -> Result | None:
            conds = status.failure_conditions(conditions, condition, reason, message, generation)
            failure = {"phase": "Failed", "message": message, "readyReplicas": 0}
            status.write_status(kube, obj, {**new_status, **failure, "conditions": conds})
            return None

        try:
            server = MCPServer.model_validate(obj)
        except ValidationError as exc:
            return failed(None, f"invalid MCPServer: {status.spec_error(exc)}", "InvalidSpec")
        spec = server.spec
        toolconfig_name = spec.tool_config_ref.name if spec.tool_config_ref else None
        extauth_name = spec.external_auth_config_ref.name if spec.external_auth_config_ref else None
        refs = [Key("MCPToolConfig", namespace, toolconfig_name)] if toolconfig_name else []
        if extauth_name:
            refs.append(Key("MCPExternalAuthConfig", namespace, extauth_name))
        authz = spec.authz_config
        if authz is not None and authz.type == "configMap" and authz.config_map is not None:
            refs.append(Key("ConfigMap", namespace, authz.config_map.name))
        if spec.oidc_config_ref is not None:
            refs.append(Key("MCPOIDCConfig", namespace, spec.oidc_config_ref.name))
        if spec.telemetry_config_ref is not None:
            refs.append(Key("MCPTelemetryConfig", namespace, spec.telemetry_config_ref.name))
        for changed in ctx.index.record(key, refs):
            ctx.enqueue(changed, 0)
        if not toolconfig_name:
            conditions = status.remove_condition(conditions, TOOL_CONFIG_VALIDATED)
        if not extauth_name:
            conditions = status.remove_condition(conditions, EXTERNAL_AUTH_VALIDATED)
        authz_text: str | None = None
        try:
            toolconfig, extauth, ref_conditions = load_refs(
                kube, namespace, toolconfig_name, extauth_name
            )
            for cond in ref_conditions:
                conditions = status.set_condition(
                    conditions, {**cond, "observedGeneration": generation}
                )
            authz_text = load_authz_configmap(kube, namespace, server)
            oidc, telemetry, protection_conditions = load_protection_refs(kube, namespace, server)
            for cond in protection_conditions:
                conditions = status.set_condition(
                    conditions, {**cond, "observedGeneration": generation}
                )
            desired = desired_objects(
                obj,
                server,
                runner_image=ctx.settings.runner_image,
                toolconfig=toolconfig,
                extauth=extauth,
                authz_configmap_text=authz_text,
                pull_policy=ctx.settings.image_pull_policy,
                oidc=oidc,
                telemetry=telemetry,
            )
        except Invalid as exc:
            if exc.condition.get("type") in PROTECTION_INVALID:
                delete_owned_deployment(kube, obj)
                conditions = drop_protection(conditions, keep=exc.condition.get("type"))
            return failed(exc.condition, str(exc))
        except ProtectionError as exc:
            # Fail closed: no proxy keeps serving without the protection now asked for.
            delete_owned_deployment(kube, obj)
            conditions = drop_protection(conditions, keep=exc.condition_type)
            cond = status.condition(exc.condition_type, False, exc.reason, str(exc))
            return failed(cond, str(exc), "ProtectionNotMapped")
        except ConfigError as exc:
            cond = status.condition(EXTERNAL_AUTH_VALIDATED, False, "InvalidConfig", str(exc))
            return failed(cond, str(exc))
        conditions = drop_protection(conditions)
        for cond in protection_conditions:  # the Valid ones stay
            conditions = status.set_condition(
                conditions, {**cond, "observedGeneration": generation}
            )
        if oidc is not None:
            new_status["oidcConfigHash"] = config_hash(oidc.spec.to_json())
        if telemetry is not None:
            new_status["telemetryConfigHash"] = config_hash(telemetry.spec.to_json())
        if toolconfig is not None:
            new_status["toolConfigHash"] = config_hash(toolconfig.spec.to_json())
        if extauth is not None:
            new_status["externalAuthConfigHash"] = config_hash(extauth.spec.to_json())
        if spec.authz_config is not None:
            # The policy itself (inline or the ConfigMap's text): a change of it is a new hash.
            new_status["authzConfigHash"] = config_hash(
                {"spec": spec.authz_config.to_json(), "configMap": authz_text}
            )

        requeue: float | None = None
        self._switch_to_recreate(kube, desired)
        for want in desired:
            if apply_object(kube, want).action == "deleting":
                requeue = 2.0  # deleted by hand, still finalizing: recreate once gone

        capped = spec.transport == "stdio" and spec.replicas is not None and spec.replicas > 1
        if capped:
            conditions = status.set_condition(
                conditions,
                status.condition(
                    STDIO_REPLICA_CAPPED,
                    True,
                    "StdioTransportCapAt1",
                    "stdio transport supports one proxy replica",
                    generation,
                ),
            )
        else:
            conditions = status.remove_condition(conditions, STDIO_REPLICA_CAPPED)
        conditions = status.set_condition(conditions, sessions.storage_condition(spec, generation))

        deployment = _get(kube, "Deployment", namespace, name)
        if (
            spec.transport == "stdio"
            and deployment is not None
            and (deployment["spec"].get("replicas") or 1) > 1
        ):
            # Someone scaled a stdio proxy: one stdio stream cannot be shared (Go's cap).
            kube.patch("apps/v1", "Deployment", namespace, name, {"spec": {"replicas": 1}})
        statefulset = _get(kube, "StatefulSet", namespace, name)
        if statefulset is not None:
            self._adopt(kube, obj, statefulset)
        elif (
            deployment is not None
            and int((deployment.get("status") or {}).get("availableReplicas") or 0) > 0
        ):
            self._bounce(kube, deployment)
            requeue = min(requeue or 10.0, 10.0)
        pods = kube.list(
            "v1", "Pod", namespace, {"app.kubernetes.io/instance": name, "toolhive": "true"}
        )
        pods += kube.list("v1", "Pod", namespace, {"app": name, "toolhive": "true"})
        phase, message, ready = phase_and_message(
            deployment, statefulset, pod_failure(pods), spec.transport == "stdio"
        )
        conditions = status.set_condition(
            conditions,
            status.condition(
                status.READY,
                phase == "Ready",
                status.REASON_READY if phase == "Ready" else status.REASON_NOT_READY,
                message,
                generation,
            ),
        )
        base = objects.service_url(objects.proxy_service_name(name), namespace, spec.proxy_port)
        new_status.update(
            {
                "phase": phase,
                "message": message,
                "readyReplicas": ready,
                "url": objects.mcp_url(base, spec.transport, spec.proxy_mode, name),
                "conditions": conditions,
            }
        )
        status.write_status(kube, obj, new_status)
        if phase == "Pending" and requeue is None:
            requeue = 15.0  # pods starting: look again even if no event comes
        return Result(requeue) if requeue is not None else None

    def _switch_to_recreate(self, kube: Kube, desired: list[Obj]) -> None:
        """A Deployment going Recreate must lose its defaulted ``rollingUpdate`` in the same write
        (the API server refuses both); an apply cannot drop a field it never set."""
        for want in desired:
            if (
                want["kind"] != "Deployment"
                or want["spec"].get("strategy", {}).get("type") != "Recreate"
            ):
                continue
            meta = want["metadata"]
            live = kube.get("apps/v1", "Deployment", meta["namespace"], meta["name"])
            strategy = ((live or {}).get("spec") or {}).get("strategy") or {}
            if live is not None and strategy.get("type") != "Recreate":
                patch = {"spec": {"strategy": {"type": "Recreate", "rollingUpdate": None}}}
                kube.patch("apps/v1", "Deployment", meta["namespace"], meta["name"], patch)

    def _adopt(self, kube: Kube, obj: Obj, statefulset: Obj) -> None:
        """The runner's StatefulSet gets our controller owner reference (GC, watches)."""
        owners = statefulset["metadata"].get("ownerReferences") or []
        if any(o.get("uid") == obj["metadata"]["uid"] for o in owners):
            return
        if any(o.get("controller") for o in owners):
            return  # someone else's
        meta = statefulset["metadata"]
        kube.patch(
            "apps/v1",
            "StatefulSet",
            meta["namespace"],
            meta["name"],
            {"metadata": {"ownerReferences": [*owners, owner_reference(obj)]}},
        )

    def _bounce(self, kube: Kube, deployment: Obj) -> None:
        """Restart the proxy so the runner deploys the missing StatefulSet again (Go's cooldown)."""
        annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
        last = annotations.get(objects.RESTARTED_AT_ANNOTATION)
        now = datetime.now(UTC)
        if last:
            try:
                if now - datetime.fromisoformat(last.replace("Z", "+00:00")) < BOUNCE_COOLDOWN:
                    return
            except ValueError:
                pass
        meta = deployment["metadata"]
        log.info("StatefulSet %s/%s missing: restarting its proxy", meta["namespace"], meta["name"])
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {
            "spec": {
                "template": {"metadata": {"annotations": {objects.RESTARTED_AT_ANNOTATION: stamp}}}
            }
        }
        kube.patch("apps/v1", "Deployment", meta["namespace"], meta["name"], patch)

    def finalize(self, ctx: Context, obj: Obj) -> Result | None:
        meta = obj["metadata"]
        generation = meta.get("generation")
        conditions = status.set_condition(
            (obj.get("status") or {}).get("conditions"),
            status.condition(
                status.READY,
                False,
                status.REASON_NOT_READY,
                "MCP server is being terminated",
                generation,
            ),
        )
        new = {
            **(obj.get("status") or {}),
            "phase": "Terminating",
            "message": "MCP server is being terminated",
        }
        status.write_status(ctx.kube, obj, {**new, "conditions": conditions})
        # The runner's StatefulSet may not be adopted yet: delete it by name if it is ToolHive's.
        sts = _get(ctx.kube, "StatefulSet", meta["namespace"], meta["name"])
        if sts is not None and (sts["metadata"].get("labels") or {}).get("toolhive") == "true":
            ctx.kube.delete("apps/v1", "StatefulSet", meta["namespace"], meta["name"])
        return None
