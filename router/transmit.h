// DOC: The bounds and the network header of packets the network element sends as the data source
// would (RFC 3208 §7.2 NCFs, D13 RDATA from a DLR cache, §14.4 POLLs, §9.5.2.1 redirecting POLRs):
// from the session's source address to its group, with Router Alert, as far as the session's SPMs
// reach (decisions.md D12), encapsulated as the session.
//
// Pure functions of the session's path state; nothing is kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "protocol/io.h"
#include "protocol/wire.h"
#include "router/environment.h"
#include "router/session.h"

namespace pgm::router {

// The largest NAK, NNAK or NCF the router writes: NAK fields with two IPv6 NLAs and a full
// OPT_NAK_LIST. Output::begin() sizes the arena by this bound, so it must stay tight.
inline constexpr std::size_t kMaxNakSize =
    kHeaderSize + 4 + 2 * 20 + kOptLengthSize + kOptionHeaderSize + 4 * kMaxNakList;
// The largest POLR the router writes: with an OPT_REDIRECT holding an IPv6 NLA.
inline constexpr std::size_t kMaxPolrSize =
    kHeaderSize + 8 + kOptLengthSize + kOptionHeaderSize + 4 + 20;

inline constexpr std::uint8_t kForwardTtl = 255;  // TTL of packets the router originates

// Out of `ifindex`, encapsulated as the session.
inline Transmit as_source_transmit(const Session& s, IfIndex ifindex) {
    Transmit t;
    t.ifindex = ifindex;
    t.ip_source = s.source;
    t.ip_destination = s.group;
    t.ttl = static_cast<std::uint8_t>(s.last_ttl > 1 ? s.last_ttl - 1 : 1);
    t.router_alert = true;
    t.encapsulation = s.encapsulation;
    t.udp_port = s.udp_port;
    return t;
}

// An answer to the packet `a` (an NCF, cached RDATA): back out of its arrival interface,
// encapsulated as it came (its UDP port when it came in UDP).
inline Transmit as_source_answer(const Session& s, const Arrival& a) {
    Transmit t = as_source_transmit(s, a.ifindex);
    t.encapsulation = a.ip.encapsulation;
    t.udp_port = a.ip.encapsulation == Encapsulation::Udp ? a.ip.udp_destination_port : s.udp_port;
    return t;
}

// A copy of the packet `a` going on downstream, from the source to its group, TTL - 1,
// encapsulated as it came; the caller sets the interface (and the IP source, when not S).
inline Transmit downstream_transmit(const Session& s, const Arrival& a, bool router_alert) {
    Transmit t;
    t.ip_source = s.source;
    t.ip_destination = s.group;
    t.ttl = static_cast<std::uint8_t>(a.ip.ttl - 1);
    t.router_alert = router_alert;
    t.encapsulation = a.ip.encapsulation;
    t.udp_port = a.ip.udp_destination_port;
    return t;
}

// A packet the router sends towards its PGM parent (NAK, NNAK, SPMR, ACK, POLR): unicast out
// of the session's upstream interface, from our address there, encapsulated as the session;
// nullopt without such an address.
inline std::optional<Transmit> upstream_transmit(const Environment& env, const Session& s,
                                                 const Nla& to) {
    auto own = env.interface_address(s.upstream_interface, to.family());
    if (!own) return std::nullopt;
    Transmit t;
    t.ifindex = s.upstream_interface;
    t.ip_source = *own;
    t.ip_destination = to;
    t.ttl = kForwardTtl;
    t.encapsulation = s.encapsulation;
    t.udp_port = s.udp_port;
    return t;
}

// The packet is unicast to one of our addresses on its arrival interface.
inline bool addressed_to_us(const Environment& env, const Arrival& a) {
    auto own = env.interface_address(a.ifindex, a.ip.destination.family());
    return own && *own == a.ip.destination;
}

}  // namespace pgm::router
