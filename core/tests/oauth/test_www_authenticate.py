"""The Bearer challenge of a WWW-Authenticate value (RFC 7235 syntax, RFC 6750 / RFC 9728)."""

from __future__ import annotations

import pytest
from toolhive.oauth import BearerChallenge, parse_www_authenticate


def test_a_bearer_challenge_gives_its_resource_metadata_realm_and_scope() -> None:
    value = (
        'Bearer realm="mcp", resource_metadata="https://mcp.example.com/.well-known/'
        'oauth-protected-resource/mcp", scope="files:read files:write"'
    )
    challenge = parse_www_authenticate(value)
    assert challenge == BearerChallenge(
        realm="mcp",
        resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
        scope="files:read files:write",
    )
    assert challenge.scopes == ("files:read", "files:write")


def test_the_scheme_and_parameter_names_are_case_insensitive() -> None:
    challenge = parse_www_authenticate('BEARER Realm="r", RESOURCE_METADATA="https://x/m"')
    assert challenge is not None
    assert (challenge.realm, challenge.resource_metadata) == ("r", "https://x/m")


def test_the_bearer_challenge_is_found_after_other_schemes_with_token68_and_params() -> None:
    value = (
        'Basic realm="legacy, with comma", Negotiate YII+/abc==, '
        'Bearer error="invalid_token", error_description="The token expired"'
    )
    challenge = parse_www_authenticate(value)
    assert challenge == BearerChallenge(
        error="invalid_token", error_description="The token expired"
    )


def test_parameters_of_a_later_scheme_do_not_leak_into_the_bearer_challenge() -> None:
    challenge = parse_www_authenticate('Bearer realm="a", DPoP algs="ES256", realm2=x')
    assert challenge == BearerChallenge(realm="a")
    later = parse_www_authenticate('Bearer, Basic realm="b"')
    assert later == BearerChallenge()


def test_quoted_strings_keep_commas_and_unescape_backslashes() -> None:
    challenge = parse_www_authenticate(
        r'Bearer error_description="bad \"token\", try again\\later", realm="x"'
    )
    assert challenge is not None
    assert challenge.error_description == 'bad "token", try again\\later'
    assert challenge.realm == "x"


def test_unquoted_values_may_be_urls_and_spaces_around_equals_are_allowed() -> None:
    challenge = parse_www_authenticate(
        "Bearer resource_metadata = https://mcp.example.com/.well-known/x ,scope=a"
    )
    assert challenge is not None
    assert challenge.resource_metadata == "https://mcp.example.com/.well-known/x"
    assert challenge.scope == "a"


def test_the_first_occurrence_of_a_repeated_parameter_wins() -> None:
    challenge = parse_www_authenticate('Bearer realm="first", realm="second"')
    assert challenge is not None and challenge.realm == "first"


def test_an_unterminated_quoted_string_takes_the_rest_of_the_value() -> None:
    challenge = parse_www_authenticate('Bearer realm="no end')
    assert challenge is not None and challenge.realm == "no end"


@pytest.mark.parametrize(
    "value",
    ["", "   ", 'Basic realm="x"', "Negotiate abc==", "Bearerish realm=x", 'DPoP algs="ES256"'],
)
def test_values_without_a_bearer_challenge_give_none(value: str) -> None:
    assert parse_www_authenticate(value) is None


def test_a_bare_bearer_scheme_is_a_challenge_without_parameters() -> None:
    assert parse_www_authenticate("Bearer") == BearerChallenge()
    assert parse_www_authenticate("  bearer  ") == BearerChallenge()
