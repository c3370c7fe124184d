"""ToolHive's vMCP config format: parsing, Go's validation rules, durations, writing.

Go's ``examples/vmcp-config.yaml`` is copied verbatim below as the fixture: a file ToolHive accepts
must load here unchanged.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from toolhive.errors import InvalidInputError
from toolhive.vmcp.config import (
    VmcpConfig,
    VmcpConfigError,
    check_environment,
    default_config,
    dump_config,
    format_go_duration,
    load_config,
    load_validated,
    parse_config,
    parse_go_duration,
    unsupported_features,
    validate_config,
)

# stacklok/toolhive examples/vmcp-config.yaml, verbatim (a fixture file shared with the CLI tests).
GO_EXAMPLE = (Path(__file__).parent / "go-example.yaml").read_text()

FULL = """
name: full
groupRef: team
backends:
  - name: remote
    url: https://mcp.example.com/mcp
    transport: streamable-http
    type: entry
    caBundlePath: /etc/ssl/remote.pem
    metadata: {env: prod}
  - name: legacy
    url: http://127.0.0.1:9000/sse
    transport: sse
incomingAuth:
  type: oidc
  oidc:
    issuer: https://idp.example.com
    clientId: vmcp
    clientSecretEnv: VMCP_SECRET
    audience: vmcp
    resource: http://localhost:4483/mcp
    jwksUrl: https://idp.example.com/jwks
    introspectionUrl: https://idp.example.com/introspect
    scopes: [openid]
    protectedResourceAllowPrivateIp: true
    jwksAllowPrivateIp: true
    insecureAllowHttp: false
    caBundlePath: /etc/ssl/idp.pem
  authz:
    type: cedar
    policies: ['permit(principal, action, resource);']
    entitiesJson: '[]'
    groupClaimName: groups
outgoingAuth:
  source: inline
  default: {type: unauthenticated}
  backends:
    github:
      type: header_injection
      headerInjection: {headerName: X-Api-Key, headerValueEnv: GITHUB_KEY}
    static:
      type: header_injection
      headerInjection: {headerName: X-Api-Version, headerValue: v1}
    jira:
      type: token_exchange
      tokenExchange:
        tokenUrl: https://idp.example.com/token
        clientId: exchange
        clientSecretEnv: JIRA_SECRET
        audience: jira-api
        scopes: [read]
        subjectTokenType: access_token
aggregation:
  conflictResolution: priority
  conflictResolutionConfig:
    prefixFormat: "{workload}."
    priorityOrder: [github, jira]
  tools:
    - workload: github
      filter: [create_pr]
      overrides:
        create_pr:
          name: gh_create_pr
          description: Create a pull request
          annotations: {readOnlyHint: false, title: Create PR}
    - workload: jira
      excludeAll: true
  excludeAllTools: false
  defaultToolVisibility: allow
compositeTools:
  - name: deploy
    description: Merge, confirm, deploy to each region
    parameters:
      type: object
      properties:
        pr: {type: integer}
        regions: {type: array}
      required: [pr]
    timeout: 10m
    failureMode: continue
    annotations: {destructiveHint: true}
    output:
      properties:
        merged: {type: string, description: merge result, value: "{{.steps.merge.output.sha}}"}
        summary:
          type: object
          properties:
            env: {type: string, value: "{{.steps.confirm.content.environment}}"}
      required: [merged]
    steps:
      - id: merge
        tool: github.merge_pr
        arguments: {pr: "{{.params.pr}}", squash: true}
        onError: {action: retry, retryCount: 2, retryDelay: 500ms}
        timeout: 30s
      - id: confirm
        type: elicitation
        message: "Merged {{.steps.merge.output.sha}}. Deploy?"
        schema: {type: object, properties: {environment: {type: string}}}
        dependsOn: [merge]
        onDecline: {action: skip_remaining}
        onCancel: {action: abort}
      - id: each
        type: forEach
        collection: "{{json .params.regions}}"
        itemVar: region
        maxParallel: 4
        maxIterations: 20
        dependsOn: [confirm]
        step:
          id: deploy_one
          tool: k8s.deploy
          arguments: {region: "{{.forEach.region}}"}
      - id: notify
        tool: slack.post
        condition: "{{if .steps.each.output}}true{{end}}"
        dependsOn: [each]
        onError: {action: continue}
        defaultResults: {ts: ""}
operational:
  logLevel: debug
  timeouts:
    default: 1m
    perWorkload: {slow: 60s}
  failureHandling:
    healthCheckInterval: 15s
    unhealthyThreshold: 2
    healthCheckTimeout: 5s
    statusReportingInterval: 45s
    partialFailureMode: best_effort
    circuitBreaker: {enabled: true, failureThreshold: 4, timeout: 2m}
metadata: {owner: platform}
telemetry:
  endpoint: localhost:4317
  serviceName: vmcp
  tracingEnabled: true
  metricsEnabled: false
  samplingRate: 0.5
  headers: {x-token: abc}
  customAttributes: {team: platform}
