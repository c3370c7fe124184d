"""Image and package tag comparison for upgrade checks (ToolHive's ``version.go`` rules)."""

from __future__ import annotations

import pytest
from toolhive.workloads.upgrade_tags import Comparison, compare_images, split_repo_tag

NEWER, SAME, UNDECIDABLE = Comparison.NEWER, Comparison.SAME_OR_OLDER, Comparison.UNDECIDABLE


@pytest.mark.parametrize(
    ("ref", "repo", "tag"),
    [
        ("nginx", "index.docker.io/library/nginx", "latest"),
        ("nginx:1.25", "index.docker.io/library/nginx", "1.25"),
        ("docker.io/nginx:1", "index.docker.io/library/nginx", "1"),
        ("docker.io/library/nginx:1", "index.docker.io/library/nginx", "1"),
        ("stacklok/fetch:2", "index.docker.io/stacklok/fetch", "2"),
        ("ghcr.io/stacklok/dockyard/fetch:0.0.3", "ghcr.io/stacklok/dockyard/fetch", "0.0.3"),
        ("localhost:5000/team/img:v1", "localhost:5000/team/img", "v1"),
        ("localhost/toolhive-test/mcp-servers:1.0.0", "localhost/toolhive-test/mcp-servers", "1.0.0"),
        ("uvx://mcp-server-time@2026.10.19", "uvx://mcp-server-time", "2026.10.19"),
        ("npx://@modelcontextprotocol/server-everything@2025.9.12",
         "npx://@modelcontextprotocol/server-everything", "2025.9.12"),
        ("npx://@scope/pkg", "npx://@scope/pkg", "latest"),
        ("go://github.com/a/b@v1.2.3", "go://github.com/a/b", "v1.2.3"),
    ],
)  # fmt: skip
def test_references_split_into_a_host_normalised_repository_and_a_tag(ref, repo, tag):
    assert split_repo_tag(ref) == (repo, tag)


@pytest.mark.parametrize(
    ("current", "candidate", "expected"),
    [
        ("nginx:1.0.0", "docker.io/library/nginx:1.1.0", NEWER),
        ("index.docker.io/library/nginx:v1.2.0", "nginx:1.2.0", SAME),
        ("ghcr.io/a/b:1.2.0", "ghcr.io/a/b:1.1.0", SAME),
        ("ghcr.io/a/b:1.9.0", "ghcr.io/a/b:1.10.0", NEWER),
        ("ghcr.io/a/b:V1.2.0", "ghcr.io/a/b:V1.3.0", NEWER),
        ("ghcr.io/a/b:v1.2", "ghcr.io/a/b:v1.2.1", NEWER),
        ("ghcr.io/a/b:v1", "ghcr.io/a/b:1.0.0", SAME),
        ("ghcr.io/a/b:1.0.0-rc.1", "ghcr.io/a/b:1.0.0", NEWER),
        ("ghcr.io/a/b:1.0.0", "ghcr.io/a/b:1.0.0-rc.1", SAME),
        ("ghcr.io/a/b:1.0.0-alpha", "ghcr.io/a/b:1.0.0-alpha.1", NEWER),
        ("ghcr.io/a/b:1.0.0-alpha.2", "ghcr.io/a/b:1.0.0-alpha.10", NEWER),
        ("ghcr.io/a/b:1.0.0-1", "ghcr.io/a/b:1.0.0-alpha", NEWER),
        ("ghcr.io/a/b:1.0.0-beta", "ghcr.io/a/b:1.0.0-alpha", SAME),
        ("uvx://pkg@1.0.0+build.1", "uvx://pkg@1.0.0+build.2", SAME),
        ("ghcr.io/a/b:stable", "ghcr.io/a/b:stable", SAME),
        ("localhost:5000/a:1.0.0", "localhost:5000/a:1.1.0", NEWER),
        ("uvx://mcp-server-time@2026.10.10", "uvx://mcp-server-time@2026.10.19", NEWER),
        ("npx://@scope/pkg@1.0.0", "npx://@scope/pkg@1.2.0", NEWER),
        ("go://github.com/a/b@v1.3.0", "go://github.com/a/b@v1.2.9", SAME),
    ],
)
def test_tags_are_ordered_as_semantic_versions_or_matched_exactly(current, candidate, expected):
    comparison, reason = compare_images(current, candidate)
    assert (comparison, reason) == (expected, "")


@pytest.mark.parametrize(
    ("current", "candidate", "why"),
    [
        ("ghcr.io/a/b:1.2.0", "ghcr.io/a/c:1.3.0", "repository differs"),
        ("ghcr.io/a/b:1.2.0", "docker.io/a/b:1.3.0", "repository differs"),
        ("ghcr.io/a/b", "ghcr.io/a/b:1.0.0", '"latest" tag'),
        ("ghcr.io/a/b:1.0.0", "ghcr.io/a/b:latest", '"latest" tag'),
        ("ghcr.io/a/b:2024-01", "ghcr.io/a/b:2024-02", "tags are not comparable"),
        ("ghcr.io/a/b:1.01.0", "ghcr.io/a/b:1.2.0", "tags are not comparable"),
        ("ghcr.io/a/b:1.0.0-01", "ghcr.io/a/b:1.0.0", "tags are not comparable"),
        ("ghcr.io/a/b@sha256:" + "a" * 64, "ghcr.io/a/b:1.0.0", "is not a tag"),
        ("ghcr.io/A/b:1.0.0", "ghcr.io/a/b:1.1.0", "cannot parse current image"),
        ("ghcr.io/a/b:1.0.0", "", "cannot parse candidate image"),
        ("ghcr.io/a/b:1.0.0", "ghcr.io/a/b:1.0.0+build", "not a valid tag"),
        ("uvx://a@1.0.0", "npx://a@2.0.0", "repository differs"),
        ("uvx://a", "uvx://a@1.0.0", '"latest" tag'),
        ("ghcr.io/a/b:1.0.0", "uvx://b@2.0.0", "repository differs"),
    ],
)
def test_what_cannot_be_ordered_is_undecidable_with_a_reason(current, candidate, why):
    comparison, reason = compare_images(current, candidate)
    assert comparison is UNDECIDABLE
    assert why in reason
