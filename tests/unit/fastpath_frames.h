// DOC: Test vectors for the kernel fast path's packet class, "eligible ODATA" as
// dataplane/bpf/fastpath_abi.h defines it: crafted Ethernet frames, each named and marked
// eligible or not, shared by the tests of everything that must agree on that class (pgmd's
// capture filter, which leaves exactly those frames out; the BPF program's own tests).
//
// The frames are complete and valid unless their name says otherwise: Ethernet (multicast
// MAC for multicast destinations), IPv4 with a correct header checksum, TTL 16, PGM with a
// correct checksum (UDP checksum 0, allowed for IPv4). Eligibility assumes that the UDP
// encapsulation ports configured are kFrameUdpPorts. abi_eligible() is the ABI text turned
// into code, clause by clause, to check the hand-set `eligible` flags against (and to serve
// as an oracle for frames a test makes up itself).
//
// Header-only, plain C++20 and the standard library: no project headers, so that any test
// executable can include it.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pgm::fastpath_test {

// The UDP encapsulation ports the program is configured with (fp_config.udp_ports).
inline constexpr std::array<std::uint16_t, 2> kFrameUdpPorts = {3055, 3056};

struct FastPathFrame {
    std::string name;
    std::vector<std::uint8_t> bytes;  // from the Ethernet destination address
    bool eligible = false;
};

namespace frames_detail {

inline constexpr std::uint8_t kOdata = 0x04, kSpm = 0x00, kRdata = 0x05, kNak = 0x08, kNcf = 0x0A;

struct Spec {
    bool udp = false;
    std::uint16_t udp_source_port = 3055;
    std::uint16_t udp_destination_port = 3055;
    std::uint8_t type = kOdata;
    std::uint8_t options = 0;                // the PGM options byte
    std::vector<std::uint8_t> option_bytes;  // after the type-specific header
    std::size_t payload = 32;
    std::array<std::uint8_t, 4> destination = {239, 1, 2, 3};
    std::uint8_t ttl = 16;
    std::uint8_t protocol = 0;         // 0: 113 or 17 from `udp`
    std::uint16_t fragment = 0;        // flags and fragment offset field
    bool ip_router_alert = false;      // IP options: IHL 6
    bool vlan = false;                 // an 802.1Q tag in the frame
    std::size_t pgm_cut = 0;           // non-zero: the PGM packet cut to this size
    std::size_t ip_length_excess = 0;  // IP total length claims this much more
    std::size_t min_frame = 0;         // Ethernet padding up to this size
};

inline void put16(std::vector<std::uint8_t>& v, std::size_t at, std::uint16_t x) {
    v[at] = static_cast<std::uint8_t>(x >> 8);
    v[at + 1] = static_cast<std::uint8_t>(x);
}

inline std::uint16_t ones_complement_sum(const std::uint8_t* p, std::size_t n) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < n; i += 2)
        sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
    if (n % 2) sum += static_cast<std::uint32_t>(p[n - 1] << 8);
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

