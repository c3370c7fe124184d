"""The secrets endpoints: choose the provider, and list/create/update/delete its keys.

Same calls as ``thv secret``: :func:`toolhive.secrets.selection.activate` and
:func:`~toolhive.secrets.selection.open_secrets`. What the provider cannot do (the ``environment``
provider only reads) is a 405. No answer and no log line ever carries a secret's value or the
password: keys and fixed messages only.

A ``password`` given to ``POST /secrets`` unlocks a password-protected store (``encrypted``) with no
prompt and is kept in the OS keyring when there is one; otherwise this server keeps it in its own
environment for its lifetime — where the workloads it starts get it from, as a supervisor started
by ``thv run`` does after a prompt.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from toolhive.api.errors import ApiError
from toolhive.api.routing import Call, Router
from toolhive.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from toolhive.plugins import Hooks
    from toolhive.secrets.selection import Secrets

router = Router(tag="secrets")

#: ToolHive has one provider, always called this.
PROVIDER_NAME = "default"
KEYS = "/api/v1beta/secrets/default/keys"


class SetupSecretsRequest(BaseModel):
    provider_type: str = Field(
        description="encrypted, 1password, environment, or a plugin's",
        json_schema_extra={"minLength": 1},
    )
    password: str | None = Field(
        default=None,
        description="For the encrypted provider: the store's password (never prompted for here).",
        json_schema_extra={"writeOnly": True},
    )


class SetupSecretsResponse(BaseModel):
    provider_type: str
    message: str


class ProviderCapabilities(BaseModel):
    can_read: bool
    can_write: bool
    can_delete: bool
    can_list: bool
    can_cleanup: bool


class SecretsProviderInfo(BaseModel):
    name: str
    provider_type: str
    capabilities: ProviderCapabilities


class SecretKey(BaseModel):
    key: str
    description: str = ""


class SecretKeyList(BaseModel):
    keys: list[SecretKey]


class CreateSecretRequest(BaseModel):
    key: str = Field(min_length=1)
    value: str = Field(min_length=1, json_schema_extra={"writeOnly": True})


class UpdateSecretRequest(BaseModel):
    value: str = Field(min_length=1, json_schema_extra={"writeOnly": True})


class SecretChanged(BaseModel):
    key: str
    message: str


NOT_SET_UP = {404: "No secrets provider is set up (POST /api/v1beta/secrets)"}
CANNOT = {405: "The provider cannot do this (e.g. environment: read only)"}


def _open(hooks: Hooks) -> Secrets:
    from toolhive.contracts.secrets import SecretsNotSetUpError
    from toolhive.secrets.selection import open_secrets

    try:
        return open_secrets(hooks)
    except SecretsNotSetUpError as exc:
        raise ApiError(404, str(exc)) from None


def _setup(hooks: Hooks, provider_type: str, password: str | None) -> bool:
    """Activate the provider; ``True`` when one was set up before (a reconfiguration)."""
    from toolhive.appconfig import load_config
    from toolhive.secrets.selection import activate, provider_spec

    try:
        provider_spec(hooks, provider_type)
    except NotFoundError as exc:
        raise InvalidInputError(str(exc)) from None
    from toolhive.contracts.secrets import SecretsError

    before = load_config().secrets.setup_completed
    try:
        secrets = activate(hooks, provider_type, password=password)
    except SecretsError as exc:  # set-up input that does not work (no or wrong password): 400
        raise InvalidInputError(str(exc)) from None
    # A given password the keyring did not keep: this server (and what it starts) needs it.
    os.environ.update(secrets.child_environment())
    return before


@router.post(
    "/api/v1beta/secrets",
    summary="Set up (or change) the secrets provider",
    status=201,
    response=SetupSecretsResponse,
    body=SetupSecretsRequest,
    errors={400: "Unknown provider type, or the provider does not work (wrong password …)"},
)
async def setup_secrets_provider(
    call: Call[None, SetupSecretsRequest],
) -> SetupSecretsResponse:
    provider_type = call.body.provider_type.strip()
    if not provider_type:
        raise ApiError(400, "provider_type cannot be empty", "provider_type")
    again = await call.run(_setup, call.state.hooks, provider_type, call.body.password)
    message = (
        "Secrets provider reconfigured successfully"
        if again
        else "Secrets provider setup successfully"
    )
    return SetupSecretsResponse(provider_type=provider_type, message=message)


@router.get(
    "/api/v1beta/secrets/default",
    summary="The secrets provider and what it can do",
    response=SecretsProviderInfo,
    errors=NOT_SET_UP,
)
async def get_secrets_provider(call: Call[None, None]) -> SecretsProviderInfo:
    secrets = await call.run(_open, call.state.hooks)
    caps = secrets.spec.capabilities
    return SecretsProviderInfo(
        name=PROVIDER_NAME,
        provider_type=secrets.name,
        capabilities=ProviderCapabilities(
            can_read=caps.can_read,
            can_write=caps.can_write,
            can_delete=caps.can_delete,
            can_list=caps.can_list,
            can_cleanup=caps.can_cleanup,
        ),
    )


def _list(hooks: Hooks) -> list[SecretKey]:
    from toolhive.secrets.names import is_system
    from toolhive.secrets.selection import require_capability

    secrets = _open(hooks)
    require_capability(secrets, "can_list", "list")
    return [
        SecretKey(key=d.key, description=d.description)
        for d in secrets.list()
        if not is_system(d.key)  # ToolHive's own secrets are not the user's to see
    ]


@router.get(
    KEYS,
    summary="List secret names (never values)",
    response=SecretKeyList,
    errors={**NOT_SET_UP, **CANNOT},
)
async def list_secrets(call: Call[None, None]) -> SecretKeyList:
    return SecretKeyList(keys=await call.run(_list, call.state.hooks))


def _exists(secrets: Secrets, key: str) -> bool:
    """In the provider itself (not the ``TOOLHIVE_SECRET_*`` fallback); unknowable without read."""
    from toolhive.contracts.secrets import SecretNotFoundError

    if not secrets.spec.capabilities.can_read:
        return False
    try:
        secrets.provider.get_secret(key)
    except SecretNotFoundError:
        return False
    return True


def _create(hooks: Hooks, key: str, value: str) -> None:
    from toolhive.errors import AlreadyExistsError
    from toolhive.secrets.names import check_user_name
    from toolhive.secrets.selection import require_capability

    check_user_name(key)
    secrets = _open(hooks)
    require_capability(secrets, "can_write", "write")
    if _exists(secrets, key):
        msg = f"secret {key!r} already exists; change it with PUT {KEYS}/{key}"
        raise AlreadyExistsError(msg)
    secrets.set(key, value)


@router.post(
    KEYS,
    summary="Create a secret",
    status=201,
    response=SecretChanged,
    body=CreateSecretRequest,
    errors={
        400: "Empty or reserved key, or no value",
        **NOT_SET_UP,
        **CANNOT,
        409: "A secret with this key exists",
    },
)
async def create_secret(call: Call[None, CreateSecretRequest]) -> SecretChanged:
    await call.run(_create, call.state.hooks, call.body.key, call.body.value)
    return SecretChanged(key=call.body.key, message="Secret created successfully")


def _update(hooks: Hooks, key: str, value: str) -> None:
    from toolhive.secrets.names import check_user_name
    from toolhive.secrets.selection import require_capability

    check_user_name(key)
    secrets = _open(hooks)
    require_capability(secrets, "can_write", "write")
    if secrets.spec.capabilities.can_read and not _exists(secrets, key):
        msg = f"secret {key!r} not found; create it with POST {KEYS}"
        raise NotFoundError(msg)
    secrets.set(key, value)


@router.put(
    KEYS + "/{key:path}",
    summary="Change a secret's value",
    response=SecretChanged,
    body=UpdateSecretRequest,
    errors={
        400: "Reserved key, or no value",
        404: "No such secret, or no provider set up",
        **CANNOT,
    },
)
async def update_secret(call: Call[None, UpdateSecretRequest]) -> SecretChanged:
    key = call.params["key"]
    await call.run(_update, call.state.hooks, key, call.body.value)
    return SecretChanged(key=key, message="Secret updated successfully")


def _delete(hooks: Hooks, key: str) -> None:
    from toolhive.secrets.names import check_user_name
    from toolhive.secrets.selection import require_capability

    check_user_name(key)
    secrets = _open(hooks)
    require_capability(secrets, "can_delete", "delete")
    secrets.delete(key)


@router.delete(
    KEYS + "/{key:path}",
    summary="Delete a secret",
    status=204,
    content="empty",
    errors={400: "Reserved key", 404: "No such secret, or no provider set up", **CANNOT},
)
async def delete_secret(call: Call[None, None]) -> Any:
    from starlette.responses import Response

    await call.run(_delete, call.state.hooks, call.params["key"])
    return Response(status_code=204)
