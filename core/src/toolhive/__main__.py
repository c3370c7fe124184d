"""``python -m toolhive`` is ``thv`` (used to spawn detached supervisors)."""

from toolhive.cli import main

main()
