"""The operator's view of the Kubernetes API: whole objects as plain dicts, by apiVersion + kind.

Reconcilers build desired objects as dicts (what ``kubectl get -o json`` shows), so the client they
talk to takes and returns dicts too. :class:`ApiKube` speaks REST through the ``kubernetes``
client's connection (its kubeconfig / service-account loading, TLS and auth);
:class:`~toolhive_runtime_kubernetes.operator.fakekube.FakeKube` is the in-memory stand-in the unit
tests use.
"""

from __future__ import annotations

import json
import os
from typing import Any, Protocol
from urllib.parse import quote, urlencode

Obj = dict[str, Any]

#: The operator's field manager (server-side apply and the ``managedFields`` it leaves).
FIELD_MANAGER = "toolhive-operator"

# kind -> plural for the kinds we touch; CRD kinds not listed are pluralised by rule.
PLURALS: dict[str, str] = {
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Service": "services",
    "ServiceAccount": "serviceaccounts",
    "Pod": "pods",
    "Endpoints": "endpoints",
    "Event": "events",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "MCPRemoteProxy": "mcpremoteproxies",
    "MCPRegistry": "mcpregistries",
    "MCPServerEntry": "mcpserverentries",
}


def plural(kind: str) -> str:
    if kind in PLURALS:
        return PLURALS[kind]
    low = kind.lower()
    return low[:-1] + "ies" if low.endswith("y") else low + "s"


class KubeError(Exception):
    """An API error: ``status`` is the HTTP status (404 not found, 409 conflict …)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


class Kube(Protocol):
    """What reconcilers need from the API server. Every method is synchronous (a worker thread)."""

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        """The object, or None when it does not exist."""

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        labels: dict[str, str] | None = None,
    ) -> list[Obj]:
        """Objects of a kind in a namespace (None: every namespace), optionally label-selected."""

    def create(self, obj: Obj) -> Obj:
        """Create; KubeError 409 when it exists."""

    def apply(self, obj: Obj) -> Obj:
        """Server-side apply (force) as :data:`FIELD_MANAGER`: fields we stop sending are dropped."""

    def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        patch: Obj,
        *,
        status: bool = False,
    ) -> Obj:
        """JSON merge patch (RFC 7386) of the object or, with ``status``, its status subresource."""

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete (background propagation); False when it was already gone."""


def object_path(api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = base
    if namespace:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{plural(kind)}"
    if name:
        path += f"/{quote(name, safe='')}"
    return path


def ref(obj: Obj) -> tuple[str, str, str, str]:
    """(apiVersion, kind, namespace, name) of an object dict."""
    meta = obj.get("metadata") or {}
    return obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"]


class ApiKube:
    """:class:`Kube` over HTTP, through a configured ``kubernetes.client.ApiClient``."""

    def __init__(self, api_client: Any) -> None:
        self._api = api_client

    @classmethod
    def from_environment(cls, kubeconfig: str | None = None, context: str | None = None) -> ApiKube:
        """In a pod: its service account; else the kubeconfig (``$KUBECONFIG``, ~/.kube/config)."""
        from kubernetes import client, config

        from toolhive_runtime_kubernetes.detection import in_cluster

        configuration = client.Configuration()
        if kubeconfig is None and context is None and in_cluster(os.environ):
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
        return cls(client.ApiClient(configuration))

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Obj | None:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        method, url, headers, body, _ = self._api.param_serialize(
            method,
            path,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        if query:
            url += "?" + urlencode(query)
        try:
            response = self._api.call_api(method, url, headers, body, _request_timeout=30)
        except Exception as exc:  # the client raises ApiException for TLS and transport errors
            status = getattr(exc, "status", 0) or 0
            raise KubeError(status, str(exc)) from exc
        data = response.read()
        if response.status == 404 and method == "GET":
            return None
        if not 200 <= response.status < 300:
            try:
                message = json.loads(data).get("message", data.decode(errors="replace"))
            except ValueError:
                message = data.decode(errors="replace")
            raise KubeError(response.status, f"{method} {path}: {message}")
        return json.loads(data) if data else {}

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        return self._call("GET", object_path(api_version, kind, namespace, name))

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        labels: dict[str, str] | None = None,
    ) -> list[Obj]:
        query = (
            {"labelSelector": ",".join(f"{k}={v}" for k, v in labels.items())} if labels else None
        )
        data = self._call("GET", object_path(api_version, kind, namespace), query=query) or {}
        items: list[Obj] = data.get("items") or []
        for item in items:  # list items come without their type
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    def create(self, obj: Obj) -> Obj:
        api_version, kind, namespace, _ = ref(obj)
        result = self._call("POST", object_path(api_version, kind, namespace), body=obj)
        assert result is not None
        return result

    def apply(self, obj: Obj) -> Obj:
        api_version, kind, namespace, name = ref(obj)
        result = self._call(
            "PATCH",
            object_path(api_version, kind, namespace, name),
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
            body=obj,
            content_type="application/apply-patch+yaml",
        )
        assert result is not None
        return result

    def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        patch: Obj,
        *,
        status: bool = False,
    ) -> Obj:
        path = object_path(api_version, kind, namespace, name) + ("/status" if status else "")
        result = self._call(
            "PATCH",
            path,
            query={"fieldManager": FIELD_MANAGER},
            body=patch,
            content_type="application/merge-patch+json",
        )
        assert result is not None
        return result

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        try:
            self._call(
                "DELETE",
                object_path(api_version, kind, namespace, name),
                body={"propagationPolicy": "Background"},
            )
        except KubeError as exc:
            if exc.not_found:
                return False
            raise
        return True
