#!/usr/bin/python3
"""man_pages_test: the manual pages in docs/man against groff and against the programs
(issue 7, acceptance 3).

Checks, for every page in docs/man:
  * `groff -ww -man -Tutf8` and `man -l` (MANROFFOPT=-ww) format it with exit status 0 and
    nothing on stderr, and it has the sections a page needs;
  * for a program's page (pgmd.8, pgmctl.8, pgmsend.1, pgmrecv.1, pgmdump.1, pgmsim.1): the
    options its OPTIONS section documents (each `.TP` tag: short and long name) are exactly
    the options `PROGRAM --help` lists, both ways; for pgmctl also the commands and the
    filters each command takes (COMMANDS section against the help's "Commands:" list);
  * for pgmd.conf.5: the keys its KEYS section documents (`.SS [section]` headings, `.TP`
    tags) are exactly the keys `pgmd --config-keys` lists, and `pgmd -F` accepts every
    listed key as a key (a bad value may be refused, an unknown key may not);
  * with --cmake and --build-dir: `cmake --install` puts every page under
    share/man/man{1,5,8}, byte for byte, and the documents the pages refer to (*.md) under
    share/doc/pgmd.

A page in docs/man that this test does not know is a failure, so a new page cannot go
unchecked. Exit status 0 pass, 1 fail.
"""
import argparse
import filecmp
import os
import re
import subprocess
import sys
import tempfile

# Page -> the program whose --help it must match (None: pgmd.conf.5, checked against
# `pgmd --config-keys`).
PAGES = {
    "pgmd.8": "pgmd",
    "pgmctl.8": "pgmctl",
    "pgmsend.1": "pgmsend",
    "pgmrecv.1": "pgmrecv",
    "pgmdump.1": "pgmdump",
    "pgmsim.1": "pgmsim",
    "pgmd.conf.5": None,
}
REQUIRED_SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"]


class Report:
    def __init__(self):
        self.failures = []

    def fail(self, what):
        self.failures.append(what)
        print("FAIL: " + what)

    def ok(self, what):
        print("ok:   " + what)


# --- roff -----------------------------------------------------------------------------------


def plain(roff_line):
    """The text of one roff line: macro name, font escapes and quotes removed."""
    line = roff_line
    if line.startswith("."):
        parts = line.split(None, 1)
        line = parts[1] if len(parts) > 1 else ""
        line = line.replace('"', "")
    line = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", line)
    line = line.replace("\\-", "-").replace("\\&", "").replace("\\%", "")
    line = line.replace("\\(aq", "'").replace("\\e", "\\")
    return line


def sections(path):
    """{section heading: [lines]} of a page, headings as written after .SH."""
    out = {}
    current = None
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith(".SH"):
                current = plain(line).strip()
                out[current] = []
            elif current is not None:
                out[current].append(line)
    return out


def tagged_paragraphs(lines):
    """(subsection, tag text) of each .TP in `lines`; the subsection is the last .SS."""
    out = []
    subsection = ""
    for i, line in enumerate(lines):
        if line.startswith(".SS"):
            subsection = plain(line).strip()
        elif line.startswith(".TP") and i + 1 < len(lines):
            out.append((subsection, plain(lines[i + 1]).strip()))
    return out


def check_formatting(page, report):
    name = os.path.basename(page)
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MANROFFOPT="-ww")
    runs = {
        "groff -ww": ["groff", "-ww", "-man", "-Tutf8", page],
        "man -l": ["man", "-P", "cat", "-l", page],
    }
    for label, cmd in runs.items():
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or r.stderr.strip():
            report.fail(
                f"{name}: {label} exit {r.returncode}, stderr:\n    "
                + "\n    ".join(r.stderr.strip().splitlines())
            )
        elif len(r.stdout.splitlines()) < 10:
            report.fail(f"{name}: {label} printed almost nothing")
        else:
            report.ok(f"{name}: {label} formats it without warnings")
    found = sections(page)
    missing = [s for s in REQUIRED_SECTIONS if s not in found]
    if missing:
        report.fail(f"{name}: missing sections {missing}")


# --- options --------------------------------------------------------------------------------

OPTION_TOKEN = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
HELP_OPTION = re.compile(r"^  (?:-(?P<short>\w) \[ --(?P<long>[\w-]+) \]|--(?P<only>[\w-]+))")


