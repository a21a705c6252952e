#!/usr/bin/python3
"""package_test: the installation as an operator gets it (issue 15, item 4).

--part deb: `cpack -G DEB` in the build directory builds the Debian package; the test reads
its control data (dpkg-deb; Depends from dpkg-shlibdeps with pgmd's libraries, conffiles,
maintainer scripts that pass `sh -n`), unpacks it into a scratch root (`dpkg-deb -x`: never
into this machine) and checks that
  * the programs, man pages, the unit, /etc/pgmd.conf, /etc/default/pgmd and the sample
    configuration are there;
  * systemd-analyze verify reports no unknown key or bad value in the unit (when
    systemd-analyze exists);
  * the unit is Type=notify, and every path it names (ExecStartPre, ExecStart, -f,
    EnvironmentFile) exists in the package, as /usr/sbin/pgmd and /etc;
  * the packaged pgmd runs: `--version`, and `pgmd -F -f` on the packaged /etc/pgmd.conf
    exits 0.

--part install: `cmake --install --prefix P` (P a scratch directory) puts the unit under
P/lib/systemd/system with ExecStart=P/sbin/pgmd (which exists) and -f P/etc/pgmd.conf
(installed from the sample, which pgmd -F accepts); a second install keeps an edited
P/etc/pgmd.conf and P/etc/default/pgmd.

Exit status 0 pass, 1 fail, 77 skipped (dpkg-deb or cpack missing).
"""
import argparse
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

NAME = "package"
FAILURES = []
PROGRAMS = ("usr/sbin/pgmd", "usr/bin/pgmctl", "usr/bin/pgmdump", "usr/bin/pgmsend",
            "usr/bin/pgmrecv", "usr/bin/pgmsim")
MAN_PAGES = ("man8/pgmd.8", "man8/pgmctl.8", "man5/pgmd.conf.5", "man1/pgmdump.1",
             "man1/pgmsend.1", "man1/pgmrecv.1", "man1/pgmsim.1")
# Shared libraries pgmd links, by the Debian package that must be in Depends.
LIBRARIES = ("libpcap0.8", "libnl-3-200", "libnl-route-3-200", "libbpf1",
             "libboost-program-options", "libisal2", "libsystemd0", "libcap2")


def log(msg):
    print(f"{NAME}: {msg}", file=sys.stderr, flush=True)


def check(condition, message):
    log(("ok   " if condition else "FAIL ") + message)
    if not condition:
        FAILURES.append(message)
    return condition


def run(argv, timeout=300, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)


def unit_paths(unit_text):
    """{key: [absolute paths]} of what the unit runs and reads."""
    out = {}
    for line in unit_text.splitlines():
        m = re.match(r"^(ExecStartPre|ExecStart|EnvironmentFile)=(.*)$", line)
        if not m:
            continue
        words = shlex.split(m.group(2))
        paths = [words[0].lstrip("-@:+!")]
        if "-f" in words:
            paths.append(words[words.index("-f") + 1])
        out.setdefault(m.group(1), []).extend(paths)
    return out


def check_unit(root, unit, sbin, etc, label):
    """The unit at root+unit names sbin/pgmd and etc/pgmd.conf, and both exist under root."""
    try:
        with open(root + unit) as f:
            text = f.read()
    except OSError as e:
        check(False, f"{label}: unit {unit}: {e}")
        return
    check("Type=notify" in text and "WatchdogSec=" in text, f"{label}: Type=notify, watchdog")
    paths = unit_paths(text)
    check(paths.get("ExecStart", [None])[0] == f"{sbin}/pgmd"
          and f"{etc}/pgmd.conf" in paths.get("ExecStart", []),
          f"{label}: ExecStart runs {sbin}/pgmd -f {etc}/pgmd.conf: {paths.get('ExecStart')}")
    check(paths.get("EnvironmentFile") == [f"{etc}/default/pgmd"],
          f"{label}: EnvironmentFile {paths.get('EnvironmentFile')}")
    for key, values in paths.items():
        for p in values:
            check(os.path.exists(root + p), f"{label}: {key} path {p} is installed")