audit:
  enabled: true
  component: vmcp-server
  eventTypes: [mcp_tool_call]
  includeRequestData: true
  maxDataSize: 4096
  logFile: /tmp/audit.log
optimizer:
  maxToolsToReturn: 5
sessionStorage: {provider: memory}
rateLimiting:
  shared: {maxTokens: 100, refillPeriod: 1m}
  tools:
    - name: expensive
      perUser: {maxTokens: 2, refillPeriod: 10s}
passthroughHeaders: [X-Request-Id]
"""

ENV = {"GITHUB_KEY": "k", "JIRA_SECRET": "s", "GITHUB_API_TOKEN": "t"}


def write(tmp_path: Path, text: str, name: str = "vmcp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_text(tmp_path: Path, text: str) -> VmcpConfig:
    return load_config(write(tmp_path, text))


def structure_problems(doc: object) -> list[str]:
    with pytest.raises(VmcpConfigError) as info:
        parse_config(doc)
    return info.value.problems


def base() -> dict[str, Any]:
    """A valid config as data (what ``init`` writes)."""
    data = yaml.safe_load(dump_config(default_config("team")))
    assert isinstance(data, dict)
    return data


def problems_after(change: dict[str, Any]) -> list[str]:
    """validate_config's problems for the base config with top-level keys replaced."""
    doc = copy.deepcopy(base())
    doc.update(change)
    return validate_config(parse_config(doc))


# --- Go's example and every section ------------------------------------------------------------


def test_gos_example_loads_with_every_value_where_go_puts_it(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, GO_EXAMPLE)
    assert (cfg.name, cfg.group_ref) == ("engineering-vmcp", "engineering-team")
    assert cfg.incoming_auth is not None and cfg.incoming_auth.oidc is not None
    assert cfg.incoming_auth.oidc.audience == "vmcp"
    assert cfg.incoming_auth.oidc.scopes == ["openid", "profile", "email"]
    assert cfg.incoming_auth.authz is not None
    assert "tools/call" in cfg.incoming_auth.authz.policies[0]
    github = cfg.outgoing_auth_for("github")
    assert github is not None and github.header_injection is not None
    assert github.header_injection.header_value_env == "GITHUB_API_TOKEN"
    other = cfg.outgoing_auth_for("jira")
    assert other is not None and other.type == "unauthenticated"
    agg = cfg.aggregation
    assert agg.conflict_resolution == "prefix"
    assert agg.conflict_resolution_config.prefix_format == "{workload}_"
    assert agg.tools[0].filter == ["create_pr", "merge_pr", "list_issues"]
    assert agg.tools[0].overrides["create_pr"].name == "gh_create_pr"
    assert agg.tools[1].filter is None
    timeouts = cfg.operational.timeouts
    assert (timeouts.seconds_for("github"), timeouts.seconds_for("unlisted")) == (45.0, 30.0)
    assert cfg.operational.failure_handling.circuit_breaker.enabled
    assert cfg.telemetry is not None and cfg.telemetry.sampling_rate == "0.1"
    assert cfg.audit is None and not cfg.optimizer_enabled


def test_gos_example_is_valid_once_its_secret_variable_is_set(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, GO_EXAMPLE)
    assert validate_config(cfg) == []
    assert unsupported_features(cfg) == []
    assert check_environment(cfg, {}) == [
        "outgoingAuth.backends.github.headerInjection.headerValueEnv: "
        "environment variable GITHUB_API_TOKEN is not set or empty"
    ]
    assert check_environment(cfg, ENV) == []
    assert load_validated(write(tmp_path, GO_EXAMPLE), ENV) == cfg


def test_a_config_with_every_section_loads_and_validates(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, FULL)
    assert validate_config(cfg) == []
    assert check_environment(cfg, ENV) == []
    assert [b.transport for b in cfg.backends] == ["streamable-http", "sse"]
    assert cfg.backends[0].type == "entry" and cfg.backends[1].type == ""
    assert cfg.aggregation.tools[1].exclude_all
    tool = cfg.composite_tools[0]
    assert (tool.timeout, tool.timeout_seconds, tool.failure_mode) == ("10m", 600.0, "continue")
    merge, confirm, each, notify = tool.steps
    assert merge.tool_ref() == ("github", "merge_pr") and merge.type == "tool"
    assert merge.on_error is not None and merge.on_error.retry_delay_seconds == 0.5
    assert merge.on_error.retries == 2 and merge.timeout_seconds == 30.0
    assert notify.timeout_seconds == 300.0  # Go's defaultStepTimeout
    assert confirm.type == "elicitation" and confirm.timeout_seconds == 300.0
    assert confirm.schema_ == {"type": "object", "properties": {"environment": {"type": "string"}}}
    assert confirm.on_decline is not None and confirm.on_decline.action == "skip_remaining"
    assert each.step is not None and each.step.tool == "k8s.deploy"
    assert (each.item_var_name, each.max_parallel, each.max_iterations_effective) == (
        "region",
        4,
        20,
    )
    assert notify.default_results == {"ts": ""}
    assert tool.output is not None and tool.output.properties["summary"].properties is not None
    fh = cfg.operational.failure_handling
    assert fh.partial_failure_mode == "best_effort"
    assert (fh.health_check_interval_seconds, fh.health_check_timeout_seconds) == (15.0, 5.0)
    assert fh.circuit_breaker.timeout_seconds == 120.0
    assert cfg.telemetry is not None and cfg.telemetry.sampling_rate == "0.5"
    assert cfg.optimizer_enabled and cfg.optimizer is not None and cfg.optimizer.max_results == 5
    assert cfg.rate_limiting is not None and cfg.rate_limiting.tools is not None
    assert cfg.passthrough_headers == ["X-Request-Id"]