def option_name(short, long):
    return f"-{short}, --{long}" if short else f"--{long}"


def help_options(program):
    r = subprocess.run([program, "--help"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"{program} --help: exit {r.returncode}: {r.stderr}")
    options = set()
    for line in r.stdout.splitlines():
        m = HELP_OPTION.match(line)
        if m:
            options.add(option_name(m["short"], m["long"] or m["only"]))
    return options, r.stdout


def page_options(page, report):
    """The options of the OPTIONS section, as option_name() spells them."""
    name = os.path.basename(page)
    options = set()
    for _, tag in tagged_paragraphs(sections(page).get("OPTIONS", [])):
        tokens = OPTION_TOKEN.findall(tag)
        shorts = [t[1:] for t in tokens if not t.startswith("--") and len(t) == 2]
        longs = [t[2:] for t in tokens if t.startswith("--")]
        if len(longs) != 1 or len(shorts) > 1 or len(shorts) + len(longs) != len(tokens):
            report.fail(f"{name}: OPTIONS tag '{tag}' is not one option (-x, --long ARG)")
            continue
        options.add(option_name(shorts[0] if shorts else None, longs[0]))
    return options


def compare(report, what, documented, actual, page, source):
    missing = sorted(actual - documented)
    extra = sorted(documented - actual)
    if missing or extra:
        lines = [f"{page}: {what} differ from {source}"]
        for m in missing:
            lines.append(f"  + {m!r}: in {source}, not documented in {page}")
        for e in extra:
            lines.append(f"  - {e!r}: documented in {page}, not in {source}")
        report.fail("\n".join(lines))
    else:
        report.ok(f"{page}: {len(actual)} {what} match {source}")


# --- pgmctl commands ------------------------------------------------------------------------


def parse_command_line(text):
    """'show sessions [interface IF] [group G]' -> {('show', 'sessions'): {'interface', ...}};
    'clear counters|repair' -> two commands."""
    text = re.sub(r"\(.*?\)", "", text)
    head = text.split("[", 1)[0].split()
    filters = frozenset(m.split()[0] for m in re.findall(r"\[([^\]]+)\]", text))
    commands = {}
    if not head:
        return commands
    for last in head[-1].split("|"):
        commands[" ".join(head[:-1] + [last])] = filters
    return commands


def help_commands(help_text):
    commands = {}
    lines = help_text.splitlines()
    if "Commands:" not in lines:
        raise RuntimeError("pgmctl --help has no 'Commands:' list")
    for line in lines[lines.index("Commands:") + 1 :]:
        if not line.strip():
            break
        commands.update(parse_command_line(line))
    return commands


def page_commands(page):
    commands = {}
    for _, tag in tagged_paragraphs(sections(page).get("COMMANDS", [])):
        commands.update(parse_command_line(tag))
    return commands


def as_set(commands):
    return {f"{c} [{' '.join(sorted(f))}]" if f else c for c, f in commands.items()}


# --- pgmd.conf(5) keys ----------------------------------------------------------------------


def page_keys(page, report):
    keys = set()
    for subsection, tag in tagged_paragraphs(sections(page).get("KEYS", [])):
        m = re.fullmatch(r"\[([^\]]+)\]", subsection)
        if m:
            prefix = m[1] + "."
        elif subsection == "Global keys":
            prefix = ""
        else:
            report.fail(f"pgmd.conf.5: KEYS subsection '{subsection}' is neither "
                        "'Global keys' nor '[section]'")
            continue
        words = tag.split()
        if not words:
            report.fail(f"pgmd.conf.5: empty tag under '{subsection}'")
            continue
        keys.add(prefix + words[0])
    return keys


def config_for(key):
    """A configuration file that gives `key` a value no key accepts."""
    if key.startswith("interface NAME."):
        return f"[interface lo]\n{key.split('.', 1)[1]} = @\n"
    if "." in key:
        section, name = key.split(".", 1)
        return f"[{section}]\n{name} = @\n[interface lo]\n"
    return f"{key} = @\n[interface lo]\n"


def pgmd_knows(pgmd, key, workdir):
    path = os.path.join(workdir, "check.conf")
    with open(path, "w") as f:
        f.write(config_for(key))
    r = subprocess.run([pgmd, "-F", "-f", path], capture_output=True, text=True, timeout=30)
    return "unknown key" not in r.stderr, r.stderr.strip()


def check_config_keys(pgmd, page, report):
    r = subprocess.run([pgmd, "--config-keys"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        report.fail(f"pgmd --config-keys: exit {r.returncode}: {r.stderr}")
        return
    listed = set(r.stdout.split("\n")) - {""}
    compare(report, "configuration keys", page_keys(page, report), listed, "pgmd.conf.5",
            "pgmd --config-keys")
    with tempfile.TemporaryDirectory(prefix="man_pages_test.") as workdir:
        # The check below must be able to fail: a made-up key is refused as unknown.
        known, _ = pgmd_knows(pgmd, "timers.no-such-key", workdir)
        if known:
            report.fail("pgmd -F did not call 'timers.no-such-key' an unknown key")
        unknown = []
        for key in sorted(listed):
            known, stderr = pgmd_knows(pgmd, key, workdir)
            if not known:
                unknown.append(f"{key} ({stderr})")
        if unknown:
            report.fail("pgmd --config-keys lists keys that pgmd -F calls unknown:\n  "
                        + "\n  ".join(unknown))
        else:
            report.ok(f"pgmd -F takes each of the {len(listed)} listed keys as a key")


# --- installation ---------------------------------------------------------------------------


def check_install(cmake, build_dir, man_dir, report):
    with tempfile.TemporaryDirectory(prefix="man_pages_install.") as prefix:
        r = subprocess.run([cmake, "--install", build_dir, "--prefix", prefix],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            report.fail(f"cmake --install: exit {r.returncode}: {r.stderr.strip()}")
            return
        for page in sorted(PAGES):
            installed = os.path.join(prefix, "share", "man", "man" + page.rsplit(".", 1)[1], page)
            if not os.path.isfile(installed):
                report.fail(f"cmake --install did not install {installed}")
            elif not filecmp.cmp(installed, os.path.join(man_dir, page), shallow=False):
                report.fail(f"{installed} differs from docs/man/{page}")
            else:
                report.ok(f"cmake --install puts {page} in share/man/man{page[-1]}")
        # The documents the pages send the reader to ("The documentation directory of pgmd").
        docs = set()
        for page in PAGES:
            with open(os.path.join(man_dir, page), encoding="utf-8") as f:
                docs.update(re.findall(r"\b([a-z]+\.md)\b", f.read()))
        absent = [d for d in sorted(docs)
                  if not os.path.isfile(os.path.join(prefix, "share", "doc", "pgmd", d))]
        if absent:
            report.fail(f"the man pages refer to {absent}, not installed in share/doc/pgmd")
        else:
            report.ok(f"the {len(docs)} documents the pages refer to are in share/doc/pgmd")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--man-dir", required=True)
    for program in sorted(set(PAGES.values()) - {None}):
        ap.add_argument("--" + program, required=True, help=f"path of {program}")
    ap.add_argument("--cmake", help="cmake, to check `cmake --install`")
    ap.add_argument("--build-dir", help="the build directory to install from")
    args = ap.parse_args()
    report = Report()

    on_disk = sorted(f for f in os.listdir(args.man_dir) if re.search(r"\.[1-8]$", f))
    for page in on_disk:
        if page not in PAGES:
            report.fail(f"docs/man/{page} is not checked by this test (add it to PAGES)")
    for page, program in sorted(PAGES.items()):
        path = os.path.join(args.man_dir, page)
        if not os.path.isfile(path):
            report.fail(f"docs/man/{page} is missing")
            continue
        check_formatting(path, report)
        if program is None:
            check_config_keys(args.pgmd, path, report)
            continue
        executable = getattr(args, program)
        actual, help_text = help_options(executable)
        compare(report, "options", page_options(path, report), actual, page,
                f"{program} --help")
        if program == "pgmctl":
            compare(report, "commands", as_set(page_commands(path)),
                    as_set(help_commands(help_text)), page, "pgmctl --help")
    if args.cmake and args.build_dir:
        check_install(args.cmake, args.build_dir, args.man_dir, report)

    if report.failures:
        print(f"\n{len(report.failures)} failure(s)")
        return 1
    print("\nall man page checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
