"""`thv search`, `thv registry list|info|convert`, `thv config *-registry` and `thv run <registry
name>` errors, through the real `thv` in a temporary home (built-in catalog and local files)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Thv
from tests.test_registry_formats import LEGACY
from tests.test_run_errors import one_line_error, state_files


def test_registry_list_text_and_json(thv: Thv):
    text = thv("registry", "list").stdout.splitlines()
    assert text[0].split() == ["NAME", "TYPE", "DESCRIPTION", "TIER", "STARS"]
    assert len(text) >= 26 and any(line.startswith("io.github.stacklok/fetch ") for line in text)
    assert any("[deprecated]" in line for line in text)
    data = json.loads(thv("registry", "list", "--format", "json").stdout)
    assert len(data) == len(text) - 1
    time = next(e for e in data if e["name"] == "io.github.stacklok/time")
    assert time["type"] == "container" and time["tools"] == ["get_current_time", "convert_time"]


def test_registry_info_text_and_json(thv: Thv):
    text = thv("registry", "info", "github").stdout
    assert "Name:         io.github.stacklok/github" in text
    assert "GITHUB_PERSONAL_ACCESS_TOKEN (required, secret)" in text
    data = json.loads(thv("registry", "info", "io.github.stacklok/osv", "--format", "json").stdout)
    assert data["transport"] == "sse" and data["permissions"]["network"]["outbound"][
        "allow_host"
    ] == ["api.osv.dev"]
    one_line_error(
        thv("registry", "info", "no-such-server", check=False), "thv search no-such-server"
    )


def test_search_text_and_json(thv: Thv):
    text = thv("search", "KUBERNETES").stdout.splitlines()
    assert text[0].split() == ["NAME", "TYPE", "DESCRIPTION", "TRANSPORT", "STARS"]
    assert [line.split()[0] for line in text[1:]] == [
        "io.github.stacklok/k8s",
        "io.github.stacklok/kyverno",
    ]
    data = json.loads(thv("search", "vulnerab", "--format", "json").stdout)
    assert {e["name"] for e in data} >= {"io.github.stacklok/osv"}
    assert "No servers found" in thv("search", "zzz-nothing").stdout


def test_convert_round_trip(thv: Thv, tmp_path: Path):
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps(LEGACY))
    out = tmp_path / "upstream.json"
    thv("registry", "convert", "--in", str(legacy), "--out", str(out))
    doc = json.loads(out.read_text())
    assert len(doc["data"]["servers"]) == 4
    # in place, with a backup; a second run says there is nothing to do
    inplace = tmp_path / "inplace.json"
    inplace.write_text(json.dumps(LEGACY))
    thv("registry", "convert", "--in", str(inplace), "--in-place")
    assert json.loads((tmp_path / "inplace.json.bak").read_text()) == LEGACY
    assert json.loads(inplace.read_text()) == doc
    again = thv("registry", "convert", "--in", str(inplace), "--in-place")
    assert "already in the upstream format" in again.stderr
    # the converted file is a usable registry
    thv("config", "set-registry", str(inplace))
    info = json.loads(thv("registry", "info", "fetch", "--format", "json").stdout)
    assert info["image"] == LEGACY["servers"]["fetch"]["image"] and info["args"] == ["--verbose"]
    nobak = tmp_path / "nobak.json"
    nobak.write_text(json.dumps(LEGACY))
    thv("registry", "convert", "--in", str(nobak), "--in-place", "--no-backup")
    assert not (tmp_path / "nobak.json.bak").exists()


def test_convert_stdin_stdout(thv_env, tmp_path: Path):
    import subprocess
    import sys

    exe = str(Path(sys.executable).with_name("thv"))
    proc = subprocess.run([exe, "registry", "convert"], input=json.dumps(LEGACY), env=thv_env,
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert json.loads(proc.stdout)["data"]["servers"][0]["name"] == "io.github.stacklok/everything"


def test_set_registry_file_and_broken_files(thv: Thv, tmp_path: Path):
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps(LEGACY))
    one_line_error(thv("config", "set-registry", str(legacy), check=False), "thv registry convert")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    one_line_error(
        thv("config", "set-registry", str(broken), check=False),
        f"registry file {broken} is not valid JSON",
    )
    assert "built-in" in thv("config", "get-registry").stdout
    good = tmp_path / "good.json"
    thv("registry", "convert", "--in", str(legacy), "--out", str(good))
    assert "(file, 4 servers)" in thv("config", "set-registry", f"file://{good}").stdout
    assert thv("config", "get-registry").stdout.strip() == f"Current registry: {good} (file)"
    # The file breaks after it was set: every command names it.
    good.write_text('{"data": ')
    one_line_error(thv("registry", "list", check=False), f"registry file {good} is not valid JSON")
    one_line_error(thv("run", "fetch", check=False), f"registry file {good}")
    thv("config", "unset-registry")
    assert "io.github.stacklok/time" in thv("registry", "list").stdout


def write_registry(path: Path, servers: list[dict]) -> Path:
    path.write_text(json.dumps({"version": "1.0.0", "meta": {}, "data": {"servers": servers}}))
    return path


def image_server(name: str, image: str, env: list[dict] | None = None) -> dict:
    package = {"registryType": "oci", "identifier": image, "transport": {"type": "stdio"}}
    if env:
        package["environmentVariables"] = env
    return {"name": name, "description": name, "version": "1.0.0", "packages": [package]}


def test_run_reports_all_missing_env_vars_at_once(thv: Thv, thv_env, tmp_path: Path):
    env = [
        {"name": "API_TOKEN", "isRequired": True, "isSecret": True},
        {"name": "API_URL", "isRequired": True},
        {"name": "LOG_LEVEL", "default": "info"},
    ]
    reg = write_registry(
        tmp_path / "r.json", [image_server("com.example/needs-env", "localhost/x/y:1", env)]
    )
    thv("config", "set-registry", str(reg))
    proc = thv("run", "needs-env", check=False)
    one_line_error(
        proc, "com.example/needs-env needs environment variables API_TOKEN (secret), API_URL:"
    )
    proc = thv("run", "com.example/needs-env", "-e", "API_URL=http://x", check=False)
    one_line_error(proc, "needs environment variables API_TOKEN (secret): pass")
    assert state_files(thv_env) == []


def test_run_catalog_entry_needing_a_token(thv: Thv, thv_env):
    one_line_error(thv("run", "github", check=False), "GITHUB_PERSONAL_ACCESS_TOKEN (secret)")
    assert state_files(thv_env) == []


def test_ambiguous_short_name(thv: Thv, tmp_path: Path):
    reg = write_registry(
        tmp_path / "r.json",
        [
            image_server("com.example/fetch", "localhost/a:1"),
            image_server("org.other/fetch", "localhost/b:1"),
        ],
    )
    thv("config", "set-registry", str(reg))
    msg = (
        "'fetch' matches 2 registry servers: com.example/fetch, org.other/fetch; use the full name"
    )
    one_line_error(thv("run", "fetch", check=False), msg)
    one_line_error(thv("registry", "info", "fetch", check=False), msg)
