"""pgmtopo: PGM topologies on Mininet 2.3 as it works on these machines (issue 7).

Routers are Mininet nodes (their own network namespace, ip_forward=1, rp_filter=0) running
pgmd; LANs are Linux bridges (Mininet's LinuxBridge, inside a namespace of their own, IGMP
snooping off); sources and receivers are Mininet hosts running pgmsend/pgmrecv or other
peers. No Open vSwitch, no controller, no netem (docs/mininet.md says why). Loss
is a small tc BPF program on clsact egress of the interface that sends onto a link (no
gact action in this kernel): ODATA leaves there whichever path forwarded it, pgmd's raw
socket (which passes netfilter's output hook) or pgmd's kernel fast path (a
bpf_clone_redirect() from tc ingress, which passes no netfilter hook at all).

Python 3.11 standard library plus Debian's `mininet` package (and clang, bpftool, tc for
the loss program); run as root with /usr/bin/python3. The process, capture and pgmd
helpers are tests/integration/netlab.py's Lab (MininetLab runs its commands in Mininet
nodes instead of named namespaces).

API
---
Topology(routers, hosts, links, lans, loss, group)      a description only, no side effects
  Topology.parse(spec)            "tree,DEPTH,FANOUT[,RECEIVERS]", "chain,N[,RECEIVERS]" or
                                  the path of a JSON topology file (format in docs/mininet.md)
  tree(depth, fanout, receivers=3) / chain(n, receivers=2)
  from_dict(d) / to_dict()
  with_loss(*rules) -> self       replace the loss rules (checked)
  sources() / receivers() -> [host]  hosts by role
  segment_of(node, peer) -> segment   the link or LAN joining node and peer (or LAN name)
MininetLab(topo, tools, tmp=None, keep_tmp=False)      a netlab.Lab on a Mininet network
  build()                         create nodes, links, bridges, addresses, routes, loss
  node(name) -> mininet Node
  intf(node, towards) -> str      node's interface towards a peer node or a LAN
  address(node, towards=None) -> str  its IPv4 address (the only one when towards is None)
  upstream_intfs(router) -> [str] interfaces towards the sources (RPF)
  pgmd_conf_text(router, timers=None, extra_global="", extra="") -> str
  start_pgmd_all(timers=None, extra_global="", extra="", limit_s=15) -> {router: Popen}
                                  extra: sections appended to every router's pgmd.conf,
                                  or {router: text} for some routers only
  stop_pgmd_all() -> {router: (status, log tail)}   the pgmd that did not exit 0
  sock(router) -> str             the control socket of that router's pgmd
  pgmctl(router, *command) -> JSON data of `pgmctl -j -u SOCK COMMAND`
  expect_json(router, command, expected, limit_s=10)
                                  topotest style: poll pgmctl until json_diff() is empty
  wait_members_for(hosts) / wait_members(router, towards)
                                  until the pgmd on the way have learnt the group (IGMP)
  dropped(node) -> int            packets dropped by node's loss rules so far (their BPF
                                  map, read with bpftool)
  start_pgmrecv(host, count=None, extra=(), name=None) -> Popen (ready-file waited for)
  start_openpgm_recv(host, count, extra=()) -> Popen   an OpenPGM receiver (tests/interop)
  start_pgmsend(host, count, size, rate, extra=(), name=None) -> Popen
  summary(name) -> dict           the --json summary a pgmsend/pgmrecv printed
  stop() (netlab.Lab.stop)        processes, then the Mininet network, then the files
json_diff(actual, expected) -> [str]   what differs from the expected subset (below)
remove_stale_runs()               stop processes left by a run that was SIGKILLed
tools_from_env(build_dir=None, interop=False) -> {tool: path};  missing(tools) -> [why it cannot run]
Inherited from netlab.Lab: capture/stop_capture, start/stop_proc/wait_proc, text,
finish_receivers, wait_ready, start_pgmd, pgmd_state, wait_pgmd_groups, nft, route, ...
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zlib
from collections import deque

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "integration"))
import netlab  # noqa: E402
from netlab import Failure, wait_until  # noqa: E402,F401

GROUP = "239.192.0.1"
DPORT = 7500
IFNAMSIZ = 15
RUN_PREFIX = "pgmnet."  # tempfile prefix of every run's directory (stale-run cleanup)


# ----------------------------------------------------------------------- description

class Topology:
    """Routers, hosts (role "source" or "receiver"), point-to-point links, LANs (bridges
    with two or more members) and loss rules. Names are Mininet node names; interface
    names are derived from them (NODE-PEER on links, NODE-LAN on LANs, bridge ports
    LAN-ethN), so they must stay within the kernel's 15 characters."""

    def __init__(self, routers, hosts, links=(), lans=None, loss=(), group=GROUP, name=""):
        self.name = name
        self.routers = list(routers)
        self.hosts = {h: dict(v or {}) for h, v in hosts.items()}
        self.links = [tuple(link) for link in links]
        self.lans = {lan: list(members) for lan, members in (lans or {}).items()}
        self.loss = [dict(rule) for rule in loss]
        self.group = group
        self._check()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def parse(cls, spec):
        parts = spec.split(",")
        try:
            if parts[0] == "tree" and len(parts) in (3, 4):
                return cls.tree(*(int(p) for p in parts[1:]))
            if parts[0] == "chain" and len(parts) in (2, 3):
                return cls.chain(*(int(p) for p in parts[1:]))
        except ValueError as e:
            raise ValueError(f"topology {spec!r}: {e}") from None
        if os.path.exists(spec):
            with open(spec) as f:
                try:
                    d = json.load(f)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{spec}: not JSON: {e}") from None
            d.setdefault("name", os.path.splitext(os.path.basename(spec))[0])
            return cls.from_dict(d)
        raise ValueError(f"topology {spec!r}: want tree,DEPTH,FANOUT[,RECEIVERS], "
                         "chain,N[,RECEIVERS] or an existing JSON file")

    @classmethod
    def from_dict(cls, d):
        unknown = set(d) - {"name", "routers", "hosts", "links", "lans", "loss", "group"}
        if unknown:
            raise ValueError(f"topology: unknown keys {sorted(unknown)}")
        hosts = d.get("hosts", {})
        if isinstance(hosts, list):
            hosts = {h: {} for h in hosts}
        return cls(d.get("routers", []), hosts, d.get("links", []), d.get("lans", {}),
                   d.get("loss", []), d.get("group", GROUP), d.get("name", ""))

    def to_dict(self):
        return {"name": self.name, "group": self.group, "routers": self.routers,
                "hosts": self.hosts, "links": [list(link) for link in self.links],
                "lans": self.lans, "loss": self.loss}

    @classmethod
    def tree(cls, depth, fanout, receivers=3):
        """Mininet's TreeTopo with routers for switches: `depth` levels of routers (r1 at
        the top, FANOUT children each), a source on r1, and below each router of the last
        level a LAN with `receivers` hosts. tree(2, 3): r1; r2..r4; lan2..lan4, 9 hosts."""
        if depth < 1 or fanout < 1 or receivers < 1:
            raise ValueError("tree: depth, fanout and receivers must be at least 1")
        routers, links, lans, hosts = ["r1"], [("src", "r1")], {}, {"src": {"role": "source"}}
        level = ["r1"]
        for _ in range(depth - 1):
            below = []
            for parent in level:
                for _ in range(fanout):
                    child = f"r{len(routers) + 1}"
                    routers.append(child)
                    links.append((parent, child))
                    below.append(child)
            level = below
        for r in level:
            lan = "lan" + r[1:]
            members = [r]
            for i in range(1, receivers + 1):
                h = f"h{r[1:]}x{i}"
                hosts[h] = {"role": "receiver"}
                members.append(h)
            lans[lan] = members
        return cls(routers, hosts, links, lans, name=f"tree,{depth},{fanout}")

    @classmethod
    def chain(cls, n, receivers=2):
        """src -- r1 -- r2 -- ... -- rN -- lan1 (`receivers` hosts h1..)."""
        if n < 1 or receivers < 1:
            raise ValueError("chain: N and receivers must be at least 1")
        routers = [f"r{i}" for i in range(1, n + 1)]
        links = [("src", "r1")] + [(routers[i], routers[i + 1]) for i in range(n - 1)]
        hosts = {"src": {"role": "source"}}
        hosts.update({f"h{i}": {"role": "receiver"} for i in range(1, receivers + 1)})
        lans = {"lan1": [routers[-1]] + [f"h{i}" for i in range(1, receivers + 1)]}
        return cls(routers, hosts, links, lans, name=f"chain,{n}")

    def with_loss(self, *rules):
        """These loss rules instead of the present ones (checked); returns self."""
        self.loss = [dict(rule) for rule in rules]
        self._check()
        return self

    # -- queries ------------------------------------------------------------------------
    def sources(self):
        return [h for h, v in self.hosts.items() if v.get("role") == "source"]

    def receivers(self):
        return [h for h, v in self.hosts.items() if v.get("role", "receiver") == "receiver"]

    def segments(self):
        """[(segment name, [members])]: links named "A-B" first, then the LANs."""
        return ([(f"{a}-{b}", [a, b]) for a, b in self.links] +
                [(lan, members) for lan, members in self.lans.items()])

    def segment_of(self, node, peer):
        """The link or LAN of `node` named `peer`, or joining it to node `peer`."""
        for seg, members in self.segments():
            if node in members and (peer == seg or (peer in members and peer != node)):
                return seg
        raise ValueError(f"{node} has no link or LAN towards {peer}")

    def _check(self):
        names = self.routers + list(self.hosts) + list(self.lans)
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"topology: names used twice: {sorted(dup)}")
        nodes = set(self.routers) | set(self.hosts)
        for seg, members in self.segments():
            bad = [m for m in members if m not in nodes]
            if bad:
                raise ValueError(f"topology: {seg} joins unknown nodes {bad}")
            if len(members) < 2 or len(set(members)) != len(members):
                raise ValueError(f"topology: {seg} needs two or more distinct members")
        for h, v in self.hosts.items():
            if v.get("role", "receiver") not in ("source", "receiver"):
                raise ValueError(f"topology: host {h}: role must be source or receiver")
            count = sum(h in members for _, members in self.segments())
            if count != 1:
                raise ValueError(f"topology: host {h} is on {count} links/LANs, want 1")
        for r in self.routers:
            if not any(r in members for _, members in self.segments()):
                raise ValueError(f"topology: router {r} is not connected")
        if len(self.segments()) > 250:
            raise ValueError("topology: at most 250 links and LANs (10.0.N.0/24 each)")
        for seg, members in self.segments():
            for m in members:
                name = f"{m}-{seg}" if seg in self.lans else f"{m}-{self._peer(seg, m)}"
                if len(name) > IFNAMSIZ:
                    raise ValueError(f"topology: interface name {name} is longer than "
                                     f"{IFNAMSIZ} characters: use shorter names")
        for rule in self.loss:
            if rule.get("at") not in nodes or "towards" not in rule:
                raise ValueError(f"topology: loss rule {rule} needs 'at' (a node) and "
                                 "'towards' (a neighbour or LAN)")
            if ("sqns" in rule) == ("percent" in rule):
                raise ValueError(f"topology: loss rule {rule} needs 'sqns' or 'percent'")
            self.segment_of(rule["at"], rule["towards"])

    def _peer(self, seg, node):
        a, b = next(link for link in self.links if f"{link[0]}-{link[1]}" == seg)
        return b if node == a else a


