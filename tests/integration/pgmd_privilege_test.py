#!/usr/bin/python3
"""pgmd_privilege_test: least privilege (issue 8): `pgmd -p USER`, the control socket's
group, and no file written outside the configured paths.

Topology (netlab.py): one namespace `rtr` with up0 --- a host namespace's eth0 and dn1 ---
another's, enough for pgmd to serve two interfaces.

The test creates throw-away system accounts (removed in `finally`): USER:GROUP that pgmd
runs as, CTLGROUP owning the control socket, MEMBER (CTLGROUP a supplementary group); the
outsider is nobody:nogroup without supplementary groups. pgmd's socket and pid file live
in RUN = TMP/run, which pgmd creates and gives to USER (prepare_run_directory), so that the
unprivileged pgmd can remove them at exit.

1. pgmd -p USER:GROUP, control group CTLGROUP mode 0660, under `strace -f` (file system and
   bind calls). Asserts:
   * /proc/PID/status: Uid and Gid (real, effective, saved, fs) are USER's and GROUP's,
     Groups is GROUP alone, CapPrm = CapEff = CAP_NET_ADMIN|CAP_NET_RAW (0x3000: bits 12 and
     13) exactly, CapInh = CapAmb = 0, the bounding set CapBnd is those two alone and
     NoNewPrivs is 1 (no executed program could gain more);
   * the socket is root:CTLGROUP 0660; MEMBER's `pgmctl ping` answers (may_change_state)
     and `clear counters` succeeds; the outsider cannot connect (pgmctl exit 4, permission
     denied: the kernel checks the socket file's mode);
   * still able to do its job with only those capabilities: dn1 down and up again, pgmd
     stops and starts serving it (capture and sockets reopened after the drop); with the
     kernel fast path (unless PGMD_FAST_PATH=off), `show fastpath` has it attached to dn1
     again (the program was loaded as root; re-attaching needs CAP_NET_ADMIN only);
   * SIGTERM: exit 0, socket and pid file removed;
   * every call that creates, writes, renames, removes or re-owns a path (open for writing,
     mkdir, rename, unlink, chmod, chown, bind of a UNIX socket...) names a path in RUN.
2. The same with mode 0666 (no strace): the outsider connects and may read (`show
   counters`) but `clear counters` is refused by the server from SO_PEERCRED (exit 1,
   "permission denied"), while MEMBER and USER itself may clear.

Under AddressSanitizer the pgmd of step 1 runs with detect_leaks=0: LeakSanitizer stops
the process's threads with ptrace at exit, which fails under strace ("LeakSanitizer does
not work under ptrace") and turns the exit status into an abort. Step 2 keeps it.

Exit status 0 pass, 1 fail, 77 skipped (not root or a tool missing).
"""
import grp
import json
import os
import pwd
import re
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402
from netlab import Failure, wait_until  # noqa: E402

NAME = "pgmd_privilege"
CAP_NET_ADMIN, CAP_NET_RAW = 12, 13
WANTED_CAPS = (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW)
# System calls (strace names) that create, change or remove a path, and which argument
# holds it (the first quoted string unless said otherwise).
WRITING_CALLS = {"creat", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename",
                 "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat", "chmod",
                 "fchmodat", "chown", "lchown", "fchownat", "truncate", "mknod", "mknodat",
                 "utimensat", "setxattr", "lsetxattr", "removexattr", "lremovexattr", "bind"}
OPEN_CALLS = {"open", "openat", "openat2"}


def log(msg):
    print(f"{NAME}: {msg}", file=sys.stderr, flush=True)


def sanitized(binary):
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


