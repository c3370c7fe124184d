"""Core's own plugins, registered like third-party ones (see ``BUILTIN_PLUGINS``)."""
