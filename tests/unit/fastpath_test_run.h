// DOC: What the kernel fast path's BPF test (fastpath_bpf_test.cc) and its program bench
// (bench/fastpath_prog_bench.cc) share: the frames they feed the program (Spec, build()),
// and one BPF_PROG_TEST_RUN of it (run_program()). Header-only; the includer links libbpf
// (pgm_fastpath) and pgm_protocol (checksums).
#pragma once

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "dataplane/fastpath.h"
#include "protocol/checksum.h"

namespace pgm::fastpath_test {

using Frame = std::vector<std::uint8_t>;
using Mac = std::array<std::uint8_t, 6>;

// The UDP encapsulation port the frames use by default.
inline constexpr std::uint16_t kPort = 3055;

inline constexpr std::uint32_t ip4(int a, int b, int c, int d) {
    return static_cast<std::uint32_t>(a << 24 | b << 16 | c << 8 | d);
}

// An Ethernet frame with IPv4 and PGM (native, or in UDP), valid unless told otherwise: by
// default ODATA (sequence 100, trail 90) of TSI 1.2.3.4.5.6:1000 from 10.0.0.1 to
// 239.1.2.3, TTL 16.
struct Spec {
    Mac dst_mac{0x01, 0x00, 0x5e, 0x01, 0x02, 0x03};
    Mac src_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x99};
    std::uint16_t ethertype = 0x0800;
    bool vlan = false;             // an 802.1Q tag in the frame
    std::uint8_t version_ihl = 0;  // 0: 0x45, or 0x46.. with ip_options
    std::uint8_t ttl = 16;
    std::uint8_t protocol = 0;  // 0: 113 or 17 by `udp`
    std::uint32_t source = ip4(10, 0, 0, 1);
    std::uint32_t group = ip4(239, 1, 2, 3);
    std::vector<std::uint8_t> ip_options;
    std::uint16_t frag = 0;  // flags and offset field
    bool udp = false;
    std::uint16_t udp_port = kPort;
    std::uint8_t type = 0x04;
    std::uint8_t options = 0;
    std::array<std::uint8_t, 6> gsi{1, 2, 3, 4, 5, 6};
    std::uint16_t sport = 1000;
    std::uint32_t sqn = 100;
    std::uint32_t trail = 90;
    std::vector<std::uint8_t> option_bytes;  // after the ODATA header (set `options` too)
    std::vector<std::uint8_t> payload = {'h', 'e', 'l', 'l', 'o', ' ', 'p', 'g', 'm', '!'};
    // Damage.
    int ip_len_delta = 0;
    int tsdu_delta = 0;
    int udp_len_delta = 0;
    bool bad_ip_checksum = false;
    bool bad_pgm_checksum = false;
    std::size_t truncate_to = 0;  // 0: not truncated
    std::size_t pad_to = 0;       // Ethernet padding up to this many bytes
};

inline void put16(Frame& f, std::size_t at, std::uint32_t v) {
    f[at] = static_cast<std::uint8_t>(v >> 8);
    f[at + 1] = static_cast<std::uint8_t>(v);
}
inline void put32(Frame& f, std::size_t at, std::uint32_t v) {
    put16(f, at, v >> 16);
    put16(f, at + 2, v & 0xffff);
}

