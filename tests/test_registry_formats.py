"""Registry formats and resolution: upstream ↔ legacy, package-type mapping, lookup, `thv run`
option resolution (env prompting, one error for every missing variable, flags win)."""

from __future__ import annotations

import pytest
from toolhive.contracts.registry_data import DocumentSource
from toolhive.errors import InvalidInputError
from toolhive.registry.errors import AmbiguousServerError, RegistryError
from toolhive.registry.lookup import find, search
from toolhive.registry.models import ImageMetadata, Registry, RemoteServerMetadata
from toolhive.registry.run import apply_entry, is_registry_candidate
from toolhive.registry.upstream import (
    PUBLISHER_KEY,
    parse_document,
    parse_legacy,
    registry_to_upstream,
    server_to_entry,
)
from toolhive.workloads.request import RunRequest
from toolhive.workloads.runconfig_builder import build_runconfig

LEGACY = {
    "version": "1.2.0",
    "last_updated": "2025-06-01T00:00:00Z",
    "servers": {
        "fetch": {
            "image": "ghcr.io/stackloklabs/gofetch/server:0.0.4",
            "description": "Fetch pages",
            "transport": "streamable-http",
            "target_port": 8080,
            "tier": "Community",
            "status": "Active",
            "tools": ["fetch"],
            "tags": ["web"],
            "args": ["--verbose"],
            "permissions": {
                "network": {"outbound": {"allow_port": [443], "insecure_allow_all": True}}
            },
            "env_vars": [{"name": "TOKEN", "description": "t", "required": True, "secret": True}],
            "metadata": {"stars": 16, "pulls": 3, "last_updated": "2025-06-01T00:00:00Z"},
            "repository_url": "https://github.com/stackloklabs/gofetch",
        },
        "time": {
            "image": "uvx://mcp-server-time@2025.8.4",
            "description": "Time",
            "tools": ["get_current_time"],
        },
        "everything": {
            "image": "npx://@modelcontextprotocol/server-everything@2025.9.12",
            "description": "All",
        },
    },
    "remote_servers": {
        "notion-remote": {
            "url": "https://mcp.notion.com/mcp",
            "description": "Notion, hosted",
            "transport": "streamable-http",
            "headers": [{"name": "X-Key", "required": True, "secret": True, "choices": ["a", "b"]}],
            "oauth_config": {"issuer": "https://auth.example", "scopes": ["read"]},
        }
    },
}


def test_legacy_round_trip_keeps_every_field():
    legacy = parse_legacy(LEGACY, "legacy")
    doc = registry_to_upstream(legacy)
    assert doc["version"] == "1.2.0" and doc["meta"]["last_updated"] == "2025-06-01T00:00:00Z"
    back = parse_document(doc, "converted")
    assert sorted(back.servers) == [
        "io.github.stacklok/everything",
        "io.github.stacklok/fetch",
        "io.github.stacklok/time",
    ]
    for key, old in legacy.servers.items():
        new = back.servers[f"io.github.stacklok/{key}"]
        assert new.model_dump(exclude={"name"}) == old.model_dump(exclude={"name"}), key
    remote = back.remote_servers["io.github.stacklok/notion-remote"]
    assert remote.model_dump(exclude={"name"}) == legacy.remote_servers["notion-remote"].model_dump(
        exclude={"name"}
    )


def test_package_types_map_to_schemes():
    doc = registry_to_upstream(parse_legacy(LEGACY, "legacy"))
    by_name = {s["name"].rsplit("/", 1)[1]: s for s in doc["data"]["servers"]}
    time_pkg = by_name["time"]["packages"][0]
    assert time_pkg == {
        "registryType": "pypi",
        "identifier": "mcp-server-time",
        "version": "2025.8.4",
        "transport": {"type": "stdio"},
    }
    ev_pkg = by_name["everything"]["packages"][0]
    assert (ev_pkg["registryType"], ev_pkg["identifier"], ev_pkg["version"]) == (
        "npm",
        "@modelcontextprotocol/server-everything",
        "2025.9.12",
    )
    fetch_pkg = by_name["fetch"]["packages"][0]
    assert fetch_pkg["transport"] == {"type": "streamable-http", "url": "http://localhost:8080"}
    assert fetch_pkg["environmentVariables"] == [
        {"name": "TOKEN", "description": "t", "isRequired": True, "isSecret": True}
    ]
    assert by_name["notion-remote"]["remotes"][0]["headers"][0]["choices"] == ["a", "b"]
    # docker is an image type too; the target port comes from the transport URL.
    entry = server_to_entry({
        "name": "com.example/d", "description": "d", "version": "1",
        "packages": [{"registryType": "docker", "identifier": "docker.io/x/y:1",
                      "transport": {"type": "sse", "url": "http://localhost:9000/sse"}}],
    })  # fmt: skip
    assert isinstance(entry, ImageMetadata) and (
        entry.image,
        entry.transport,
        entry.target_port,
    ) == ("docker.io/x/y:1", "sse", 9000)


def test_remote_entries_carry_headers_and_oauth():
    entry = server_to_entry({
        "name": "com.example/r", "description": "r", "version": "1",
        "remotes": [{"type": "sse", "url": "https://r.example/sse",
                     "headers": [{"name": "Authorization", "isRequired": True, "isSecret": True}]}],
        "_meta": {PUBLISHER_KEY: {"io.github.stacklok": {"https://r.example/sse": {
            "tier": "Partner", "oauth_config": {"issuer": "https://id.example", "use_pkce": True}}}}},
    })  # fmt: skip
    assert isinstance(entry, RemoteServerMetadata)
    assert entry.server_type == "remote" and entry.tier == "Partner"
    assert entry.headers[0].secret and entry.oauth_config.issuer == "https://id.example"


