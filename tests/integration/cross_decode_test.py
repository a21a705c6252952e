#!/usr/bin/python3
"""cross_decode_test.py: the PGM codec and pgmdump checked against tshark and tcpdump.

Runs make_reference_pcap (every PGM packet type and option, native and UDP-encapsulated,
IPv4 and IPv6, a bad and a missing checksum), then decodes the pcap three ways and compares
each tool, packet by packet, with the manifest the generator wrote from its PacketSpecs:

  pgmdump --json      every manifest field, every option value, the bad-checksum error;
  tshark -T pdml      (with -d udp.port==3055,pgm, IP/UDP checksum checks on)
                      IP and UDP fields, header, type-specific fields, checksum status,
                      payload, option list and the option values tshark decodes;
  tcpdump -v -n -T pgm
                      IP fields, header, type-specific fields and the options it prints.

What a tool does not decode is not compared, and says so below (NOT_COMPARED); what it
does show is asserted, including its known shortcomings, so that a change in a tool is
noticed. A missing tool is a failure, never a skip. Exit status: 0 all equal, 1 otherwise.
"""

import argparse
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

UDP_PORT = 3055

# What each tool does not decode (tshark 4.0, tcpdump 4.99.3), hence not compared with it.
NOT_COMPARED = {
    "tshark": [
        "SPMR: no dissector for type 0x0C (the frame shows as UDP/IP data); only IP fields",
        "OPT_CURR_TGSIZE, OPT_SYN, OPT_FIN, OPT_RST: named, no values shown",
        "OPT_NBR_UNREACH, OPT_PATH_NLA, OPT_CR, OPT_CRQST, OPT_INVALID: 'Unknown (0xNN)'",
        "  (for those, the option bytes tshark delimits are decoded by this script instead:",
        "  reported as tool 'tshark-raw')",
        "OPT_NAK_BO_RNG: labels the first field min_bo_ivl and the second max_bo_ivl, the",
        "  reverse of RFC 3208 15.4.2 (max first); compared by position",
        "OPT_PARITY_GRP: shown in the OPT_PARITY_PRM field pgm.opts.parity_prm.prm_grp",
        "OPT_NAK_LIST: the pgm.opts.nak.list 'show' text is cut to 4*N bytes (Wireshark",
        "  bug); the raw 'value' and the 'List(N):' label are compared instead",
        "option E bit, F and U bits: only E is shown (pgm.genopts.end)",
    ],
    "tcpdump": [
        "NAK, NNAK, NCF: prints '[|pgm]' after the GSI: it skips the group NLA's AFI and",
        "  reads the address as the AFI (tcpdump PR #1025); only the header is compared",
        "ACK: tcpdump numbers ACK 11, not 0x0D, so it prints 'UNKNOWN type 0x0d'",
        "POLL sub-type, option OPX/E/F/U bits, the PGM checksum: never printed",
        "OPT_PARITY_PRM P/O bits, OPT_RST N bit and error code, OPT_CRQST bits, OPT_CR",
        "  values, OPT_PATH_NLA address, unknown option bytes: names (and lengths) only",
        "options after OPT_PATH_NLA, OPT_CR or an unknown option: tcpdump skips two bytes",
        "  too many after those (tcpdump issue #1024), so the rest is not compared",
    ],
}

TSHARK_CHECKSUM_STATUS = {"0": "bad", "1": "good", "2": "unverified", "3": "none"}
OPTION_FLAG_BITS = [(0x01, "present"), (0x02, "network"), (0x40, "var_pktlen"), (0x80, "parity")]

# Option type codes (protocol/wire.h).
FRAGMENT, NAK_LIST, JOIN, NAK_BO_IVL, NAK_BO_RNG = 0x01, 0x02, 0x03, 0x04, 0x05
REDIRECT, PARITY_PRM, PARITY_GRP, CURR_TGSIZE, NBR_UNREACH = 0x07, 0x08, 0x09, 0x0A, 0x0B
PATH_NLA, SYN, FIN, RST, CR, CRQST = 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11


