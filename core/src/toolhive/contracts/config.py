"""The base of every plugin's settings (a spec's ``config_model``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PluginConfig(BaseModel):
    """Base for a plugin's ``config_model``: unknown keys are errors, values are frozen.

    A plugin without settings uses ``PluginConfig`` itself. The host validates the user's section
    of ``config.yaml`` (``plugins: {<kind>: {<name>: {...}}}``) against it before ``load`` runs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
