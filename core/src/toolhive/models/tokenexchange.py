"""RunConfig ``token_exchange_config``: ToolHive's ``tokenexchange.Config`` (RFC 8693), Go's JSON.

Core only stores and carries it; the ``tokenexchange`` middleware plugin
(toolhive-middleware-tokenexchange) validates it fully and enforces it. ``client_secret`` is never
a value once ``thv run`` saved the workload: a literal (from the flag, or a Go export, which
stores it in the clear) is moved into the secrets provider and replaced by a reference
``NAME,target=token_exchange_client_secret``. ``client_secret_file`` is our addition: the path of
a file read when the workload starts (``--token-exchange-client-secret-file``).
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

#: Written even when empty: Go's struct has no ``omitempty`` on them.
_ALWAYS: Final = ("token_url", "client_id", "client_secret", "audience")


class TokenExchangeConfig(BaseModel):
    """Where and how the proxy exchanges the caller's token for the upstream's."""

    # Unknown keys survive a round trip (a newer ToolHive's); inputs never appear in errors.
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    token_url: str = ""
    client_id: str = ""
    client_secret: str = Field("", repr=False)
    client_secret_file: str = ""
    audience: str = ""
    scopes: list[str] = Field(default_factory=list)
    subject_token_type: str = ""
    header_strategy: str = ""
    external_token_header_name: str = ""

    @field_validator("scopes", mode="before")
    @classmethod
    def _null_scopes(cls, value: Any) -> Any:
        return [] if value is None else value

    @model_serializer(mode="wrap")
    def _omit_empty(self, handler: Any) -> Any:
        """Go's ``omitempty`` on the optional fields."""
        data = handler(self)
        return {k: v for k, v in data.items() if k in _ALWAYS or v not in ("", [], None)}