def json_diff(actual, expected, path="$"):
    """The ways `actual` fails to contain `expected` (FRR topotest style, own code):
    dict: every expected key present with a matching value (an expected None means the
    key must be absent or null); list: every expected element matches a distinct element
    of actual, in any order, and an expected [] means actual is empty; callable: a
    predicate on the value; anything else: equal."""
    if callable(expected):
        return [] if expected(actual) else [f"{path}: {actual!r} fails the check"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: {type(actual).__name__}, want an object"]
        out = []
        for k, v in expected.items():
            if v is None:
                if actual.get(k) is not None:
                    out.append(f"{path}.{k}: {actual[k]!r}, want absent")
            elif k not in actual:
                out.append(f"{path}.{k}: missing")
            else:
                out += json_diff(actual[k], v, f"{path}.{k}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: {type(actual).__name__}, want a list"]
        if not expected:
            return [] if not actual else [f"{path}: {len(actual)} elements, want none"]
        free = list(range(len(actual)))
        out = []
        for i, want in enumerate(expected):
            match = next((j for j in free if not json_diff(actual[j], want)), None)
            if match is None:
                near = min((json_diff(actual[j], want, f"{path}[{j}]") for j in free),
                           key=len, default=[f"{path}: no element left"])
                out.append(f"{path}: no element matches expected[{i}]: " + "; ".join(near[:3]))
            else:
                free.remove(match)
        return out
    return [] if actual == expected else [f"{path}: {actual!r}, want {expected!r}"]


# ----------------------------------------------------------------------- stale runs

def _starttime(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _netns(pid):
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def remove_stale_runs(tmpdir=None):
    """A run killed with SIGKILL cannot stop its processes (Mininet shells, pgmd, ...):
    each run lists them, with their start times, in RUN/pids; this stops those of runs
    whose owner process is gone (the rest of their directory stays, for its logs). A pid
    whose start time differs is someone else's now and is left alone. A run that stopped
    normally has removed its pids file."""
    tmpdir = tmpdir or tempfile.gettempdir()
    for entry in os.listdir(tmpdir):
        run = os.path.join(tmpdir, entry)
        pids = os.path.join(run, "pids")
        if not entry.startswith(RUN_PREFIX) or not os.path.isfile(pids):
            continue
        try:
            with open(pids) as f:
                rows = [line.split() for line in f if line.strip()]
        except OSError:
            continue
        owner = rows[0] if rows else None
        if owner and _starttime(owner[0]) == owner[1]:
            continue  # still running
        for pid, start in rows[1:]:
            if _starttime(pid) == start:
                try:
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass
        os.unlink(pids)  # the logs stay: they tell what the killed run was doing


# ----------------------------------------------------------------------- loss

LOSS_TC_PREF = 49152  # the loss filter's tc priority on clsact egress (pgmd uses ingress)

# The loss program: tc clsact egress, direct action. RULES is one C condition per rule;
# a packet any of them matches is counted in pgmloss_drops and dropped.
LOSS_BPF = r"""
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} pgmloss_drops SEC(".maps");

/* The PGM header of an ODATA (type 0x04), native (protocol 113) or in UDP port udp_port
 * (0: native), starting at offset th; 0 if the packet is none of that. */
static __always_inline int odata(struct __sk_buff* skb, const __u8* ip, __u32 th,
                                 __u32 udp_port, __u8* pgm) {
    if (udp_port) {
        __u8 udp[4];
        if (ip[9] != 17 || bpf_skb_load_bytes(skb, th, udp, 4) < 0 ||
            ((__u32)udp[2] << 8 | udp[3]) != udp_port)
            return 0;
        th += 8;
    } else if (ip[9] != 113) {
        return 0;
    }
    return bpf_skb_load_bytes(skb, th, pgm, 20) == 0 && pgm[4] == 0x04;
}

SEC("tc")
int pgmloss(struct __sk_buff* skb) {
    __u8 ip[20], pgm[20];
    if (skb->protocol != __builtin_bswap16(0x0800) ||
        bpf_skb_load_bytes(skb, 14, ip, 20) < 0 || (ip[0] >> 4) != 4 ||
        ((ip[6] & 0x1f) | ip[7]) != 0)  /* IPv4, not a later fragment */
        return TC_ACT_UNSPEC;
    __u32 th = 14 + (ip[0] & 0x0f) * 4;
#define SQN ((__u32)pgm[16] << 24 | (__u32)pgm[17] << 16 | (__u32)pgm[18] << 8 | pgm[19])
    if (!(RULES))
        return TC_ACT_UNSPEC;
    __u32 key = 0;
    __u64* n = bpf_map_lookup_elem(&pgmloss_drops, &key);
    if (n)
        __sync_fetch_and_add(n, 1);
    return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
"""


def loss_bpf_source(rules):
    """The C source of LOSS_BPF for these loss rules (all on one interface)."""
    conds = []
    for rule in rules:
        udp = int(rule.get("udp-port") or 0)
        if "sqns" in rule:
            which = " || ".join(f"SQN == {int(s) & 0xffffffff}u" for s in rule["sqns"]) or "0"
        else:
            which = f"bpf_get_prandom_u32() % 100 < {int(rule['percent'])}"
        conds.append(f"(odata(skb, ip, th, {udp}, pgm) && ({which}))")
    return LOSS_BPF.replace("RULES", " || ".join(conds) or "0")


def _bpf_includes():
    """clang's include flags for a BPF program: the machine's multiarch directory holds
    asm/types.h."""
    arch = sysconfig.get_config_var("MULTIARCH")
    return [f"-I/usr/include/{arch}"] if arch else []


# ----------------------------------------------------------------------- the network

class MininetLab(netlab.Lab):
    """A netlab.Lab whose "namespaces" are the nodes of a Mininet network."""

    def __init__(self, topo, tools, tmp=None, keep_tmp=False):
        own = tmp is None
        super().__init__(tmp or tempfile.mkdtemp(prefix=RUN_PREFIX), "mn", keep_tmp)
        self.own_tmp = own
        self.topo = topo
        self.tools = dict(tools)
        self.net = None
        self.addrs = {}  # (node, segment) -> address
        self.intfs = {}  # (node, segment) -> interface name
        self.subnets = {}  # segment -> "10.0.N"
        self.loss_maps = {}  # (node, interface) -> id of the BPF map counting its drops
        self._pids = open(self.path("pids"), "w")
        self._record(os.getpid())

    def _record(self, pid):
        start = _starttime(pid)
        if start:
            self._pids.write(f"{pid} {start}\n")
            self._pids.flush()

    # -- netlab.Lab hooks: commands run in a node ---------------------------------------
    def _in(self, ns):
        return ["mnexec", "-a", str(self.node(ns).pid)] if ns else []

    def sh(self, *args, ns=None, check=True, input=None, timeout_s=30):
        cmd = self._in(ns) + list(args)
        r = subprocess.run(cmd, input=input, capture_output=True, text=True,
                           timeout=timeout_s)
        if check and r.returncode != 0:
            raise Failure(f"{ns or 'root'}: {' '.join(args)} failed ({r.returncode}): "
                          f"{r.stderr.strip()}")
        return r

    def start(self, name, args, ns=None, env=None):
        out = open(self.path(name + ".out"), "w")
        err = open(self.path(name + ".err"), "w")
        try:
            p = subprocess.Popen(self._in(ns) + list(args), stdout=out, stderr=err,
                                 start_new_session=True, stdin=subprocess.DEVNULL, env=env)
        finally:
            out.close()
            err.close()
        self.procs.append((name, p))
        self._record(p.pid)
        return p

    def node(self, name):
        if self.net is None:
            raise Failure("the network is not built")
        return self.net[name]

    # -- building -----------------------------------------------------------------------
    def build(self):
        from mininet.log import setLogLevel
        from mininet.net import Mininet
        from mininet.node import Node
        from mininet.nodelib import LinuxBridge

        setLogLevel(os.environ.get("PGMNET_MININET_LOG", "warning"))
        topo = self.topo
        self.net = net = Mininet(topo=None, controller=None, build=False,
                                 waitConnected=False, autoSetMacs=False)
        self.on_cleanup(self._stop_net)
        for name in topo.routers + list(topo.hosts):
            net.addHost(name, cls=Node, ip=None, inNamespace=True)
        for index, lan in enumerate(topo.lans, 1):  # a dpid: LAN names need no digits
            net.addSwitch(lan, cls=LinuxBridge, inNamespace=True, dpid=f"{index:x}")
        for n in net.hosts + net.switches:  # their shells, started by the constructors
            self._record(n.pid)
        for index, (seg, members) in enumerate(topo.segments(), 1):
            self.subnets[seg] = f"10.0.{index}"
            routers = [m for m in members if m in topo.routers]
            hosts = [m for m in members if m not in topo.routers]
            octets = {m: i for i, m in enumerate(routers, 1)}
            octets.update({m: i for i, m in enumerate(hosts, 11 if seg in topo.lans else
                                                       len(routers) + 1)})
            for m in members:
                self.addrs[(m, seg)] = f"10.0.{index}.{octets[m]}"
            if seg in topo.lans:
                for m in members:
                    self.intfs[(m, seg)] = f"{m}-{seg}"
                    net.addLink(m, seg, intfName1=f"{m}-{seg}",
                                params1={"ip": f"{self.addrs[(m, seg)]}/24"})
            else:
                a, b = members
                self.intfs[(a, seg)], self.intfs[(b, seg)] = f"{a}-{b}", f"{b}-{a}"
                net.addLink(a, b, intfName1=f"{a}-{b}", intfName2=f"{b}-{a}",
                            params1={"ip": f"{self.addrs[(a, seg)]}/24"},
                            params2={"ip": f"{self.addrs[(b, seg)]}/24"})
        net.build()
        net.start()
        for lan in topo.lans:
            # Flood multicast like a hub (no IGMP snooping), as netlab's LAN bridges do.
            self.sh("ip", "link", "set", lan, "type", "bridge", "mcast_snooping", "0", ns=lan)
        for name in topo.routers + list(topo.hosts):
            self.sh("ip", "link", "set", "lo", "up", ns=name)
            for (m, seg), dev in self.intfs.items():
                if m == name:
                    self.tx_csum_off(name, dev)  # real checksums in captures
        for r in topo.routers:
            self.router(r)
        self._wait_links_up()
        self._routes()
        self._loss()
        return self

    def _wait_links_up(self, limit_s=10):
        """Until every interface is up (a veth is once both ends are), so that pgmd
        serves all of them from the start."""
        for name in self.topo.routers + list(self.topo.hosts) + list(self.topo.lans):
            def up(name=name):
                out = self.sh("ip", "-o", "link", "show", ns=name).stdout
                # operstate UP (set by the kernel's linkwatch, up to 1 s after the
                # carrier) is what pgmd waits for before serving an interface.
                return all(" state UP " in line for line in out.splitlines()
                           if "link/ether" in line)
            wait_until(up, limit_s, f"the links of {name} to come up")

    def _stop_net(self):
        """Kill what is still running in the nodes (Mininet does not: a process started
        from its CLI would outlive the network), then stop the network."""
        if self.net is None:
            return
        nodes = self.net.hosts + self.net.switches
        shells = {n.pid for n in nodes}
        netns = {_netns(pid) for pid in shells} - {None, _netns(os.getpid())}
        for pid in os.listdir("/proc"):
            if pid.isdigit() and int(pid) not in shells and _netns(pid) in netns:
                try:
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass
        self.net.stop()

    def _routes(self):
        """Hosts: default route via the first router on their segment, multicast out of
        it. Routers: a static route to every subnet they are not on, via the neighbour on
        a shortest path (breadth-first over routers, ties by topology order)."""
        topo = self.topo
        for h in topo.hosts:
            seg = self._segments_of(h)[0]
            dev = self.intfs[(h, seg)]
            gw = [m for m in dict(topo.segments())[seg] if m in topo.routers]
            if gw:
                self.route(h, "default", via=self.addrs[(gw[0], seg)])
            self.route(h, "224.0.0.0/4", dev=dev)
        for r in topo.routers:
            for seg, (hop_seg, hop) in self._first_hops(r).items():
                if hop is not None:
                    self.route(r, f"{self.subnets[seg]}.0/24",
                               via=self.addrs[(hop, hop_seg)])

    def _segments_of(self, node):
        return [seg for seg, members in self.topo.segments() if node in members]

    def _first_hops(self, router):
        """{segment: (segment of the first hop, next router or None when attached)}."""
        topo = self.topo
        segs = dict(topo.segments())
        first = {router: None}
        queue = deque([router])
        while queue:
            r = queue.popleft()
            for seg in self._segments_of(r):
                for m in segs[seg]:
                    if m in topo.routers and m not in first:
                        first[m] = first[r] or (seg, m)
                        queue.append(m)
        hops = {}
        for seg, members in topo.segments():
            if router in members:
                hops[seg] = (seg, None)
                continue
            reach = [m for m in first if m in members]  # BFS order: nearest first
            if reach:
                hops[seg] = first[reach[0]]
        return hops

    def upstream_intfs(self, router):
        """Interfaces of `router` towards the topology's sources (their RPF interface)."""
        hops = self._first_hops(router)
        out = []
        for src in self.topo.sources():
            seg = self._segments_of(src)[0]
            if seg in hops:
                dev = self.intfs[(router, hops[seg][0])]
                if dev not in out:
                    out.append(dev)
        return out

    def intf(self, node, towards):
        return self.intfs[(node, self.topo.segment_of(node, towards))]

    def address(self, node, towards=None):
        if towards is None:
            segs = self._segments_of(node)
            if len(segs) != 1:
                raise ValueError(f"{node} has {len(segs)} addresses: say which")
            return self.addrs[(node, segs[0])]
        return self.addrs[(node, self.topo.segment_of(node, towards))]

    def _loss(self):
        """Each rule drops the ODATA that node `at` sends towards `towards`: chosen sequence
        numbers ("sqns") or a share ("percent"); native PGM, or PGM in UDP port "udp-port"
        (the PGM header then starts 8 bytes later). The drop point is tc clsact egress of
        that interface, the last one every copy passes whoever sent it: pgmd's raw socket,
        a host's, or pgmd's kernel fast path, whose bpf_clone_redirect() from another
        interface's tc ingress skips netfilter (output, and netdev egress too). This kernel
        has no gact action, so the drop is a small tc BPF program (LOSS_BPF, compiled with
        clang for each interface's rules) that counts what it drops in a map."""
        by_dev = {}
        for rule in self.topo.loss:
            key = (rule["at"], self.intf(rule["at"], rule["towards"]))
            by_dev.setdefault(key, []).append(rule)
        for (node, dev), rules in by_dev.items():
            obj = self.path(f"loss-{dev}.bpf.o")
            src = self.path(f"loss-{dev}.bpf.c")
            with open(src, "w") as f:
                f.write(loss_bpf_source(rules))
            self.sh("clang", "-O2", "-g", "-target", "bpf", *_bpf_includes(), "-c", src, "-o",
                    obj, timeout_s=60)
            self.sh("tc", "qdisc", "replace", "dev", dev, "clsact", ns=node)
            # tc's loader wants a BPF file system at /sys/fs/bpf, where a Mininet node has
            # sysfs: mount a private one in a mount namespace of the loader's own.
            self.sh("unshare", "--mount", "sh", "-c", 'mount -t bpf bpf /sys/fs/bpf && exec '
                    '"$@"', "sh", "tc", "filter", "add", "dev", dev, "egress", "pref",
                    str(LOSS_TC_PREF), "bpf", "direct-action", "object-file", obj, "section",
                    "tc", ns=node)
            self.loss_maps[(node, dev)] = self._loss_map(node, dev)

    def _loss_map(self, node, dev):
        """The id of the map counting the drops of the loss program on node's dev."""
        shown = json.loads(self.sh("tc", "-j", "filter", "show", "dev", dev, "egress", "pref",
                                   str(LOSS_TC_PREF), ns=node).stdout)
        progs = [f["options"]["prog"]["id"] for f in shown
                 if "prog" in f.get("options", {})]
        if len(progs) != 1:
            raise Failure(f"{node}: loss filter on {dev}: want one BPF program, tc shows "
                          f"{shown}")
        prog = json.loads(self.sh("bpftool", "-j", "prog", "show", "id", str(progs[0])).stdout)
        maps = prog.get("map_ids", [])
        for m in maps:
            info = json.loads(self.sh("bpftool", "-j", "map", "show", "id", str(m)).stdout)
            if info.get("name") == "pgmloss_drops":
                return m
        raise Failure(f"{node}: loss program {progs[0]} on {dev} has no pgmloss_drops map "
                      f"(maps {maps})")

    def dropped(self, node):
        """Packets dropped so far by node's loss rules (their programs' counters)."""
        n = 0
        for (at, _dev), m in self.loss_maps.items():
            if at == node:
                dump = json.loads(self.sh("bpftool", "-j", "map", "dump", "id", str(m)).stdout)
                n += sum(e["formatted"]["value"] for e in dump)
        return n

    # -- pgmd ---------------------------------------------------------------------------
    def sock(self, router):
        return self.path(f"{router}.sock")

    def pgmd_conf_text(self, router, timers=None, extra_global="", extra=""):
        up = self.upstream_intfs(router)
        lines = [f"# pgmd on Mininet node {router} ({self.topo.name or 'topology'})",
                 "log-level = notice"] + ([extra_global] if extra_global else []) + [
                 "[control]", f"socket = {self.sock(router)}"]
        if timers:
            lines.append("[timers]")
            lines += [f"{k} = {v}" for k, v in timers.items()]
        for (m, seg), dev in self.intfs.items():
            if m != router:
                continue
            lines.append(f"[interface {dev}]")
            if dev in up:
                lines += [f"join-groups = {self.topo.group}", "igmp-querier = no"]
        return "\n".join(lines) + "\n" + extra + netlab.fast_path_section(extra)

    def start_pgmd_all(self, timers=None, extra_global="", extra="", limit_s=15):
        daemons = {}
        for r in self.topo.routers:
            conf = self.path(f"{r}.conf")
            with open(conf, "w") as f:
                f.write(self.pgmd_conf_text(r, timers, extra_global, extra.get(r, "") if
                                            isinstance(extra, dict) else extra))
            served = sum(1 for (m, _seg) in self.intfs if m == r)
            daemons[r] = self.start_pgmd(f"pgmd-{r}", self.tools["pgmd"], r, conf,
                                         served=served, limit_s=limit_s)
        return daemons

    def stop_pgmd_all(self):
        """SIGTERM every pgmd still running; {router: (exit status, log tail)} of those
        that did not exit 0 (a sanitizer report at exit shows up here)."""
        bad = {}
        for r in self.topo.routers:
            try:
                p = self.proc(f"pgmd-{r}")
            except KeyError:
                continue
            rc = self.stop_proc(p)
            if rc != 0:
                bad[r] = (rc, self.text(f"pgmd-{r}")[-1500:])
        return bad

    def pgmctl(self, router, *command, json_out=True):
        return netlab.pgmctl(self.tools["pgmctl"], self.sock(router), *command,
                             json_out=json_out)

    def expect_json(self, router, command, expected, limit_s=10, interval_s=0.2):
        """Poll `pgmctl -j COMMAND` on router until it contains `expected` (json_diff);
        returns the matching reply, or raises Failure with the last differences."""
        last = {"diff": ["never answered"], "data": None}

        def matches():
            try:
                data = self.pgmctl(router, *command.split())
            except (Failure, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                last["diff"] = [str(e)]
                return False
            last["data"] = data
            last["diff"] = json_diff(data, expected)
            return not last["diff"]
        try:
            wait_until(matches, limit_s, f"{router}: pgmctl {command}", interval_s)
        except Failure:
            raise Failure(f"{router}: `pgmctl -j {command}` did not match within {limit_s}s: "
                          + "; ".join(last["diff"][:6]) + "\nlast reply: " +
                          json.dumps(last["data"])[:1500]) from None
        return last["data"]

    def wait_members_for(self, hosts, limit_s=15):
        """Until every pgmd has learnt the group on each interface leading to one of
        `hosts` (receivers that have joined): the hosts' own LANs and, hop by hop towards
        the sources, the links on which the pgmd below joined the group (join-groups)."""
        want = {}
        for h in hosts:
            node, seg = h, self._segments_of(h)[0]
            while True:
                routers = [m for m in dict(self.topo.segments())[seg]
                           if m in self.topo.routers and m != node and
                           self.intfs[(m, seg)] not in self.upstream_intfs(m)]
                if not routers:
                    break
                r = routers[0]
                want.setdefault(r, set()).add(self.intfs[(r, seg)])
                ups = self.upstream_intfs(r)
                seg = next((s for (m, s), dev in self.intfs.items() if m == r and dev in ups),
                           None)
                node = r
                if seg is None:
                    break
        for r, devs in want.items():
            self.wait_pgmd_groups(f"pgmd-{r}", self.topo.group, devs, limit_s)
        return want

    def wait_members(self, router, towards, limit_s=15):
        """Until pgmd on router has learnt the group on its interface towards `towards`."""
        self.wait_pgmd_groups(f"pgmd-{router}", self.topo.group,
                              {self.intf(router, towards)}, limit_s)

    # -- hosts --------------------------------------------------------------------------
    def start_pgmrecv(self, host, count=None, extra=(), name=None, timeout_s=40,
                      limit_s=10):
        name = name or host
        ready = self.path(name + ".ready")
        argv = [self.tools["pgmrecv"], "--interface", self.address(host),
                "--group", self.topo.group, "--port", str(DPORT), "--quiet", "--json",
                "--timeout", str(timeout_s), "--ready-file", ready,
                # Each receiver its own NAK back-off draws (the default seed is shared).
                "--seed", str(zlib.crc32(name.encode()) or 1)]
        if count is not None:
            argv += ["--count", str(count), "--verify"]
        p = self.start(name, argv + list(extra), host)
        self.wait_ready({name: p}, limit_s)
        return p

    def start_openpgm_recv(self, host, count, extra=(), limit_s=10):
        """An OpenPGM 5.3 receiver (tests/interop/openpgm_recv) on host, GSI from its
        name; waits until it is ready."""
        return self.start_openpgm_receivers(self.tools["openpgm_recv"], self.topo.group,
                                            DPORT, count, {host: self.address(host)},
                                            extra, limit_s=limit_s)[host]

    def start_pgmsend(self, host, count, size=200, rate=200000, extra=(), name=None):
        name = name or host
        return self.start(name, [self.tools["pgmsend"], "--interface", self.address(host),
                                 "--group", self.topo.group, "--port", str(DPORT),
                                 "--size", str(size), "--count", str(count), "--rate",
                                 str(rate), "--json"] + list(extra), host)

    def summary(self, name):
        return netlab.last_json(self.text(name, "out")) or {}

    def stop(self):
        try:
            super().stop()
        finally:
            if not self._pids.closed:
                self._pids.close()
            if os.path.exists(self.path("pids")):  # kept files: nothing left to stop
                os.unlink(self.path("pids"))


def tools_from_env(build_dir=None, interop=False):
    """Program paths: PGMD_BIN, PGMCTL_BIN, ... or BUILD_DIR/cli/NAME (PGMD_BUILD_DIR,
    default the checkout's build/); with interop also OPENPGM_RECV_BIN (default
    BUILD_DIR/tests/interop/openpgm_recv)."""
    here = os.path.dirname(os.path.abspath(__file__))
    build = build_dir or os.environ.get("PGMD_BUILD_DIR") or os.path.join(here, "..", "..",
                                                                          "build")
    tools = {}
    for tool in ("pgmd", "pgmctl", "pgmsend", "pgmrecv", "pgmdump"):
        tools[tool] = os.environ.get(f"{tool.upper()}_BIN") or os.path.join(build, "cli", tool)
    if interop:
        tools["openpgm_recv"] = os.environ.get("OPENPGM_RECV_BIN") or os.path.join(
            build, "tests", "interop", "openpgm_recv")
    return {k: os.path.abspath(v) for k, v in tools.items()}


def missing(tools):
    """Why this machine cannot run the Mininet lab ([] when it can)."""
    out = []
    if os.geteuid() != 0:
        out.append("not root")
    out += [f"{k} ({v})" for k, v in tools.items() if not os.access(v, os.X_OK)]
    out += [t for t in ("mnexec", "brctl", "nft", "tcpdump", "ip", "tc", "clang", "bpftool",
                         "unshare")
            if shutil.which(t) is None]
    if importlib.util.find_spec("mininet") is None:
        out.append(f"the mininet Python package (interpreter {sys.executable})")
    return out


def elapsed(since):
    return f"{time.monotonic() - since:.1f}s"
