"""The package as users meet it: metadata, licence, optional rich, help() and the docs pages."""

from __future__ import annotations

import pickle
import pydoc
import re
import subprocess
import sys
import tomllib
import typing
from pathlib import Path
from typing import assert_type

import pytest

import calleague_async as ca
from calleague_async import errors
from calleague_async.resources import Agents, Calls, Webhooks

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _render(thing: object) -> str:
    return pydoc.plain(pydoc.render_doc(thing))


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_licence_is_mit_with_a_year_and_a_holder() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License")
    assert re.search(r"^Copyright \(c\) 20\d\d \S.*$", text, flags=re.MULTILINE)
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    assert PYPROJECT["project"]["license"] == "MIT"


def test_the_metadata_names_the_project_urls() -> None:
    urls = PYPROJECT["project"]["urls"]
    assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())


def test_rich_is_only_in_the_cli_extra() -> None:
    names = [re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0].lower() for dep in _base_deps()]
    assert "rich" not in names
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(dep.startswith("rich") for dep in extras["cli"])
    dev = " ".join(extras["dev"])
    assert re.search(r"calleague-async\[[^\]]*\bcli\b", dev), "dev must include the cli extra"


def _base_deps() -> list[str]:
    deps: list[str] = PYPROJECT["project"]["dependencies"]
    return deps


def test_importing_the_sdk_does_not_import_rich() -> None:
    proc = _run("import calleague_async, sys; assert 'rich' not in sys.modules, 'rich imported'")
    assert proc.returncode == 0, proc.stderr


def test_the_command_without_rich_says_which_extra_to_install() -> None:
    # ``None`` in sys.modules makes ``import rich`` fail as it does when rich is not installed.
    proc = _run(
        "import sys; sys.modules['rich'] = None; "
        "from calleague_async.cli import main; sys.exit(main(['calls', 'get', 'cl_8f2a']))"
    )
    assert proc.returncode == 2
    assert "calleague-async[cli]" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_help_of_the_session_names_the_public_module() -> None:
    text = _render(ca.AsyncSession)
    assert "class AsyncSession in module calleague_async\n" in text
    assert "_client.AsyncSession" not in text
    assert "module calleague_async._client" not in text


def test_public_classes_belong_to_the_package_and_keep_their_type_hints() -> None:
    for name in ca.__all__:
        obj = getattr(ca, name)
        if isinstance(obj, type):
            assert obj.__module__ == "calleague_async", name
            assert getattr(ca, obj.__qualname__) is obj, name  # how pickle finds it
            typing.get_type_hints(obj)  # annotations still resolve from the new module name
    assert repr(ca.CallStatus.COMPLETED) == "<CallStatus.COMPLETED: 'completed'>"


def test_public_errors_still_pickle() -> None:
    error = ca.NotFoundError("no such call", status_code=404)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ca.NotFoundError
    assert str(copy) == str(error)


@pytest.mark.parametrize(
    ("name", "resource", "methods"),
    [
        ("calls", Calls, ("start", "start_many", "get", "list")),
        ("agents", Agents, ("get", "list")),
        ("webhooks", Webhooks, ("create",)),
    ],
)
def test_help_of_a_resource_group_on_the_class_shows_its_methods(
    name: str, resource: type[object], methods: tuple[str, ...]
) -> None:
    group = getattr(ca.AsyncSession, name)
    assert group is resource
    text = _render(group)
    assert "cached_property" not in text
    for method in methods:
        assert f"{method}(" in text


async def test_a_resource_group_is_made_once_per_session() -> None:
    async with ca.AsyncSession(api_key="sk_test_package", rate_limits=None) as s:
        calls = assert_type(s.calls, Calls)  # for mypy and pyright, as at run time
        assert_type(ca.AsyncSession.calls, type[Calls])
        assert isinstance(calls, Calls)
        assert s.calls is calls
        assert "calls" in vars(s)  # cached on the instance, like functools.cached_property
        assert isinstance(s.agents, Agents)
        assert isinstance(s.webhooks, Webhooks)
        assert "start" in _render(s.calls)
    async with ca.AsyncSession(api_key="sk_test_package", rate_limits=None) as other:
        assert other.calls is not calls


def test_every_public_name_has_a_reference_entry() -> None:
    pages = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").rglob("*.md"))
    documented = set(re.findall(r"^::: ([\w.]+)", pages, flags=re.MULTILINE))
    in_errors_page = set(errors.__all__) if "calleague_async.errors" in documented else set()
    missing = [
        name
        for name in ca.__all__
        if not name.startswith("__")
        and f"calleague_async.{name}" not in documented
        and name not in in_errors_page
    ]
    assert not missing, f"add ::: lines to docs/reference/ for {missing}"
    assert {"calleague_async.export", "calleague_async.testing"} <= documented
