"""pytest glue of the Mininet suite: program paths, the preflight, and the `make_lab`
fixture that builds one topology per test and always tears it down.

Program paths come from PGMD_BIN, PGMCTL_BIN, PGMSEND_BIN, PGMRECV_BIN, PGMDUMP_BIN,
OPENPGM_RECV_BIN, or PGMD_BUILD_DIR/cli/NAME and PGMD_BUILD_DIR/tests/interop/openpgm_recv
(default: the checkout's build/). When the machine cannot run the
lab (not root, Mininet or a program missing) the session ends with exit status 77, which
ctest reports as skipped: a suite that did not run never counts as passed.
PGMNET_KEEP_TMP=1 keeps every run's files; a failed test's files are always kept.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgmtopo  # noqa: E402
from pgmtopo import netlab  # noqa: E402

SKIPPED = 77


def pytest_sessionstart(session):
    problems = pgmtopo.missing(pgmtopo.tools_from_env(interop=True))
    if problems:
        pytest.exit("Mininet suite cannot run here: " + ", ".join(problems), SKIPPED)
    pgmtopo.remove_stale_runs()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def tools():
    return pgmtopo.tools_from_env(interop=True)


@pytest.fixture
def make_lab(tools, request):
    """make_lab(topology) -> a built MininetLab; stopped (processes, network, files) at
    the end of the test whatever happened. SIGTERM/SIGHUP raise during the test so that
    the teardown runs on `kill` (ctest's timeout) as on Ctrl-C."""
    labs = []
    restore = netlab.raise_on_signals()

    def make(topo):
        lab = pgmtopo.MininetLab(topo, tools)
        labs.append(lab)
        return lab.build()
    try:
        yield make
    finally:
        failed = any(getattr(getattr(request.node, f"report_{when}", None), "failed", False)
                     for when in ("setup", "call"))
        exits = []
        for lab in labs:
            # pgmd must stop cleanly on SIGTERM (and, in the sanitizer build, without a
            # report): checked after every test that got that far.
            bad = lab.stop_pgmd_all()
            exits += [f"pgmd on {r} exit {rc} on SIGTERM:\n{log}" for r, (rc, log) in
                      bad.items()]
            lab.keep_tmp = failed or bool(bad) or bool(os.environ.get("PGMNET_KEEP_TMP"))
            lab.stop()
            if lab.keep_tmp:
                print(f"\n{request.node.name}: files kept in {lab.tmp}", file=sys.stderr)
        restore()
        if exits and not failed:
            pytest.fail("\n".join(exits))