def test_a_json_file_loads_like_yaml(tmp_path: Path) -> None:
    import json

    doc = yaml.safe_load(GO_EXAMPLE)
    assert load_config(write(tmp_path, json.dumps(doc), "vmcp.json")) == load_text(
        tmp_path, GO_EXAMPLE
    )


def test_an_empty_optimizer_section_turns_the_optimizer_on(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, GO_EXAMPLE + "\noptimizer: {}\n")
    assert cfg.optimizer_enabled and cfg.optimizer is not None
    assert cfg.optimizer.max_results == 8


def test_operational_defaults_are_gos_when_the_section_is_missing() -> None:
    ops = default_config("g").operational
    assert ops.timeouts.default_seconds == 30.0
    fh = ops.failure_handling
    assert (fh.health_check_interval_seconds, fh.unhealthy_threshold) == (30.0, 3)
    assert (fh.health_check_timeout_seconds, fh.status_reporting_interval_seconds) == (10.0, 30.0)
    assert fh.partial_failure_mode == "fail"
    cb = fh.circuit_breaker
    assert (cb.enabled, cb.failure_threshold, cb.timeout_seconds) == (False, 5, 60.0)


def test_zero_operational_values_get_gos_defaults_as_mergo_fills_them() -> None:
    doc = base()
    doc["operational"] = {
        "timeouts": {"default": "0s"},
        "failureHandling": {"unhealthyThreshold": 0, "circuitBreaker": {"failureThreshold": 0}},
    }
    ops = parse_config(doc).operational
    assert ops.timeouts.default == "30s"
    assert ops.failure_handling.unhealthy_threshold == 3
    assert ops.failure_handling.circuit_breaker.failure_threshold == 5


def test_the_spelling_best_effort_from_gos_example_comment_is_read_as_best_effort() -> None:
    doc = base()
    doc["operational"] = {"failureHandling": {"partialFailureMode": "bestEffort"}}
    assert parse_config(doc).operational.failure_handling.partial_failure_mode == "best_effort"


# --- structural errors name their key path --------------------------------------------------


def test_an_unknown_key_is_an_error_naming_its_path() -> None:
    doc = base()
    doc["aggregation"]["tools"] = [{"workload": "a", "overides": {}}]
    doc["colour"] = "blue"
    assert structure_problems(doc) == [
        "aggregation.tools[0].overides: unknown key",
        "colour: unknown key",
    ]


def test_a_bad_enum_value_lists_the_choices() -> None:
    doc = base()
    doc["aggregation"]["conflictResolution"] = "newest"
    assert structure_problems(doc) == [
        "aggregation.conflictResolution: must be one of prefix, priority, manual (got 'newest')"
    ]


def test_every_structural_problem_is_reported_at_once() -> None:
    doc = base()
    doc["incomingAuth"] = {"type": "magic"}
    doc["outgoingAuth"]["backends"] = {"gh": {"type": "header_injection", "headerInjection": 3}}
    doc["operational"] = {"timeouts": {"perWorkload": {"slow": 60}}}
    doc["compositeTools"] = [{"name": "x", "steps": [{"id": "a", "type": "loop"}]}]
    problems = structure_problems(doc)
    assert problems == [
        "incomingAuth.type: must be one of oidc, local, anonymous (got 'magic')",
        "outgoingAuth.backends.gh.headerInjection: input should be a valid dictionary or "
        "instance of HeaderInjectionConfig",
        "compositeTools[0].steps[0].type: must be one of tool, elicitation, forEach (got 'loop')",
        "operational.timeouts.perWorkload.slow: must be a duration string such as '30s' "
        "(got 60: missing unit)",
    ]


def test_a_missing_required_key_says_it_is_required() -> None:
    doc = base()
    doc["backends"] = [{"name": "x", "url": "http://h/mcp"}]
    assert structure_problems(doc) == ["backends[0].transport: is required"]