class Report:
    """Collects comparisons and mismatches; prints a diff at the end."""

    def __init__(self):
        self.compared = {}
        self.mismatches = []

    def check(self, tool, frame, what, expected, got):
        self.compared[tool] = self.compared.get(tool, 0) + 1
        if expected != got:
            self.mismatches.append((tool, frame, what, expected, got))

    def fail(self, tool, frame, what, message):
        self.mismatches.append((tool, frame, what, "-", message))

    def finish(self):
        for tool, n in sorted(self.compared.items()):
            print(f"{tool}: {n} values compared")
        for tool, lines in NOT_COMPARED.items():
            print(f"not compared with {tool}:")
            for line in lines:
                print(f"  {line}")
        if not self.mismatches:
            print("cross_decode_test: PASS")
            return 0
        print(f"\ncross_decode_test: FAIL, {len(self.mismatches)} mismatches")
        print(f"{'tool':8} {'frame':>5}  {'field':36} {'expected':24} got")
        for tool, frame, what, expected, got in self.mismatches:
            print(f"{tool:8} {frame!s:>5}  {what:36} {expected!s:24} {got!s}")
        return 1


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
    return proc.stdout


def words32(hex_text):
    raw = bytes.fromhex(hex_text)
    return [int.from_bytes(raw[i:i + 4], "big") for i in range(0, len(raw) - 3, 4)]


def nla_text(afi, raw):
    if afi == 1:
        return str(ipaddress.IPv4Address(raw[:4]))
    return str(ipaddress.IPv6Address(raw[:16]))


def path_nla_text(raw):
    """OPT_PATH_NLA carries the address without an AFI (length says the family)."""
    return nla_text(1 if len(raw) == 4 else 2, raw)


def decode_option_bytes(code, raw):
    """Values of the options no tool decodes, from the option's bytes (header included)."""
    b3, value = raw[3], raw[4:]
    lpr = {"ne_worst_link": bool(b3 & 4), "ne_worst_path": bool(b3 & 2),
           "rx_worst_path": bool(b3 & 1)}
    if code == CURR_TGSIZE:
        return {"size": int.from_bytes(value[:4], "big")}
    if code == PATH_NLA:
        return {"path": path_nla_text(value)}
    if code == RST:
        return {"no_naks": bool(b3 & 0x40), "error_code": b3 & 0x3F}
    if code == CRQST:
        return lpr
    if code == CR:
        afi = int.from_bytes(value[12:14], "big")
        return dict(lpr, lead=int.from_bytes(value[0:4], "big"),
                    ne_wl=int.from_bytes(value[4:6], "big"),
                    ne_wp=int.from_bytes(value[6:8], "big"),
                    rx_wp=int.from_bytes(value[8:10], "big"),
                    receiver=nla_text(afi, value[16:]))
    if code in (NBR_UNREACH, SYN, FIN):
        return {}
    return {"opx": raw[2] & 3, "byte2": raw[2], "byte3": b3, "hex": value.hex()}


def check_option_values(report, tool, frame, index, expected, got):
    """Compares the keys of `got` (what a tool showed) with the manifest option."""
    for key, value in got.items():
        if key in expected:
            report.check(tool, frame, f"option[{index}].{key}", expected[key], value)
        else:
            report.fail(tool, frame, f"option[{index}].{key}", f"not in manifest: {value}")


# ---- pgmdump ---------------------------------------------------------------------------

MANIFEST_ONLY_KEYS = {"name", "payload_hex"}


def check_pgmdump(report, manifest, pgmdump, pcap):
    lines = run([pgmdump, "-r", pcap, "--json"]).splitlines()
    decoded = [json.loads(line) for line in lines]
    report.check("pgmdump", "-", "packet count", len(manifest), len(decoded))
    by_frame = {d["frame"]: d for d in decoded}
    for m in manifest:
        frame = m["frame"]
        d = by_frame.get(frame)
        if d is None:
            report.fail("pgmdump", frame, "packet", "missing from the output")
            continue
        for key, value in m.items():
            if key in MANIFEST_ONLY_KEYS or key == "options":
                continue
            report.check("pgmdump", frame, key, value, d.get(key))
        got_options = d.get("options", [])
        report.check("pgmdump", frame, "option count", len(m["options"]), len(got_options))
        for i, (want, got) in enumerate(zip(m["options"], got_options)):
            for key, value in want.items():
                report.check("pgmdump", frame, f"option[{i}].{key}", value, got.get(key))
        expect_error = "bad checksum" if m["checksum_status"] == "bad" else None
        report.check("pgmdump", frame, "error", expect_error, d.get("error"))
    # The text form must carry the same packets, one line each.
    text = run([pgmdump, "-r", pcap]).splitlines()
    report.check("pgmdump", "-", "text line count", len(manifest), len(text))
    for m, line in zip(manifest, text):
        report.check("pgmdump", m["frame"], "text has type", True, f" {m['type']} " in line)
    return by_frame


