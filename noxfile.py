"""Project tasks: ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"

PYTHON = ["3.11"]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the whole test suite (unit, HTTP layer, sandbox integration)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff (lint and format) and the import-linter layer contract."""
    session.install("-e", ".[dev]")
    session.run("ruff", "check", "calleague_async", "tests", "examples", "benchmarks", "noxfile.py")
    session.run(
        "ruff",
        "format",
        "--check",
        "calleague_async",
        "tests",
        "examples",
        "benchmarks",
        "noxfile.py",
    )
    session.run("lint-imports")


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
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and the examples."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict")
