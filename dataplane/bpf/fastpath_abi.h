/* DOC: The contract between pgmd and its kernel fast path (pgm_fastpath.bpf.c): the maps'
 * keys and values, the decisions the program takes and the counters it keeps. Included by
 * the BPF program (clang -target bpf) and by C++ (dataplane/fastpath.*, the forwarding
 * table), so it is plain C with fixed-width types and no padding left implicit.
 *
 * Which packets the program owns ("eligible ODATA", pgmd's capture filter excludes exactly
 * these, see fastpath_capture_exclusion() in C++): an untagged Ethernet frame, IPv4 with a
 * 20-byte header (no IP options), not a fragment (MF clear, offset 0), to a multicast
 * destination (224.0.0.0/4), IP total length within the frame, carrying either
 *   - native PGM (protocol 113), or
 *   - UDP (protocol 17) to one of the configured encapsulation ports (fp_config.udp_ports),
 * whose PGM header is ODATA (type byte 0x04) with neither OPT_NETWORK nor a reserved bit
 * in its options byte (options byte & FP_ODATA_OPTIONS_FOR_PGMD == 0: OPT_PRESENT,
 * OPT_VAR_PKTLEN and OPT_PARITY are allowed) and which holds at least the 16-byte PGM header
 * and the 8-byte ODATA header. Everything else (SPM, NAK, NNAK, NCF, RDATA, POLL, POLR, SPMR,
 * ODATA with network-significant options, malformed, IP options, fragments, VLAN) is passed
 * on untouched (TC_ACT_OK), and pgmd captures it as before.
 * ODATA with receiver-only options (OPT_SYN, OPT_FIN, OPT_FRAGMENT...; an NE need not parse
 * them while OPT_NETWORK is clear, docs/rfc3208-rules.md N-OPT-4) and pro-active parity is the
 * program's as plain ODATA is: were it pgmd's, each such packet would take the slower path
 * through pgmd while the packets after it were switched in the kernel, and arrive behind
 * them (the OPT_SYN of a session's first ODATA made receivers NAK it). The program checks
 * the option extension's framing only: with OPT_PRESENT, 4 bytes of OPT_LENGTH (type 0x00,
 * length 4, a total length of at least 8) after the ODATA header.
 * Malformed also covers what a capture filter cannot check but the program does: a bad IPv4
 * header checksum, a UDP length beyond the IP packet, a TSDU length other than exactly the
 * bytes after the ODATA header and the option extension, a bad OPT_LENGTH. Such packets are
 * passed, and pgmd (whose capture may exclude them) would have dropped them anyway. The
 * program does NOT verify PGM or UDP checksums nor the options after OPT_LENGTH (that needs
 * the whole payload): a corrupted eligible ODATA of a known session is switched like any
 * other, and receivers discard it.
 *
 * For eligible ODATA, while pgmd's heartbeat is fresh:
 *   - its TSI is in fp_sessions, the entry's flags lack FP_SESSION_PUNT, it arrived on the
 *     entry's upstream_ifindex, and source and group match the entry: when the IP TTL is
 *     <= 1 it is counted (drop_ttl) and dropped; else the TTL is decremented (IP checksum
 *     updated) and the frame cloned out of every egress of the entry (with the MAC address
 *     the entry gives for it as the Ethernet source), then dropped, so that nothing else
 *     forwards it too. fp_progress (at the entry's slot) gets the TSI's lead and trail (also
 *     for one dropped for its TTL, as pgmd's core notes the lead before the TTL check).
 *     Everything the program needs for this is in the session entry: the arrival counters
 *     are at its upstream_slot, each copy's ifindex, MAC and counter slot in its egress
 *     list; nothing is looked up per copy, and the program does not check an egress
 *     against fp_interfaces: an entry naming an interface sends out of it. pgmd therefore
 *     writes only attached interfaces into entries, rewrites every entry naming an interface
 *     when its MAC changes, and rewrites them before it detaches the interface; only once
 *     that write has succeeded does it remove the interface's filter and fp_interfaces entry
 *     and give its slot back (not given again before pgmd's next heartbeat).
 *   - otherwise (unknown TSI, a DLR session, RPF mismatch): punted to pgmd through the
 *     fp_punts perf event array (struct fp_punt_meta then the frame from its Ethernet header)
 *     and dropped; pgmd handles it as if captured.
 * When the heartbeat is stale (now - fp_config.heartbeat_ns > stale_after_ns, both
 * CLOCK_MONOTONIC nanoseconds; the program reads CLOCK_MONOTONIC_COARSE with
 * bpf_ktime_get_coarse_ns, Linux 5.11 or later, less than a tick behind) the program fails open:
 * every PGM packet (native, or UDP on a configured port) to a multicast group, eligible or not
 * (IP options allowed), is looked up in fp_groups by (group, IP source), and when that has no
 * entry by (group, 0); with an entry that lists interfaces it is forwarded with the TTL
 * decremented out of every interface of the entry other than the one it arrived on, and
 * dropped; what has TTL <= 1 is dropped. Without an entry, or with one that lists no interface
 * (a source nobody wants where others are wanted, IGMPv3 INCLUDE/EXCLUDE), it is passed. RPF:
 * ODATA, RDATA, SPM, NCF or POLL (type & 0x0f = 4, 5, 0, 0xa, 1) whose TSI (GSI, source port) is in
 * fp_sessions and which arrived other than on that entry's upstream_ifindex is passed (counted
 * passed_packets), not forwarded. IP fragments, packets with a malformed IPv4 header and other
 * packets pass untouched. pgmd is then not needed for transfers to complete: receivers see the
 * source's own SPMs and repair from it. A zero heartbeat_ns (never beaten) is stale.
 * fp_config.flags without FP_CONFIG_ENABLED passes everything, whatever the heartbeat. Failing
 * open, copies go out only of interfaces present in fp_interfaces (a listed egress without an entry
 * gets nothing: it has no counters either).
 *
 * Counters are per slot: user space gives each attached interface a small dense slot (an
 * index into the per-CPU array fp_if_stats, kept in its fp_interfaces entry and in the
 * session entries naming it) and each session one (an index into the per-CPU array
 * fp_progress, kept in its entry). A slot's contents are zeroed by user space when it gives
 * the slot to a new owner, and a slot freed is not given again at once (a session slot at
 * the next rebuild of the table, an interface slot at the next heartbeat), so that a program
 * run that looked up the old owner's entry has ended before the slot is zeroed. Packets that are
 * not forwarded (passed, punted, dropped, failing open) are counted on the arrival interface's slot
 * found in fp_interfaces by ifindex; those of an interface without an entry are not counted.
 */