# ---- tshark ----------------------------------------------------------------------------

TSHARK_OPTION_NAMES = {
    "Fragment": FRAGMENT, "NakList": NAK_LIST, "Join": JOIN, "NakBackOffIvl": NAK_BO_IVL,
    "NakBackOffRng": NAK_BO_RNG, "ReDirect": REDIRECT, "ParityPrm": PARITY_PRM,
    "ParityGrp": PARITY_GRP, "CurrTgsiz": CURR_TGSIZE, "Syn": SYN, "Fin": FIN, "Rst": RST,
}

# manifest key -> tshark field, per packet type ("@nla" fields end in .ipv4 or .ipv6).
TSHARK_TYPE_FIELDS = {
    "SPM": {"sqn": "pgm.spm.sqn", "trail": "pgm.spm.trail", "lead": "pgm.spm.lead",
            "path": "@pgm.spm.path"},
    "POLL": {"sqn": "pgm.poll.sqn", "round": "pgm.poll.round", "subtype": "pgm.poll.subtype",
             "path": "@pgm.poll.path", "backoff_ivl_us": "pgm.poll.backoff_ivl",
             "rand": "pgm.poll.rand_str", "mask": "pgm.poll.matching_bmask"},
    "POLR": {"sqn": "pgm.polr.sqn", "round": "pgm.polr.round"},
    "ODATA": {"sqn": "pgm.spm.sqn", "trail": "pgm.spm.trail"},  # Wireshark reuses SPM's
    "NAK": {"sqn": "pgm.nak.sqn", "nak_src": "@pgm.nak.src", "nak_grp": "@pgm.nak.grp"},
    "ACK": {"rx_max": "pgm.ack.maxsqn", "bitmap": "pgm.ack.bitmap"},
}
TSHARK_TYPE_FIELDS["RDATA"] = TSHARK_TYPE_FIELDS["ODATA"]
TSHARK_TYPE_FIELDS["NNAK"] = TSHARK_TYPE_FIELDS["NCF"] = TSHARK_TYPE_FIELDS["NAK"]

# Option values tshark shows: manifest key -> (field, how to read it).
TSHARK_OPTION_FIELDS = {
    FRAGMENT: {"first_sqn": "pgm.opts.fragment.first_sqn",
               "offset": "pgm.opts.fragment.fragment_offset",
               "apdu_length": "pgm.opts.fragment.total_length"},
    JOIN: {"min_sqn": "pgm.opts.join.min_join"},
    NAK_BO_IVL: {"interval_us": "pgm.opts.nak_bo_ivl.bo_ivl",
                 "poll_sqn": "pgm.opts.nak_bo_ivl.bo_ivl_sqn"},
    # Wireshark's labels are swapped: its "min" is the first field, RFC 3208's maximum.
    NAK_BO_RNG: {"max_us": "pgm.opts.nak_bo_rng.min_bo_ivl",
                 "min_us": "pgm.opts.nak_bo_rng.max_bo_ivl"},
    PARITY_PRM: {"tg_size": "pgm.opts.parity_prm.prm_grp"},
    PARITY_GRP: {"group": "pgm.opts.parity_prm.prm_grp"},
}


class Pdml:
    """Field lookups in one element of tshark's PDML."""

    def __init__(self, elem):
        self.elem = elem

    def all(self, name):
        return [f for f in self.elem.iter("field") if f.get("name") == name]

    def show(self, name, last=False):
        found = self.all(name)
        if not found:
            return None
        return found[-1 if last else 0].get("show")

    def int(self, name, last=False):
        text = self.show(name, last)
        return None if text is None else int(text, 0)

    def nla(self, name):
        return self.show(name + ".ipv4") or self.show(name + ".ipv6")

    def has(self, name):
        return bool(self.all(name))


