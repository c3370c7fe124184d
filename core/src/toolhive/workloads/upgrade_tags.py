"""Is a registry's image newer than the one a workload runs? ToolHive's ``version.go``, decided
conservatively: anything that cannot be ordered with confidence is *undecidable* (with a reason),
never a guess.

* Images are compared by repository and tag. The repository is host-normalised the way
  go-containerregistry names it: no host means Docker Hub (``index.docker.io``, and ``docker.io``
  is the same host), whose one-component names live under ``library/``; no tag means ``latest``.
  A digest reference is not a tag and is undecidable.
* Different repositories, or ``latest`` on either side: undecidable.
* Two semantic versions (``1.2.3`` or ``v1.2.3``, Go's ``x/mod/semver`` rules, so ``v1.2`` is
  ``v1.2.0`` and pre-releases order before their release): newer, or same-or-older.
* Anything else: equal tags are the same; different ones are undecidable.

Packages (``uvx://pkg@1.2.3``, ``npx://@scope/pkg@1.2.3``, ``go://module@v1.2.3``) are this
project's addition: the scheme and package name play the repository, the version the tag (no
version is ``latest``). A package against an image is a different repository.
"""

from __future__ import annotations

import re
from enum import Enum

LATEST = "latest"
DOCKER_HUB = "index.docker.io"
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_REPO_CHARS = re.compile(r"^[a-z0-9_./-]+$")
_SEMVER = re.compile(
    r"^v(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?$"
)
_PACKAGE_SCHEMES = ("uvx://", "npx://", "go://")


class Comparison(Enum):
    SAME_OR_OLDER = "same-or-older"
    NEWER = "newer"
    UNDECIDABLE = "undecidable"


class UnparsableReference(ValueError):
    """An image or package reference this module cannot split into repository and tag."""


def _split_package(ref: str) -> tuple[str, str]:
    scheme, _, rest = ref.partition("://")
    # npm scopes start with "@": the version separator is the last "@" after the first character.
    at = rest.rfind("@", 1)
    name, version = (rest[:at], rest[at + 1 :]) if at > 0 else (rest, "")
    if not name:
        msg = f"reference {ref!r} names no package"
        raise UnparsableReference(msg)
    return f"{scheme}://{name}", version or LATEST


def split_repo_tag(ref: str) -> tuple[str, str]:
    """``(repository, tag)`` of an image or package reference, host-normalised."""
    ref = ref.strip()
    if ref.startswith(_PACKAGE_SCHEMES):
        return _split_package(ref)
    if not ref or "://" in ref:
        msg = f"{ref!r} is not an image reference"
        raise UnparsableReference(msg)
    if "@" in ref:
        msg = f"reference {ref!r} is not a tag"
        raise UnparsableReference(msg)
    name, tag = ref, LATEST
    slash, colon = ref.rfind("/"), ref.rfind(":")
    if colon > slash:
        name, tag = ref[:colon], ref[colon + 1 :]
        if not _TAG.match(tag):
            msg = f"{tag!r} is not a valid tag"
            raise UnparsableReference(msg)
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = DOCKER_HUB, name
    if host == "docker.io":
        host = DOCKER_HUB
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not path or not _REPO_CHARS.match(path) or "//" in path or path.endswith("/"):
        msg = f"{name!r} is not a valid repository name"
        raise UnparsableReference(msg)
    return f"{host}/{path}", tag


def normalize_semver(tag: str) -> str:
    """``1.2.3`` → ``v1.2.3``, ``V1.2.3`` → ``v1.2.3`` (``x/mod/semver`` wants a lower-case v)."""
    if tag[:1] == "V":
        return "v" + tag[1:]
    if tag[:1].isdigit():
        return "v" + tag
    return tag


#: (major, minor, patch) and the pre-release identifiers (``None``: a release).
SemverKey = tuple[tuple[int, int, int], list[tuple[int, int, str]] | None]


def _semver_key(tag: str) -> SemverKey | None:
    match = _SEMVER.match(normalize_semver(tag))
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    identifiers = None
    if pre is not None:
        identifiers = []
        for part in pre.split("."):
            if part.isdigit():
                if len(part) > 1 and part.startswith("0"):
                    return None  # semver forbids leading zeros in numeric identifiers
                identifiers.append((0, int(part), ""))
            else:
                identifiers.append((1, 0, part))
    return (int(major), int(minor or 0), int(patch or 0)), identifiers


def _older(current: SemverKey, candidate: SemverKey) -> bool:
    """Semantic-version order; a release is newer than its pre-releases."""
    if current[0] != candidate[0]:
        return current[0] < candidate[0]
    cur_pre, cand_pre = current[1], candidate[1]
    if cur_pre is None:
        return False
    if cand_pre is None:
        return True
    return cur_pre < cand_pre


def compare_images(current: str, candidate: str) -> tuple[Comparison, str]:
    """Whether ``candidate`` is an upgrade of ``current``, and why not when undecidable."""
    try:
        cur_repo, cur_tag = split_repo_tag(current)
    except UnparsableReference as exc:
        return Comparison.UNDECIDABLE, f"cannot parse current image {current!r}: {exc}"
    try:
        cand_repo, cand_tag = split_repo_tag(candidate)
    except UnparsableReference as exc:
        return Comparison.UNDECIDABLE, f"cannot parse candidate image {candidate!r}: {exc}"
    if cur_repo != cand_repo:
        return (
            Comparison.UNDECIDABLE,
            f"repository differs: current {cur_repo!r} vs candidate {cand_repo!r}",
        )
    if LATEST in (cur_tag, cand_tag):
        return (
            Comparison.UNDECIDABLE,
            'image uses the "latest" tag, which defers to the registry and cannot be ordered',
        )
    cur_key, cand_key = _semver_key(cur_tag), _semver_key(cand_tag)
    if cur_key is not None and cand_key is not None:
        newer = _older(cur_key, cand_key)
        return (Comparison.NEWER if newer else Comparison.SAME_OR_OLDER), ""
    if cur_tag == cand_tag:
        return Comparison.SAME_OR_OLDER, ""
    return (
        Comparison.UNDECIDABLE,
        f"tags are not comparable: current {cur_tag!r} vs candidate {cand_tag!r}",
    )