#ifndef PGMD_FASTPATH_ABI_H
#define PGMD_FASTPATH_ABI_H

#ifdef __cplusplus
#include <cstdint>
#define FP_U8 std::uint8_t
#define FP_U16 std::uint16_t
#define FP_U32 std::uint32_t
#define FP_U64 std::uint64_t
#else
#define FP_U8 __u8
#define FP_U16 __u16
#define FP_U32 __u32
#define FP_U64 __u64
#endif

#define FP_MAX_EGRESS 16           /* egress interfaces per session / group */
#define FP_MAX_UDP_PORTS 4         /* UDP encapsulation ports the program recognises */
#define FP_MAX_SESSIONS 65536      /* fp_sessions entries, and at most as many fp_progress slots */
#define FP_MAX_GROUPS 4096         /* groups with fp_groups entries */
#define FP_MAX_GROUP_SOURCES 64    /* fp_groups entries with a source (not 0), per group */
#define FP_MAX_GROUP_ENTRIES 16384 /* fp_groups entries in all (any-source and per source) */
#define FP_MAX_INTERFACES 64       /* fp_interfaces entries and fp_if_stats slots (pgmd's limit) */
#define FP_NO_SLOT 0xffffu         /* an interface slot that is none: counts nowhere */
/* ODATA options-byte bits that leave a packet to pgmd: OPT_NETWORK (0x02) and the reserved
 * 0x04..0x20. OPT_PRESENT (0x01), OPT_VAR_PKTLEN (0x40) and OPT_PARITY (0x80) do not. */
#define FP_ODATA_OPTIONS_FOR_PGMD 0x3e
#define FP_PUNT_MAX_BYTES 2048 /* frame bytes copied into a punt (more: the punt is dropped) */

/* fp_config: an array of one element (key 0). */
struct fp_config {
    FP_U64 heartbeat_ns;                /* pgmd's last heartbeat, CLOCK_MONOTONIC ns */
    FP_U64 stale_after_ns;              /* older than this: fail open */
    FP_U16 udp_ports[FP_MAX_UDP_PORTS]; /* host byte order; 0 = unused */
    FP_U32 flags;                       /* FP_CONFIG_* */
    FP_U32 abi_version;                 /* FP_ABI_VERSION of the pgmd that wrote the maps */
};
/* The layout of the maps as pgmd fills them; a pgmd taking over reads it from the previous
 * program's fp_config before it reads that program's fp_groups. 0: the layout before this
 * field (the field was padding, written 0): fp_groups keyed by the group alone, every source
 * forwarded. 1: fp_groups keyed by (group, source). The program does not read it. */
#define FP_ABI_VERSION 1u
#define FP_CONFIG_ENABLED 1u /* 0: pass everything untouched (pgmd not ready yet) */
/* Set by pgmd when the kernel has multicast routing: well-formed multicast PGM that the
 * program would leave to pgmd's capture (everything but eligible ODATA) is punted to pgmd
 * instead and dropped (pgmd's capture, bound to IPv4, is served after tc ingress and would
 * not see it), so that a multicast route for the group (smcroute, pimd, FRR) cannot
 * forward it a second time. */
#define FP_CONFIG_CONSUME 2u

