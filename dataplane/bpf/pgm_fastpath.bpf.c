/* DOC: pgmd's kernel ODATA fast path: a tc clsact ingress program (direct action) on every
 * interface pgmd serves. It implements fastpath_abi.h, which is the contract: which packets
 * are "eligible ODATA", what is done with them, the fail-open mode and the counters.
 *
 * Owns: the per-packet decision for eligible ODATA (forward in the kernel, drop on TTL, or
 * punt to pgmd), the TTL/checksum rewrite and the per-egress copies, the contents of
 * fp_progress and fp_if_stats (per-CPU arrays whose slots pgmd gives out and zeroes). pgmd
 * (dataplane/fastpath.*) owns every other map: fp_config, fp_sessions, fp_groups,
 * fp_interfaces; the program only reads them.
 *
 * Map work per forwarded ODATA: one hash lookup (fp_sessions; the entry carries the slots
 * and each egress's ifindex and MAC) and per-CPU array lookups (fp_progress, fp_if_stats),
 * which the verifier inlines into an index computation. fp_interfaces (a hash by ifindex) is
 * read only for what is not forwarded by a session entry.
 *
 * Life cycle: loaded by pgm::dataplane::FastPath from the skeleton embedded in pgmd (no file
 * is installed), attached as one cls_bpf filter at pgmd's fixed handle/priority on each
 * served interface, and detached when pgmd stops. A pgmd that dies (or is told to leave it
 * attached) leaves the filters in place: the filters hold the program and its maps, the
 * heartbeat in fp_config goes stale, and the program fails open (forwards PGM of the groups
 * in fp_groups to the interfaces that want its source) until a new pgmd replaces the filter
 * at the same handle/priority.
 *
 * Packet bytes are read straight from the skb's linear data when they lie within it (the
 * common case), else with bpf_skb_load_bytes(), which copes with non-linear skbs (a driver
 * may leave the headers in page fragments) and checks the access against skb->len; neither
 * pulls nor un-clones the skb of a packet that turns out not to be ours. Writes go through
 * bpf_skb_store_bytes() (a direct write would make the kernel un-clone every cloned skb
 * before the program runs, ours or not): one store per copy sent, of the bytes from the
 * Ethernet source address to the IP header checksum. The program does not verify PGM or UDP
 * checksums (that needs the whole payload); the IPv4 header checksum is verified, as pgmd's
 * decoder does.
 */
/* The kernel UAPI first: libbpf's helper declarations use its types. */
#include <linux/types.h>

#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "fastpath_abi.h"

/* include/linux/netdevice.h (not in the UAPI headers). */
#define NET_XMIT_DROP 1

/* bpf_perf_event_output is only available to GPL-compatible programs. */
char LICENSE[] SEC("license") = "GPL";

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct fp_config);
} fp_config SEC(".maps");

/* Not preallocated: an update then replaces the element under RCU, so a packet being
 * forwarded while pgmd rewrites the entry sees the old or the new egress list, never a mix
 * (a preallocated element can be recycled while the program still reads it). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, FP_MAX_SESSIONS);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct fp_session_key);
    __type(value, struct fp_session);
} fp_sessions SEC(".maps");

/* A per-CPU array is allocated whole for every *possible* CPU: FastPath sets max_entries
 * before loading (FP_MAX_SESSIONS slots, fewer where that many per possible CPU would
 * exceed its memory budget). */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, FP_MAX_SESSIONS);
    __type(key, __u32);
    __type(value, struct fp_progress);
} fp_progress SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, FP_MAX_GROUP_ENTRIES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct fp_group_key);
    __type(value, struct fp_group);
} fp_groups SEC(".maps");