def test_an_error_is_an_invalid_input_error_with_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nfoo: 1\n")
    with pytest.raises(InvalidInputError, match=r"vmcp\.yaml: invalid vMCP configuration: foo"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: [unclosed\n", "invalid YAML: line 2, column 1"),
        ("name: a\nname: b\n", "invalid YAML: line 2, column 1: key 'name' is given twice"),
        ("- a\n- b\n", "(top level): must be a mapping of keys to values"),
        ("", "(top level): the file is empty"),
    ],
)
def test_a_file_that_is_not_a_config_mapping_is_rejected(
    tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(VmcpConfigError) as info:
        load_text(tmp_path, text)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(problem)


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(VmcpConfigError, match="file not found"):
        load_config(tmp_path / "absent.yaml")


def test_secrets_never_appear_in_a_models_repr() -> None:
    doc = base()
    doc["outgoingAuth"]["backends"] = {
        "a": {
            "type": "header_injection",
            "headerInjection": {"headerName": "X", "headerValue": "s3cr3t"},
        },
        "b": {
            "type": "token_exchange",
            "tokenExchange": {"tokenUrl": "https://t", "clientSecret": "p4ss"},
        },
    }
    text = repr(parse_config(doc))
    assert "s3cr3t" not in text and "p4ss" not in text


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("250ms", 0.25),
        ("1m30s500ms", 90.5),
        ("100us", 0.0001),
        ("0", 0.0),
        ("-2s", -2.0),
    ],
)
def test_go_durations_parse_to_seconds(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["30", "", "5x", "1d", "s", "1h 30m", " 30s"])
def test_what_go_rejects_as_a_duration_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.25, "250ms"), (30, "30s"), (90, "1m30s"), (3600, "1h0m0s"), (1.5, "1.5s")],
)
def test_durations_format_as_go_prints_them(seconds: float, text: str) -> None:
    assert format_go_duration(seconds) == text


def test_a_duration_keeps_the_string_written_and_exposes_seconds() -> None:
    doc = base()
    doc["compositeTools"] = [
        {"name": "t", "description": "d", "timeout": "1h30m", "steps": [{"id": "a", "tool": "w.t"}]}
    ]
    tool = parse_config(doc).composite_tools[0]
    assert (tool.timeout, tool.timeout_seconds) == ("1h30m", 5400.0)
    assert default_config("g").model_copy().composite_tools == []


def test_a_composite_tool_without_timeout_gets_gos_thirty_minutes() -> None:
    doc = base()
    doc["compositeTools"] = [
        {"name": "t", "description": "d", "steps": [{"id": "a", "tool": "w.t"}]}
    ]
    assert parse_config(doc).composite_tools[0].timeout_seconds == 1800.0


def test_an_invalid_duration_in_a_file_names_its_key(tmp_path: Path) -> None:
    text = dump_config(default_config("g")) + "operational:\n  timeouts:\n    default: soon\n"
    with pytest.raises(VmcpConfigError) as info:
        load_text(tmp_path, text)
    assert info.value.problems == [
        "operational.timeouts.default: invalid duration 'soon'; use Go's form such as 30s, 5m "
        "or 1h30m"
    ]


# --- Go's semantic rules: each has a failing case naming its key path ----------------------

STEP = {"id": "a", "tool": "w.t"}


def composite(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"compositeTools": [{"name": "t", "description": "d", "steps": list(steps), **extra}]}


