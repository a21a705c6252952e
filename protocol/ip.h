// DOC: The layers that carry PGM: IPv4 (with the Router Alert option, RFC 2113), IPv6 (with
// the Router Alert hop-by-hop option, RFC 2711), and UDP encapsulation on configurable
// ports. Pure byte work: no sockets. Stateless.
//
// locate_pgm() finds the PGM packet inside an IP packet (native protocol 113, or UDP to or
// from one of the encapsulation ports); build_ipv4() wraps a PGM packet for a raw socket
// with IP_HDRINCL, which is how a network element sends NCFs with the data source's
// address.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "protocol/nla.h"
#include "protocol/wire.h"

namespace pgm {

inline constexpr std::size_t kIpv4HeaderSize = 20;
inline constexpr std::size_t kRouterAlertOptionSize = 4;  // 0x94 0x04 0x00 0x00
inline constexpr std::size_t kUdpHeaderSize = 8;

enum class IpError : std::uint8_t {
    Ok = 0,
    Truncated,          // shorter than its headers say
    BadVersion,         // neither 4 nor 6
    BadHeaderLength,    // IPv4 IHL < 5 or past the packet
    BadTotalLength,     // total/payload length larger than the bytes captured
    BadHeaderChecksum,  // IPv4 header checksum
    Fragment,           // an IP fragment: PGM cannot be read from it alone
    NotPgm,             // neither protocol 113 nor UDP on an encapsulation port
    BadUdpLength,
    BadUdpChecksum,
};
const char* to_string(IpError e);

enum class Encapsulation : std::uint8_t { Native, Udp };

struct IpInfo {
    std::uint8_t version = 4;
    Nla source;
    Nla destination;
    std::uint8_t ttl = 0;  // hop limit for IPv6
    bool router_alert = false;
    Encapsulation encapsulation = Encapsulation::Native;
    std::uint16_t udp_source_port = 0;
    std::uint16_t udp_destination_port = 0;
};

struct LocatedPgm {
    IpError error = IpError::Ok;
    IpInfo ip;
    Bytes pgm;  // the PGM packet, bounded by the IP/UDP lengths (link padding removed)
    explicit operator bool() const { return error == IpError::Ok; }
};

struct LocateOptions {
    // Off for captures of a host's own transmissions, whose UDP checksum the NIC (or veth)
    // fills in after capture: tcpdump shows these as "bad udp cksum" too.
    bool verify_udp_checksum = true;
};

// `udp_ports`: UDP ports on which PGM is encapsulated (either direction matches).
LocatedPgm locate_pgm(Bytes ip_packet, std::span<const std::uint16_t> udp_ports,
                      const LocateOptions& options = {});

struct Ipv4Params {
    Nla source;       // IPv4
    Nla destination;  // IPv4
    std::uint8_t ttl = 1;
    bool router_alert = false;
    std::uint8_t tos = 0;
    std::uint16_t id = 0;
};

struct UdpPorts {
    std::uint16_t source = kDefaultUdpEncapsulationPort;
    std::uint16_t destination = kDefaultUdpEncapsulationPort;
};

// Writes IPv4 header [+ Router Alert] [+ UDP header] + `pgm` into `out`. The UDP checksum is
// computed (RFC 768); the IPv4 header checksum too. Returns the total size, or nullopt if
// it does not fit or the addresses are not IPv4.
std::optional<std::size_t> build_ipv4(MutableBytes out, const Ipv4Params& ip,
                                      const std::optional<UdpPorts>& udp, Bytes pgm);

}  // namespace pgm
