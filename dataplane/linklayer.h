// DOC: Link-layer decapsulation for captured frames: given a libpcap data-link type (DLT)
// and the bytes of one frame, find the IP packet inside it, or say why there is none.
//
// Owns the knowledge of the link headers pgmd meets in captures: Ethernet (with any number
// of 802.1Q / 802.1ad VLAN tags, and 802.3 + LLC/SNAP), Linux cooked capture v1 and v2
// (what the "any" device gives), raw IP (DLT_RAW, DLT_IPV4, DLT_IPV6) and BSD loopback
// (DLT_NULL, host byte order; DLT_LOOP, network byte order). Pure byte work: no libpcap
// calls, no state; the result points into the caller's bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "protocol/wire.h"

namespace pgm {

enum class LinkError : std::uint8_t {
    Ok = 0,
    UnsupportedLinkType,  // a DLT this decoder does not know
    Truncated,            // the frame ends inside a link header
    NotIp,                // the link header names a protocol other than IPv4 or IPv6
    TooManyVlanTags,      // more stacked VLAN tags than kMaxVlanTags
};
const char* to_string(LinkError e);

inline constexpr std::size_t kMaxVlanTags = 4;

struct LinkResult {
    LinkError error = LinkError::Ok;
    std::size_t error_offset = 0;  // byte in the frame where the problem was found
    Bytes ip;                      // the IP packet (to the end of the frame; padding kept)
    // Protocol named by the link header: 0x0800 IPv4, 0x86DD IPv6; for raw IP links the
    // version nibble decides (0 when the frame is empty).
    std::uint16_t ethertype = 0;
    std::array<std::uint16_t, kMaxVlanTags> vlan_ids{};  // outermost first
    std::uint8_t vlan_count = 0;

    explicit operator bool() const { return error == LinkError::Ok; }
};

inline constexpr std::uint16_t kEthertypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEthertypeIpv6 = 0x86DD;

// `dlt` is the value pcap_datalink() returns for the capture.
LinkResult extract_ip(int dlt, Bytes frame);

// True for the DLTs extract_ip() reads.
bool link_type_supported(int dlt);

}  // namespace pgm
