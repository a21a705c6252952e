"""pgmnet.py, the interactive entry point, without a terminal (--check) and with its CLI
fed from a pipe: it builds the topology, starts pgmd on every router, each pgmd answers
pgmctl, and everything is gone afterwards."""
import os
import re
import subprocess

import pytest

import pgmtopo
from pgmtopo import Topology, json_diff

HERE = os.path.dirname(os.path.abspath(__file__))
PGMNET = os.path.join(HERE, "pgmnet.py")
PYTHON = "/usr/bin/python3"


def run_pgmnet(*args, stdin=None, limit_s=90):
    return subprocess.run([PYTHON, PGMNET, *args], input=stdin, capture_output=True,
                          text=True, timeout=limit_s)


def leftovers(tmp):
    """Processes whose command line names this run's directory (pgmd -f TMP/...)."""
    out = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if tmp.encode() in f.read():
                    out.append(pid)
        except OSError:
            pass
    return out


@pytest.mark.parametrize("spec,routers", [
    ("tree,2,3", ["r1", "r2", "r3", "r4"]),
    ("chain,3", ["r1", "r2", "r3"]),
    (os.path.join(HERE, "topologies", "two-lans.json"), ["r1", "r2", "r3"]),
])
def test_check_mode(spec, routers):
    r = run_pgmnet("--topo", spec, "--check")
    assert r.returncode == 0, r.stdout + r.stderr
    answered = re.findall(r"^(\w+): pgmd answers on (\S+):", r.stdout, re.M)
    assert [name for name, _ in answered] == routers, r.stdout
    tmp = os.path.dirname(answered[0][1])
    assert not os.path.exists(tmp), f"{tmp} left behind"
    assert not leftovers(tmp), f"processes left behind: {leftovers(tmp)}"


def test_cli_runs_pgmctl_on_a_router():
    """The Mininet CLI, read from a pipe: `pgmctl` on a router is bound to its pgmd."""
    r = run_pgmnet("--topo", "chain,2", stdin="r2 pgmctl -j ping\nr2 pgmctl show interfaces\n")
    out = r.stdout + r.stderr  # Mininet's CLI prints through its logger (stderr)
    assert r.returncode == 0, out
    assert '"pong": true' in out and "INTERFACE" in out, out


def test_bad_topology_is_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"routers": ["r1"], "hosts": {"h1": {}}, "links": [["h1", "r9"]]}')
    for spec in ("tree,0,3", "ring,3", str(bad)):
        r = run_pgmnet("--topo", spec, "--check", limit_s=30)
        assert r.returncode == 2 and "pgmnet:" in r.stderr, (spec, r.stderr)


def test_topology_library():
    """Descriptions and the JSON matcher, no network needed."""
    tree = Topology.tree(2, 3)
    assert tree.routers == ["r1", "r2", "r3", "r4"] and len(tree.receivers()) == 9
    assert tree.sources() == ["src"] and tree.segment_of("r1", "r3") == "r1-r3"
    assert Topology.from_dict(tree.to_dict()).to_dict() == tree.to_dict()
    with pytest.raises(ValueError, match="longer than"):
        Topology(["averyveryverylongname"], {"h": {}}, [("h", "averyveryverylongname")])
    with pytest.raises(ValueError, match="'sqns' or 'percent'"):
        Topology(["r1"], {"h": {}}, [("h", "r1")], loss=[{"at": "r1", "towards": "h"}])
    reply = {"sessions": [{"tsi": "a.1", "lead": 5}, {"tsi": "a.2", "lead": 9}]}
    assert json_diff(reply, {"sessions": [{"tsi": "a.2"}, {"tsi": "a.1"}]}) == []
    assert json_diff(reply, {"sessions": [{"tsi": "a.2", "lead": lambda n: n > 5}]}) == []
    assert json_diff(reply, {"sessions": [{"tsi": "a.3"}]})
    assert json_diff(reply, {"sessions": []}) and json_diff({"x": []}, {"x": []}) == []
    assert json_diff(reply, {"missing": None}) == [] and json_diff(reply, {"sessions": None})
    assert pgmtopo.GROUP == tree.group