inline Frame build(const Spec& s) {
    Frame pgm(24);
    put16(pgm, 0, s.sport);
    put16(pgm, 2, 7500);
    pgm[4] = s.type;
    pgm[5] = s.options;
    std::copy(s.gsi.begin(), s.gsi.end(), pgm.begin() + 8);
    put16(pgm, 14, static_cast<std::uint32_t>(static_cast<int>(s.payload.size()) + s.tsdu_delta));
    put32(pgm, 16, s.sqn);
    put32(pgm, 20, s.trail);
    pgm.insert(pgm.end(), s.option_bytes.begin(), s.option_bytes.end());
    pgm.insert(pgm.end(), s.payload.begin(), s.payload.end());
    pgm::write_checksum(pgm);
    if (s.bad_pgm_checksum) pgm[6] ^= 0x5a;

    Frame l4 = pgm;
    if (s.udp) {
        l4.assign(8, 0);
        put16(l4, 0, 40000);
        put16(l4, 2, s.udp_port);
        put16(l4, 4,
              static_cast<std::uint32_t>(static_cast<int>(8 + pgm.size()) + s.udp_len_delta));
        l4.insert(l4.end(), pgm.begin(), pgm.end());  // UDP checksum 0: none
    }

    const std::size_t ihl = 20 + s.ip_options.size();
    Frame ip(ihl);
    ip[0] = s.version_ihl ? s.version_ihl : static_cast<std::uint8_t>(0x40 | (ihl / 4));
    put16(ip, 2, static_cast<std::uint32_t>(static_cast<int>(ihl + l4.size()) + s.ip_len_delta));
    put16(ip, 4, 0x1234);
    put16(ip, 6, s.frag);
    ip[8] = s.ttl;
    ip[9] = s.protocol ? s.protocol : (s.udp ? 17 : 113);
    put32(ip, 12, s.source);
    put32(ip, 16, s.group);
    std::copy(s.ip_options.begin(), s.ip_options.end(), ip.begin() + 20);
    const std::uint16_t sum = pgm::ones_complement_sum(ip);
    put16(ip, 10, static_cast<std::uint16_t>(~sum) ^ (s.bad_ip_checksum ? 0x0101 : 0));
    ip.insert(ip.end(), l4.begin(), l4.end());

    Frame f(s.dst_mac.begin(), s.dst_mac.end());
    f.insert(f.end(), s.src_mac.begin(), s.src_mac.end());
    if (s.vlan) {
        f.insert(f.end(), {0x81, 0x00, 0x00, 0x05});
    }
    f.push_back(static_cast<std::uint8_t>(s.ethertype >> 8));
    f.push_back(static_cast<std::uint8_t>(s.ethertype));
    f.insert(f.end(), ip.begin(), ip.end());
    if (s.truncate_to != 0) f.resize(s.truncate_to);
    if (f.size() < s.pad_to) f.resize(s.pad_to, 0);
    return f;
}

// One BPF_PROG_TEST_RUN of the program `prog_fd` on `frame`, as if it arrived on `ifindex`,
// `repeat` times over the same frame (what the program writes stays for the next run).
struct ProgRun {
    int error = 0;                  // bpf_prog_test_run_opts(): 0, or a negative errno
    std::uint32_t verdict = 0;      // the program's return value (TC_ACT_*)
    std::uint32_t duration_ns = 0;  // mean time per run, as the kernel measured it
    Frame out;                      // the frame as the program left it
};

inline ProgRun run_program(int prog_fd, const Frame& frame, std::uint32_t ifindex,
                           std::uint32_t repeat = 1) {
    ProgRun r;
    r.out.resize(frame.size() + 256);
    __sk_buff ctx;
    std::memset(&ctx, 0, sizeof ctx);
    ctx.ifindex = ifindex;
    bpf_test_run_opts opts;
    std::memset(&opts, 0, sizeof opts);
    opts.sz = sizeof opts;
    opts.data_in = frame.data();
    opts.data_size_in = static_cast<std::uint32_t>(frame.size());
    opts.data_out = r.out.data();
    opts.data_size_out = static_cast<std::uint32_t>(r.out.size());
    opts.ctx_in = &ctx;
    opts.ctx_size_in = sizeof ctx;
    opts.repeat = repeat;
    r.error = bpf_prog_test_run_opts(prog_fd, &opts);
    r.verdict = opts.retval;
    r.duration_ns = opts.duration;
    r.out.resize(opts.data_size_out);
    return r;
}

// A session entry as pgmd's forwarding table writes it: source and group in network byte
// order, upstream and egress interfaces attached to `fp` (their MAC and slot from it), in
// session slot `slot`. An interface that is not attached gets no MAC and FP_NO_SLOT.
inline fp_session session_entry(const dataplane::FastPath& fp, std::uint32_t source_be,
                                std::uint32_t group_be, std::uint32_t upstream,
                                std::initializer_list<std::uint32_t> egress,
                                std::uint32_t slot = 0) {
    auto ifc = [&](std::uint32_t ifindex) {
        auto it = fp.interfaces().find(ifindex);
        return it == fp.interfaces().end() ? dataplane::FastPathInterface{} : it->second;
    };
    fp_session v{};
    v.source = source_be;
    v.group = group_be;
    v.upstream_ifindex = upstream;
    v.upstream_slot = ifc(upstream).slot;
    v.slot = slot;
    for (std::uint32_t e : egress) {
        if (v.n_egress == FP_MAX_EGRESS) break;
        fp_egress& out = v.egress[v.n_egress++];
        out.ifindex = e;
        const dataplane::FastPathInterface i = ifc(e);
        std::memcpy(out.mac, i.mac.data(), sizeof out.mac);
        out.slot = i.slot;
    }
    return v;
}

}  // namespace pgm::fastpath_test
