"""Pytest plugin providing the ``calleague_sandbox`` fixture.

Installed with the package (``pytest11`` entry point ``calleague_sandbox``), so pytest loads
it in every run of every project that has the SDK installed: it imports nothing heavy until a
test asks for the fixture. The fixture needs pytest-asyncio. Each test gets a fresh, started
:class:`~calleague_async.testing.SandboxServer` on a free loopback port, closed afterwards,
on the event loop the test runs on (whatever its ``loop_scope``). Configure it per test with
the ``calleague_sandbox`` marker, whose keyword arguments are ``SandboxConfig`` fields, and
mark the test ``@pytest.mark.asyncio``, which pytest-asyncio's default (strict) mode
requires::

    import pytest

    @pytest.mark.asyncio
    @pytest.mark.calleague_sandbox(calls=5, envelope=True)
    async def test_lists_calls(calleague_sandbox: SandboxServer) -> None:
        async with calleague_sandbox.session() as s:
            assert len([c async for c in s.calls.list()]) == 5
        assert calleague_sandbox.requests[0].path == "/api/core/voice/call/list"
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from calleague_async.testing._server import SandboxServer

__all__ = ["calleague_sandbox", "pytest_configure"]

_MARKER = "calleague_sandbox"
_LOOP_SCOPES: tuple[str, ...] = ("function", "class", "module", "package", "session")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``calleague_sandbox`` marker."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**options): SandboxConfig fields for the calleague_sandbox fixture",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The marker's options, checked by name: a typo names the option, not a stack trace."""
    import attrs

    from calleague_async.testing._server import SandboxConfig

    marker = request.node.get_closest_marker(_MARKER)
    if marker is None:
        return {}
    known = attrs.fields_dict(SandboxConfig)
    unknown = sorted(set(marker.kwargs) - set(known))
    if marker.args or unknown:
        got = f"unknown {', '.join(unknown)}" if unknown else f"positional {marker.args!r}"
        pytest.fail(
            f"@pytest.mark.{_MARKER} takes SandboxConfig fields as keywords ({', '.join(known)}); "
            f"got {got}",
            pytrace=False,
        )
    return dict(marker.kwargs)


def _test_loop_scope(request: pytest.FixtureRequest) -> str:
    """The scope of the event loop pytest-asyncio runs this test on; fails if it runs none."""
    marker = request.node.get_closest_marker("asyncio")
    if marker is None:  # auto mode marks every async test; strict mode wants the mark
        pytest.fail(
            f"{request.node.name} uses the calleague_sandbox fixture but pytest-asyncio does "
            "not run it: make it an `async def` test marked @pytest.mark.asyncio (pytest-asyncio's "
            "strict mode, its default, requires the mark), or set asyncio_mode = auto",
            pytrace=False,
        )
    scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
    if scope is None:
        try:
            scope = request.config.getini("asyncio_default_test_loop_scope")
        except ValueError:  # a pytest-asyncio without that option: every test has its own loop
            scope = None
    return scope if scope in _LOOP_SCOPES else "function"


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised only without pytest-asyncio

    @pytest.fixture(name="calleague_sandbox")
    def _calleague_sandbox_unavailable() -> NoReturn:
        """Unavailable: the fixture needs pytest-asyncio (``pip install pytest-asyncio``)."""
        pytest.fail(
            "the calleague_sandbox fixture needs pytest-asyncio; install it with "
            "`pip install pytest-asyncio`, or use `async with SandboxServer()` directly",
            pytrace=False,
        )

else:

    async def _serve(request: pytest.FixtureRequest) -> AsyncIterator[SandboxServer]:
        from calleague_async.testing._server import SandboxServer

        async with SandboxServer(**_options(request)) as sandbox:
            yield sandbox

    def _on_loop(scope: str | None) -> Any:
        loop: dict[str, Any] = {} if scope is None else {"loop_scope": scope}

        @pytest_asyncio.fixture(name=f"_calleague_sandbox_{scope or 'function'}_loop", **loop)
        async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[SandboxServer]:
            async for served in _serve(request):
                yield served

        return sandbox

    # A sandbox serves only while its loop runs, so it must start on the test's own loop: one
    # function-scoped fixture per loop scope, and calleague_sandbox picks the test's.
    try:
        _SCOPED = {f"_calleague_sandbox_{s}_loop": _on_loop(s) for s in _LOOP_SCOPES}
    except TypeError:  # a pytest-asyncio before 0.24 has no loop_scope: one loop per test
        _LOOP_SCOPES = ("function",)
        _SCOPED = {"_calleague_sandbox_function_loop": _on_loop(None)}
    globals().update(_SCOPED)  # pytest finds a plugin's fixtures among its globals

    @pytest.fixture
    def calleague_sandbox(request: pytest.FixtureRequest) -> SandboxServer:
        """A started sandbox on a free loopback port, on the test's event loop.

        Options come from the ``calleague_sandbox`` marker; ``sb.session()`` gives an
        ``AsyncSession`` wired to it.
        """
        sandbox: SandboxServer = request.getfixturevalue(
            f"_calleague_sandbox_{_test_loop_scope(request)}_loop"
        )
        return sandbox
