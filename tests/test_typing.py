"""Users' code type-checks: the README passes ``mypy --strict``, results narrow, typos fail.

Each check is a small "user project" in a temporary directory, checked by mypy (and, where a
claim is made for every checker, by pyright) against the installed package, as a user's CI
would check it: none of this repository's own configuration applies.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

import calleague_async as ca
from calleague_async._limits import MemoryStore
from calleague_async.testing import SandboxServer
from tests.test_readme import BLOCKS, FIRST_LINES, README

# Each README block runs inside an async function (tests/test_readme.py runs them that way),
# with the names the README says they assume: `ca` and an open session `s`.
_HEADER = "import calleague_async as ca\n\n"

NARROWING = """
from typing import Any, assert_type

import calleague_async as ca


async def results(s: ca.AsyncSession, leads: list[ca.CallRequestDict]) -> None:
    async for result in s.calls.start_many(leads):
        assert_type(result, ca.StartPlaced | ca.StartFailed)
        if result.ok:
            assert_type(result.call, ca.Call)
            print(result.call.call_id)
        elif result.outcome_unknown:
            assert_type(result.error, ca.CalleagueError)
        else:
            assert_type(result.error, ca.CalleagueError)
        if result.call is not None:
            assert_type(result, ca.StartPlaced)
        if isinstance(result, ca.StartPlaced):
            assert_type(result.call, ca.Call)
        match result:
            case ca.StartPlaced(call=call):
                assert_type(call, ca.Call)
            case ca.StartFailed(error=ca.OutcomeUnknownError() as unknown):
                assert_type(unknown.idempotency_key, str | None)
            case ca.StartFailed(error=error):
                assert_type(error, ca.CalleagueError)


def built_by_hand(request: ca.CallRequest, call: ca.Call, error: ca.CalleagueError) -> None:
    assert_type(ca.StartResult(index=0, request=request, call=call), ca.StartPlaced)
    assert_type(ca.StartResult(index=0, request=request, error=error), ca.StartFailed)


def models(call: ca.Call, error: ca.APIError) -> None:
    assert_type(call.to_dict(), dict[str, Any])
    assert_type(error.body, object)


def a_store_of_my_own(store: ca.Store, spec: ca.BucketSpec) -> ca.Store:
    return store
"""

# Each line must fail the check with this message; nothing else may.
TYPOS = {
    "SandboxServer(cals=5)": 'Unexpected keyword argument "cals"',
    'SandboxServer(calls="5")': 'Argument "calls" to "SandboxServer" has incompatible type "str"',
    'leads: list[ca.CallRequestDict] = [{"agent_idd": "ag_1", "to": "+905551230001"}]': (
        'Extra key "agent_idd"'
    ),
    'error.body["detail"]': 'Value of type "object" is not indexable',
}


def _readme_module() -> tuple[str, dict[int, int]]:
    """The README's blocks as one module, and the README line of each of its lines."""
    lines = _HEADER.splitlines()
    where: dict[int, int] = {}
    for i, (block, first) in enumerate(zip(BLOCKS, FIRST_LINES, strict=True)):
        lines.append(f"async def _readme_block_{i}(s: ca.AsyncSession) -> None:")
        for offset, line in enumerate(block.rstrip("\n").splitlines()):
            lines.append(f"    {line}" if line else "")
            where[len(lines)] = first + offset
        lines.append("")
    return "\n".join(lines) + "\n", where


