"""Fixtures of the protocol conformance suite.

The peer (tests/protocol/peer) is written from docs/protocol.md alone and
shares no code with core/. The netsys programs it talks to are built by
`make protocol-programs`. Tests are parametrized over the Go and the C ABI
implementations; each names the document rules it checks with
@rule("R-x.y", ...).

Set PROTOCOL_REPORT=path to write a per-test table (rules, outcome).
"""

from __future__ import annotations

import os

import pytest

from peer.procs import ServerPool


def pytest_configure(config):
    config.addinivalue_line("markers", "rule(*ids): the docs/protocol.md rules a test checks")


@pytest.fixture(scope="session")
def pool():
    p = ServerPool()
    yield p
    p.close()


@pytest.fixture(params=["go", "c"])
def impl(request):
    """The netsys implementation under test: the Go core or the C ABI."""
    return request.param


@pytest.fixture
def server(pool, impl):
    """The shared server with the default configuration of the suite."""
    return pool.get(impl)


@pytest.fixture
def fresh():
    """Servers started for one test only, stopped after it."""
    started = []

    def start(kind, **flags):
        from peer.procs import Server
        s = Server(kind, flags)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close_stdin()
    for s in started:
        try:
            s.wait_exit(10)
        except AssertionError:
            pass


_results: list[tuple[str, str, str, str]] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    rules = []
    for m in item.iter_markers("rule"):
        rules.extend(m.args)
    if rep.when == "call" or (rep.when == "setup" and rep.outcome != "passed"):
        msg = ""
        if rep.failed:
            msg = str(rep.longrepr.reprcrash.message if hasattr(rep.longrepr, "reprcrash") and rep.longrepr.reprcrash else rep.longrepr)
            msg = msg.splitlines()[0][:300] if msg else ""
        _results.append((item.nodeid, ",".join(rules), rep.outcome, msg))


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("PROTOCOL_REPORT")
    if not path:
        return
    with open(path, "w") as f:
        f.write("| test | rules | against this build | first line of the failure |\n|---|---|---|---|\n")
        for nodeid, rules, outcome, msg in _results:
            msg = msg.replace("|", "\\|")
            f.write(f"| `{nodeid.split('::', 1)[-1]}` | {rules} | {outcome} | {msg} |\n")