/* fp_sessions: hash, key = the TSI as on the wire (GSI then source port, network order). */
struct fp_session_key {
    FP_U8 gsi[6];
    FP_U16 sport; /* network byte order */
};
/* One egress of a session: all a copy needs, so that forwarding looks nothing up per copy. */
struct fp_egress {
    FP_U32 ifindex;
    FP_U8 mac[6]; /* Ethernet source address of the copies: the interface's own */
    FP_U16 slot;  /* the interface's fp_if_stats slot */
};
struct fp_session {
    FP_U32 source;           /* IPv4, network byte order: the session's source */
    FP_U32 group;            /* IPv4, network byte order */
    FP_U32 upstream_ifindex; /* RPF interface */
    FP_U32 flags;            /* FP_SESSION_* */
    FP_U32 n_egress;         /* <= FP_MAX_EGRESS */
    FP_U32 slot;             /* the session's fp_progress slot */
    FP_U16 upstream_slot;    /* fp_if_stats slot of upstream_ifindex (FP_NO_SLOT when it is
                                not attached: a punted session) */
    FP_U16 pad;
    struct fp_egress egress[FP_MAX_EGRESS];
};
#define FP_SESSION_PUNT 1u /* pgmd wants every ODATA of it (a DLR session) */

/* fp_progress: per-CPU array, index = the session entry's slot (user space sizes it at load,
 * at most FP_MAX_SESSIONS: a per-CPU array is allocated whole for every possible CPU);
 * written by the program for every ODATA of a known session it forwards or drops for its
 * TTL. pgmd reads it to keep each session's lead (D14.4) and counters, and zeroes a slot
 * when it gives it to a session. */
struct fp_progress {
    FP_U32 lead;      /* highest ODATA sequence seen on this CPU (serial arithmetic, RFC 1982) */
    FP_U32 trail;     /* the trail of that ODATA */
    FP_U64 packets;   /* 0: lead and trail are not set yet */
    FP_U64 bytes;     /* IP bytes received */
    FP_U64 forwarded; /* of `packets`, those sent on (not dropped for their TTL) */
};

/* fp_groups: hash, key = (group, source); the served interfaces that want the group's
 * traffic from that source (IGMP or static), used only when failing open. Source 0: from
 * every source without an entry of its own (IGMPv2 and IGMPv3 EXCLUDE members, static
 * groups). pgmd writes a (group, source) entry for a source that some interface names (an
 * IGMPv3 INCLUDE or EXCLUDE source list, a static source, a session's source) when its
 * interfaces differ from those of the group's source-0 entry, at most FP_MAX_GROUP_SOURCES
 * per group and FP_MAX_GROUP_ENTRIES in all; a source left out for these caps is forwarded
 * by the source-0 entry, to which pgmd then adds the interfaces that want it (more copies,
 * never fewer). */
struct fp_group_key {
    FP_U32 group;  /* IPv4, network byte order */
    FP_U32 source; /* IPv4, network byte order; 0: every source without an entry */
};
struct fp_group {
    FP_U32 n_ifindex;
    FP_U32 ifindex[FP_MAX_EGRESS];
};

/* fp_interfaces: hash, key = ifindex (u32): the attached interfaces, for what is not
 * forwarded by a session entry (the arrival interface's counters of a packet passed, punted
 * or dropped; the copies sent failing open). */
struct fp_interface {
    FP_U8 mac[6]; /* Ethernet source address for frames sent out of it */
    FP_U16 slot;  /* its fp_if_stats slot */
};

/* fp_if_stats: per-CPU array of FP_MAX_INTERFACES, index = an interface's slot. "In"
 * counters are counted on the arrival interface, "out" ones on the egress interface. Bytes
 * are IP bytes (IP total length), as in fp_progress. pgmd zeroes a slot when it gives it to
 * an interface. */
struct fp_if_stats {
    FP_U64 in_forwarded_packets; /* eligible ODATA forwarded in the kernel */
    FP_U64 in_forwarded_bytes;
    FP_U64 out_packets; /* copies sent by the kernel (both modes) */
    FP_U64 out_bytes;
    FP_U64 punted_packets;      /* sent to pgmd through fp_punts */
    FP_U64 punt_lost_packets;   /* too large, or the perf buffer full */
    FP_U64 drop_ttl;            /* TTL <= 1 */
    FP_U64 drop_redirect_error; /* a copy not sent: redirect failed or egress dropped it */
    FP_U64 failopen_packets;    /* forwarded while failing open (arrivals) */
    FP_U64 passed_packets;      /* PGM passed on to the stack for pgmd's capture */
    FP_U64 consumed_packets;    /* well-formed multicast PGM punted and dropped instead of
                                   passed (FP_CONFIG_CONSUME; counted as punted too) */
};

/* fp_punts: BPF_MAP_TYPE_PERF_EVENT_ARRAY; each record is this, then `len` frame bytes. */
struct fp_punt_meta {
    FP_U32 ifindex;  /* arrival interface */
    FP_U32 len;      /* frame bytes that follow (the whole frame) */
    FP_U64 ktime_ns; /* bpf_ktime_get_ns() at the punt: the perf event array has one ring
                        per CPU, read ring by ring, so pgmd puts the punts of one read back
                        in arrival order by it */
};

#endif
