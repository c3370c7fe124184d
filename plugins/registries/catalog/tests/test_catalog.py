"""Every catalog entry follows the upstream server.json schema's rules (2025-12-11
server.schema.json from modelcontextprotocol/registry, encoded here: the schema is not shipped by
any package available offline) and ToolHive's extension rules; the plugin loads as the default
source and ``thv run <name>`` picks the package the entry lists first."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest
import toolhive_registry_catalog as plugin
from toolhive.contracts.registry_data import NAMESPACE, PUBLISHER_KEY, SERVER_SCHEMA
from toolhive.contracts.runtime import PermissionProfile
from toolhive.registry.sources import open_registry, resolve

NAME = re.compile(r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$")
TAG = re.compile(r"^[a-z0-9][a-z0-9_-]*[a-z0-9]$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HOST = re.compile(r"^\.?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$")
#: What the registry's validator refuses as a pinned version (ranges, wildcards, "latest").
RANGE = re.compile(r"[\^~*<>=|\s]|^latest$|\.x(\.|$)")
REGISTRY_TYPES = {"npm", "pypi", "oci", "nuget", "mcpb"}
BASE_URLS = {"npm": "https://registry.npmjs.org", "pypi": "https://pypi.org"}
RUNTIME_HINTS = {"npm": {"npx"}, "pypi": {"uvx"}}
SERVER_KEYS = {"$schema", "name", "title", "description", "version", "repository", "websiteUrl",
               "icons", "packages", "remotes", "_meta"}  # fmt: skip
PACKAGE_KEYS = {"registryType", "registryBaseUrl", "identifier", "version", "fileSha256",
                "runtimeHint", "transport", "runtimeArguments", "packageArguments",
                "environmentVariables"}  # fmt: skip
INPUT_KEYS = {"name", "description", "isRequired", "format", "value", "isSecret", "default",
              "placeholder", "choices", "variables"}  # fmt: skip
ARGUMENT_KEYS = INPUT_KEYS | {"type", "valueHint", "isRepeated"}
FORMATS = {"string", "number", "boolean", "filepath"}
TIERS = {"Official", "Community", "Partner"}
STATUSES = {"active", "deprecated"}
#: Environment variable names that hold credentials: they must be flagged isSecret.
SECRETISH = re.compile(r"TOKEN|SECRET|PASSWORD|_PWD$|API_KEY|CONNECTION_STRING|HEADERS$")
WANTED = {"fetch", "time", "git", "filesystem", "github", "everything", "memory",
          "sequentialthinking", "osv"}  # fmt: skip
CHECKED = "2026-11-21"


def _input_problems(where: str, item: dict[str, Any], keys: set[str]) -> list[str]:
    p = []
    if set(item) - keys:
        p.append(f"{where}: unknown keys {sorted(set(item) - keys)}")
    for flag in ("isRequired", "isSecret", "isRepeated"):
        if flag in item and not isinstance(item[flag], bool):
            p.append(f"{where}.{flag} is not a boolean")
    if item.get("format", "string") not in FORMATS:
        p.append(f"{where}: format {item['format']!r}")
    for key in ("default", "value", "description"):
        if key in item and not isinstance(item[key], str):
            p.append(f"{where}.{key} is not a string")
    return p


def _package_problems(pkg: dict[str, Any]) -> list[str]:
    p: list[str] = []
    kind, ident = pkg.get("registryType"), pkg.get("identifier", "")
    where = f"package {ident or '?'}"
    if set(pkg) - PACKAGE_KEYS:
        p.append(f"{where}: unknown package keys {sorted(set(pkg) - PACKAGE_KEYS)}")
    if kind not in REGISTRY_TYPES:
        p.append(f"{where}: registryType {kind!r}")
    if not ident:
        p.append("package identifier missing")
    if kind == "oci":
        if ":" not in ident.rsplit("/", 1)[-1] and "@sha256:" not in ident:
            p.append(f"oci identifier {ident!r} has no tag or digest")
        if "version" in pkg or "registryBaseUrl" in pkg:
            p.append(f"{where}: an oci package carries its version in the identifier")
    elif kind in BASE_URLS:
        version = str(pkg.get("version", ""))
        if not version or len(version) > 255 or RANGE.search(version):
            p.append(f"{where}: version {version!r} must be one specific version")
        if pkg.get("registryBaseUrl", BASE_URLS[kind]) != BASE_URLS[kind]:
            p.append(f"{where}: registryBaseUrl {pkg['registryBaseUrl']!r}")
        if "runtimeHint" in pkg and pkg["runtimeHint"] not in RUNTIME_HINTS[kind]:
            p.append(f"{where}: runtimeHint {pkg['runtimeHint']!r}")
    t = pkg.get("transport") or {}
    if t.get("type") not in {"stdio", "streamable-http", "sse"}:
        p.append(f"{where}: transport type {t.get('type')!r}")
    elif t["type"] == "stdio" and "url" in t:
        p.append(f"{where}: a stdio transport has no url")
    elif t["type"] != "stdio" and not re.match(r"^https?://[^/\s]+", str(t.get("url", ""))):
        p.append(f"{where}: http transports need a url")
    for i, arg in enumerate([*pkg.get("packageArguments", []), *pkg.get("runtimeArguments", [])]):
        p += _input_problems(f"{where} argument {i}", arg, ARGUMENT_KEYS)
        if arg.get("type") not in {"positional", "named"}:
            p.append(f"{where} argument {i}: type {arg.get('type')!r}")
        if arg.get("type") == "named" and not str(arg.get("name", "")).startswith("-"):
            p.append(f"{where} argument {i}: a named argument needs a -flag name")
        if arg.get("type") == "positional" and not (arg.get("value") or arg.get("valueHint")):
            p.append(f"{where} argument {i}: a positional argument needs value or valueHint")
    for ev in pkg.get("environmentVariables") or []:
        p += _input_problems(f"{where} env {ev.get('name')}", ev, INPUT_KEYS)
        if not ENV_NAME.match(ev.get("name", "")):
            p.append(f"bad environment variable {ev}")
    return p


def schema_problems(server: dict[str, Any]) -> list[str]:
    """Rule violations of one server.json object plus its ToolHive extension."""
    p: list[str] = []
    if set(server) - SERVER_KEYS:
        p.append(f"unknown server keys {sorted(set(server) - SERVER_KEYS)}")
    name = server.get("name", "")
    if not (3 <= len(name) <= 200 and NAME.match(name)):
        p.append(f"name {name!r} is not reverse-DNS namespace/name")
    desc = server.get("description", "")
    if not 1 <= len(desc) <= 100:
        p.append(f"description has {len(desc)} characters (1-100)")
    if "title" in server and not 1 <= len(server["title"]) <= 100:
        p.append("title must have 1-100 characters")
    version = str(server.get("version", ""))
    if not version or len(version) > 255 or RANGE.search(version):
        p.append(f"version {version!r} must be one specific version")
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
        p += _package_problems(pkg)
        keys.append(pkg.get("identifier", ""))
    for remote in remotes:
        if remote.get("type") not in {"streamable-http", "sse"}:
            p.append("remote needs type streamable-http or sse")
        if not str(remote.get("url", "")).startswith("https://"):
            p.append("remote url must be https")
        keys.append(remote.get("url", ""))
    ext_all = ((server.get("_meta") or {}).get(PUBLISHER_KEY) or {}).get(NAMESPACE) or {}
    for key, ext in ext_all.items():
        if key not in keys:
            p.append(f"_meta key {key!r} names no package or remote")
        if ext.get("tier") not in TIERS:
            p.append(f"tier {ext.get('tier')!r}")
        if str(ext.get("status", "")).lower() not in STATUSES:
            p.append(f"status {ext.get('status')!r}")
        tools = ext.get("tools") or []
        if not tools or len(set(tools)) != len(tools) or not all(tools):
            p.append("tools must be a non-empty list of distinct names")
        bad_tags = [t for t in ext.get("tags", []) if not TAG.match(t)]
        if bad_tags:
            p.append(f"tags {bad_tags} do not match {TAG.pattern}")
        if "permissions" in ext:
            PermissionProfile.model_validate(ext["permissions"]).check_mounts()
    return p


def catalog() -> dict[str, Any]:
    data = resources.files("toolhive_registry_catalog").joinpath("data/registry.json")
    return json.loads(data.read_text())


def servers() -> list[dict[str, Any]]:
    return catalog()["data"]["servers"]


def ext_of(server: dict[str, Any]) -> dict[str, Any]:
    return next(iter(server["_meta"][PUBLISHER_KEY][NAMESPACE].values()))


def short(server: dict[str, Any]) -> str:
    return server["name"].rsplit("/", 1)[1]


def test_every_entry_follows_the_schema_rules():
    doc = catalog()
    assert len(doc["data"]["servers"]) >= 25
    problems = {s.get("name"): schema_problems(s) for s in doc["data"]["servers"]}
    assert {k: v for k, v in problems.items() if v} == {}
    names = [s["name"] for s in doc["data"]["servers"]]
    assert len(set(names)) == len(names)
    assert len({n.rsplit("/", 1)[1] for n in names}) == len(names)  # short names are unique
    assert {n.rsplit("/", 1)[1] for n in names} >= WANTED
    assert all(s["$schema"] == SERVER_SCHEMA for s in doc["data"]["servers"])
    assert doc["meta"]["last_updated"].startswith(CHECKED)


def test_the_validator_catches_broken_entries():
    good = next(s for s in servers() if short(s) == "elasticsearch")
    assert schema_problems(good) == []
    bad = json.loads(json.dumps(good))
    bad["name"] = "no-namespace"
    bad["description"] = "x" * 101
    bad["version"] = "^1.2"
    bad["packages"][0]["transport"] = {"type": "websocket"}
    bad["packages"][0]["environmentVariables"] = [{"name": "A B", "isSecret": "yes"}]
    bad["packages"][0]["packageArguments"] = [{"type": "named", "name": "x"}]
    bad["packages"].append(
        {"registryType": "apt", "identifier": "x", "transport": {"type": "stdio"}}
    )
    bad["packages"].append({"registryType": "npm", "identifier": "y", "version": "latest",
                            "transport": {"type": "sse"}})  # fmt: skip
    bad["packages"].append(
        {"registryType": "oci", "identifier": "a/b", "transport": {"type": "stdio"}}
    )
    bad["remotes"] = [{"type": "sse", "url": "http://plain.example.com/sse"}]
    ext = ext_of(bad)
    ext.update(tags=["Bad Tag"], tier="Gold", tools=["a", "a"], status="retired")
    found = " | ".join(schema_problems(bad))
    for fragment in ("reverse-DNS", "101 characters", "'^1.2' must be one specific", "registryType",
                     "transport type", "bad environment variable", "not a boolean",
                     "-flag name", "'latest' must be one specific", "need a url", "no tag or digest",
                     "remote url must be https", "tags", "tier", "distinct names", "status"):  # fmt: skip
        assert fragment in found, fragment


def test_packages_and_facts_are_consistent():
    """What the offline test can check: every versioned package has its registry page among the
    sources at the same version, credentials are secrets, HTTP transports have ports, profiles make
    sense, all packages of an entry take the same environment variables."""
    problems: list[str] = []
    for s in servers():
        ext, name = ext_of(s), short(s)
        meta = ext.get("custom_metadata") or {}
        sources = meta.get("sources") or []
        if meta.get("facts_checked") != CHECKED or not sources:
            problems.append(f"{name}: no dated sources")
        for src in sources:
            if not src.get("fact") or not (
                str(src.get("url", "")).startswith("https://") or src.get("method")
            ):
                problems.append(f"{name}: source {src} needs a fact and an https url or a method")
        urls = {str(src.get("url", "")) for src in sources}
        env_sets = set()
        for pkg in s["packages"]:
            kind, ident, version = pkg["registryType"], pkg["identifier"], pkg.get("version")
            page = {
                "pypi": f"https://pypi.org/project/{ident}/{version}/",
                "npm": f"https://www.npmjs.com/package/{ident}/v/{version}",
            }.get(kind)
            if page and page not in urls:
                problems.append(f"{name}: registry page {page} is not among the sources")
            transport = pkg["transport"]
            if transport["type"] != "stdio" and not re.search(r":\d+/", transport["url"]):
                problems.append(f"{name}: {transport['type']} transport without a port")
            envs = pkg.get("environmentVariables") or []
            env_sets.add(tuple(e["name"] for e in envs))
            for e in envs:
                if SECRETISH.search(e["name"]) and not e.get("isSecret"):
                    problems.append(f"{name}: {e['name']} holds a credential but is not secret")
                if e.get("isRequired") and e.get("default"):
                    problems.append(f"{name}: {e['name']} is required but has a default")
        if len(env_sets) > 1:
            problems.append(f"{name}: packages take different environment variables")
        out = ((ext.get("permissions") or {}).get("network") or {}).get("outbound") or {}
        if out.get("allow_host"):
            if out.get("insecure_allow_all") or not out.get("allow_port"):
                problems.append(f"{name}: allowed hosts need ports and no allow-all")
            problems += [f"{name}: host {h!r}" for h in out["allow_host"] if not HOST.match(h)]
        if "permissions" not in ext:
            problems.append(f"{name}: no permission profile")
        if s["version"] not in {
            str(p.get("version") or p["identifier"].rsplit(":", 1)[-1].removeprefix("v"))
            for p in s["packages"]
        }:
            problems.append(f"{name}: version {s['version']} is no package's version")
    assert problems == []


def test_sources_table_in_docs_covers_every_entry(thv_repo_root):
    """docs/catalog-sources.md has one row per entry naming every package at its version."""
    text = (thv_repo_root / "docs" / "catalog-sources.md").read_text()
    rows = {
        m.group(1): line for line in text.splitlines() if (m := re.match(r"\| `([^`]+)`", line))
    }
    expected = {short(s) for s in servers()}
    assert set(rows) == expected
    for s in servers():
        row = rows[short(s)]
        for pkg in s["packages"]:
            ref = pkg["identifier"] + (f"@{pkg['version']}" if pkg.get("version") else "")
            assert ref in row, (short(s), ref)
        assert ext_of(s)["tools"] and str(len(ext_of(s)["tools"])) in row
    assert CHECKED in text


@pytest.fixture
def thv_repo_root():
    from pathlib import Path

    root = Path(__file__).resolve().parents[4]
    if not (root / "docs").is_dir():
        pytest.skip("not in a source tree")
    return root


@pytest.mark.parametrize("thv_plugins", [[plugin]])
def test_catalog_is_the_default_source(thv_hooks, thv_home):
    source = open_registry(thv_hooks)
    assert source.kind == "default" and "toolhive-registry-catalog" in source.location
    entries = source.list_servers()
    assert len(entries) == len(servers())
    github = resolve(source, "github")
    assert github is not None and github.image.startswith("ghcr.io/github/github-mcp-server:")
    token = next(v for v in github.env_vars if v.name == "GITHUB_PERSONAL_ACCESS_TOKEN")
    assert token.required and token.secret
    es = resolve(source, "elasticsearch")
    assert (es.transport, es.target_port, es.args, es.deprecated) == (
        "streamable-http",
        8080,
        ["http"],
        True,
    )
    assert resolve(source, "osv").transport == "sse" and resolve(source, "osv").target_port == 8080
    assert [e.short_name for e in source.search("KUBERNETES")] == ["k8s", "kyverno"]
    memory = resolve(source, "memory")
    assert [(v.name, v.required) for v in memory.env_vars] == [("MEMORY_FILE_PATH", False)]


@pytest.mark.parametrize("thv_plugins", [[plugin]])
def test_the_first_listed_package_is_what_thv_runs(thv_hooks, thv_home):
    """Entries list the package to run first: the pinned PyPI/npm release (it runs on every
    runtime, built into an image on an engine), or the image when only the image is complete."""
    source = open_registry(thv_hooks)
    time = resolve(source, "time")
    assert time.image == "uvx://mcp-server-time@2026.10.19" and time.tools == [
        "get_current_time",
        "convert_time",
    ]
    assert time.permissions == {"network": {"outbound": {"insecure_allow_all": False}}}
    fetch = resolve(source, "io.github.stacklok/fetch")
    assert (fetch.image, fetch.transport, fetch.tools) == (
        "uvx://mcp-server-fetch@2026.10.24",
        "stdio",
        ["fetch"],
    )
    fs = resolve(source, "filesystem")
    assert fs.image == "npx://@modelcontextprotocol/server-filesystem@2026.8.31" and fs.args == [
        "/projects"
    ]
    azure = resolve(source, "azure")
    assert azure.image == "npx://@azure/mcp@2.0.5" and azure.args == ["server", "start"]
    assert resolve(source, "playwright").image == "mcr.microsoft.com/playwright/mcp:latest"
    for entry in source.list_servers():
        raw = next(s for s in servers() if s["name"] == entry.name)
        first = raw["packages"][0]
        expected = {"pypi": "uvx://", "npm": "npx://"}.get(first["registryType"], "")
        assert entry.image.startswith(expected + first["identifier"]), entry.name