def tshark_packets(tshark, pcap):
    xml = run([tshark, "-r", pcap, "-n", "-d", f"udp.port=={UDP_PORT},pgm",
               "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
               "-o", "pgm.check_checksum:TRUE", "-T", "pdml"])
    return ET.fromstring(xml).findall("packet")


def protos(packet):
    return {p.get("name"): p for p in packet.findall("proto")}


def check_tshark_ip(report, m, packet, layers):
    frame = m["frame"]
    v6 = m["ip_version"] == 6
    ip = Pdml(layers["ipv6" if v6 else "ip"])
    prefix = "ipv6" if v6 else "ip"
    report.check("tshark", frame, "ip_src", m["ip_src"], ip.show(f"{prefix}.src"))
    report.check("tshark", frame, "ip_dst", m["ip_dst"], ip.show(f"{prefix}.dst"))
    report.check("tshark", frame, "ttl", m["ttl"], ip.int("ipv6.hlim" if v6 else "ip.ttl"))
    ra = Pdml(packet).has("ipv6.opt.router_alert" if v6 else "ip.opt.ra")
    report.check("tshark", frame, "router_alert", m["router_alert"], ra)
    if not v6:
        report.check("tshark", frame, "ip header checksum", "1", ip.show("ip.checksum.status"))
    vlans = [int(f.get("show")) for f in Pdml(packet).all("vlan.id")]
    report.check("tshark", frame, "vlan", m.get("vlan", []), vlans)
    report.check("tshark", frame, "encap udp", m["encap"] == "udp", "udp" in layers)
    if "udp" in layers:
        udp = Pdml(layers["udp"])
        report.check("tshark", frame, "udp_sport", m["udp_sport"], udp.int("udp.srcport"))
        report.check("tshark", frame, "udp_dport", m["udp_dport"], udp.int("udp.dstport"))
        report.check("tshark", frame, "udp checksum", "1", udp.show("udp.checksum.status"))


def check_tshark_header(report, m, pgm):
    frame = m["frame"]
    for key, field in (("sport", "pgm.hdr.sport"), ("dport", "pgm.hdr.dport"),
                       ("type_code", "pgm.hdr.type"), ("tsdu_length", "pgm.hdr.tsdulen")):
        report.check("tshark", frame, key, m[key], pgm.int(field))
    gsi = pgm.all("pgm.hdr.gsi")
    report.check("tshark", frame, "gsi", m["gsi"], gsi[0].get("value") if gsi else None)
    flags = pgm.int("pgm.hdr.opts") or 0
    names = [name for bit, name in OPTION_FLAG_BITS if flags & bit]
    report.check("tshark", frame, "opt_flags", m["opt_flags"], names)
    # Wireshark 4.0 emits pgm.hdr.cksum.status twice; the last one is the verdict.
    status = TSHARK_CHECKSUM_STATUS.get(pgm.show("pgm.hdr.cksum.status", last=True))
    report.check("tshark", frame, "checksum_status", m["checksum_status"], status)
    for key, field in TSHARK_TYPE_FIELDS[m["type"]].items():
        got = pgm.nla(field[1:]) if field.startswith("@") else pgm.int(field)
        report.check("tshark", frame, key, m[key], got)


def tshark_option_code(elem):
    label = re.match(r"Option: (\S+?)(?: \((0x[0-9a-f]+)\))?, Length: (\d+)$", elem.get("show"))
    if label is None:
        return None, None
    name, code, length = label.groups()
    return (int(code, 16) if name == "Unknown" else TSHARK_OPTION_NAMES.get(name)), int(length)