inline std::vector<std::uint8_t> pgm_packet(const Spec& s) {
    std::vector<std::uint8_t> p(16);
    put16(p, 0, 1000);  // source port
    put16(p, 2, 7500);  // destination port
    p[4] = s.type;
    p[5] = s.options;
    const std::array<std::uint8_t, 6> gsi = {0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
    std::copy(gsi.begin(), gsi.end(), p.begin() + 8);
    const std::vector<std::uint8_t> source_nla = {0, 1, 0, 0, 10, 0, 0, 1};
    const std::vector<std::uint8_t> group_nla = {0, 1, 0, 0, 239, 1, 2, 3};
    auto append = [&](const std::vector<std::uint8_t>& b) {
        p.insert(p.end(), b.begin(), b.end());
    };
    std::size_t tsdu = 0;
    if (s.type == kOdata || s.type == kRdata) {
        append({0, 0, 0, 42, 0, 0, 0, 1});  // sequence 42, trail 1
        append(s.option_bytes);
        append(std::vector<std::uint8_t>(s.payload, 0xAB));
        tsdu = s.payload;
    } else if (s.type == kSpm) {
        append({0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 42});  // SPM sequence, trail, lead
        append(source_nla);                             // path NLA
    } else {                                            // NAK, NCF
        append({0, 0, 0, 42});
        append(source_nla);
        append(group_nla);
    }
    put16(p, 14, static_cast<std::uint16_t>(tsdu));
    put16(p, 6, ones_complement_sum(p.data(), p.size()));
    if (s.pgm_cut != 0) p.resize(s.pgm_cut);
    return p;
}

inline std::vector<std::uint8_t> frame(const Spec& s) {
    std::vector<std::uint8_t> f;
    const bool multicast = s.destination[0] >= 224 && s.destination[0] < 240;
    if (multicast) {
        f = {0x01, 0x00, 0x5e, 0, s.destination[2], s.destination[3]};  // 01:00:5e + 23 bits
        f[3] = static_cast<std::uint8_t>(s.destination[1] & 0x7f);
    } else {
        f = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
    }
    const std::vector<std::uint8_t> src_mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
    f.insert(f.end(), src_mac.begin(), src_mac.end());
    if (s.vlan) f.insert(f.end(), {0x81, 0x00, 0x00, 0x0a});  // VLAN 10
    f.insert(f.end(), {0x08, 0x00});

    std::vector<std::uint8_t> l4 = pgm_packet(s);
    if (s.udp) {
        std::vector<std::uint8_t> u(8);
        put16(u, 0, s.udp_source_port);
        put16(u, 2, s.udp_destination_port);
        put16(u, 4, static_cast<std::uint16_t>(8 + l4.size()));
        u.insert(u.end(), l4.begin(), l4.end());
        l4 = std::move(u);
    }
    const std::size_t ihl = s.ip_router_alert ? 24 : 20;
    std::vector<std::uint8_t> ip(ihl);
    ip[0] = static_cast<std::uint8_t>(0x40 | ihl / 4);
    put16(ip, 2, static_cast<std::uint16_t>(ihl + l4.size() + s.ip_length_excess));
    put16(ip, 4, 0x1234);  // identification
    put16(ip, 6, s.fragment);
    ip[8] = s.ttl;
    ip[9] = s.protocol != 0 ? s.protocol : (s.udp ? 17 : 113);
    const std::array<std::uint8_t, 4> source = {10, 0, 0, 1};
    std::copy(source.begin(), source.end(), ip.begin() + 12);
    std::copy(s.destination.begin(), s.destination.end(), ip.begin() + 16);
    if (s.ip_router_alert) {
        ip[20] = 0x94;  // Router Alert (RFC 2113)
        ip[21] = 4;
    }
    put16(ip, 10, ones_complement_sum(ip.data(), ip.size()));
    f.insert(f.end(), ip.begin(), ip.end());
    f.insert(f.end(), l4.begin(), l4.end());
    if (f.size() < s.min_frame) f.resize(s.min_frame, 0);
    return f;
}

}  // namespace frames_detail