/* Not preallocated either: it gives the slot on the slow and fail-open paths, and an update
 * (a MAC change) of a preallocated element could recycle it under a reader. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, FP_MAX_INTERFACES);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, __u32);
    __type(value, struct fp_interface);
} fp_interfaces SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, FP_MAX_INTERFACES);
    __type(key, __u32);
    __type(value, struct fp_if_stats);
} fp_if_stats SEC(".maps");

/* max_entries left 0: libbpf sizes it to the number of possible CPUs. */
struct {
    __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(__u32));
} fp_punts SEC(".maps");

#define ETH_HLEN_ 14
#define ETH_P_IPV4 0x0800
#define IP_OFF ETH_HLEN_
#define REWRITE_OFF 6 /* the bytes a copy rewrites: Ethernet source .. IP checksum */
#define REWRITE_LEN (IP_OFF + 12 - REWRITE_OFF)
#define REWRITE_TTL (IP_OFF + 8 - REWRITE_OFF)
#define REWRITE_CSUM (IP_OFF + 10 - REWRITE_OFF)
#define IPPROTO_PGM_ 113
#define IPPROTO_UDP_ 17
#define PGM_HDR_LEN 16
#define ODATA_HDR_LEN 8
#define PGM_TYPE_ODATA 0x04
#define PGM_OPT_PRESENT 0x01 /* options byte: an option extension follows the header */
#define PGM_OPT_LENGTH 0x00  /* the option type that opens the extension */
#define OPT_LENGTH_LEN 4     /* its length: type, length, 16-bit total length */

/* What parse() learnt about an IPv4 packet. */
struct pkt {
    __u32 ifindex; /* arrival */
    __u32 saddr;   /* network order */
    __u32 daddr;   /* network order */
    __u32 ip_len;  /* IP total length */
    __u32 ihl;     /* IP header bytes */
    __u32 pgm_off; /* frame offset of the PGM header */
    __u32 pgm_len; /* PGM bytes (header included) */
    __u8 ttl;
    __u8 proto;
    /* Frame bytes REWRITE_OFF.. as copies leave: the egress MAC, then the Ethernet type and
     * the IP header up to its checksum (TTL and checksum updated by decrement_ttl()). */
    __u8 rewrite[REWRITE_LEN];
};

enum parsed {
    NOT_PGM,     /* not ours in any mode: pass, count nothing */
    PGM_REJECT,  /* PGM by protocol/port, but not something the program acts on: pass */
    PGM_FORWARD, /* a well-formed unfragmented PGM packet to a multicast group */
};

/* Reads `len` bytes at frame offset `off` into `to`: from the linear data when they are
 * there, else with bpf_skb_load_bytes(). */
static __always_inline int load(struct __sk_buff* skb, __u32 off, void* to, const __u32 len) {
    const __u8* data = (const __u8*)(long)skb->data;
    const __u8* end = (const __u8*)(long)skb->data_end;
    if (off <= 128 && data + off + len <= end) {
        __builtin_memcpy(to, data + off, len);
        return 0;
    }
    return bpf_skb_load_bytes(skb, off, to, len);
}

static __always_inline __u16 rd16(const __u8* p) {
    return (__u16)((__u16)p[0] << 8 | p[1]);
}

