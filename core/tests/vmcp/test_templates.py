"""The Go text/template subset composite tools use, evaluated safely (toolhive.vmcp.templates)."""

from __future__ import annotations

import time

import pytest
from toolhive.vmcp.templates import (
    MAX_OUTPUT,
    TemplateError,
    coerce_to_schema,
    evaluate_condition,
    expand,
    expand_value,
    go_float,
    go_json,
    go_sprintf,
    parse,
    references,
)

DATA = {
    "params": {
        "title": "Test",
        "count": 3,
        "ratio": 1.5,
        "million": 1e6,
        "enabled": True,
        "off": False,
        "tags": ["a", "b", "c"],
        "labels": {"b": 2, "a": 1},
        "nothing": None,
        "html": "<b>&</b>",
    },
    "steps": {
        "fetch": {
            "status": "completed",
            "output": {"text": '{"user": {"name": "Alice"}, "items": [1, 2]}', "count": 2.0},
            "content": {"text": "raw text"},
        },
        "confirm": {
            "status": "completed",
            "output": {"action": "accept", "content": {"ok": True}},
            "content": {},
        },
        "broken": {"status": "failed", "output": {}, "content": {}, "error": "boom"},
    },
    "vars": {},
    "workflow": {"id": "wf-1", "step_count": 2, "status": "running", "duration_ms": 5},
}


def run(source: str, data: object = DATA) -> str:
    return expand(source, data, "t")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Issue: {{.params.title}}", "Issue: Test"),
        ("{{.steps.fetch.output.count}}", "2"),
        ("{{.steps.fetch.content.text}}", "raw text"),
        ("{{.steps.confirm.output.content.ok}}", "true"),
        ("{{.steps.broken.error}} {{.steps.broken.status}}", "boom failed"),
        ("{{.workflow.id}}/{{.workflow.step_count}}", "wf-1/2"),
        ("{{$.params.title}}", "Test"),
        ("{{with .params.title}}[{{.}}]{{end}}", "[Test]"),
        ("{{(fromJson .steps.fetch.output.text).user.name}}", "Alice"),
        ("{{index (fromJson .steps.fetch.output.text).items 1}}", "2"),
        ('{{index .params.labels "a"}} {{index .params.tags 2}}', "1 c"),
        ("{{len .params.tags}} {{len .params.labels}} {{len .params.title}}", "3 2 4"),
        ('{{len "é"}}', "2"),  # Go's len of a string counts bytes
        ('{{slice "hello" 1 3}} {{slice .params.tags 1}}', "el [b c]"),
        ("{{`raw \\n`}}", "raw \\n"),
        ('{{"tab\\there"}}', "tab\there"),
        ("{{'a'}} {{0x1F}} {{-2}} {{1_000}} {{2.50}} {{1e3}}", "97 31 -2 1000 2.5 1000"),
        ("{{true}} {{false}}", "true false"),
        ('{{"}}"}}', "}}"),
    ],
)
def test_fields_literals_and_indexing_evaluate_as_go(source: str, expected: str) -> None:
    assert run(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{.params.tags}}", "[a b c]"),
        ("{{.params.labels}}", "map[a:1 b:2]"),
        ("{{.params.ratio}}", "1.5"),
        ("{{.params.million}}", "1e+06"),
        ("{{.params.enabled}}", "true"),
        ("{{.steps.confirm.output}}", "map[action:accept content:map[ok:true]]"),
        ('{{print 1 2 "a" 3 .params.nothing}}', "1 2a3 <nil>"),
        ('{{println "a" 1}}', "a 1\n"),
    ],
)
def test_values_print_as_go_fmt_prints_them(source: str, expected: str) -> None:
    assert run(source) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0"),
        (100.0, "100"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5, "-2.5"),
        (1e21, "1e+21"),
        (float("inf"), "+Inf"),
    ],
)
def test_floats_print_like_go_percent_v(value: float, expected: str) -> None:
    assert go_float(value) == expected


