"""Project tasks: ``nox -s tests lint typecheck docs`` (the gate); ``lowest``, ``soak``, ``fuzz``.

``bench`` runs the benchmarks, never part of the gate.
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.default_venv_backend = "venv"

PYTHON = ["3.11"]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the whole test suite (unit, HTTP layer, sandbox integration, the CLI)."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff (lint and format), the import-linter layer contract, pyright's type completeness."""
    session.install("-e", ".[dev]")
    paths = ["calleague_async", "tests", "examples", "benchmarks", "docs", "noxfile.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    session.run("lint-imports")
    # Every public name fully typed for users' checkers: exits 1 below 100%.
    session.run("pyright", "--verifytypes", "calleague_async", "--ignoreexternal")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks (never part of the test gate): ``nox -s bench [-- http limiter export]``.

    The HTTP benchmark needs nginx (Debian: ``apt-get install nginx-light``).
    """
    session.install("-e", ".[test,bench]")
    names = session.posargs or ["http", "limiter", "export"]
    for name in names:
        session.run("python", "-m", f"benchmarks.bench_{name}")


@nox.session(python=PYTHON)
def lowest(session: nox.Session) -> None:
    """The test suite on the lowest version of every dependency we declare (uv's lowest-direct).

    A floor in pyproject.toml is a promise; this session is where it is kept. The ``cli``
    extra (rich) is in, since the suite runs the ``calleague`` command.
    """
    session.install("uv")
    session.run(
        "uv", "pip", "install", "--python", session.virtualenv.location,
        "--resolution", "lowest-direct", "-e", ".[test,cli]",
    )  # fmt: skip
    session.run("pytest", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """100,000 requests under random faults: results checked, memory and fds printed.

    ``nox -s soak -- --requests 5000`` is CI's bounded form.
    """
    session.install("-e", ".[test]")
    session.run("python", "-m", "benchmarks.soak", *session.posargs)


@nox.session(python=PYTHON)
def fuzz(session: nox.Session) -> None:
    """The hypothesis fuzz tests with many more examples than the normal suite runs.

    ``CALLEAGUE_FUZZ_EXAMPLES`` sets the count (default here 20,000 per test).
    """
    session.install("-e", ".[test]")
    env = {"CALLEAGUE_FUZZ_EXAMPLES": os.environ.get("CALLEAGUE_FUZZ_EXAMPLES", "20000")}
    session.run("pytest", "-p", "no:cacheprovider", "-m", "fuzz", *session.posargs, env=env)


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and the examples."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the API reference site from the docstrings into ``site/``; any warning fails it.

    ``nox -s docs -- serve`` previews it at http://127.0.0.1:8000 instead.
    """
    session.install("-e", ".[docs]")
    env = {"NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's banner about its own future
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:], env=env)
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs, env=env)
