"""The process runtime runs the runtime contract suite: real servers in a real bubblewrap sandbox,
loaded through its entry point as ToolHive loads it."""

from __future__ import annotations

import pytest
from toolhive.testing import RuntimeContract

pytestmark = [pytest.mark.process_runtime, pytest.mark.timeout(120)]


class TestProcessRuntime(RuntimeContract):
    name = "process"
    entry_point = "runtime-process"
