"""The objects one MCP server becomes (no cluster needed): names, labels, shapes, security."""

from __future__ import annotations

import base64

import pytest
from toolhive.contracts import InvalidInputError
from toolhive.contracts.runtime import DeployRequest
from toolhive_runtime_kubernetes import workload_objects as objects


def stdio_request(**fields: object) -> DeployRequest:
    base: dict[str, object] = {
        "name": "time",
        "image": "localhost/toolhive-test/mcp-servers:latest",
        "command": ["mcp-server-time"],
        "env": {"MCP_TRANSPORT": "stdio", "TZ": "UTC"},
        "labels": {"toolhive": "true", "toolhive-name": "time", "toolhive-transport": "stdio"},
    }
    return DeployRequest.model_validate({**base, **fields})


def http_request() -> DeployRequest:
    return stdio_request(name="echo", transport="streamable-http", target_port=8080)


def test_stateful_set_shape_and_labels() -> None:
    sts = objects.stateful_set(stdio_request(), "ns", deployed_at="t1")
    assert (sts["kind"], sts["metadata"]["name"], sts["metadata"]["namespace"]) == (
        "StatefulSet",
        "time",
        "ns",
    )
    spec = sts["spec"]
    assert spec["replicas"] == 1
    assert spec["serviceName"] == "mcp-time-headless"
    assert spec["selector"] == {"matchLabels": {"app": "time"}}
    labels = spec["template"]["metadata"]["labels"]
    assert labels["toolhive"] == "true" and labels["app"] == "time"
    assert labels["toolhive-name"] == "time" and labels["toolhive-transport"] == "stdio"
    assert sts["metadata"]["labels"] == labels
    assert spec["template"]["metadata"]["annotations"][objects.ANNOTATION_DEPLOYED] == "t1"
    (container,) = spec["template"]["spec"]["containers"]
    assert container["name"] == "mcp"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["args"] == ["mcp-server-time"]
    assert (container["stdin"], container["stdinOnce"], container["tty"]) == (True, False, False)
    assert "ports" not in container


def test_without_a_deploy_time_an_unchanged_template_stays_unchanged() -> None:
    first = objects.stateful_set(stdio_request(), "ns", deployed_at=None)
    annotations = first["spec"]["template"]["metadata"]["annotations"]
    assert objects.ANNOTATION_DEPLOYED not in annotations
    assert first == objects.stateful_set(stdio_request(), "ns", deployed_at=None)
    # The environment is in the Secret: its checksum rolls the pod when it changes.
    changed = objects.stateful_set(stdio_request(env={"TZ": "CET"}), "ns", deployed_at=None)
    assert changed["spec"]["template"] != first["spec"]["template"]
    assert "CET" not in str(changed)


def test_security_context_is_toolhives() -> None:
    template = objects.stateful_set(stdio_request(), "ns", deployed_at="t")["spec"]["template"]
    pod = template["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    ctx = pod["containers"][0]["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}


def test_environment_goes_to_a_secret_not_the_pod_spec() -> None:
    request = stdio_request(env={"API_KEY": "s3cret", "MCP_TRANSPORT": "stdio"})
    sts = objects.stateful_set(request, "ns", deployed_at="t")
    assert "s3cret" not in str(sts)
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": "mcp-time-env"}}]
    secret = objects.env_secret(request, "ns", {"name": "time", "uid": "u1"})
    assert secret["metadata"]["name"] == "mcp-time-env"
    assert base64.b64decode(secret["data"]["API_KEY"]) == b"s3cret"
    (owner,) = secret["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "StatefulSet",
        "time",
        "u1",
        True,
    )
    with pytest.raises(InvalidInputError, match="not valid"):
        objects.env_secret(stdio_request(env={"A B": "x"}), "ns")