// fastpath_abi.h's eligible ODATA, read off the frame as the ABI text states it, for the
// UDP ports `udp_ports`.
inline bool abi_eligible(const std::vector<std::uint8_t>& f,
                         const std::vector<std::uint16_t>& udp_ports = {kFrameUdpPorts.begin(),
                                                                        kFrameUdpPorts.end()}) {
    auto u16 = [&](std::size_t at) { return static_cast<std::uint16_t>(f[at] << 8 | f[at + 1]); };
    constexpr std::size_t kIp = 14;
    // An untagged Ethernet frame, IPv4.
    if (f.size() < kIp + 20 || u16(12) != 0x0800) return false;
    // IPv4 with a 20-byte header (no IP options).
    if (f[kIp] != 0x45) return false;
    // Not a fragment (MF clear, offset 0).
    if ((u16(kIp + 6) & 0x3FFF) != 0) return false;
    // To a multicast destination (224.0.0.0/4).
    if ((f[kIp + 16] & 0xF0) != 0xE0) return false;
    // IP total length within the frame.
    const std::size_t ip_length = u16(kIp + 2);
    if (kIp + ip_length > f.size()) return false;
    std::size_t pgm = 0;
    if (f[kIp + 9] == 113) {  // native PGM
        pgm = kIp + 20;
    } else if (f[kIp + 9] == 17) {  // UDP to a configured port
        if (ip_length < 20 + 8) return false;
        bool configured = false;
        for (std::uint16_t p : udp_ports)
            configured |= p != 0 && u16(kIp + 22) == p;
        if (!configured) return false;
        pgm = kIp + 28;
    } else {
        return false;
    }
    // At least the 16-byte PGM header and the 8-byte ODATA header.
    if (kIp + ip_length < pgm + 16 + 8) return false;
    // ODATA (type byte 0x04) with neither OPT_NETWORK (0x02) nor a reserved bit (0x04..0x20)
    // in its options byte.
    return f[pgm + 4] == 0x04 && (f[pgm + 5] & 0x3E) == 0;
}

