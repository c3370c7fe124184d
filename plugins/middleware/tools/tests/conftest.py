# ToolHive's pytest plugin: its fixtures (thv_home, thv_hooks, thv_cli …) and contract suites.
pytest_plugins = ["toolhive.testing"]
