"""Every Python example in README.md runs against the sandbox, so the docs cannot drift."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import calleague_async as ca
from calleague_async.testing import SandboxServer

README = Path(__file__).resolve().parent.parent / "README.md"
_MATCHES = list(re.finditer(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL))
BLOCKS = [m[1] for m in _MATCHES]
FIRST_LINES = [m.string.count("\n", 0, m.start(1)) + 1 for m in _MATCHES]
"""The README line each block's code starts on (tests/test_typing.py reports by it)."""


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
async def test_readme_example_runs(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with SandboxServer(calls=30) as sb:
        monkeypatch.setenv("CALLEAGUE_API_KEY", sb.api_key)
        monkeypatch.setenv("CALLEAGUE_BASE_URL", sb.base_url)
        async with ca.AsyncSession(rate_limits=None) as s:
            namespace: dict[str, Any] = {"ca": ca, "s": s}
            code = compile(source, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            result = eval(code, namespace)  # our own README, on purpose
            if inspect.iscoroutine(result):
                await result
        # A test function defined by the example is run the way pytest would run it.
        for name, fn in namespace.items():
            if name.startswith("test_") and inspect.iscoroutinefunction(fn):
                marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "calleague_sandbox"]
                options = marks[0].kwargs if marks else {}
                async with SandboxServer(**options) as fixture_sb:
                    await fn(fixture_sb)
