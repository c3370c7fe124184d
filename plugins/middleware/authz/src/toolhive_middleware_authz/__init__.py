"""toolhive-middleware-authz: ToolHive's ``authorization`` middleware — Cedar policies decide
every MCP request of a workload's proxy, and list answers show only what the caller may use.

This module is the plugin's entry point. Every ``thv`` command imports it, so it only declares
what the plugin provides and imports nothing but ``toolhive.contracts`` and pydantic; Cedar
(``cedarpy``) is imported when parameters are validated (``thv run``, a workload's start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, PrivateAttr, model_validator
from toolhive.contracts import MiddlewareParameters, MiddlewareSpec, hookimpl

if TYPE_CHECKING:
    from toolhive.contracts import MiddlewareContext
    from toolhive.contracts.middleware import ASGIApp

    from toolhive_middleware_authz.config import CedarConfig

__all__ = ["AuthzParameters", "factory", "thv_middleware"]


class AuthzParameters(MiddlewareParameters):
    """The ``parameters`` of an ``{"type": "authorization", "parameters": {...}}`` entry
    (ToolHive's): the authz config inline, or the file that holds it (inline wins).

    Validating reads and checks the whole config, so an invalid Cedar policy is refused when
    ``thv run`` resolves the chain, with Cedar's message.
    """

    config_data: dict[str, Any] | None = Field(
        None, description="The authorization config object (ToolHive's authz_config)."
    )
    config_path: str = Field(
        "", description="A JSON or YAML authorization config file (ToolHive's authz_config_path)."
    )
    _cedar: CedarConfig | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _check(self) -> AuthzParameters:
        from toolhive_middleware_authz.config import load

        # ValueError (AuthzConfigError) becomes the validation error the host reports.
        self._cedar = load(self.config_data, self.config_path)
        return self

    @property
    def cedar(self) -> CedarConfig:
        """The checked config (loaded again if these parameters skipped validation)."""
        if self._cedar is None:
            from toolhive_middleware_authz.config import load

            self._cedar = load(self.config_data, self.config_path)
        return self._cedar


def factory(app: ASGIApp, parameters: AuthzParameters, context: MiddlewareContext) -> ASGIApp:
    """Wrap the workload's app; called once each time a workload using it starts."""
    from toolhive_middleware_authz.engine import CedarAuthorizer
    from toolhive_middleware_authz.middleware import AuthzMiddleware

    return AuthzMiddleware(app, CedarAuthorizer(parameters.cedar, context.workload))


@hookimpl
def thv_middleware() -> list[MiddlewareSpec[AuthzParameters]]:
    return [
        MiddlewareSpec(
            name="authorization",
            description="Cedar authorization of MCP requests; list answers filtered (authz_config)",
            config_model=AuthzParameters,
            factory=factory,
        )
    ]