def part_deb(a, tmp):
    out = os.path.join(tmp, "out")
    r = run(["cpack", "-G", "DEB", "-B", out, "--config",
             os.path.join(a.build_dir, "CPackConfig.cmake")], cwd=a.build_dir)
    debs = glob.glob(os.path.join(out, "*.deb"))
    if not check(r.returncode == 0 and len(debs) == 1,
                 f"cpack -G DEB: exit {r.returncode}, {debs}: {r.stderr[-1500:]}"):
        log(r.stdout[-3000:])
        return
    deb = debs[0]
    info = run(["dpkg-deb", "-f", deb]).stdout
    fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", info, re.M))
    check(fields.get("Package") == "pgmd" and fields.get("Version") == a.version,
          f"Package {fields.get('Package')}, Version {fields.get('Version')}")
    depends = fields.get("Depends", "")
    for lib in LIBRARIES:
        check(lib in depends, f"Depends names {lib}: {depends}")
    control = os.path.join(tmp, "control")
    run(["dpkg-deb", "-e", deb, control], check=True)
    with open(os.path.join(control, "conffiles")) as f:
        conffiles = f.read().split()
    check(conffiles == ["/etc/pgmd.conf", "/etc/default/pgmd"], f"conffiles: {conffiles}")
    for script in ("postinst", "prerm", "postrm"):
        path = os.path.join(control, script)
        check(os.access(path, os.X_OK) and run(["sh", "-n", path]).returncode == 0,
              f"{script}: executable, valid sh")

    root = os.path.join(tmp, "root")
    run(["dpkg-deb", "-x", deb, root], check=True)
    for p in PROGRAMS:
        check(os.access(os.path.join(root, p), os.X_OK), f"package has {p}")
    for page in MAN_PAGES:
        check(os.path.isfile(os.path.join(root, "usr/share/man", page)), f"package has {page}")
    for p in ("etc/pgmd.conf", "etc/default/pgmd", "usr/share/doc/pgmd/pgmd.conf.example",
              "usr/share/doc/pgmd/operations.md"):
        check(os.path.isfile(os.path.join(root, p)), f"package has /{p}")
    check_unit(root, "/lib/systemd/system/pgmd.service", "/usr/sbin", "/etc", "deb")
    if shutil.which("systemd-analyze"):
        # systemd's own parser: unknown keys and bad values are only warnings there, so the
        # test reads them (missing programs on this machine are expected: not installed).
        r = run(["systemd-analyze", "verify", "--man=no",
                 os.path.join(root, "lib/systemd/system/pgmd.service")])
        bad = [line for line in r.stderr.splitlines()
               if re.search(r"Unknown|Invalid|Failed to parse|unknown|ignoring", line)]
        check(not bad, f"systemd-analyze verify finds no unit syntax problem: {bad}")
    else:
        log("systemd-analyze not found: the unit's syntax is not checked by systemd")

    pgmd = os.path.join(root, "usr/sbin/pgmd")
    r = run([pgmd, "--version"])
    check(r.returncode == 0 and r.stdout.startswith("pgmd "), f"pgmd --version: {r.stdout!r}")
    conf = os.path.join(root, "etc/pgmd.conf")
    r = run([pgmd, "-F", "-f", conf])
    check(r.returncode == 0 and "configuration OK" in r.stdout,
          f"packaged pgmd -F -f packaged /etc/pgmd.conf: exit {r.returncode} "
          f"{r.stdout!r} {r.stderr!r}")


def part_install(a, tmp):
    prefix = os.path.join(tmp, "prefix")
    r = run([a.cmake, "--install", a.build_dir, "--prefix", prefix])
    if not check(r.returncode == 0, f"cmake --install: {r.returncode} {r.stderr[-1500:]}"):
        return
    check_unit("", f"{prefix}/lib/systemd/system/pgmd.service", f"{prefix}/sbin",
               f"{prefix}/etc", "install")
    r = run([f"{prefix}/sbin/pgmd", "-F", "-f", f"{prefix}/etc/pgmd.conf"])
    check(r.returncode == 0, f"installed pgmd -F on the installed sample: {r.stderr!r}")
    edited = "[interface eth9]\n"
    with open(f"{prefix}/etc/pgmd.conf", "w") as f:
        f.write(edited)
    with open(f"{prefix}/etc/default/pgmd", "w") as f:
        f.write("PGMD_OPTS=-l info\n")
    r = run([a.cmake, "--install", a.build_dir, "--prefix", prefix])
    with open(f"{prefix}/etc/pgmd.conf") as f:
        kept = f.read() == edited
    with open(f"{prefix}/etc/default/pgmd") as f:
        kept_default = f.read() == "PGMD_OPTS=-l info\n"
    check(r.returncode == 0 and kept and kept_default,
          "a second cmake --install keeps the edited pgmd.conf and default/pgmd")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("deb", "install"), required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--cmake", default="cmake")
    ap.add_argument("--version", help="the project's version (Version: of the package)")
    a = ap.parse_args()
    if a.part == "deb" and (shutil.which("dpkg-deb") is None or shutil.which("cpack") is None
                            or shutil.which("dpkg-shlibdeps") is None):
        log("needs dpkg-deb, dpkg-shlibdeps (dpkg-dev) and cpack; skipped")
        return 77
    tmp = tempfile.mkdtemp(prefix="pgmd_package.")
    try:
        (part_deb if a.part == "deb" else part_install)(a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"{len(FAILURES)} failed" + (": " + "; ".join(FAILURES) if FAILURES else ""))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