def test_json_encodes_as_go_encoding_json() -> None:
    assert run("{{json .params.labels}}") == '{"a":1,"b":2}'
    assert run("{{json .params.tags}}") == '["a","b","c"]'
    assert run("{{json .params.html}}") == '"\\u003cb\\u003e\\u0026\\u003c/b\\u003e"'
    assert run("{{json .params.million}} {{json 1e21}} {{json 0.0000001}}") == "1000000 1e+21 1e-7"
    assert run("{{json .params.missing}}") == "null"
    assert go_json({"z": [1.5, None, "\n"], "a": True}) == '{"a":true,"z":[1.5,null,"\\n"]}'


def test_quote_and_escapers_match_go() -> None:
    assert run('{{quote "say \\"hi\\"\\n"}}') == '"say \\"hi\\"\\n"'
    assert run("{{.params.title | quote}}") == '"Test"'
    assert run("{{html .params.html}}") == "&lt;b&gt;&amp;&lt;/b&gt;"
    assert run('{{js "it\'s <x>"}}') == "it\\'s \\u003Cx\\u003E"
    assert run('{{urlquery "a b&c=d"}}') == "a+b%26c%3Dd"


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ("%s-%d-%v", ["a", 3, [1, 2]], "a-3-[1 2]"),
        ("%05.1f|%x|%X|%o|%b", [3.14159, 255, 255, 8, 5], "003.1|ff|FF|10|101"),
        ("%q %t %c %U", ["q", True, 65, 0x1F600], '"q" true A U+1F600'),
        ("%-4s|%4s|%.2s", ["ab", "ab", "abcdef"], "ab  |  ab|ab"),
        ("%+d % d %e %g", [5, 5, 1234.5678, 0.5], "+5  5 1.234568e+03 0.5"),
        ("%d", ["x"], "%!d(string=x)"),
        ("%d %d", [1], "1 %!d(MISSING)"),
        ("%d", [1, 2], "1%!(EXTRA int=2)"),
        ("100%%", [], "100%"),
        ("%*d", [5, 42], "   42"),
        ("%999999999d", [1], "%!(BADWIDTH)1"),
    ],
)
def test_printf_follows_go_fmt(fmt: str, args: list[object], expected: str) -> None:
    assert go_sprintf(fmt, args) == expected


def test_printf_is_callable_from_templates_and_pipelines() -> None:
    assert run('{{printf "%s has %d tags" .params.title (len .params.tags)}}') == "Test has 3 tags"
    assert run('{{.params.title | printf "<%s>"}}') == "<Test>"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{eq .steps.confirm.output.action "accept"}}', "true"),
        ('{{eq .steps.fetch.status "failed" "completed"}}', "true"),
        ('{{ne .steps.fetch.status "completed"}}', "false"),
        ("{{gt .steps.fetch.output.count 1}}", "true"),  # a JSON number against an int literal
        (
            "{{lt .params.count 3}} {{le .params.count 3}} {{ge .params.ratio 1.5}}",
            "false true true",
        ),
        ('{{lt "abc" "abd"}}', "true"),
        ("{{and .params.enabled .params.count}}", "3"),
        ("{{and .params.off .params.missing.deep}}", "false"),
        ('{{or .params.off "" "fallback"}}', "fallback"),
        ("{{not .params.enabled}} {{not .params.missing}}", "false true"),
        ('{{eq .steps.nope.output.action "accept"}}', "false"),  # a step that has not run
        ("{{eq .params.missing .params.nothing}}", "true"),
    ],
)
def test_comparisons_and_logic_follow_go(source: str, expected: str) -> None:
    assert run(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{if .params.enabled}}yes{{else}}no{{end}}", "yes"),
        ("{{if .params.missing}}a{{else if .params.off}}b{{else}}c{{end}}", "c"),
        ("{{if eq .params.enabled true}}on{{end}}", "on"),
        ("{{range .params.tags}}<{{.}}>{{end}}", "<a><b><c>"),
        ("{{range $i, $t := .params.tags}}{{$i}}={{$t}} {{end}}", "0=a 1=b 2=c "),
        ("{{range $k, $v := .params.labels}}{{$k}}{{$v}}{{end}}", "a1b2"),
        ("{{range .params.missing}}x{{else}}empty{{end}}", "empty"),
        ("{{range 3}}{{.}}{{end}}", "012"),
        ('{{range .params.tags}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}', "ac"),
        ('{{range .params.tags}}{{if eq . "b"}}{{break}}{{end}}{{.}}{{end}}', "a"),
        ("{{with .params.missing}}x{{else with .params.title}}{{.}}{{end}}", "Test"),
        ("{{$x := 1}}{{$x}}{{$x = 2}}{{$x}}", "12"),
        ("{{if $t := .params.title}}{{$t}}{{end}}", "Test"),
        ("a {{- /* a comment */ -}} b", "ab"),
        ("x  {{- .params.count -}}  y", "x3y"),
    ],
)
def test_control_structures_variables_comments_and_trimming(source: str, expected: str) -> None:
    assert run(source) == expected


