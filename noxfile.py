"""The single entry point for tests, lint, typing, benchmarks and the soak.

Works with an old system pip: every session upgrades pip inside its own
virtualenv first, and dependency groups are read with
``nox.project.dependency_groups`` (no pip >= 25.1 needed).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = ["3.11"]
# The other supported CPythons: the suite runs there too, without coverage.
OTHER_PYTHONS = ["3.12", "3.13"]

# The engine, client and plugin tests, run again where users run them (`compat`).
COMPAT_TESTS = [
    "tests/test_compat.py",
    "tests/test_watch.py",
    "tests/test_watch_units.py",
    "tests/test_watch_scale.py",
    "tests/test_watch_docs.py",
    "tests/test_client.py",
    "tests/test_client_args.py",
    "tests/test_auth.py",
    "tests/test_http_faults.py",
    "tests/test_pacing.py",
    "tests/test_pacing_sim.py",
    "tests/test_engine_clock.py",
    "tests/test_plugin.py",
]
# What each compatibility run installs beside the test dependencies.
COMPAT_PACKAGES = {
    "uvloop": ["uvloop>=0.19"],
    "sniffio-trio": ["sniffio>=1.3", "trio>=0.27"],
    "pytest-asyncio": ["pytest-asyncio>=0.24"],
}


def _install(session: nox.Session, *groups: str, extras: str = "") -> None:
    session.install("--upgrade", "pip")
    deps: list[str] = []
    for group in groups:
        deps.extend(nox.project.dependency_groups(PYPROJECT, group))
    session.install("-e", f".{extras}", *deps)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite with branch coverage (fails under 95 %)."""
    _install(session, "test")
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", "-m", "not slow", *session.posargs)
    session.run("coverage", "combine", success_codes=[0, 1])
    session.run("coverage", "report", "--fail-under=95")


@nox.session(python=OTHER_PYTHONS)
def tests_other(session: nox.Session) -> None:
    """The test suite on the other supported CPythons (no coverage: `tests` measures it)."""
    _install(session, "test")
    session.run("pytest", "-m", "not slow", "-q", *session.posargs)


@nox.session(python=PYTHON)
@nox.parametrize("env", list(COMPAT_PACKAGES))
def compat(session: nox.Session, env: str) -> None:
    """The engine, client and plugin tests where users run them.

    - ``uvloop``: every async test on uvloop's event loop;
    - ``sniffio-trio``: with sniffio and trio installed (anyio then asks sniffio
      which library runs; trio gets its typed error);
    - ``pytest-asyncio``: the plugin's fixtures driven by pytest-asyncio.
    """
    _install(session, "test")
    session.install(*COMPAT_PACKAGES[env])
    if env == "pytest-asyncio":
        tests = ["tests/test_plugin_pytest_asyncio.py", "tests/test_plugin.py"]
        # Set, so that pytest-asyncio does not warn (an error here) about its default.
        options = ["-o", "asyncio_default_fixture_loop_scope=function"]
    else:
        tests, options = COMPAT_TESTS, []
    loop = "uvloop" if env == "uvloop" else ""
    session.run(
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        *options,
        *tests,
        *session.posargs,
        env={"CMDPROGRESS_TEST_LOOP": loop},
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    _install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typing(session: nox.Session) -> None:
    """mypy --strict on the package and on a file that uses the public API."""
    _install(session, "typing")
    session.run("mypy", "cmdprogress", "tests/typecheck_public_api.py")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks and write benchmarks/RESULTS.md (not run by default)."""
    _install(session, "bench")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON, name="bench-overhead")
def bench_overhead(session: nox.Session) -> None:
    """Only the overhead part, frozen and moving workloads (issue 13); rewrites only its section.

    ``nox -s bench-overhead -- --quick`` is a short run (2,000 requests, 2 rounds).
    """
    _install(session, "bench")
    session.run("python", "-m", "benchmarks", "overhead", *session.posargs)


@nox.session(python=PYTHON, name="bench-pacing")
def bench_pacing(session: nox.Session) -> None:
    """Only the pacing benchmarks (issue 11); rewrites only their section of RESULTS.md.

    ``nox -s bench-pacing -- --soak`` also runs the full soak with and without faults.
    """
    _install(session, "bench")
    session.run("python", "-m", "benchmarks", "pacing", *session.posargs)


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """The full soak test: 2,000 commands under faults (not run by default; a few minutes).

    ``-s`` shows the measured figures of the run (requests, faults, peak in
    flight, logins, memory samples).
    """
    _install(session, "test")
    session.run(
        "pytest",
        "-m",
        "slow",
        "-s",
        "tests/test_soak.py",
        *session.posargs,
        env={"CMDPROGRESS_SOAK": "full"},
    )