def test_documents_that_are_not_registries():
    with pytest.raises(
        RegistryError, match=r"legacy ToolHive registry format.*convert --in f.json --in-place"
    ):
        parse_document(LEGACY, "registry file f.json", "f.json")
    with pytest.raises(RegistryError, match="not an MCP registry document"):
        parse_document([], "x")
    with pytest.raises(RegistryError, match=r"data.servers\[0\]: server 'a/b' has neither"):
        parse_document({"data": {"servers": [{"name": "a/b", "description": "x"}]}}, "x")


def entries():
    return [
        ImageMetadata(
            name="io.github.stacklok/fetch", image="a:1", description="Fetch the web", tags=["http"]
        ),
        ImageMetadata(name="com.example/fetch", image="b:1", description="Other fetcher"),
        ImageMetadata(name="io.github.stacklok/time", image="c:1", description="Clock"),
    ]


def test_lookup_full_short_and_ambiguous():
    assert find(entries(), "io.github.stacklok/fetch").image == "a:1"
    assert find(entries(), "time").image == "c:1"
    assert find(entries(), "nope") is None and find(entries(), "x/time") is None
    with pytest.raises(AmbiguousServerError) as err:
        find(entries(), "fetch")
    assert "com.example/fetch, io.github.stacklok/fetch" in str(err.value)


def test_search_matches_name_description_tags_case_insensitively():
    assert [e.image for e in search(entries(), "CLOCK")] == ["c:1"]
    assert [e.image for e in search(entries(), "http")] == ["a:1"]
    assert len(search(entries(), "fetch")) == 2
    assert search(entries(), "github") == []  # the namespace alone does not match
    assert [e.image for e in search(entries(), "io.github")] == ["a:1", "c:1"]


@pytest.mark.parametrize(
    ("target", "candidate"),
    [("fetch", True), ("io.github.stacklok/fetch", True), ("mcp/time", True),
     ("localhost/a/b", False), ("image:1", False), ("x@sha256:ab", False), ("uvx://p", False),
     ("https://h/mcp", False), ("./srv", False), ("/usr/bin/python3", False)],
)  # fmt: skip
def test_registry_candidates(target, candidate):
    assert is_registry_candidate(target) is candidate


def source(*items) -> DocumentSource:
    reg = Registry(servers={e.name: e for e in items})
    return DocumentSource(kind="file", location="/r.json", read=lambda: reg)


GH = ImageMetadata(
    name="io.github.stacklok/gh",
    image="ghcr.io/github/github-mcp-server:v1",
    transport="stdio",
    args=["stdio"],
    permissions={"network": {"outbound": {"allow_host": [".github.com"], "allow_port": [443]}}},
    env_vars=[
        {"name": "TOKEN", "required": True, "secret": True, "description": "PAT"},
        {"name": "ORG", "required": True},
        {"name": "HOST", "default": "github.com"},
        {"name": "OPTIONAL"},
    ],
)


def test_missing_required_env_is_one_error_naming_all():
    with pytest.raises(InvalidInputError) as err:
        apply_entry(RunRequest(image="gh"), GH, source(GH))
    assert "needs environment variables TOKEN (secret), ORG:" in str(err.value)


def test_prompted_env_and_entry_defaults():
    asked: list[tuple[str, bool]] = []

    def prompt(label: str, secret: bool) -> str:
        asked.append((label, secret))
        return "v-" + label.split()[0]

    stored: dict[str, str] = {}

    def store(var: str, value: str) -> str:
        stored[f"gh-{var}"] = value
        return f"gh-{var}"

    request, origin = apply_entry(
        RunRequest(image="gh", env_vars={"ORG": "acme"}),
        GH,
        source(GH),
        prompt=prompt,
        store_secret=store,
    )
    assert asked == [("TOKEN (PAT)", True)]  # only what is missing; secret ones hidden
    config = build_runconfig(request, origin)
    # The secret goes to the secrets provider; the RunConfig holds only a reference.
    assert config.env_vars == {"ORG": "acme", "HOST": "github.com"}
    assert config.secrets == ["gh-TOKEN,target=TOKEN"] and stored == {"gh-TOKEN": "v-TOKEN"}
    assert "v-TOKEN" not in config.to_json()
    assert (config.name, config.image, config.cmd_args, config.transport) == (
        "gh",
        GH.image,
        ["stdio"],
        "stdio",
    )
    assert (
        config.registry_server_name == "io.github.stacklok/gh" and config.registry_url == "/r.json"
    )
    assert config.permission_profile.network.outbound.allow_host == [".github.com"]
    assert config.permission_profile_name_or_path == "registry"


def test_flags_override_the_entry():
    request = RunRequest(
        image="gh", name="mine", transport="sse", target_port=9000, cmd_arguments=["--x"],
        env_vars={"TOKEN": "t", "ORG": "o"}, permission_profile="none",
    )  # fmt: skip
    config = build_runconfig(*apply_entry(request, GH, source(GH)))
    assert (config.name, config.transport, config.target_port, config.cmd_args) == (
        "mine",
        "sse",
        9000,
        ["--x"],
    )
    assert config.permission_profile_name_or_path == "none"
    assert not config.permission_profile.network_enabled
