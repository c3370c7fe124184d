"""Secrets: the provider contract, provider selection, ``--secret`` references.

Providers are plugins (hook ``thv_secrets_providers``); core ships the read-only ``environment``
one. Nothing here imports a backend's client library: providers load lazily.
"""
