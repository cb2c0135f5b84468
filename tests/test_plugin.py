"""The pytest plugin as users meet it: loaded by every run, strict and auto mode, event loops.

User projects run in a subprocess (``pytester``), with only their own configuration: the
plugin is what pytest loads from the installed package's ``pytest11`` entry point.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

import calleague_async as ca
from calleague_async.testing import SandboxServer
from tests.test_readme import BLOCKS

pytest_plugins = ["pytester"]

# The README's pytest example, as a user's test module.
README_TEST = next(b for b in BLOCKS if "calleague_sandbox" in b and "def test_" in b)
USER_HEADER = "import calleague_async as ca\n"


def run(pytester: pytest.Pytester, *options: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function", *options
    )


def test_loading_the_plugin_imports_neither_the_sandbox_nor_aiohttp_web() -> None:
    code = (
        "import sys, calleague_async.testing.pytest_plugin\n"
        "print(sorted(m for m in ('aiohttp.web', 'calleague_async.testing._server') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_the_readme_example_passes_in_strict_and_auto_mode(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makepyfile(test_readme_example=USER_HEADER + README_TEST)
    result = run(pytester, "-o", f"asyncio_mode={mode}")
    result.assert_outcomes(passed=1)


def test_an_unmarked_async_test_in_strict_mode_is_told_to_add_the_mark(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        async def test_unmarked(calleague_sandbox):
            pass
        """
    )
    result = run(pytester, "-o", "asyncio_mode=strict")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*pytest-asyncio does not run it*@pytest.mark.asyncio*"])
    result.stdout.no_fnmatch_line("*not natively supported*")


def test_a_misspelt_marker_option_names_the_known_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.calleague_sandbox(cals=5)
        async def test_typo(calleague_sandbox):
            pass
        """
    )
    result = run(pytester, "-o", "asyncio_mode=strict")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*calleague_sandbox takes SandboxConfig fields*got unknown cals*"])


@pytest.mark.parametrize("default_scope", ["function", "module"])
def test_the_fixture_serves_on_the_loop_of_each_test_whatever_its_scope(
    pytester: pytest.Pytester, default_scope: str
) -> None:
    # Before, the fixture's sandbox stayed on the function loop: a module-loop test hung.
    pytester.makepyfile(
        """
        import pytest
        import calleague_async as ca

        async def get(sb):
            async with ca.AsyncSession(
                api_key=sb.api_key, base_url=sb.base_url, timeout=2, max_retries=0
            ) as s:
                return await s.calls.get("cl_8f2a")

        @pytest.mark.asyncio
        async def test_default_loop(calleague_sandbox):
            await get(calleague_sandbox)

        @pytest.mark.asyncio(loop_scope="module")
        async def test_module_loop(calleague_sandbox):
            await get(calleague_sandbox)

        @pytest.mark.asyncio(loop_scope="session")
        async def test_session_loop(calleague_sandbox):
            await get(calleague_sandbox)
        """
    )
    result = run(
        pytester,
        "-o",
        "asyncio_mode=strict",
        "-o",
        f"asyncio_default_test_loop_scope={default_scope}",
    )
    result.assert_outcomes(passed=3)


def test_a_module_scoped_sandbox_used_from_a_function_loop_says_how_to_fix_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        import pytest_asyncio
        from calleague_async.testing import SandboxServer

        @pytest_asyncio.fixture(scope="module", loop_scope="module")
        async def sandbox():
            async with SandboxServer(calls=3) as sb:
                yield sb

        @pytest.mark.asyncio
        async def test_wrong_loop(sandbox):
            async with sandbox.session(timeout=30) as s:
                await s.calls.get("cl_8f2a")

        @pytest.mark.asyncio(loop_scope="module")
        async def test_right_loop(sandbox):
            async with sandbox.session() as s:
                await s.calls.get("cl_8f2a")
        """
    )
    result = run(pytester, "-o", "asyncio_mode=strict", "--timeout=20")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: SandboxServer.session(): *another event loop*"])
    result.stdout.fnmatch_lines(["*loop_scope*"])


async def test_a_session_is_wired_to_its_sandbox_paths_included() -> None:
    paths = {"calls.get": "/v2/calls/{callId}", "calls.list": "/v2/calls"}
    async with SandboxServer(calls=3, paths=paths) as sb, sb.session(max_retries=0) as s:
        assert s.base_url == sb.base_url
        assert (await s.calls.get("cl_8f2a")).call_id == "cl_8f2a"
        assert len([c async for c in s.calls.list()]) == 3
        assert [r.path for r in sb.requests][:2] == ["/v2/calls/cl_8f2a", "/v2/calls"]


async def test_session_options_win_over_the_wiring() -> None:
    async with SandboxServer(calls=1) as sb, sb.session(api_key="sk_wrong", max_retries=0) as s:
        with pytest.raises(ca.AuthenticationError):
            await s.calls.get("cl_8f2a")


def test_a_session_made_outside_any_loop_is_checked_when_used() -> None:
    with asyncio.Runner() as home:
        sb = SandboxServer(calls=1)
        home.run(sb.start())
        try:
            session = sb.session()  # no loop runs here: nothing to compare yet

            async def use_elsewhere() -> None:
                with pytest.raises(RuntimeError, match="another event loop"):
                    await session.calls.get("cl_8f2a")  # without `async with`, too
                with pytest.raises(RuntimeError, match="loop_scope"):
                    sb.session()  # made on the wrong loop: refused at once

            with asyncio.Runner() as elsewhere:
                elsewhere.run(use_elsewhere())

            async def use_at_home() -> None:
                async with session:
                    assert (await session.calls.get("cl_8f2a")).call_id == "cl_8f2a"

            home.run(use_at_home())
        finally:
            home.run(sb.close())


def test_a_session_of_a_sandbox_not_started_is_refused() -> None:
    with pytest.raises(RuntimeError, match="start the sandbox first"):
        SandboxServer().session()
