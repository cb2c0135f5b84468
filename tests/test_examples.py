"""The runnable examples, run: the seed 002 workflow end to end against the sandbox."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_the_workflow_example_writes_a_result_back_on_every_ended_call() -> None:
    results = await _load("workflow").main()
    assert len(results) == 3
    for payload in results.values():
        assert payload["outcome"] == "completed" and payload["turns"] > 0