def _typos_module() -> str:
    body = [
        "import calleague_async as ca",
        "from calleague_async.testing import SandboxServer",
        "",
        "",
        "def typos(error: ca.APIError) -> None:",
    ]
    body += [f"    {line}" for line in TYPOS]
    return "\n".join(body) + "\n"


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[int, str]]]:
    """mypy --strict over the three user files, once: errors by file, as (line, message)."""
    project = tmp_path_factory.mktemp("user_project")
    readme, _ = _readme_module()
    files = {"readme_examples.py": readme, "narrowing.py": NARROWING, "typos.py": _typos_module()}
    for name, source in files.items():
        (project / name).write_text(source)
    (project / "mypy.ini").write_text("[mypy]\nstrict = True\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "mypy.ini",
            "--cache-dir",
            ".cache",
            *files,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    errors: dict[str, list[tuple[int, str]]] = {name: [] for name in files}
    for match in re.finditer(r"^(\w+\.py):(\d+): error: (.*)$", proc.stdout, flags=re.MULTILINE):
        errors[match[1]].append((int(match[2]), match[3]))
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 2: mypy itself failed
    return errors


def test_readme_examples_pass_mypy_strict(mypy_errors: dict[str, list[tuple[int, str]]]) -> None:
    _, where = _readme_module()
    found = [
        f"{README.name}:{where.get(line, '?')}: {msg}"
        for line, msg in mypy_errors["readme_examples.py"]
    ]
    assert not found, "\n".join(found)


def test_start_many_results_narrow_and_models_are_typed(
    mypy_errors: dict[str, list[tuple[int, str]]],
) -> None:
    assert not mypy_errors["narrowing.py"], mypy_errors["narrowing.py"]


def test_a_typo_fails_the_type_check_not_the_run(
    mypy_errors: dict[str, list[tuple[int, str]]],
) -> None:
    first = 6  # the line of the first TYPOS entry in typos.py
    expected = {first + i: message for i, message in enumerate(TYPOS.values())}
    found = {line: msg for line, msg in mypy_errors["typos.py"]}
    assert set(found) == set(expected), mypy_errors["typos.py"]
    for line, message in expected.items():
        assert message in found[line], (line, found[line])


PYRIGHT_NARROWING = """
from typing import assert_type

import calleague_async as ca


async def results(s: ca.AsyncSession, leads: list[ca.CallRequestDict]) -> None:
    async for result in s.calls.start_many(leads):
        if result.call is not None:
            assert_type(result, ca.StartPlaced)
        else:
            assert_type(result.error, ca.CalleagueError)
        if isinstance(result, ca.StartPlaced):
            assert_type(result.call, ca.Call)
        if result.ok is True:
            assert_type(result.call, ca.Call)
        match result:
            case ca.StartPlaced(call=call):
                assert_type(call, ca.Call)
            case ca.StartFailed(error=error):
                assert_type(error, ca.CalleagueError)
"""


def test_the_narrowing_the_docs_promise_every_checker_holds_under_pyright(
    tmp_path: Path,
) -> None:
    pyright = shutil.which("pyright", path=str(Path(sys.executable).parent))
    assert pyright is not None, "pyright is part of the [test] extra"
    (tmp_path / "narrowing.py").write_text(textwrap.dedent(PYRIGHT_NARROWING))
    (tmp_path / "pyrightconfig.json").write_text(
        '{"typeCheckingMode": "strict", "pythonVersion": "3.11", '
        f'"venvPath": "{Path(sys.prefix).parent}", "venv": "{Path(sys.prefix).name}"}}'
    )
    proc = subprocess.run(
        [pyright, "--outputjson", "narrowing.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout


class CountingStore:
    """A user's own store: implements the public ``ca.Store`` protocol, nothing more."""

    def __init__(self) -> None:
        self._inner = MemoryStore()
        self.acquired: list[list[str]] = []

    async def acquire(self, specs: Sequence[ca.BucketSpec], now: float) -> float:
        self.acquired.append([spec.key for spec in specs])
        return await self._inner.acquire(specs, now)

    async def pause(self, spec: ca.BucketSpec, seconds: float, now: float) -> None:
        await self._inner.pause(spec, seconds, now)

    async def close(self) -> None:
        await self._inner.close()


async def test_a_store_of_your_own_paces_the_session() -> None:
    store = CountingStore()
    typed: ca.Store = store  # the protocol is public, and this class satisfies it
    async with (
        SandboxServer(calls=3) as sb,
        sb.session(rate_limits={"default": "1000/second"}, rate_limit_store=typed) as s,
    ):
        for _ in range(3):
            await s.calls.get("cl_8f2a")
    assert len(store.acquired) >= 3 and all(store.acquired)  # a wait is asked again