def tshark_option_values(code, opt, raw):
    """The values tshark shows for one option, keyed like the manifest."""
    if code == NAK_LIST:
        field = opt.all("pgm.opts.nak.list")[0]
        listed = re.match(r"List\((\d+)\):((?: 0x[0-9a-f]+)*)", field.get("showname"))
        shown = [int(x, 16) for x in listed.group(2).split()] if listed else None
        return {"sqns": shown}, {"sqns": words32(field.get("value"))}
    if code == REDIRECT:
        return {"dlr": opt.nla("pgm.opts.redirect.dlr")}, {}
    if code == PARITY_PRM:
        op = opt.int("pgm.opts.parity_prm.op")
        values = {"proactive": bool(op & 2), "on_demand": bool(op & 1)}
        values["tg_size"] = opt.int("pgm.opts.parity_prm.prm_grp")
        return values, {}
    if code in TSHARK_OPTION_FIELDS:
        return {k: opt.int(f) for k, f in TSHARK_OPTION_FIELDS[code].items()}, {}
    # Nothing decoded by tshark: decode the bytes it delimited.
    return {}, decode_option_bytes(code, raw)


def check_tshark_options(report, m, pgm_elem, dumped):
    frame = m["frame"]
    container = [e for e in pgm_elem.iter("field")
                 if re.match(r"\w+ Options \(Total Length \d+\)$", e.get("show") or "")]
    elems = [e for e in (container[0] if container else [])
             if (e.get("show") or "").startswith("Option: ")]
    report.check("tshark", frame, "option count", len(m["options"]), len(elems))
    for i, (want, elem) in enumerate(zip(m["options"], elems)):
        code, length = tshark_option_code(elem)
        report.check("tshark", frame, f"option[{i}].code", want["code"], code)
        dumped_options = dumped.get("options", []) if dumped else []
        if i < len(dumped_options):
            report.check("tshark", frame, f"option[{i}].length (vs pgmdump)",
                         dumped_options[i]["length"], length)
        opt = Pdml(elem)
        if opt.has("pgm.genopts.end"):
            report.check("tshark", frame, f"option[{i}].end", i == len(elems) - 1,
                         opt.show("pgm.genopts.end") == "1")
        raw = bytes.fromhex(elem.get("value"))
        shown, by_script = tshark_option_values(code, opt, raw)
        check_option_values(report, "tshark", frame, i, want, shown)
        check_option_values(report, "tshark-raw", frame, i, want,
                            {k: v for k, v in by_script.items() if v is not None})


def check_tshark(report, manifest, tshark, pcap, dumped):
    packets = tshark_packets(tshark, pcap)
    report.check("tshark", "-", "packet count", len(manifest), len(packets))
    for m, packet in zip(manifest, packets):
        frame = m["frame"]
        layers = protos(packet)
        check_tshark_ip(report, m, packet, layers)
        if m["type"] == "SPMR":
            # No SPMR dissector: assert that it indeed stays undecoded (see NOT_COMPARED).
            report.check("tshark", frame, "SPMR left undecoded", False, "pgm" in layers)
            continue
        if "pgm" not in layers:
            report.fail("tshark", frame, "pgm layer", "not decoded")
            continue
        pgm = Pdml(layers["pgm"])
        check_tshark_header(report, m, pgm)
        data = Pdml(packet).all("data.data")
        report.check("tshark", frame, "payload", m["payload_hex"],
                     data[0].get("value") if data else "")
        check_tshark_options(report, m, layers["pgm"], dumped.get(frame))


# ---- tcpdump ---------------------------------------------------------------------------

# Type-specific text, and the manifest keys of its groups (hex groups end in "/x").
TCPDUMP_TYPES = {
    "SPM": (r"SPM seq (\d+) trail (\d+) lead (\d+) nla (\S+)", ["sqn", "trail", "lead", "path"]),
    "POLL": (r"POLL seq (\d+) round (\d+) nla (\S+) ivl (\d+) rnd 0x([0-9a-f]+) "
             r"mask 0x([0-9a-f]+)", ["sqn", "round", "path", "backoff_ivl_us", "rand/x", "mask/x"]),
    "POLR": (r"POLR seq (\d+) round (\d+)", ["sqn", "round"]),
    "ODATA": (r"ODATA trail (\d+) seq (\d+)", ["trail", "sqn"]),
    "RDATA": (r"RDATA trail (\d+) seq (\d+)", ["trail", "sqn"]),
    "NAK": (r"NAK \((\S+) -> (\S+)\), seq (\d+)", ["nak_src", "nak_grp", "sqn"]),
    "NNAK": (r"NNAK \((\S+) -> (\S+)\), seq (\d+)", ["nak_src", "nak_grp", "sqn"]),
    "NCF": (r"NCF \((\S+) -> (\S+)\), seq (\d+)", ["nak_src", "nak_grp", "sqn"]),
    "SPMR": (r"SPMR", []),
    "ACK": (r"UNKNOWN type 0x0d", []),
}