def test_a_missing_key_prints_no_value_as_go_default_missingkey() -> None:
    assert run("{{.params.nonexistent}}") == "<no value>"
    assert run("{{.steps.nope.output.field}}") == "<no value>"
    assert run("{{.params.nothing}}") == "<no value>"  # JSON null too


def test_templates_always_yield_strings_and_other_values_pass_through() -> None:
    value = {
        "title": "{{.params.title}}",
        "count": "{{.params.count}}",
        "nested": {"tags": ["{{index .params.tags 0}}", 7]},
        "flag": True,
        "num": 42,
    }
    assert expand_value(value, DATA, "args") == {
        "title": "Test",
        "count": "3",
        "nested": {"tags": ["a", 7]},
        "flag": True,
        "num": 42,
    }


def test_coercion_to_the_backend_schema_types_strings_as_toolhive_does() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer"},
            "x": {"type": "number"},
            "b": {"type": "boolean"},
            "t": {"type": "boolean"},
            "bad": {"type": "integer"},
            "list": {"type": "array", "items": {"type": "integer"}},
            "obj": {"type": "object"},
        },
    }
    args = {
        "n": "3",
        "x": "1.5",
        "b": "true",
        "t": "F",
        "bad": "three",
        "list": ["1", "2"],
        "obj": '{"a":1}',
        "extra": "5",
    }
    assert coerce_to_schema(args, schema) == {
        "n": 3,
        "x": 1.5,
        "b": True,
        "t": False,
        "bad": "three",
        "list": [1, 2],
        "obj": '{"a":1}',  # Go does not parse JSON into objects
        "extra": "5",
    }


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{eq .steps.confirm.output.action "accept"}}', True),
        ("{{.params.enabled}}", True),
        ("{{if .params.off}}true{{else}}FALSE{{end}}", False),
        ("", True),
    ],
)
def test_conditions_must_yield_true_or_false(source: str, expected: bool) -> None:
    assert evaluate_condition(source, DATA) is expected


def test_a_condition_yielding_anything_else_is_an_error() -> None:
    with pytest.raises(TemplateError, match="must evaluate to 'true' or 'false'"):
        evaluate_condition("{{.params.title}}", DATA)