RULES: list[tuple[str, dict[str, Any], str]] = [
    ("name", {"name": ""}, "name: is required"),
    ("groupRef", {"groupRef": ""}, "groupRef: is required"),
    (
        "backend url",
        {"backends": [{"name": "b", "url": "ftp://x", "transport": "sse"}]},
        "backends[0].url: must be an http:// or https:// URL",
    ),
    (
        "backend names",
        {
            "backends": [
                {"name": "b", "url": "http://x", "transport": "sse"},
                {"name": "b", "url": "http://y", "transport": "sse"},
            ]
        },
        "backends[1].name: duplicate backend name 'b'",
    ),
    (
        "caBundlePath only for entries",
        {"backends": [{"name": "b", "url": "http://x", "transport": "sse", "caBundlePath": "/c"}]},
        "backends[0].caBundlePath: is only valid when type is 'entry'",
    ),
    (
        "caBundlePath absolute",
        {
            "backends": [
                {
                    "name": "b",
                    "url": "http://x",
                    "transport": "sse",
                    "type": "entry",
                    "caBundlePath": "c.pem",
                }
            ]
        },
        "backends[0].caBundlePath: must be an absolute path",
    ),
    ("incomingAuth", {"incomingAuth": None}, "incomingAuth: is required"),
    (
        "oidc section",
        {"incomingAuth": {"type": "oidc"}},
        "incomingAuth.oidc: is required when type is 'oidc'",
    ),
    (
        "oidc issuer",
        {"incomingAuth": {"type": "oidc", "oidc": {"audience": "a"}}},
        "incomingAuth.oidc.issuer: is required",
    ),
    (
        "oidc audience",
        {"incomingAuth": {"type": "oidc", "oidc": {"issuer": "https://i"}}},
        "incomingAuth.oidc.audience: is required",
    ),
    (
        "cedar policies",
        {"incomingAuth": {"type": "anonymous", "authz": {"type": "cedar"}}},
        "incomingAuth.authz.policies: are required when type is 'cedar'",
    ),
    ("outgoingAuth", {"outgoingAuth": None}, "outgoingAuth: is required"),
    (
        "header injection needs one value",
        {
            "outgoingAuth": {
                "source": "inline",
                "backends": {
                    "gh": {"type": "header_injection", "headerInjection": {"headerName": "X"}}
                },
            }
        },
        "outgoingAuth.backends.gh.headerInjection: exactly one of headerValue or headerValueEnv "
        "must be set",
    ),
    (
        "header injection not both",
        {
            "outgoingAuth": {
                "source": "inline",
                "default": {
                    "type": "header_injection",
                    "headerInjection": {
                        "headerName": "X",
                        "headerValue": "v",
                        "headerValueEnv": "E",
                    },
                },
            }
        },
        "outgoingAuth.default.headerInjection: exactly one of headerValue or headerValueEnv",
    ),
    (
        "header name",
        {
            "outgoingAuth": {
                "source": "inline",
                "default": {"type": "header_injection", "headerInjection": {"headerValue": "v"}},
            }
        },
        "outgoingAuth.default.headerInjection.headerName: is required",
    ),
    (
        "header injection of a header the gateway sets",
        {
            "outgoingAuth": {
                "source": "inline",
                "default": {
                    "type": "header_injection",
                    "headerInjection": {"headerName": "Mcp-Session-Id", "headerValue": "x"},
                },
            }
        },
        "outgoingAuth.default.headerInjection.headerName: 'Mcp-Session-Id' is set by the gateway",
    ),
    (
        "header injection name",
        {
            "outgoingAuth": {
                "source": "inline",
                "default": {
                    "type": "header_injection",
                    "headerInjection": {"headerName": "X Key", "headerValue": "x"},
                },
            }
        },
        "outgoingAuth.default.headerInjection.headerName: invalid header name 'X Key'",
    ),
    (
        "token exchange url",
        {
            "outgoingAuth": {
                "source": "inline",
                "backends": {"j": {"type": "token_exchange", "tokenExchange": {"clientId": "c"}}},
            }
        },
        "outgoingAuth.backends.j.tokenExchange.tokenUrl: is required",
    ),
    (
        "token exchange section",
        {"outgoingAuth": {"source": "inline", "backends": {"j": {"type": "token_exchange"}}}},
        "outgoingAuth.backends.j.tokenExchange: is required for type token_exchange",
    ),
    (
        "aws region",
        {"outgoingAuth": {"source": "inline", "default": {"type": "aws_sts", "awsSts": {}}}},
        "outgoingAuth.default.awsSts.region: is required for type aws_sts",
    ),
    ("aggregation", {"aggregation": None}, "aggregation: is required"),
    (
        "conflictResolutionConfig",
        {"aggregation": {"conflictResolution": "prefix"}},
        "aggregation.conflictResolutionConfig: is required",
    ),
    (
        "prefixFormat",
        {
            "aggregation": {
                "conflictResolution": "prefix",
                "conflictResolutionConfig": {"prefixFormat": ""},
            }
        },
        "aggregation.conflictResolutionConfig.prefixFormat: is required for prefix strategy",
    ),
    (
        "priorityOrder",
        {"aggregation": {"conflictResolution": "priority", "conflictResolutionConfig": {}}},
        "aggregation.conflictResolutionConfig.priorityOrder: is required for priority strategy",
    ),
    (
        "priorityOrder duplicates",
        {
            "aggregation": {
                "conflictResolution": "priority",
                "conflictResolutionConfig": {"priorityOrder": ["a", "b", "a"]},
            }
        },
        "aggregation.conflictResolutionConfig.priorityOrder: lists a more than once",
    ),
    (
        "manual mapping",
        {"aggregation": {"conflictResolution": "manual", "conflictResolutionConfig": {}}},
        "aggregation.tools: tool overrides are required for manual strategy",
    ),
    (
        "deny visibility with priority",
        {
            "aggregation": {
                "conflictResolution": "priority",
                "conflictResolutionConfig": {"priorityOrder": ["a", "b"]},
                "defaultToolVisibility": "deny",
                "tools": [{"workload": "a"}],
            }
        },
        "aggregation.conflictResolutionConfig.priorityOrder: 'b' has no tools entry",
    ),
    (
        "workload name",
        {
            "aggregation": {
                "conflictResolution": "manual",
                "conflictResolutionConfig": {},
                "tools": [{}],
            }
        },
        "aggregation.tools[0].workload: is required",
    ),
    (
        "duplicate workload",
        {
            "aggregation": {
                "conflictResolution": "prefix",
                "conflictResolutionConfig": {},
                "tools": [{"workload": "a"}, {"workload": "a"}],
            }
        },
        "aggregation.tools[1].workload: duplicate workload configuration 'a'",
    ),
    (
        "empty override",
        {
            "aggregation": {
                "conflictResolution": "prefix",
                "conflictResolutionConfig": {},
                "tools": [{"workload": "a", "overrides": {"t": {}}}],
            }
        },
        "aggregation.tools[0].overrides.t: at least one of name or description must be specified",
    ),
    (
        "timeout positive",
        {"operational": {"timeouts": {"perWorkload": {"w": "-1s"}}}},
        "operational.timeouts.perWorkload.w: must be positive",
    ),
    (
        "health check timeout below interval",
        {
            "operational": {
                "failureHandling": {"healthCheckInterval": "10s", "healthCheckTimeout": "10s"}
            }
        },
        "operational.failureHandling.healthCheckTimeout: must be less than healthCheckInterval",
    ),
    (
        "circuit breaker timeout",
        {
            "operational": {
                "failureHandling": {"circuitBreaker": {"enabled": True, "timeout": "500ms"}}
            }
        },
        "operational.failureHandling.circuitBreaker.timeout: must be >= 1s to prevent thrashing",
    ),
    (
        "unhealthy threshold",
        {"operational": {"failureHandling": {"unhealthyThreshold": -1}}},
        "operational.failureHandling.unhealthyThreshold: must be positive",
    ),
    ("composite name", composite(STEP, name=""), "compositeTools[0].name: is required"),
    (
        "composite description",
        composite(STEP, description=""),
        "compositeTools[0].description: is required",
    ),
    ("composite steps", composite(), "compositeTools[0].steps: must have at least one step"),
    (
        "at most 100 steps",
        composite(*({"id": f"s{i}", "tool": "w.t"} for i in range(101))),
        "compositeTools[0].steps: too many steps: 101 (max 100)",
    ),
    (
        "composite names unique",
        {"compositeTools": [composite(STEP)["compositeTools"][0]] * 2},
        "compositeTools[1].name: duplicate composite tool name 't'",
    ),
    (
        "parameters object",
        composite(STEP, parameters={"type": "string"}),
        "compositeTools[0].parameters.type: must be 'object' (got 'string')",
    ),
    (
        "parameters are a JSON Schema",
        composite(STEP, parameters={"type": "object", "properties": {"n": {"type": "integr"}}}),
        "compositeTools[0].parameters.properties.n.type: invalid JSON Schema: 'integr' is not valid",
    ),
    (
        "elicitation schema is a JSON Schema",
        composite({"id": "a", "type": "elicitation", "message": "m", "schema": {"required": "x"}}),
        "compositeTools[0].steps[0].schema.required: invalid JSON Schema: 'x' is not of type 'array'",
    ),
    ("step id", composite({"tool": "w.t"}), "compositeTools[0].steps[0].id: is required"),
    (
        "step ids unique",
        composite(STEP, STEP),
        "compositeTools[0].steps[1].id: 'a' is duplicated",
    ),
    (
        "tool step tool",
        composite({"id": "a"}),
        "compositeTools[0].steps[0].tool: is required when type is tool",
    ),
    (
        "tool reference",
        composite({"id": "a", "tool": "w tool"}),
        "compositeTools[0].steps[0].tool: must be a tool reference such as 'workload.tool_name'",
    ),
    (
        "tool or message",
        composite({"id": "a", "tool": "w.t", "message": "m"}),
        "compositeTools[0].steps[0]: cannot have both tool and message fields",
    ),
    (
        "elicitation message",
        composite({"id": "a", "type": "elicitation"}),
        "compositeTools[0].steps[0].message: is required when type is elicitation",
    ),
    (
        "elicitation handler action",
        composite({"id": "a", "type": "elicitation", "message": "m", "onDecline": {}}),
        "compositeTools[0].steps[0].onDecline.action: is required",
    ),
    (
        "dependsOn target",
        composite({**STEP, "dependsOn": ["ghost"]}),
        "compositeTools[0].steps[0].dependsOn: references unknown step 'ghost'",
    ),
    (
        "cycle",
        composite(
            {"id": "a", "tool": "w.t", "dependsOn": ["b"]},
            {"id": "b", "tool": "w.t", "dependsOn": ["a"]},
        ),
        "compositeTools[0].steps: dependency cycle involving step",
    ),
    (
        "retry count",
        composite({**STEP, "onError": {"action": "retry"}}),
        "compositeTools[0].steps[0].onError.retryCount: must be at least 1 when action is retry",
    ),
    (
        "template syntax",
        composite({**STEP, "arguments": {"x": "{{.params.x"}}),
        "compositeTools[0].steps[0].arguments.x: invalid template: unclosed action",
    ),
    (
        "template blocks",
        composite({**STEP, "condition": "{{if .params.x}}yes"}),
        "compositeTools[0].steps[0].condition: invalid template: unexpected EOF: {{if}} without {{end}}",
    ),
    (
        "template functions",
        composite({**STEP, "message": None, "arguments": {"x": "{{frobnicate .params.x}}"}}),
        'compositeTools[0].steps[0].arguments.x: invalid template: function "frobnicate" not defined',
    ),
    (
        "template step reference",
        composite({**STEP, "arguments": {"x": "{{.steps.nope.output.y}}"}}),
        "compositeTools[0].steps[0].arguments.x: references unknown step 'nope'",
    ),
    (
        "template step reference inside a function call",
        composite({**STEP, "condition": '{{if index .steps.gone.output "ok"}}true{{end}}'}),
        "compositeTools[0].steps[0].condition: references unknown step 'gone'",
    ),
    (
        "no reference to the step's own output",
        composite({**STEP, "arguments": {"x": "{{.steps.a.output.y}}"}}),
        "compositeTools[0].steps[0].arguments.x: a step cannot reference its own output",
    ),
    (
        "output template reference",
        composite(
            STEP, output={"properties": {"r": {"type": "string", "value": "{{.steps.zz.output}}"}}}
        ),
        "compositeTools[0].output.properties.r.value: references unknown step 'zz'",
    ),
    (
        "defaultResults for a skippable step",
        composite(
            {"id": "a", "tool": "w.t", "condition": "{{.params.go}}"},
            {
                "id": "b",
                "tool": "w.u",
                "dependsOn": ["a"],
                "arguments": {"x": "{{.steps.a.output.id}}"},
            },
        ),
        "compositeTools[0].steps[0].defaultResults.id: is required: step 'a' may be skipped",
    ),
    (
        "forEach collection",
        composite({"id": "a", "type": "forEach", "step": {"id": "i", "tool": "w.t"}}),
        "compositeTools[0].steps[0].collection: is required for forEach steps",
    ),
    (
        "forEach inner step",
        composite({"id": "a", "type": "forEach", "collection": "{{.params.xs}}"}),
        "compositeTools[0].steps[0].step: is required for forEach steps",
    ),
    (
        "forEach inner step type",
        composite(
            {
                "id": "a",
                "type": "forEach",
                "collection": "{{.params.xs}}",
                "step": {"id": "i", "type": "elicitation", "message": "m"},
            }
        ),
        "compositeTools[0].steps[0].step.type: must be 'tool'",
    ),
    (
        "forEach itemVar",
        composite(
            {
                "id": "a",
                "type": "forEach",
                "collection": "{{.params.xs}}",
                "itemVar": "index",
                "step": STEP,
            }
        ),
        "compositeTools[0].steps[0].itemVar: cannot be 'index' (reserved)",
    ),
    (
        "forEach limits",
        composite(
            {
                "id": "a",
                "type": "forEach",
                "collection": "{{.params.xs}}",
                "maxIterations": 5000,
                "step": STEP,
            }
        ),
        "compositeTools[0].steps[0].maxIterations: must be between 0 and 1000",
    ),
    (
        "passthrough credentials",
        {"passthroughHeaders": ["X-Trace", "authorization"]},
        "passthroughHeaders[1]: 'authorization' is a restricted header and cannot be forwarded",
    ),
    (
        "passthrough of a header the gateway sets",
        {"passthroughHeaders": ["mcp-protocol-version"]},
        "passthroughHeaders[0]: 'mcp-protocol-version' is set by the gateway itself",
    ),
    (
        "passthrough header name",
        {"passthroughHeaders": ["bad header"]},
        "passthroughHeaders[0]: invalid header name 'bad header'",
    ),
    (
        "optimizer results",
        {"optimizer": {"maxToolsToReturn": 51}},
        "optimizer.maxToolsToReturn: must be between 1 and 50",
    ),
    (
        "redis address",
        {"sessionStorage": {"provider": "redis"}},
        "sessionStorage.address: is required when provider is redis",
    ),
]


