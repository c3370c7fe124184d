"""The generated CRDs: committed files up to date, structural schemas, Go's names and fields."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from toolhive_runtime_kubernetes.crd import ALL_KINDS, MCPServer
from toolhive_runtime_kubernetes.crd.common import GROUP, CustomResource
from toolhive_runtime_kubernetes.crd.generate import crd, file_name, main, manifests
from toolhive_runtime_kubernetes.crd.structural import (
    SchemaError,
    structural_errors,
    to_structural,
)

REPO = Path(__file__).resolve().parents[4]
CRD_DIR = REPO / "deploy" / "crds"
# ToolHive's Go repository (a git dir), for comparing our CRDs with its generated ones.
GO_REPO = Path(os.environ.get("TOOLHIVE_GO_REPO", "/work/.mirror/stacklok+toolhive/repo"))


def test_committed_crds_are_what_the_models_generate() -> None:
    files = manifests()
    committed = {p.name for p in CRD_DIR.glob("*.yaml")}
    assert committed == set(files), "run python -m toolhive_runtime_kubernetes.crd.generate"
    for name, text in files.items():
        assert (CRD_DIR / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: run python -m toolhive_runtime_kubernetes.crd.generate"
        )


def test_check_mode_notices_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--out", str(tmp_path), "--check"]) == 0
    target = tmp_path / file_name(MCPServer)
    target.write_text(target.read_text().replace("proxyPort", "proxyport"))
    (tmp_path / f"{GROUP}_leftovers.yaml").write_text("{}")
    assert main(["--out", str(tmp_path), "--check"]) == 1
    out = capsys.readouterr().out
    assert file_name(MCPServer) in out and "leftovers" in out


@pytest.mark.parametrize("model", ALL_KINDS, ids=lambda m: m.__name__)
def test_committed_schema_is_structural(model: type[CustomResource]) -> None:
    document = yaml.safe_load((CRD_DIR / file_name(model)).read_text(encoding="utf-8"))
    (version,) = document["spec"]["versions"]
    assert version["name"] == "v1beta1" and version["storage"] and version["served"]
    assert version["subresources"] == {"status": {}}
    assert document["spec"]["scope"] == "Namespaced"
    schema = version["schema"]["openAPIV3Schema"]
    assert structural_errors(schema) == []
    assert "$ref" not in str(schema) and "anyOf" not in str(schema)


def test_free_form_parts_preserve_unknown_fields() -> None:
    spec = crd(MCPServer)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    pod = spec["properties"]["podTemplateSpec"]
    assert pod == {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "description": pod["description"],
    }
    assert spec["properties"]["transport"]["enum"] == ["stdio", "streamable-http", "sse"]
    assert spec["properties"]["proxyPort"]["default"] == 8080
    assert spec["required"] == ["image"]
    # Optional fields are simply not required; nothing is nullable.
    assert "nullable" not in str(spec)


@pytest.mark.parametrize(
    ("schema", "complaint"),
    [
        ({"type": "object", "properties": {"a": {}}}, "/a: no type"),
        ({"type": "object", "properties": {"a": {"$ref": "#/x"}}}, "'$ref' not allowed"),
        (
            {"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}},
            "'anyOf' not allowed",
        ),
        ({"type": "object", "additionalProperties": True}, "must be a schema"),
        (
            {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
            "properties and additionalProperties together",
        ),
        ({"type": "array"}, "array without items"),
        ({"type": "object", "required": ["x"]}, "required 'x' is not a property"),
        ({"type": "string", "enum": ["a", 1]}, "enum values are not all string"),
        ({"type": "null"}, "unknown type"),
        ({"type": "string", "const": "a"}, "'const' not allowed"),
    ],
)
def test_checker_finds_non_structural_schemas(schema: dict[str, Any], complaint: str) -> None:
    errors = structural_errors(schema)
    assert any(complaint in e for e in errors), errors


def test_untyped_union_cannot_become_a_crd() -> None:
    class Bad(BaseModel):
        value: int | str

    with pytest.raises(SchemaError, match="/value: a union of 2 types"):
        to_structural(Bad.model_json_schema())


def test_pydantic_constructs_are_rewritten() -> None:
    from typing import Literal

    class Inner(BaseModel):
        x: int = 1

    class Outer(BaseModel):
        inner: Inner | None = None
        only: Literal["a"] = "a"
        tags: dict[str, str] | None = None

    schema = to_structural(Outer.model_json_schema())
    assert schema["properties"]["inner"]["properties"]["x"] == {"type": "integer", "default": 1}
    assert schema["properties"]["only"] == {"type": "string", "enum": ["a"], "default": "a"}
    assert schema["properties"]["tags"]["additionalProperties"] == {"type": "string"}
    assert structural_errors(schema) == []


# --- the same facts as ToolHive's own CRDs ------------------------------------------------------


# What our CRDs are compared with: ToolHive's v1beta1 CRDs (names, columns, subresources, schema
# without descriptions and CEL rules), pruned where our model is free-form. Committed, so the
# comparison runs everywhere; checked against ToolHive's repository when it is at hand
# (TOOLHIVE_UPDATE_GO_FACTS=1 rewrites it from there).
GO_FACTS = Path(__file__).parent / "fixtures" / "crs" / "go-crd-facts.yaml"


def _strip(node: Any, ours: Any) -> Any:
    if isinstance(node, list):
        return [_strip(x, ours) for x in node]
    if not isinstance(node, dict):
        return node
    ours = ours if isinstance(ours, dict) else {}
    if ours.get("x-kubernetes-preserve-unknown-fields") and "properties" in node:
        return {"type": node.get("type"), "x-kubernetes-preserve-unknown-fields": True}
    out = {}
    for key, value in node.items():
        if key in ("description", "x-kubernetes-validations"):
            continue
        if key == "properties":
            theirs = ours.get("properties", {})
            out[key] = {k: _strip(v, theirs.get(k)) for k, v in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = _strip(value, ours.get(key))
        else:
            out[key] = value
    return out


def _go_facts_from_repo() -> dict[str, Any]:
    if not (GO_REPO / "HEAD").is_file():
        pytest.skip(f"ToolHive's Go repository is not at {GO_REPO} (TOOLHIVE_GO_REPO)")
    facts = {}
    for model in ALL_KINDS:
        path = f"HEAD:deploy/charts/operator-crds/files/crds/{GROUP}_{model.crd.plural}.yaml"
        text = subprocess.run(
            ["git", "-C", str(GO_REPO), "show", path], capture_output=True, text=True, check=True
        ).stdout
        document = yaml.safe_load(text)
        (version,) = [v for v in document["spec"]["versions"] if v["name"] == "v1beta1"]
        ours = crd(model)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        facts[model.crd.plural] = {
            "names": document["spec"]["names"],
            "additionalPrinterColumns": version["additionalPrinterColumns"],
            "subresources": version["subresources"],
            "openAPIV3Schema": _strip(version["schema"]["openAPIV3Schema"], ours),
        }
    return facts


def _go_facts() -> dict[str, Any]:
    facts: dict[str, Any] = yaml.safe_load(GO_FACTS.read_text(encoding="utf-8"))
    return facts


def test_go_facts_snapshot_is_current() -> None:
    facts = _go_facts_from_repo()
    if os.environ.get("TOOLHIVE_UPDATE_GO_FACTS") == "1":
        commit = subprocess.run(
            ["git", "-C", str(GO_REPO), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        header = (
            f"# ToolHive's v1beta1 CRDs at stacklok/toolhive {commit}, see test_crd_generate.py\n"
        )
        GO_FACTS.write_text(header + yaml.safe_dump(facts, sort_keys=True, width=100))
    assert _go_facts() == facts, "TOOLHIVE_UPDATE_GO_FACTS=1 pytest -k go_facts rewrites it"


def _differences(go: dict[str, Any], ours: dict[str, Any], path: str = "") -> list[str]:
    """Where our schema disagrees with Go's on fields, types, enums, defaults, limits, required."""
    if ours.get("x-kubernetes-preserve-unknown-fields"):
        return []  # free-form on our side: Go's structure below it is not modelled
    out = []
    limits = ("minimum", "maximum", "pattern", "minLength", "maxLength", "minItems", "maxItems")
    for key in ("type", "enum", "default", "format", *limits):
        if key == "default" and go.get(key) == "" and key not in ours:
            continue  # Kubernetes 1.20 refuses an empty-string default; absent means the same
        if go.get(key) != ours.get(key):
            out.append(f"{path or '/'}: {key} Go {go.get(key)!r}, ours {ours.get(key)!r}")
    if set(go.get("required", [])) != set(ours.get("required", [])) and path:
        out.append(f"{path}: required Go {go.get('required')}, ours {ours.get('required')}")
    go_props, our_props = go.get("properties", {}), ours.get("properties", {})
    out += [f"{path}/{n}: missing" for n in go_props if n not in our_props]
    out += [f"{path}/{n}: not in Go's" for n in our_props if n not in go_props]
    for name in go_props.keys() & our_props.keys():
        out += _differences(go_props[name], our_props[name], f"{path}/{name}")
    for key, suffix in (("items", "[]"), ("additionalProperties", "{}")):
        if isinstance(go.get(key), dict):
            out += _differences(go[key], ours.get(key) or {}, path + suffix)
    return out


@pytest.mark.parametrize("model", ALL_KINDS, ids=lambda m: m.__name__)
def test_same_names_columns_and_fields_as_go(model: type[CustomResource]) -> None:
    go = _go_facts()[model.crd.plural]
    ours = crd(model)
    assert ours["spec"]["names"] == go["names"]
    (our_version,) = ours["spec"]["versions"]
    assert our_version["additionalPrinterColumns"] == go["additionalPrinterColumns"]
    assert our_version["subresources"] == go["subresources"]
    differences = _differences(go["openAPIV3Schema"], our_version["schema"]["openAPIV3Schema"])
    assert differences == []


def test_the_comparison_notices_a_difference() -> None:
    go = _go_facts()["mcpservers"]["openAPIV3Schema"]
    ours = crd(MCPServer)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    ours["properties"]["spec"]["properties"]["proxyPort"]["default"] = 8000
    del ours["properties"]["spec"]["properties"]["trustProxyHeaders"]
    differences = _differences(go, ours)
    assert "/spec/proxyPort: default Go 8080, ours 8000" in differences
    assert "/spec/trustProxyHeaders: missing" in differences


def test_module_runs_as_documented() -> None:
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "toolhive_runtime_kubernetes.crd.generate", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
