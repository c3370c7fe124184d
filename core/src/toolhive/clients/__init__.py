"""AI-client integrations: the config-file editing engine and the sync with workloads.

Nothing heavy is imported here; see :mod:`toolhive.contracts.clients` for the integration contract.
"""
