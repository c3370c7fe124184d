"""The committed OpenAPI document (docs/api/openapi.json) is what the code generates and what a
running ``thv serve --openapi`` serves; docs/api.md's endpoint tables are rendered from it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from toolhive.testing.api import api_server

REPO = Path(__file__).resolve().parents[1]
FIX = "run `uv run python scripts/openapi.py` and commit docs/api/openapi.json and docs/api.md"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("openapi_script", REPO / "scripts" / "openapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = _script()


def test_the_committed_document_is_what_the_code_generates() -> None:
    committed = script.DOCUMENT.read_text()
    assert committed == script.document_text(), f"docs/api/openapi.json is out of date: {FIX}"


def test_the_document_is_openapi_3_1_with_an_operation_id_for_every_operation() -> None:
    document = json.loads(script.DOCUMENT.read_text())
    assert document["openapi"].startswith("3.1.")
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_the_endpoint_tables_in_docs_api_md_are_rendered_from_the_document() -> None:
    current = script.API_MD.read_text()
    wanted = script.render_api_md(current, json.loads(script.DOCUMENT.read_text()))
    assert current == wanted, f"docs/api.md's endpoint tables are out of date: {FIX}"


def test_every_path_and_method_of_the_document_is_in_docs_api_md() -> None:
    page = script.API_MD.read_text()
    document = json.loads(script.DOCUMENT.read_text())
    missing = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
        if f"| `{method.upper()}` | `{path}` |" not in page
    ]
    assert missing == [], f"docs/api.md does not list {missing}: {FIX}"


def test_a_running_server_serves_the_committed_document() -> None:
    committed = json.loads(script.DOCUMENT.read_text())
    with api_server(openapi=True) as api:
        served = api.client.get("/api/openapi.json")
        assert served.status_code == 200, served.text
        assert served.headers["content-type"].startswith("application/json")
        assert served.json() == committed, f"thv serve serves another document: {FIX}"
        page = api.client.get("/api/doc")
        assert page.status_code == 200
        for path in committed["paths"]:
            assert path in page.text.replace("&#x27;", "'"), f"/api/doc does not list {path}"


def test_without_openapi_the_document_is_not_served() -> None:
    with api_server() as api:
        assert api.client.get("/api/openapi.json").status_code == 404


def test_every_thv_serve_flag_is_in_docs_api_md() -> None:
    from toolhive.cli.serve_cmd import serve

    page = script.API_MD.read_text()
    flags = [opt for param in serve.params for opt in param.opts if opt.startswith("--")]
    assert flags, "thv serve has no flags?"
    missing = [flag for flag in flags if f"`{flag}`" not in page]
    assert missing == [], f"docs/api.md does not describe {missing}"