# Option text: (pattern, code, manifest keys; "*" = all numbers as a list; "skip" = tcpdump
# misreads what follows, see NOT_COMPARED).
TCPDUMP_OPTIONS = [
    (r"FRAG seq (\d+) off (\d+) len (\d+)", FRAGMENT, ["first_sqn", "offset", "apdu_length"]),
    (r"NAK LIST((?: \d+)+)", NAK_LIST, ["sqns*"]),
    (r"JOIN (\d+)", JOIN, ["min_sqn"]),
    (r"BACKOFF ivl (\d+) ivlseq (\d+)", NAK_BO_IVL, ["interval_us", "poll_sqn"]),
    (r"BACKOFF max (\d+) min (\d+)", NAK_BO_RNG, ["max_us", "min_us"]),
    (r"REDIRECT (\S+)", REDIRECT, ["dlr"]),
    (r"PARITY MAXTGS (\d+)", PARITY_PRM, ["tg_size"]),
    (r"PARITY GROUP (\d+)", PARITY_GRP, ["group"]),
    (r"PARITY ATGS (\d+)", CURR_TGSIZE, ["size"]),
    (r"NBR_UNREACH", NBR_UNREACH, []),
    (r"PATH_NLA \[(\d+)\]", PATH_NLA, ["skip"]),
    (r"SYN", SYN, []),
    (r"FIN", FIN, []),
    (r"RST", RST, []),
    (r"CRQST", CRQST, []),
    (r"CR", CR, ["skip"]),
    (r"OPT_([0-9A-F]{2}) \[(\d+)\]", None, ["skip"]),
]


def tcpdump_packets(tcpdump, pcap):
    # -T pgm: read UDP as PGM (the only ports in this pcap are the encapsulation ones).
    out = run([tcpdump, "-v", "-n", "-r", pcap, "-T", "pgm"])
    packets = []
    for line in out.splitlines():
        if re.match(r"\d\d:\d\d:\d\d\.\d{6} ", line):
            packets.append(line)
        elif packets:
            packets[-1] += " " + line.strip()
    return packets


def typed(key, text):
    if key.endswith("/x"):
        return key[:-2], int(text, 16)
    return key, int(text) if text.isdigit() else text


def parse_tcpdump_options(text):
    """[(code, {key: value}, skip_rest)] from the text after 'OPTS LEN n'."""
    found, pos = [], 0
    while pos < len(text):
        if text[pos] == " ":
            pos += 1
            continue
        for pattern, code, keys in TCPDUMP_OPTIONS:
            hit = re.compile(pattern + r"(?=\s|$)").match(text, pos)
            if hit is None:
                continue
            if code is None:
                code = int(hit.group(1), 16) & 0x7F
            values = {}
            if keys == ["sqns*"]:
                values["sqns"] = [int(x) for x in hit.group(1).split()]
            elif keys != ["skip"]:
                values = dict(typed(k, v) for k, v in zip(keys, hit.groups()))
            found.append((code, values, keys == ["skip"]))
            pos = hit.end()
            break
        else:
            found.append((None, {"unparsed": text[pos:]}, True))
            break
    return found