class Accounts:
    """Throw-away system group/user accounts; remove() deletes what was created."""

    def __init__(self):
        self.users, self.groups = [], []

    def group(self, name):
        subprocess.run(["groupadd", "--system", name], check=True, capture_output=True)
        self.groups.append(name)
        return grp.getgrnam(name).gr_gid

    def user(self, name, group, extra_groups=()):
        argv = ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                "--shell", "/usr/sbin/nologin", "--gid", group]
        if extra_groups:
            argv += ["--groups", ",".join(extra_groups)]
        subprocess.run(argv + [name], check=True, capture_output=True)
        self.users.append(name)
        return pwd.getpwnam(name).pw_uid

    def remove(self):
        for u in reversed(self.users):
            subprocess.run(["userdel", u], capture_output=True)
        for g in reversed(self.groups):
            subprocess.run(["groupdel", g], capture_output=True)


def status_fields(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def pgmctl_as(args, who, sock, *command):
    """pgmctl run as `who` (setpriv argv prefix); CompletedProcess."""
    return subprocess.run(who + [args.pgmctl, "-j", "-u", sock, *command],
                          capture_output=True, text=True, timeout=15)


def written_paths(strace_log):
    """(call, path) for every traced call that creates, changes or removes a path."""
    found = []
    call_re = re.compile(r"^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\((.*)$")
    with open(strace_log) as f:
        for line in f:
            m = call_re.match(line.strip())
            if not m:
                continue
            call, rest = m.group(1), m.group(2)
            if call in OPEN_CALLS:
                if not re.search(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND", rest):
                    continue
            elif call not in WRITING_CALLS:
                continue
            if call == "bind":
                p = re.search(r'sun_path="([^"]*)"', rest)
                if not p:
                    continue  # not a UNIX socket path (netlink, packet, inet)
                found.append((call, p.group(1)))
                continue
            p = re.search(r'"([^"]*)"', rest)
            found.append((call, p.group(1) if p else f"<no path: {rest[:80]}>"))
    return found


def build(lab):
    lab.add_ns("rtr", "h1", "h2")
    lab.veth("rtr", "up0", "h1", "eth0")
    lab.veth("rtr", "dn1", "h2", "eth0")
    lab.addr("rtr", "up0", "10.1.0.2/24")
    lab.addr("h1", "eth0", "10.1.0.1/24")
    lab.addr("rtr", "dn1", "10.2.1.1/24")
    lab.addr("h2", "eth0", "10.2.1.11/24")
    lab.router("rtr")


def write_conf(lab, run_dir, ctl_group, mode):
    path = netlab.pgmd_conf(lab.path(f"pgmd-{mode}.conf"), {
        "up0": {"igmp-querier": "no"}, "dn1": {}}, os.path.join(run_dir, "pgmd.sock"),
        log_level="info")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("[control]\n", f"[control]\nmode = {mode}\ngroup = {ctl_group}\n"))
    return path


def start(lab, name, argv, env, served=2):
    p = lab.start(name, argv, "rtr", env=env)
    wait_until(lambda: "started" in lab.text(name) or p.poll() is not None, 15,
               f"{name} to start")
    if p.poll() is not None:
        raise Failure(f"{name} exited at start ({p.returncode}):\n{lab.text(name)}")
    if f"{served} of {served} interfaces served" not in lab.text(name):
        raise Failure(f"{name} does not serve all interfaces:\n{lab.text(name)}")
    return p


def stop_pgmd(lab, name, pid, limit_s=10):
    """SIGTERM to pgmd itself (under strace the Popen is strace, which would only detach)."""
    os.kill(pid, 15)
    rc = lab.wait_proc(name, limit_s)
    if rc is None:
        raise Failure(f"{name} did not exit within {limit_s}s of SIGTERM")
    return rc


def run(args, lab):
    build(lab)
    tag = str(os.getpid() % 100000)
    accounts = Accounts()
    lab.on_cleanup(accounts.remove)
    user, group = f"pgmdu{tag}", f"pgmdu{tag}"
    ctl_group, member = f"pgmdc{tag}", f"pgmdm{tag}"  # member's own group: pgmdm<tag>
    gid = accounts.group(group)
    uid = accounts.user(user, group)
    ctl_gid = accounts.group(ctl_group)
    accounts.group(f"pgmdm{tag}")
    accounts.user(member, f"pgmdm{tag}", [ctl_group])
    os.chmod(lab.tmp, 0o755)  # the other users must reach RUN
    run_dir = lab.path("run")
    sock = os.path.join(run_dir, "pgmd.sock")
    pid_file = os.path.join(run_dir, "pgmd.pid")
    env = dict(os.environ)
    traced_env = dict(env)
    if sanitized(args.pgmd):
        traced_env["ASAN_OPTIONS"] = ":".join(
            [o for o in env.get("ASAN_OPTIONS", "").split(":") if o and
             not o.startswith("detect_leaks")] + ["detect_leaks=0"])
    as_member = ["setpriv", "--reuid", member, "--regid", f"pgmdm{tag}", "--init-groups"]
    as_outsider = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
    as_user = ["setpriv", "--reuid", user, "--regid", group, "--init-groups"]
    problems = []

    # 1. Under strace, mode 0660.
    conf = write_conf(lab, run_dir, ctl_group, "0660")
    trace = lab.path("pgmd.strace")
    start(lab, "pgmd", ["strace", "-f", "-qq", "-s", "256", "-o", trace, "-e",
                        "trace=%file,bind,chown,fchown,chmod,fchmod", args.pgmd, "-n", "-f",
                        conf, "-P", pid_file, "-p", f"{user}:{group}"], traced_env)
    wait_until(lambda: os.path.exists(pid_file), 5, "the pid file")
    with open(pid_file) as f:
        pid = int(f.read().strip())
    wait_until(lambda: "running as" in lab.text("pgmd"), 5, "pgmd to drop root")
    st = status_fields(pid)
    ids = {"Uid": [str(uid)] * 4, "Gid": [str(gid)] * 4}
    for key, want in ids.items():
        if st.get(key, "").split() != want:
            problems.append(f"{key}: {st.get(key)}, want {' '.join(want)}")
    if st.get("Groups", "").split() != [str(gid)]:
        problems.append(f"Groups: {st.get('Groups')!r}, want {gid} alone")
    for key, want in (("CapPrm", WANTED_CAPS), ("CapEff", WANTED_CAPS), ("CapInh", 0),
                      ("CapAmb", 0), ("CapBnd", WANTED_CAPS)):
        have = int(st.get(key, "-1"), 16) if key in st else None
        if have != want:
            problems.append(f"{key}: {st.get(key)}, want {want:016x}")
    if st.get("NoNewPrivs") != "1":
        problems.append(f"NoNewPrivs: {st.get('NoNewPrivs')!r}, want 1")
    caps = {k: st.get(k) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                                   "NoNewPrivs")}
    log(f"pgmd pid {pid}: Uid {st.get('Uid')}, Gid {st.get('Gid')}, Groups "
        f"{st.get('Groups')!r}, {caps}")

    s = os.stat(sock)
    if (s.st_uid, s.st_gid, stat.S_IMODE(s.st_mode)) != (0, ctl_gid, 0o660):
        problems.append(f"socket owner/mode {s.st_uid}:{s.st_gid} {oct(stat.S_IMODE(s.st_mode))}"
                        f", want 0:{ctl_gid} 0o660")
    r = pgmctl_as(args, as_member, sock, "ping")
    if r.returncode != 0 or '"may_change_state":true' not in r.stdout.replace(" ", ""):
        problems.append(f"member ping: exit {r.returncode} {r.stdout!r} {r.stderr!r}")
    r = pgmctl_as(args, as_member, sock, "clear", "counters")
    if r.returncode != 0:
        problems.append(f"member clear counters: exit {r.returncode} {r.stderr!r}")
    r = pgmctl_as(args, as_outsider, sock, "ping")
    if r.returncode != 4 or "ermission denied" not in r.stderr:
        problems.append(f"outsider ping on a 0660 socket: exit {r.returncode} {r.stderr!r}, "
                        "want 4 (permission denied)")

    # Still able to reopen capture and sockets with the capabilities it kept.
    lab.pgmd_link_down("pgmd", "rtr", "dn1")
    lab.pgmd_link_up("pgmd", "rtr", "dn1")
    if "cannot" in lab.text("pgmd").split("running as", 1)[1]:
        problems.append("pgmd reported an error after dropping root:\n" + lab.text("pgmd")[-1500:])
    # The kernel fast path (loaded as root before the drop) is attached to dn1 again with
    # CAP_NET_ADMIN alone, and its maps are still written (fd-based, no capability).
    if os.environ.get("PGMD_FAST_PATH", "auto") != "off":
        r = pgmctl_as(args, as_member, sock, "show", "fastpath")
        try:
            fp = json.loads(r.stdout)
            modes = {i["name"]: i["mode"] for i in fp["interfaces"]}
        except (ValueError, KeyError, TypeError):
            fp, modes = None, {}
        if fp is None or fp.get("mode") != "kernel" or modes.get("dn1") != "kernel":
            problems.append(f"after dropping root and a flap of dn1 the fast path is not "
                            f"attached to it: {r.stdout.strip()[:400]} {r.stderr.strip()}")

    rc = stop_pgmd(lab, "pgmd", pid)
    if rc != 0:
        problems.append(f"pgmd exit {rc} on SIGTERM:\n{lab.text('pgmd')[-1500:]}")
    for leftover in (sock, pid_file):
        if os.path.exists(leftover):
            problems.append(f"{leftover} left behind after SIGTERM")
    writes = written_paths(trace)
    outside = [(c, p) for c, p in writes
               if not os.path.normpath(p).startswith(run_dir + os.sep) and
               os.path.normpath(p) != run_dir]
    if not writes:
        problems.append("strace saw no write at all (the pid file at least): trace broken?")
    if outside:
        problems.append(f"pgmd wrote outside {run_dir}: {outside[:10]}")
    log(f"paths pgmd wrote (strace): {sorted(set(writes))}")

    # 2. Mode 0666: the server refuses state changes by SO_PEERCRED.
    conf = write_conf(lab, run_dir, ctl_group, "0666")
    start(lab, "pgmd2", [args.pgmd, "-n", "-f", conf, "-P", pid_file, "-p", f"{user}:{group}"],
          env)
    wait_until(lambda: os.path.exists(pid_file), 5, "the pid file")
    with open(pid_file) as f:
        pid2 = int(f.read().strip())
    r = pgmctl_as(args, as_outsider, sock, "show", "counters")
    if r.returncode != 0:
        problems.append(f"outsider show counters on a 0666 socket: exit {r.returncode} "
                        f"{r.stderr!r}")
    r = pgmctl_as(args, as_outsider, sock, "clear", "counters")
    if r.returncode != 1 or "permission denied" not in r.stderr:
        problems.append(f"outsider clear counters: exit {r.returncode} {r.stderr!r}, want 1 "
                        "(permission denied)")
    for who, argv in (("member", as_member), ("pgmd's user", as_user)):
        r = pgmctl_as(args, argv, sock, "clear", "counters")
        if r.returncode != 0:
            problems.append(f"{who} clear counters: exit {r.returncode} {r.stderr!r}")
    rc = stop_pgmd(lab, "pgmd2", pid2)
    if rc != 0:
        problems.append(f"pgmd2 exit {rc} on SIGTERM")
    if problems:
        raise Failure("\n".join(problems))
    print(f"{NAME}: pgmd as {user}:{group}: CapEff {st.get('CapEff')} CapPrm {st.get('CapPrm')} "
          f"CapInh {st.get('CapInh')} CapAmb {st.get('CapAmb')} CapBnd {st.get('CapBnd')} NoNewPrivs "
          f"{st.get('NoNewPrivs')}; outsider refused at connect (0660) and at clear (0666); "
          f"{len(writes)} writing calls, all in {run_dir}")


def main():
    return netlab.lab_main(NAME, "pgmdp", run, ("pgmd", "pgmctl"),
                           needs=("ip", "strace", "setpriv", "useradd", "groupadd", "userdel",
                                  "groupdel"))


if __name__ == "__main__":
    sys.exit(main())
