"""MCPRemoteProxy: a proxy-only Deployment + Service in front of ``spec.remoteUrl``.

Same shape as MCPServer's, Go's names for it: ServiceAccount/Role/RoleBinding
``NAME-remote-proxy-runner`` (read-only rules: it deploys nothing), ConfigMap ``NAME-runconfig``
with ``remote_url``, Deployment ``NAME``, Service ``mcp-NAME-remote-proxy``; status ``url`` is the
Service's base URL (Go's), phases Pending / Ready / Failed / Terminating.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from toolhive_runtime_kubernetes.crd.remoteproxy import MCPRemoteProxy
from toolhive_runtime_kubernetes.operator import objects, sessions, status
from toolhive_runtime_kubernetes.operator.apply import apply_object
from toolhive_runtime_kubernetes.operator.framework import (
    Context,
    Controller,
    Key,
    Result,
    delete_owned_deployment,
)
from toolhive_runtime_kubernetes.operator.kube import Obj
from toolhive_runtime_kubernetes.operator.mcpserver import (
    PROTECTION_INVALID,
    REFERENCED_KINDS,
    Invalid,
    drop_protection,
    load_protection_refs,
    load_refs,
    pod_failure,
    token_exchange_volume,
)
from toolhive_runtime_kubernetes.operator.runconfig import (
    ConfigError,
    ProtectionError,
    oidc_client_secret_env,
    remoteproxy_runconfig,
)
from toolhive_runtime_kubernetes.operator.toolconfig import config_hash

log = logging.getLogger("toolhive.operator")

APP = "mcpremoteproxy"


def runner_name(name: str) -> str:
    return f"{name}-remote-proxy-runner"


def service_name(name: str) -> str:
    return f"mcp-{name}-remote-proxy"


def desired_objects(
    obj: Obj, proxy: MCPRemoteProxy, *, runner_image: str, **refs: Any
) -> list[Obj]:
    name = proxy.name
    spec = proxy.spec
    labels = objects.labels_for(APP, name)
    configmap = objects.runconfig_configmap(
        obj,
        name,
        remoteproxy_runconfig(
            proxy,
            toolconfig=refs.get("toolconfig"),
            extauth=refs.get("extauth"),
            oidc=refs.get("oidc"),
            telemetry=refs.get("telemetry"),
        ),
        labels,
    )
    sa = spec.service_account or runner_name(name)
    out = (
        objects.rbac_objects(obj, sa, labels, objects.REMOTE_PROXY_RULES)
        if spec.service_account is None
        else []
    )
    overrides = spec.resource_overrides.to_json() if spec.resource_overrides else {}
    volumes, mounts = token_exchange_volume(refs.get("extauth"))
    out.append(configmap)
    out.append(
        objects.proxy_deployment(
            obj,
            name=name,
            labels=labels,
            runner_image=runner_image,
            args=["run", spec.remote_url],
            runconfig_checksum=configmap["metadata"]["annotations"][
                objects.CONTENT_CHECKSUM_ANNOTATION
            ],
            proxy_port=spec.proxy_port,
            service_account_name=sa,
            replicas=spec.replicas,
            resources=spec.resources.to_json() if spec.resources else None,
            overrides=overrides.get("proxyDeployment"),
            pull_policy=refs.get("pull_policy", "IfNotPresent"),
            extra_env=oidc_client_secret_env(refs.get("oidc")),
            extra_volumes=volumes,
            extra_mounts=mounts,
        )
    )
    out.append(
        objects.proxy_service(
            obj,
            service_name=service_name(name),
            labels=labels,
            port=spec.proxy_port,
            session_affinity=spec.session_affinity,
            overrides=overrides.get("proxyService"),
        )
    )
    return out


class MCPRemoteProxyController(Controller):
    kind = "MCPRemoteProxy"
    plural = "mcpremoteproxies"
    owns = ("Deployment", "Service", "ConfigMap", "ServiceAccount", "Role", "RoleBinding")

    def map_event(self, ctx: Context, obj: Obj) -> list[Key]:
        if obj.get("kind") in REFERENCED_KINDS:
            return ctx.index.referrers(Key.of(obj), kind=self.kind)
        return []

    def reconcile(self, ctx: Context, obj: Obj) -> Result | None:
        kube = ctx.kube
        meta = obj["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        generation = meta.get("generation")
        conditions = list((obj.get("status") or {}).get("conditions") or [])
        new_status: dict[str, Any] = {"observedGeneration": generation}

        def failed(
            condition: dict[str, Any] | None, message: str, reason: str = status.REASON_NOT_READY
        ) -> None:
            conds = status.failure_conditions(conditions, condition, reason, message, generation)
            status.write_status(
                kube,
                obj,
                {**new_status, "phase": "Failed", "message": message, "conditions": conds},
            )

        try:
            proxy = MCPRemoteProxy.model_validate(obj)
        except ValidationError as exc:
            failed(None, f"invalid MCPRemoteProxy: {status.spec_error(exc)}", "InvalidSpec")
            return None
        spec = proxy.spec
        toolconfig_name = spec.tool_config_ref.name if spec.tool_config_ref else None
        extauth_name = spec.external_auth_config_ref.name if spec.external_auth_config_ref else None
        refs = [Key("MCPToolConfig", namespace, toolconfig_name)] if toolconfig_name else []
        if extauth_name:
            refs.append(Key("MCPExternalAuthConfig", namespace, extauth_name))
        if spec.oidc_config_ref is not None:
            refs.append(Key("MCPOIDCConfig", namespace, spec.oidc_config_ref.name))
        if spec.telemetry_config_ref is not None:
            refs.append(Key("MCPTelemetryConfig", namespace, spec.telemetry_config_ref.name))
        for changed in ctx.index.record(Key.of(obj), refs):
            ctx.enqueue(changed, 0)
        try:
            toolconfig, extauth, ref_conditions = load_refs(
                kube, namespace, toolconfig_name, extauth_name
            )
            oidc, telemetry, protection_conditions = load_protection_refs(kube, namespace, proxy)
            desired = desired_objects(
                obj,
                proxy,
                runner_image=ctx.settings.runner_image,
                toolconfig=toolconfig,
                extauth=extauth,
                oidc=oidc,
                telemetry=telemetry,
                pull_policy=ctx.settings.image_pull_policy,
            )
        except Invalid as exc:
            if exc.condition.get("type") in PROTECTION_INVALID:
                delete_owned_deployment(kube, obj)
                conditions = drop_protection(conditions, keep=exc.condition.get("type"))
            failed(exc.condition, str(exc))
            return None
        except ProtectionError as exc:
            # Fail closed, as MCPServer: no proxy keeps serving without the protection asked for.
            delete_owned_deployment(kube, obj)
            conditions = drop_protection(conditions, keep=exc.condition_type)
            failed(
                status.condition(exc.condition_type, False, exc.reason, str(exc)),
                str(exc),
                "ProtectionNotMapped",
            )
            return None
        except ConfigError as exc:
            failed(
                status.condition("ExternalAuthConfigValidated", False, "InvalidConfig", str(exc)),
                str(exc),
            )
            return None
        conditions = drop_protection(conditions)
        for cond in [*ref_conditions, *protection_conditions]:
            conditions = status.set_condition(
                conditions, {**cond, "observedGeneration": generation}
            )
        if toolconfig is not None:
            new_status["toolConfigHash"] = config_hash(toolconfig.spec.to_json())
        if extauth is not None:
            new_status["externalAuthConfigHash"] = config_hash(extauth.spec.to_json())
        if oidc is not None:
            new_status["oidcConfigHash"] = config_hash(oidc.spec.to_json())
        if telemetry is not None:
            new_status["telemetryConfigHash"] = config_hash(telemetry.spec.to_json())
        if spec.authz_config is not None:
            new_status["authzConfigHash"] = config_hash({"spec": spec.authz_config.to_json()})
        requeue = None
        for want in desired:
            if apply_object(kube, want).action == "deleting":
                requeue = 2.0
        deployment = kube.get("apps/v1", "Deployment", namespace, name)
        ready = int(((deployment or {}).get("status") or {}).get("readyReplicas") or 0)
        failure = pod_failure(
            kube.list("v1", "Pod", namespace, {"app.kubernetes.io/instance": name, "app": APP})
        )
        if failure:
            phase, message = "Failed", f"remote proxy pod failed: {failure}"
        elif ready > 0:
            phase, message = "Ready", "remote proxy is running"
        else:
            phase, message = "Pending", "remote proxy is starting"
        conditions = status.set_condition(conditions, sessions.storage_condition(spec, generation))
        conditions = status.set_condition(
            conditions,
            status.condition(
                status.READY,
                phase == "Ready",
                "DeploymentReady" if phase == "Ready" else "DeploymentNotReady",
                message,
                generation,
            ),
        )
        new_status.update(
            {
                "phase": phase,
                "message": message,
                "url": objects.service_url(service_name(name), namespace, spec.proxy_port),
                "conditions": conditions,
            }
        )
        status.write_status(kube, obj, new_status)
        if phase == "Pending" and requeue is None:
            requeue = 15.0
        return Result(requeue) if requeue is not None else None