def check_tcpdump_packet(report, m, text, dumped):
    frame = m["frame"]
    v6 = m["ip_version"] == 6
    ttl = re.search(r"\bhlim (\d+)" if v6 else r"\bttl (\d+)", text)
    report.check("tcpdump", frame, "ttl", m["ttl"], int(ttl.group(1)) if ttl else None)
    ra = ("HBH (rtalert: 0x0000)" if v6 else "options (RA)") in text
    report.check("tcpdump", frame, "router_alert", m["router_alert"], ra)
    body = re.sub(r"^\S+ IP6? \((?:[^()]|\([^()]*\))*\) ", "", text)
    addrs = re.match(r"(\S+) > (\S+): ", body)
    for key, group in (("ip_src", 1), ("ip_dst", 2)):
        addr = addrs.group(group) if addrs else None
        if addr and not v6 and m["encap"] == "udp":
            addr = addr.rsplit(".", 1)[0]  # IPv4 UDP: address.port
        report.check("tcpdump", frame, key, m[key], addr)
    pgm = re.search(r"(\S+) > (\S+): PGM, length (\d+) 0x([0-9a-f]{12}) ?(.*)$", text)
    if pgm is None:
        report.fail("tcpdump", frame, "PGM", f"not decoded: {text}")
        return
    report.check("tcpdump", frame, "sport", m["sport"], int(pgm.group(1).rsplit(".", 1)[-1]))
    report.check("tcpdump", frame, "dport", m["dport"], int(pgm.group(2).rsplit(".", 1)[-1]))
    report.check("tcpdump", frame, "tsdu_length", m["tsdu_length"], int(pgm.group(3)))
    report.check("tcpdump", frame, "gsi", m["gsi"], pgm.group(4))
    rest = pgm.group(5)
    if m["type"] in ("NAK", "NNAK", "NCF") and rest.strip() == "[|pgm]":
        report.check("tcpdump", frame, "known NAK printing bug", "[|pgm]", rest.strip())
        return
    pattern, keys = TCPDUMP_TYPES[m["type"]]
    typed_hit = re.match(pattern, rest)
    if typed_hit is None:
        report.fail("tcpdump", frame, m["type"], f"unexpected text: {rest}")
        return
    for key, value in (typed(k, v) for k, v in zip(keys, typed_hit.groups())):
        report.check("tcpdump", frame, key, m[key], value)
    if m["type"] == "ACK":
        return  # tcpdump reads ACK's fields as options: see NOT_COMPARED
    rest = rest[typed_hit.end():]
    length = re.search(r" \[(\d+)\]$", rest)
    report.check("tcpdump", frame, "pgm_length", m["pgm_length"],
                 int(length.group(1)) if length else None)
    rest = rest[:length.start()] if length else rest
    opts = re.match(r" OPTS LEN (\d+)(.*)$", rest)
    report.check("tcpdump", frame, "options present", bool(m["options"]), opts is not None)
    if opts is None:
        return
    lengths = [o["length"] for o in dumped.get("options", [])] if dumped else []
    report.check("tcpdump", frame, "options total length (vs pgmdump)", 4 + sum(lengths),
                 int(opts.group(1)))
    for i, (code, values, skip_rest) in enumerate(parse_tcpdump_options(opts.group(2))):
        if i >= len(m["options"]):
            report.fail("tcpdump", frame, f"option[{i}]", f"extra option {code} {values}")
            break
        report.check("tcpdump", frame, f"option[{i}].code", m["options"][i]["code"], code)
        check_option_values(report, "tcpdump", frame, i, m["options"][i], values)
        if skip_rest:
            break


def check_tcpdump(report, manifest, tcpdump, pcap, dumped):
    packets = tcpdump_packets(tcpdump, pcap)
    report.check("tcpdump", "-", "packet count", len(manifest), len(packets))
    for m, text in zip(manifest, packets):
        check_tcpdump_packet(report, m, text, dumped.get(m["frame"]))


# ---- main ------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", required=True, help="make_reference_pcap")
    parser.add_argument("--pgmdump", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()

    report = Report()
    tools = {name: shutil.which(name) for name in ("tshark", "tcpdump")}
    for name, path in tools.items():
        if path is None:
            report.fail(name, "-", "installed", f"{name} not found on PATH: cannot compare")

    os.makedirs(args.workdir, exist_ok=True)
    pcap = os.path.join(args.workdir, "reference.pcap")
    manifest_path = os.path.join(args.workdir, "reference.json")
    print(run([args.generator, "--reference", pcap, manifest_path]).strip())
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)["packets"]

    dumped = check_pgmdump(report, manifest, args.pgmdump, pcap)
    if tools["tshark"]:
        check_tshark(report, manifest, tools["tshark"], pcap, dumped)
    if tools["tcpdump"]:
        check_tcpdump(report, manifest, tools["tcpdump"], pcap, dumped)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
