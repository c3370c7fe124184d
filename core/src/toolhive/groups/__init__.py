"""Workload groups: ``$XDG_STATE_HOME/toolhive/groups/<name>.json``."""