static __always_inline __u32 rd32(const __u8* p) {
    return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

/* This CPU's counters of interface slot `slot`; NULL for FP_NO_SLOT (or any slot beyond
 * the array). */
static __always_inline struct fp_if_stats* slot_stats(__u32 slot) {
    return bpf_map_lookup_elem(&fp_if_stats, &slot);
}

/* The arrival interface's counters for a packet no session entry forwards: its slot is in
 * fp_interfaces. NULL when the interface has none (not attached by pgmd). */
static __always_inline struct fp_if_stats* arrival_stats(__u32 ifindex) {
    const struct fp_interface* ifc = bpf_map_lookup_elem(&fp_interfaces, &ifindex);
    return ifc ? slot_stats(ifc->slot) : NULL;
}

static __always_inline int udp_port_configured(const struct fp_config* cfg, __u16 port) {
    /* Port 0 marks an unused slot; a UDP destination port of 0 is never ours. */
    if (port == 0) return 0;
#pragma unroll
    for (int i = 0; i < FP_MAX_UDP_PORTS; i++)
        if (cfg->udp_ports[i] == port) return 1;
    return 0;
}

/* Classifies the frame. Everything the program later writes or relies on is checked here:
 * IPv4 header sane (version, IHL, total length within the frame, header checksum), the
 * UDP length within the IP packet, unfragmented, multicast destination. */
static __always_inline enum parsed parse(struct __sk_buff* skb, const struct fp_config* cfg,
                                         struct pkt* p) {
    __u8 h[IP_OFF + 20];
    if (load(skb, 0, h, sizeof(h)) < 0)
        return NOT_PGM; /* shorter than Ethernet + a minimal IPv4 header */
    if (rd16(h + 12) != ETH_P_IPV4 || (h[IP_OFF] >> 4) != 4) return NOT_PGM;

    p->ifindex = skb->ifindex;
    p->ihl = (__u32)(h[IP_OFF] & 0x0f) * 4;
    p->ip_len = rd16(h + IP_OFF + 2);
    p->ttl = h[IP_OFF + 8];
    p->proto = h[IP_OFF + 9];
    __builtin_memcpy(&p->saddr, h + IP_OFF + 12, 4);
    __builtin_memcpy(&p->daddr, h + IP_OFF + 16, 4);
    __builtin_memcpy(p->rewrite, h + REWRITE_OFF, REWRITE_LEN);
    if (p->proto != IPPROTO_PGM_ && p->proto != IPPROTO_UDP_) return NOT_PGM;
    const __u32 frame_ip_bytes = skb->len - IP_OFF; /* skb->len >= 34: the load succeeded */
    if (p->ihl < 20 || p->ip_len < p->ihl || p->ip_len > frame_ip_bytes)
        return p->proto == IPPROTO_PGM_ ? PGM_REJECT : NOT_PGM;

    if (p->proto == IPPROTO_UDP_) {
        /* Only a UDP datagram to one of the encapsulation ports is PGM. */
        __u8 u[8];
        if (p->ip_len < p->ihl + 8 || load(skb, IP_OFF + p->ihl, u, 8) < 0) return NOT_PGM;
        if (!udp_port_configured(cfg, rd16(u + 2))) return NOT_PGM;
        const __u32 udp_len = rd16(u + 4);
        if (udp_len < 8 || udp_len > p->ip_len - p->ihl) return PGM_REJECT;
        p->pgm_off = IP_OFF + p->ihl + 8;
        p->pgm_len = udp_len - 8;
    } else {
        p->pgm_off = IP_OFF + p->ihl;
        p->pgm_len = p->ip_len - p->ihl;
    }

    /* Header checksum over the fixed part and the options, 16 bits at a time. */
    __u32 sum = 0;
#pragma unroll
    for (int i = 0; i < 20; i += 2)
        sum += rd16(h + IP_OFF + i);
    for (__u32 off = 20; off < 60; off += 4) {
        if (off >= p->ihl) break;
        __u8 w[4];
        if (load(skb, IP_OFF + off, w, 4) < 0) return PGM_REJECT;
        sum += rd16(w) + rd16(w + 2);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    if (sum != 0xffff) return PGM_REJECT; /* the stack would drop it too */
    if ((p->daddr & bpf_htonl(0xf0000000)) != bpf_htonl(0xe0000000))
        return PGM_REJECT; /* unicast: a NAK/SPMR to pgmd, or not ours to switch */
    if (rd16(h + IP_OFF + 6) & 0x3fff)
        return PGM_REJECT; /* fragment (MF or offset): the stack reassembles it */
    return PGM_FORWARD;
}

/* TTL - 1 with an incremental IP checksum update (RFC 1624; as the kernel's
 * ip_decrease_ttl: the word TTL|protocol drops by 0x0100, the checksum rises by as much),
 * in the bytes the copies will carry. The header still sums to 0xffff, so a
 * CHECKSUM_COMPLETE skb->csum stays right without BPF_F_RECOMPUTE_CSUM. */
static __always_inline void decrement_ttl(struct pkt* p) {
    __u32 check = rd16(p->rewrite + REWRITE_CSUM) + 0x0100;
    check += check >= 0xffff;
    p->rewrite[REWRITE_TTL] = p->ttl - 1;
    p->rewrite[REWRITE_CSUM] = (__u8)(check >> 8);
    p->rewrite[REWRITE_CSUM + 1] = (__u8)check;
}

/* One copy out of `out`, with `mac` as the Ethernet source (the destination stays the
 * group's multicast MAC) and the rewritten IP header: a clone while more are to follow, the
 * frame itself (bpf_redirect, sent once the program returns) for the last. Counted in `os`,
 * the egress interface's counters. Returns the verdict for the last, TC_ACT_SHOT for the
 * others or on failure. The bytes are stored into the original before each clone: the clone
 * shares nothing written afterwards, because bpf_clone_redirect() un-clones the original
 * once it has made the clone (a copy of the head: the price of every copy but the last,
 * which act_mirred does not pay and a router's rewrite of the Ethernet source needs anyway;
 * docs/performance.md). Neither the MAC nor the IP header (whose sum is unchanged) moves a
 * CHECKSUM_COMPLETE csum, hence no csum flag. */
static __always_inline int send_one(struct __sk_buff* skb, struct pkt* p, __u32 out,
                                    const __u8* mac, struct fp_if_stats* os, int last) {
    __builtin_memcpy(p->rewrite, mac, 6);
    const int stored = bpf_skb_store_bytes(skb, REWRITE_OFF, p->rewrite, REWRITE_LEN, 0) == 0;
    /* A clone's transmit result: negative when it could not be sent, NET_XMIT_DROP (1) when
     * the egress dropped it (its qdisc or tc egress). NET_XMIT_CN counts as sent: a queue
     * says it when it dropped another packet as well as this one, and noop_qdisc (a link
     * without carrier) for every packet, but pgmd stops serving a link netlink reports down.
     * The last copy leaves after the program returns: what becomes of it is not seen here. */
    long sent = 0;
    if (stored && !last) sent = bpf_clone_redirect(skb, out, 0);
    if (!stored || sent < 0 || sent == NET_XMIT_DROP) {
        if (os) os->drop_redirect_error++;
        return TC_ACT_SHOT;
    }
    if (os) {
        os->out_packets++;
        os->out_bytes += p->ip_len;
    }
    return last ? bpf_redirect(out, 0) : TC_ACT_SHOT;
}

static __always_inline int send_egress(struct __sk_buff* skb, struct pkt* p,
                                       const struct fp_egress* e, int last) {
    return send_one(skb, p, e->ifindex, e->mac, slot_stats(e->slot), last);
}

_Static_assert((FP_MAX_EGRESS & (FP_MAX_EGRESS - 1)) == 0, "the egress index is masked");

/* Copies out of every egress of a session entry but the arrival interface. The last one
 * gets the frame itself: one clone fewer per packet, none for the common single egress. */
static __always_inline int send_copies(struct __sk_buff* skb, struct pkt* p,
                                       const struct fp_session* s) {
    __u32 n = s->n_egress;
    if (n > FP_MAX_EGRESS) n = FP_MAX_EGRESS; /* pgmd's bug must not become a longer loop */
    __u32 pending = 0;                        /* 1 + an egress not sent yet: the last so far */
    for (__u32 i = 0; i < FP_MAX_EGRESS; i++) {
        if (i >= n) break;
        if (s->egress[i].ifindex == p->ifindex) continue; /* never back where it came from */
        if (pending) send_egress(skb, p, &s->egress[(pending - 1) & (FP_MAX_EGRESS - 1)], 0);
        pending = i + 1;
    }
    return pending ? send_egress(skb, p, &s->egress[(pending - 1) & (FP_MAX_EGRESS - 1)], 1)
                   : TC_ACT_SHOT;
}

/* One copy failing open, out of `out` if it is an attached interface (its MAC and counters
 * are in fp_interfaces); nothing otherwise. */
static __always_inline int send_group_one(struct __sk_buff* skb, struct pkt* p, __u32 out,
                                          int last) {
    const struct fp_interface* ifc = bpf_map_lookup_elem(&fp_interfaces, &out);
    if (!ifc) return TC_ACT_SHOT;
    return send_one(skb, p, out, ifc->mac, slot_stats(ifc->slot), last);
}

/* The same for a fail-open group entry. */
static __always_inline int send_group_copies(struct __sk_buff* skb, struct pkt* p,
                                             const struct fp_group* g) {
    __u32 n = g->n_ifindex;
    if (n > FP_MAX_EGRESS) n = FP_MAX_EGRESS;
    __u32 pending = 0; /* an interface not sent to yet: the last so far */
    for (__u32 i = 0; i < FP_MAX_EGRESS; i++) {
        if (i >= n) break;
        const __u32 out = g->ifindex[i];
        if (out == p->ifindex) continue;
        if (pending) send_group_one(skb, p, pending, 0);
        pending = out;
    }
    return pending ? send_group_one(skb, p, pending, 1) : TC_ACT_SHOT;
}

/* Keeps this CPU's lead: the highest sequence by RFC 1982 serial arithmetic (32 bits),
 * with the trail that came with it. pgmd combines the CPUs' entries. Returns the entry (to
 * count the packet forwarded), NULL for a slot beyond the array: pgmd's bug, it then sees
 * the lead in SPMs only. */
static __always_inline struct fp_progress* note_progress(__u32 slot, __u32 sqn, __u32 trail,
                                                         __u32 ip_len) {
    struct fp_progress* pr = bpf_map_lookup_elem(&fp_progress, &slot);
    if (!pr) return pr;
    if (!pr->packets || (__s32)(sqn - pr->lead) > 0) {
        pr->lead = sqn;
        pr->trail = trail;
    }
    pr->packets++;
    pr->bytes += ip_len;
    return pr;
}

/* Hands the frame to pgmd and drops it: pgmd's capture, bound to IPv4 and so served after
 * tc ingress, never sees a frame the program drops (and excludes eligible ODATA anyway), so
 * this is pgmd's only way to see it. A punt that cannot be made is lost (counted), not
 * passed: pgmd would not see it on the stack either. */
static __always_inline int punt(struct __sk_buff* skb, const struct pkt* p,
                                struct fp_if_stats* st) {
    struct fp_punt_meta meta = {
        .ifindex = p->ifindex, .len = skb->len, .ktime_ns = bpf_ktime_get_ns()};
    if (skb->len > FP_PUNT_MAX_BYTES ||
        bpf_perf_event_output(skb, &fp_punts, BPF_F_CURRENT_CPU | ((__u64)skb->len << 32), &meta,
                              sizeof(meta)) < 0) {
        if (st) st->punt_lost_packets++;
    } else if (st) {
        st->punted_packets++;
    }
    return TC_ACT_SHOT;
}

static __always_inline int pass(struct fp_if_stats* st) {
    if (st) st->passed_packets++;
    return TC_ACT_OK;
}

/* Whether a packet travelling from the source towards the receivers (ODATA, RDATA, SPM,
 * NCF, POLL) arrived other than on the upstream interface pgmd last knew for its session:
 * a plain multicast router's RPF check, so that two routers failing open on one LAN do not
 * send each other's copies round in a loop. Packets of a session pgmd did not know, and
 * those travelling upstream, are not checked. */
static __always_inline int fails_rpf(struct __sk_buff* skb, const struct pkt* p) {
    __u8 h[14];
    if (p->pgm_len < PGM_HDR_LEN || load(skb, p->pgm_off, h, sizeof(h)) < 0) return 0;
    const __u8 type = h[4] & 0x0f;
    if (type != 0x00 && type != 0x01 && type != 0x04 && type != 0x05 && type != 0x0a) return 0;
    struct fp_session_key key;
    __builtin_memcpy(key.gsi, h + 8, 6);
    __builtin_memcpy(&key.sport, h, 2);
    const struct fp_session* s = bpf_map_lookup_elem(&fp_sessions, &key);
    return s && s->upstream_ifindex != p->ifindex;
}

/* pgmd is gone or hung: be a plain multicast switch for the groups it served, so that
 * transfers complete without it (receivers repair from the source itself). */
static __always_inline int fail_open(struct __sk_buff* skb, struct pkt* p, struct fp_if_stats* st) {
    /* The source's own entry (IGMPv3 source lists, static sources), else the group's entry
     * for every other source. One that lists nobody: a source not wanted here. */
    struct fp_group_key key = {.group = p->daddr, .source = p->saddr};
    const struct fp_group* g = bpf_map_lookup_elem(&fp_groups, &key);
    if (!g) {
        key.source = 0;
        g = bpf_map_lookup_elem(&fp_groups, &key);
    }
    if (!g || g->n_ifindex == 0 || fails_rpf(skb, p)) return pass(st);
    if (p->ttl <= 1) {
        if (st) st->drop_ttl++;
        return TC_ACT_SHOT;
    }
    decrement_ttl(p);
    if (st) st->failopen_packets++;
    return send_group_copies(skb, p, g);
}

/* A well-formed multicast PGM packet that is pgmd's: left to the stack, where pgmd's
 * capture (bound to IPv4, so served after tc ingress) takes it, or, where the kernel has
 * multicast routing (FP_CONFIG_CONSUME), punted to pgmd and dropped, so that a multicast
 * route cannot forward it a second time. */
static __always_inline int leave_to_pgmd(struct __sk_buff* skb, const struct fp_config* cfg,
                                         const struct pkt* p, struct fp_if_stats* st) {
    if (cfg->flags & FP_CONFIG_CONSUME) {
        if (st) st->consumed_packets++;
        return punt(skb, p, st);
    }
    return pass(st);
}

/* pgmd is alive: switch eligible ODATA of the sessions it installed, punt the rest of the
 * eligible ODATA, leave everything else to pgmd's capture. The arrival interface's counters
 * come from the session entry for what it forwards (or drops for its TTL), from
 * fp_interfaces for the rest. */
static __always_inline int fast_path(struct __sk_buff* skb, const struct fp_config* cfg,
                                     struct pkt* p) {
    if (p->ihl != 20 || p->pgm_len < PGM_HDR_LEN + ODATA_HDR_LEN)
        return leave_to_pgmd(skb, cfg, p, arrival_stats(p->ifindex));
    /* The headers and, when options are present, the OPT_LENGTH that opens them. */
    __u8 pg[PGM_HDR_LEN + ODATA_HDR_LEN + OPT_LENGTH_LEN];
    if (load(skb, p->pgm_off, pg, PGM_HDR_LEN + ODATA_HDR_LEN) < 0)
        return pass(arrival_stats(p->ifindex));
    /* Type byte exactly ODATA (version 0), no network-significant options (nor reserved
     * bits): anything else is pgmd's to judge. */
    if (pg[4] != PGM_TYPE_ODATA || (pg[5] & FP_ODATA_OPTIONS_FOR_PGMD))
        return leave_to_pgmd(skb, cfg, p, arrival_stats(p->ifindex));
    /* A TSDU length that is exactly what follows the ODATA header and the option extension,
     * whose OPT_LENGTH is well framed: the rest of the options are the receivers'. */
    __u32 options_len = 0;
    if (pg[5] & PGM_OPT_PRESENT) {
        const __u32 at = PGM_HDR_LEN + ODATA_HDR_LEN;
        if (p->pgm_len < at + OPT_LENGTH_LEN ||
            load(skb, p->pgm_off + at, pg + at, OPT_LENGTH_LEN) < 0)
            return leave_to_pgmd(skb, cfg, p, arrival_stats(p->ifindex));
        if (pg[at] != PGM_OPT_LENGTH || pg[at + 1] != OPT_LENGTH_LEN)
            return leave_to_pgmd(skb, cfg, p, arrival_stats(p->ifindex));
        options_len = rd16(pg + at + 2);
        if (options_len < 2 * OPT_LENGTH_LEN)
            return leave_to_pgmd(skb, cfg, p, arrival_stats(p->ifindex));
    }
    if ((__u32)rd16(pg + 14) + options_len != p->pgm_len - PGM_HDR_LEN - ODATA_HDR_LEN)
        return leave_to_pgmd(skb, cfg, p, arrival_stats(p->ifindex));

    struct fp_session_key key;
    __builtin_memcpy(key.gsi, pg + 8, 6);
    __builtin_memcpy(&key.sport, pg, 2);
    const struct fp_session* s = bpf_map_lookup_elem(&fp_sessions, &key);
    if (!s || (s->flags & FP_SESSION_PUNT) || s->upstream_ifindex != p->ifindex ||
        s->source != p->saddr || s->group != p->daddr)
        return punt(skb, p, arrival_stats(p->ifindex));

    /* Like pgmd's core, the lead is noted before the TTL check: an ODATA that cannot go
     * further still shows how far the source has sent. */
    struct fp_progress* pr = note_progress(s->slot, rd32(pg + 16), rd32(pg + 20), p->ip_len);
    struct fp_if_stats* st = slot_stats(s->upstream_slot); /* it arrived there */
    if (p->ttl <= 1) {
        if (st) st->drop_ttl++;
        return TC_ACT_SHOT;
    }
    if (pr) pr->forwarded++;
    decrement_ttl(p);
    if (st) {
        st->in_forwarded_packets++;
        st->in_forwarded_bytes += p->ip_len;
    }
    return send_copies(skb, p, s);
}

SEC("tc")
int pgm_fastpath(struct __sk_buff* skb) {
    __u32 zero = 0;
    const struct fp_config* cfg = bpf_map_lookup_elem(&fp_config, &zero);
    if (!cfg || !(cfg->flags & FP_CONFIG_ENABLED)) return TC_ACT_OK;
    /* A tag stripped into the skb by the driver or by the core (skb_vlan_untag runs before
     * tc ingress) leaves an IPv4 Ethernet type behind: the frame belongs to the VLAN
     * device, not to this interface's PGM. */
    if (skb->vlan_present) return TC_ACT_OK;

    struct pkt p = {};
    const enum parsed kind = parse(skb, cfg, &p);
    if (kind == NOT_PGM) return TC_ACT_OK;
    if (kind == PGM_REJECT) return pass(arrival_stats(p.ifindex));

    /* Stale when older than stale_after_ns. The coarse clock (CLOCK_MONOTONIC_COARSE, the
     * monotonic clock as of the last tick) costs a memory read, where bpf_ktime_get_ns()
     * reads the clock source: on a virtual machine's kvm-clock that read was 40 % of the
     * program's time per packet. It lags pgmd's CLOCK_MONOTONIC heartbeat by less than a
     * tick (<= 10 ms), against a staleness bound of at least 100 ms. A heartbeat "from the
     * future" (the lag, or a fresh write) counts as fresh rather than wrapping to stale. */
    const __u64 now = bpf_ktime_get_coarse_ns();
    const __u64 beat = cfg->heartbeat_ns;
    if (now > beat && now - beat > cfg->stale_after_ns)
        return fail_open(skb, &p, arrival_stats(p.ifindex));
    return fast_path(skb, cfg, &p);
}