@pytest.mark.parametrize(("change", "expected"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_each_go_rule_has_a_failing_case_naming_its_key_path(
    change: dict[str, Any], expected: str
) -> None:
    problems = problems_after(change)
    assert any(p.startswith(expected) for p in problems), problems


def test_the_base_of_the_rule_cases_is_valid() -> None:
    assert problems_after({}) == []


def test_every_semantic_problem_is_reported_at_once() -> None:
    problems = problems_after(
        {"name": "", "groupRef": "", "incomingAuth": None, "outgoingAuth": None}
    )
    assert problems == [
        "name: is required",
        "groupRef: is required",
        "incomingAuth: is required (type: anonymous or oidc)",
        "outgoingAuth: is required (source: inline)",
    ]


def test_a_skippable_steps_default_results_satisfy_the_rule() -> None:
    change = composite(
        {"id": "a", "tool": "w.t", "condition": "{{.params.go}}", "defaultResults": {"id": "0"}},
        {
            "id": "b",
            "tool": "w.u",
            "dependsOn": ["a"],
            "arguments": {"x": "{{.steps.a.output.id}}"},
        },
    )
    assert problems_after(change) == []


def test_load_validated_raises_with_every_problem(tmp_path: Path) -> None:
    doc = base()
    doc["name"] = ""
    doc["passthroughHeaders"] = ["Cookie"]
    with pytest.raises(VmcpConfigError) as info:
        load_validated(write(tmp_path, yaml.safe_dump(doc)), {})
    assert info.value.problems == [
        "name: is required",
        "passthroughHeaders[0]: 'Cookie' is a restricted header and cannot be forwarded",
    ]


# --- what serve refuses --------------------------------------------------------------------


def test_strategies_and_settings_this_gateway_lacks_are_listed_not_ignored() -> None:
    doc = base()
    doc["outgoingAuth"]["backends"] = {
        "s3": {"type": "aws_sts", "awsSts": {"region": "eu-west-1"}},
        "up": {"type": "upstream_inject", "upstreamInject": {"providerName": "github"}},
        "ok": {"type": "token_exchange", "tokenExchange": {"tokenUrl": "https://t"}},
    }
    doc["sessionStorage"] = {"provider": "redis", "address": "redis:6379"}
    doc["optimizer"] = {"embeddingService": "http://tei:8080"}
    doc["codeMode"] = {"enabled": True}
    cfg = parse_config(doc)
    assert validate_config(cfg) == []
    unsupported = unsupported_features(cfg)
    assert [u.split(":")[0] for u in unsupported] == [
        "outgoingAuth.backends.s3.type",
        "outgoingAuth.backends.up.type",
        "optimizer.embeddingService",
        "codeMode.enabled",
    ]
    assert cfg.outgoing_auth is not None and cfg.outgoing_auth.backends["ok"].supported


# --- default_config and dump_config ------------------------------------------------------------


def test_the_default_config_is_gos_quick_mode_and_valid() -> None:
    cfg = default_config("team")
    assert (cfg.name, cfg.group_ref) == ("team", "team")
    assert cfg.incoming_auth is not None and cfg.incoming_auth.type == "anonymous"
    assert cfg.outgoing_auth_for("anything") is not None
    assert cfg.aggregation.conflict_resolution == "prefix"
    assert validate_config(cfg) == [] and unsupported_features(cfg) == []
    assert default_config("team", "team-vmcp").name == "team-vmcp"


def test_the_dump_has_gos_keys_and_leaves_out_what_nobody_set() -> None:
    assert yaml.safe_load(dump_config(default_config("team"))) == {
        "name": "team",
        "groupRef": "team",
        "incomingAuth": {"type": "anonymous"},
        "outgoingAuth": {"source": "inline", "default": {"type": "unauthenticated"}},
        "aggregation": {
            "conflictResolution": "prefix",
            "conflictResolutionConfig": {"prefixFormat": "{workload}_"},
        },
    }


@pytest.mark.parametrize("text", [GO_EXAMPLE, FULL], ids=["go-example", "every-section"])
def test_dump_then_load_gives_the_same_config(tmp_path: Path, text: str) -> None:
    cfg = load_text(tmp_path, text)
    again = load_text(tmp_path, dump_config(cfg))
    assert again == cfg
    assert dump_config(again) == dump_config(cfg)


def test_the_dump_keeps_the_files_own_keys_and_values(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, GO_EXAMPLE)
    dumped = yaml.safe_load(dump_config(cfg))
    original = yaml.safe_load(GO_EXAMPLE)
    assert dumped == original


def test_a_multi_line_policy_is_written_as_a_block(tmp_path: Path) -> None:
    text = dump_config(load_text(tmp_path, GO_EXAMPLE))
    assert "    - |\n      permit(\n" in text


def test_retries_follow_gos_engine_defaults_and_cap() -> None:
    doc = base() | composite(
        {**STEP, "onError": {"action": "retry", "retryCount": 50}},
        {"id": "b", "tool": "w.t", "onError": {"action": "continue", "retryCount": 3}},
    )
    first, second = parse_config(doc).composite_tools[0].steps
    assert first.on_error is not None and second.on_error is not None
    assert (first.on_error.retries, first.on_error.retry_delay_seconds) == (10, 1.0)
    assert second.on_error.retries == 0


def test_scalars_are_read_as_gos_yaml_reads_them(tmp_path: Path) -> None:
    text = dump_config(default_config("g")) + (
        "metadata: {created: 2024-01-01, public: yes, window: '1:30', plain: 1:30}\n"
        "operational:\n  failureHandling:\n    circuitBreaker: {enabled: on}\n"
    )
    cfg = load_text(tmp_path, text)
    assert cfg.metadata == {
        "created": "2024-01-01",
        "public": "yes",
        "window": "1:30",
        "plain": "1:30",
    }
    assert cfg.operational.failure_handling.circuit_breaker.enabled is True


def test_a_setting_changed_in_code_is_written_with_its_section() -> None:
    cfg = default_config("g")
    cfg.operational.failure_handling.partial_failure_mode = "best_effort"
    written = yaml.safe_load(dump_config(cfg))
    assert written["operational"] == {"failureHandling": {"partialFailureMode": "best_effort"}}
    assert "operational" not in yaml.safe_load(dump_config(default_config("g")))