// Every vector: eligible ones first, then one per way of not being eligible.
inline std::vector<FastPathFrame> fastpath_frames() {
    using namespace frames_detail;
    auto udp = [](Spec s) {
        s.udp = true;
        return s;
    };
    auto with = [](Spec s, auto change) {
        change(s);
        return s;
    };
    const Spec odata;
    // OPT_LENGTH (total 8) then OPT_SYN with the end bit: a valid option extension.
    const std::vector<std::uint8_t> opts = {0x00, 0x04, 0x00, 0x08, 0x8D, 0x04, 0x00, 0x00};
    std::vector<FastPathFrame> r = {
        {"native odata", frame(odata), true},
        {"udp odata", frame(udp(odata)), true},
        {"udp odata to the second port",
         frame(with(udp(odata), [](Spec& s) { s.udp_destination_port = 3056; })), true},
        // 14 + 20 + 24 = 58 bytes: no link padding, the loads must stay inside it.
        {"native odata, empty, unpadded", frame(with(odata, [](Spec& s) { s.payload = 0; })), true},
        {"native odata, empty, padded to 60 bytes",
         frame(with(odata,
                    [](Spec& s) {
                        s.payload = 0;
                        s.min_frame = 60;
                    })),
         true},
        // 14 + 20 + 8 + 24 = 66 bytes.
        {"udp odata, empty", frame(with(udp(odata), [](Spec& s) { s.payload = 0; })), true},
        {"native odata, DF set", frame(with(odata, [](Spec& s) { s.fragment = 0x4000; })), true},
        {"native odata, TTL 1 (the program drops it)",
         frame(with(odata, [](Spec& s) { s.ttl = 1; })), true},
        {"native odata, to 224.0.1.1",
         frame(with(odata,
                    [](Spec& s) {
                        s.destination = {224, 0, 1, 1};
                    })),
         true},
        {"udp odata from another port",
         frame(with(udp(odata), [](Spec& s) { s.udp_source_port = 40000; })), true},

        {"native odata with options",
         frame(with(odata,
                    [&](Spec& s) {
                        s.options = 0x01;
                        s.option_bytes = opts;
                    })),
         true},
        {"udp odata with options",
         frame(with(udp(odata),
                    [&](Spec& s) {
                        s.options = 0x01;
                        s.option_bytes = opts;
                    })),
         true},
        {"native odata, parity", frame(with(odata, [](Spec& s) { s.options = 0x80; })), true},
        {"native odata, variable packet length",
         frame(with(odata, [](Spec& s) { s.options = 0x40; })), true},

        {"native odata, OPT_NETWORK",
         frame(with(odata,
                    [&](Spec& s) {
                        s.options = 0x03;
                        s.option_bytes = opts;
                    })),
         false},
        {"udp odata, OPT_NETWORK",
         frame(with(udp(odata),
                    [&](Spec& s) {
                        s.options = 0x03;
                        s.option_bytes = opts;
                    })),
         false},
        {"native odata, reserved options bit",
         frame(with(odata, [](Spec& s) { s.options = 0x04; })), false},
        {"native odata, reserved options bit 0x20",
         frame(with(odata, [](Spec& s) { s.options = 0x21; })), false},
        {"native odata, IP options", frame(with(odata, [](Spec& s) { s.ip_router_alert = true; })),
         false},
        {"udp odata, IP options",
         frame(with(udp(odata), [](Spec& s) { s.ip_router_alert = true; })), false},
        {"native odata, first fragment (MF)",
         frame(with(odata, [](Spec& s) { s.fragment = 0x2000; })), false},
        {"native odata, later fragment (offset)",
         frame(with(odata, [](Spec& s) { s.fragment = 0x0010; })), false},
        {"udp odata, later fragment (offset)",
         frame(with(udp(odata), [](Spec& s) { s.fragment = 0x0010; })), false},
        {"native odata, unicast",
         frame(with(odata,
                    [](Spec& s) {
                        s.destination = {10, 0, 0, 2};
                    })),
         false},
        {"native odata, to 240.0.0.1",
         frame(with(odata,
                    [](Spec& s) {
                        s.destination = {240, 0, 0, 1};
                    })),
         false},
        {"udp odata, unicast",
         frame(with(udp(odata),
                    [](Spec& s) {
                        s.destination = {10, 0, 0, 2};
                    })),
         false},
        {"udp odata to another port, from a configured one",
         frame(with(udp(odata),
                    [](Spec& s) {
                        s.udp_source_port = 3055;
                        s.udp_destination_port = 7500;
                    })),
         false},
        {"udp odata, neither port configured",
         frame(with(udp(odata),
                    [](Spec& s) {
                        s.udp_source_port = 40000;
                        s.udp_destination_port = 40001;
                    })),
         false},
        {"native spm", frame(with(odata, [](Spec& s) { s.type = kSpm; })), false},
        {"native rdata", frame(with(odata, [](Spec& s) { s.type = kRdata; })), false},
        {"native nak", frame(with(odata, [](Spec& s) { s.type = kNak; })), false},
        {"native ncf", frame(with(odata, [](Spec& s) { s.type = kNcf; })), false},
        {"udp spm", frame(with(udp(odata), [](Spec& s) { s.type = kSpm; })), false},
        {"udp rdata", frame(with(udp(odata), [](Spec& s) { s.type = kRdata; })), false},
        {"native odata, type with version bits", frame(with(odata, [](Spec& s) { s.type = 0x14; })),
         false},
        // The IP header claims 10 bytes the frame does not have.
        {"native odata, truncated", frame(with(odata, [](Spec& s) { s.ip_length_excess = 10; })),
         false},
        {"udp odata, truncated", frame(with(udp(odata), [](Spec& s) { s.ip_length_excess = 10; })),
         false},
        // Shorter than the PGM and ODATA headers (the IP length agrees with the frame).
        {"native odata, 20 PGM bytes", frame(with(odata, [](Spec& s) { s.pgm_cut = 20; })), false},
        {"udp odata, 20 PGM bytes (IP length 48)",
         frame(with(udp(odata), [](Spec& s) { s.pgm_cut = 20; })), false},
        {"native odata, 4 PGM bytes", frame(with(odata, [](Spec& s) { s.pgm_cut = 4; })), false},
        {"native odata, VLAN-tagged", frame(with(odata, [](Spec& s) { s.vlan = true; })), false},
        {"udp odata, VLAN-tagged", frame(with(udp(odata), [](Spec& s) { s.vlan = true; })), false},
        // Other protocols with an ODATA-looking payload.
        {"tcp", frame(with(odata, [](Spec& s) { s.protocol = 6; })), false},
        {"igmp (protocol 2)", frame(with(odata, [](Spec& s) { s.protocol = 2; })), false},
    };
    return r;
}

}  // namespace pgm::fastpath_test