@pytest.mark.parametrize(
    ("source", "where", "message"),
    [
        ("ok {{.params.title", "t:1:4", "unclosed action"),
        ("{{if .params.enabled}}x", "t:1:1", "without {{end}}"),
        ("{{end}}", "t:1:1", "unexpected {{end}}"),
        ("line1\n  {{nosuch 1}}", "t:2:5", 'function "nosuch" not defined'),
        ("{{break}}", "t:1:1", "outside {{range}}"),
        ('{{define "x"}}{{end}}', "t:1:1", "not supported"),
        ("{{ 09 }}", "t:1:4", "bad number syntax"),
        ("{{(.params.title}}", "t:1:3", "unclosed left paren"),
        ("{{/* open", "t:1:1", "unclosed comment"),
        ('{{"unterminated}}', "t:1:3", "unterminated quoted string"),
    ],
)
def test_parse_errors_name_the_template_and_position(source: str, where: str, message: str) -> None:
    with pytest.raises(TemplateError) as err:
        parse(source, "t")
    assert str(err.value).startswith(f"template: {where}: ")
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{.params.title.x}}", "can't evaluate field x in type string"),
        ('{{"a" | .params.title}}', "can't give argument to non-function"),
        ("{{quote .params.count}}", "expected string; got int"),
        ("{{quote .params.missing}}", "invalid value; expected string"),
        ("{{eq .params.title 1}}", "incompatible types for comparison"),
        ("{{eq .params.labels .params.labels}}", "non-comparable"),
        ("{{lt .params.missing 1}}", "invalid type for comparison"),
        ("{{index .params.tags 9}}", "index out of range: 9"),
        ("{{index .params.missing 0}}", "index of untyped nil"),
        ('{{fromJson "{"}}', "failed to unmarshal JSON"),
        ("{{len .params.count}}", "len of type int"),
        ("{{nil}}", "nil is not a command"),
        ("{{$nope}}", "undefined variable: $nope"),
        ("{{range .params.title}}{{end}}", "range can't iterate over Test"),
    ],
)
def test_execution_errors_name_the_template_position_and_cause(source: str, message: str) -> None:
    with pytest.raises(TemplateError) as err:
        run(source)
    text = str(err.value)
    assert text.startswith("template: t:1:")
    assert "executing 't' at <" in text
    assert message in text


def test_data_is_never_evaluated_as_a_template_or_code() -> None:
    hostile = {
        "params": {
            "x": "{{.params.secret}}",
            "y": "__import__('os').system('touch /tmp/pwned')",
            "secret": "s3cr3t",
        }
    }
    assert expand("{{.params.x}}", hostile) == "{{.params.secret}}"
    assert expand("{{.params.y}}", hostile) == "__import__('os').system('touch /tmp/pwned')"
    assert expand("{{fromJson (json .params.x)}}", hostile) == "{{.params.secret}}"
    # Python attribute syntax is no field access into objects: dunders are just missing map keys.
    assert expand("{{.params.__class__}}", hostile) == "<no value>"
    assert expand("{{.params.x.__class__.__mro__}}", {"params": {"x": {}}}) == "<no value>"


def test_output_is_bounded_while_it_is_produced() -> None:
    big = {"s": "x" * (1024 * 1024), "n": list(range(20))}
    with pytest.raises(TemplateError, match="output too large"):
        expand("{{range .n}}{{$.s}}{{end}}", big)
    assert len(parse("{{range .n}}{{$.s}}{{end}}").execute(big, max_output=MAX_OUTPUT * 3)) == (
        20 * 1024 * 1024
    )


def test_runaway_evaluation_is_stopped_by_the_step_budget() -> None:
    data = {"n": list(range(2000))}
    start = time.monotonic()
    with pytest.raises(TemplateError, match=r"exceeds .* steps"):
        expand("{{range .n}}{{range $.n}}{{range $.n}}{{end}}{{end}}{{end}}", data)
    assert time.monotonic() - start < 30


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(TemplateError, match="nested too deeply"):
        parse("{{" + "(" * 500 + "1" + ")" * 500 + "}}")
    with pytest.raises(TemplateError, match="depth limit"):
        nested: object = "{{.params.title}}"
        for _ in range(200):
            nested = {"k": nested}
        expand_value(nested, DATA)


def test_printf_widths_cannot_exhaust_memory() -> None:
    assert run('{{printf "%2000000s" "x"}}') == "%!(BADWIDTH)x"


def test_references_lists_the_field_paths_a_template_reads_as_go_extract_references() -> None:
    source = (
        '{{if eq .steps.a.status "completed"}}{{.steps.a.output.text}}{{else}}'
        "{{(fromJson .steps.b.output.text).user.name}}{{end}}{{range $x := .params.items}}"
        "{{$x.ignored}}{{end}}"
    )
    assert references(source) == [
        ".params.items",
        ".steps.a.output.text",
        ".steps.a.status",
        ".steps.b.output.text",
        ".user.name",
    ]


def test_values_nested_deeper_than_python_can_print_are_an_error_not_a_crash() -> None:
    deep: object = 1
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(TemplateError, match="nested too deeply"):
        expand("{{.v}}", {"v": deep})
