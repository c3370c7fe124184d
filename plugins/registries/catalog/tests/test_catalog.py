"""Every catalog entry follows the upstream server.json schema's rules (2025-09-29/2025-12-11
server.schema.json from modelcontextprotocol/registry, encoded here: the schema is not shipped by
any package available offline) and ToolHive's extension rules; the plugin loads as the default."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest
import toolhive_registry_catalog as plugin
from toolhive.models.permissions import PermissionProfile
from toolhive.registry.sources import open_registry, resolve
from toolhive.registry.upstream import NAMESPACE, PUBLISHER_KEY

NAME = re.compile(r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$")
TAG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REGISTRY_TYPES = {"npm", "pypi", "oci", "nuget", "mcpb"}
PACKAGE_KEYS = {
    "registryType", "registryBaseUrl", "identifier", "version", "fileSha256", "runtimeHint",
    "transport", "runtimeArguments", "packageArguments", "environmentVariables",
}  # fmt: skip
INPUT_KEYS = {"name", "description", "isRequired", "format", "value", "isSecret", "default",
              "placeholder", "choices", "variables"}  # fmt: skip
TIERS = {"Official", "Community", "Partner"}
STATUSES = {"active", "deprecated"}
WANTED = {"fetch", "time", "git", "filesystem", "github", "everything", "memory",
          "sequentialthinking", "osv"}  # fmt: skip


def schema_problems(server: dict[str, Any]) -> list[str]:
    """Rule violations of one server.json object plus its ToolHive extension."""
    p: list[str] = []
    name = server.get("name", "")
    if not (3 <= len(name) <= 200 and NAME.match(name)):
        p.append(f"name {name!r} is not reverse-DNS namespace/name")
    desc = server.get("description", "")
    if not 1 <= len(desc) <= 100:
        p.append(f"description has {len(desc)} characters (1-100)")
    if not server.get("version") or len(server["version"]) > 255:
        p.append("version missing")
    repo = server.get("repository")
    if repo is not None and not (
        str(repo.get("url", "")).startswith("https://") and repo.get("source")
    ):
        p.append("repository needs url and source")
    packages, remotes = server.get("packages") or [], server.get("remotes") or []
    if not packages and not remotes:
        p.append("neither packages nor remotes")
    keys: list[str] = []
    for pkg in packages:
        if set(pkg) - PACKAGE_KEYS:
            p.append(f"unknown package keys {sorted(set(pkg) - PACKAGE_KEYS)}")
        if pkg.get("registryType") not in REGISTRY_TYPES:
            p.append(f"registryType {pkg.get('registryType')!r}")
        ident = pkg.get("identifier", "")
        if not ident:
            p.append("package identifier missing")
        if pkg.get("registryType") == "oci":
            last = ident.rsplit("/", 1)[-1]
            if ":" not in last and "@sha256:" not in ident:
                p.append(f"oci identifier {ident!r} has no tag or digest")
        elif pkg.get("version") in (None, "", "latest"):
            p.append("package version must be a specific version")
        t = pkg.get("transport") or {}
        if t.get("type") not in {"stdio", "streamable-http", "sse"}:
            p.append(f"transport type {t.get('type')!r}")
        if t.get("type") in {"streamable-http", "sse"} and not str(t.get("url", "")).startswith(
            "http"
        ):
            p.append("http transports need a url")
        for ev in pkg.get("environmentVariables") or []:
            if set(ev) - INPUT_KEYS or not ENV_NAME.match(ev.get("name", "")):
                p.append(f"bad environment variable {ev}")
            for flag in ("isRequired", "isSecret"):
                if flag in ev and not isinstance(ev[flag], bool):
                    p.append(f"{ev['name']}.{flag} is not a boolean")
        keys.append(ident)
    for remote in remotes:
        if remote.get("type") not in {"streamable-http", "sse"} or not remote.get("url"):
            p.append("remote needs type and url")
        keys.append(remote.get("url", ""))
    ext_all = ((server.get("_meta") or {}).get(PUBLISHER_KEY) or {}).get(NAMESPACE) or {}
    for key, ext in ext_all.items():
        if key not in keys:
            p.append(f"_meta key {key!r} names no package or remote")
        if ext.get("tier") not in TIERS:
            p.append(f"tier {ext.get('tier')!r}")
        if str(ext.get("status", "")).lower() not in STATUSES:
            p.append(f"status {ext.get('status')!r}")
        if not ext.get("tools"):
            p.append("no tools listed")
        bad_tags = [t for t in ext.get("tags", []) if not TAG.match(t)]
        if bad_tags:
            p.append(f"tags {bad_tags} do not match {TAG.pattern}")
        if "permissions" in ext:
            PermissionProfile.model_validate(ext["permissions"]).check_mounts()
    return p


def catalog() -> dict[str, Any]:
    data = resources.files("toolhive_registry_catalog").joinpath("data/registry.json")
    return json.loads(data.read_text())


def test_every_entry_follows_the_schema_rules():
    servers = catalog()["data"]["servers"]
    assert len(servers) >= 25
    problems = {s.get("name"): schema_problems(s) for s in servers}
    assert {k: v for k, v in problems.items() if v} == {}
    names = [s["name"] for s in servers]
    assert len(set(names)) == len(names)
    assert {n.rsplit("/", 1)[1] for n in names} >= WANTED


def test_the_validator_catches_broken_entries():
    good = catalog()["data"]["servers"][0]
    bad = json.loads(json.dumps(good))
    bad["name"] = "no-namespace"
    bad["description"] = "x" * 101
    bad["packages"][0]["registryType"] = "apt"
    bad["packages"][0]["transport"] = {"type": "websocket"}
    bad["packages"][0]["environmentVariables"] = [{"name": "A B", "isSecret": "yes"}]
    ext = next(iter(bad["_meta"][PUBLISHER_KEY][NAMESPACE].values()))
    ext["tags"] = ["Bad Tag"]
    ext["tier"] = "Gold"
    found = " | ".join(schema_problems(bad))
    for fragment in ("reverse-DNS", "101 characters", "registryType", "transport type",
                     "bad environment variable", "not a boolean", "tags", "tier"):  # fmt: skip
        assert fragment in found, fragment
    assert schema_problems(good) == []


@pytest.mark.parametrize("thv_plugins", [[plugin]])
def test_catalog_is_the_default_source(thv_hooks, thv_home):
    source = open_registry(thv_hooks)
    assert source.kind == "default" and "toolhive-registry-catalog" in source.location
    entries = source.list_servers()
    assert len(entries) == len(catalog()["data"]["servers"])
    github = resolve(source, "github")
    assert github is not None and github.image.startswith("ghcr.io/github/github-mcp-server:")
    token = next(v for v in github.env_vars if v.name == "GITHUB_PERSONAL_ACCESS_TOKEN")
    assert token.required and token.secret
    fetch = resolve(source, "io.github.stacklok/fetch")
    assert fetch.transport == "streamable-http" and fetch.tools == ["fetch"]
    assert resolve(source, "elasticsearch").target_port == 8080
    assert resolve(source, "filesystem").args == ["/projects"]
    assert resolve(source, "aws-cost-analysis").deprecated
    assert [e.short_name for e in source.search("KUBERNETES")] == ["k8s", "kyverno"]
