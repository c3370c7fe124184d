"""AI-client integrations: the config-file editing engine and the sync with workloads.

Nothing heavy is imported here; see :mod:`toolhive.clients.base` for the integration contract.
"""