def test_stdio_gets_only_a_headless_service() -> None:
    request = stdio_request()
    headless = objects.headless_service(request, "ns")
    assert headless["metadata"]["name"] == "mcp-time-headless"
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["selector"] == {"app": "time"}
    assert "ports" not in headless["spec"]
    assert objects.mcp_service(request, "ns") is None


def test_http_gets_a_cluster_ip_service_on_the_mcp_port() -> None:
    request = http_request()
    (container,) = objects.stateful_set(request, "ns", deployed_at="t")["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["stdin"] is False
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    service = objects.mcp_service(request, "ns", {"name": "echo", "uid": "u"})
    assert service is not None
    assert service["metadata"]["name"] == "mcp-echo"
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "port-8080", "port": 8080, "targetPort": 8080, "protocol": "TCP"}
    ]
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    assert objects.headless_service(request, "ns")["spec"]["ports"] == service["spec"]["ports"]


@pytest.mark.parametrize("name", ["Time", "1time", "ti_me", "x" * 60, "time-"])
def test_names_kubernetes_refuses_are_refused_first(name: str) -> None:
    with pytest.raises(InvalidInputError, match="cannot name Kubernetes objects"):
        objects.check_name(name)


def test_pod_patch_merges_containers_by_name_and_keeps_the_selector() -> None:
    patch = {
        "metadata": {"labels": {"app": "other", "team": "blue"}},
        "spec": {
            "containers": [{"name": "mcp", "resources": {"limits": {"memory": "128Mi"}}}],
            "nodeSelector": {"disk": "ssd"},
        },
    }
    sts = objects.stateful_set(stdio_request(), "ns", deployed_at="t", pod_patch=patch)
    template = sts["spec"]["template"]
    assert template["metadata"]["labels"]["app"] == "time", "the selector must still match"
    assert template["metadata"]["labels"]["team"] == "blue"
    (container,) = template["spec"]["containers"]
    assert container["resources"] == {"limits": {"memory": "128Mi"}}
    assert container["image"] == "localhost/toolhive-test/mcp-servers:latest"
    assert template["spec"]["nodeSelector"] == {"disk": "ssd"}


def test_merge_deletes_with_none_and_appends_new_named_items() -> None:
    base = {"a": 1, "b": {"c": 2}, "items": [{"name": "x", "v": 1}]}
    merged = objects.merge_pod_template(
        base, {"a": None, "b": {"d": 3}, "items": [{"name": "y", "v": 2}]}
    )
    assert merged == {
        "b": {"c": 2, "d": 3},
        "items": [{"name": "x", "v": 1}, {"name": "y", "v": 2}],
    }


def test_check_request_refuses_what_a_cluster_cannot_honour() -> None:
    """What is refused before anything is created (no API call is made)."""
    import kubernetes.client
    from toolhive.contracts import PermissionProfileError
    from toolhive.contracts.runtime import Mount, PermissionProfile
    from toolhive_runtime_kubernetes.runtime import KubernetesRuntime

    runtime = KubernetesRuntime(kubernetes.client.ApiClient(), "ns")
    network = {"network": {"outbound": {"insecure_allow_all": True}}}
    allowed = PermissionProfile.model_validate(network)
    restricted = PermissionProfile.model_validate({"network": {"outbound": {"allow_port": [443]}}})
    try:
        runtime.check_request(stdio_request(permission_profile=allowed))
        runtime.check_request(stdio_request(permission_profile=restricted, isolate_network=False))
        refused = [
            stdio_request(permission_profile=restricted),
            stdio_request(permission_profile=PermissionProfile(privileged=True, **network)),
            stdio_request(permission_profile=PermissionProfile(read=["/etc"], **network)),
            stdio_request(permission_profile=allowed, mounts=[Mount(source="/a", target="/b")]),
        ]
        for request in refused:
            with pytest.raises(PermissionProfileError):
                runtime.check_request(request)
        with pytest.raises(InvalidInputError, match="target port"):
            runtime.check_request(
                stdio_request(permission_profile=allowed, transport="streamable-http")
            )
    finally:
        runtime.close()
