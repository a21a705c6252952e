// DOC: Link-layer decapsulation (see linklayer.h): one small reader per link header, all
// ending in the same ethertype step, which also unwraps stacked VLAN tags.
#include "dataplane/linklayer.h"

#include <pcap/dlt.h>

namespace pgm {

namespace {

constexpr std::size_t kEthernetHeaderSize = 14;
constexpr std::size_t kEthernetTypeOffset = 12;
constexpr std::size_t kVlanTagSize = 4;  // TCI (2) + inner ethertype (2)
constexpr std::uint16_t kVlanIdMask = 0x0FFF;
constexpr std::uint16_t kEthertypeVlan = 0x8100;     // 802.1Q
constexpr std::uint16_t kEthertypeQinQ = 0x88A8;     // 802.1ad
constexpr std::uint16_t kEthertypeQinQOld = 0x9100;  // pre-standard QinQ
constexpr std::uint16_t kMax8023Length = 1500;       // ethertype field <= this: 802.3 length
constexpr std::size_t kSnapHeaderSize = 8;           // AA AA 03 + OUI (3) + ethertype (2)

constexpr std::size_t kSllHeaderSize = 16;
constexpr std::size_t kSllProtocolOffset = 14;
constexpr std::size_t kSll2HeaderSize = 20;
constexpr std::size_t kSll2ProtocolOffset = 0;
constexpr std::size_t kLoopbackHeaderSize = 4;

// Address families seen in BSD loopback headers: IPv4 is 2 everywhere; IPv6 differs.
constexpr std::uint32_t kAfInet = 2;
constexpr std::uint32_t kAfInet6Linux = 10;
constexpr std::uint32_t kAfInet6NetBsd = 24;
constexpr std::uint32_t kAfInet6FreeBsd = 28;
constexpr std::uint32_t kAfInet6Darwin = 30;

LinkResult fail(LinkError error, std::size_t offset) {
    LinkResult r;
    r.error = error;
    r.error_offset = offset;
    return r;
}

bool is_vlan_ethertype(std::uint16_t t) {
    return t == kEthertypeVlan || t == kEthertypeQinQ || t == kEthertypeQinQOld;
}

// `frame[type_offset]` is an ethertype field and `frame[pos]` the first byte after the link
// header: unwrap VLAN tags and (on Ethernet, where a small value is an 802.3 length)
// LLC/SNAP, then require IPv4 or IPv6.
LinkResult from_ethertype(Bytes frame, std::size_t pos, std::size_t type_offset, bool ethernet) {
    LinkResult r;
    std::uint16_t ethertype = load16(frame.data() + type_offset);
    while (is_vlan_ethertype(ethertype)) {
        if (r.vlan_count == kMaxVlanTags) return fail(LinkError::TooManyVlanTags, pos);
        if (frame.size() - pos < kVlanTagSize) return fail(LinkError::Truncated, pos);
        r.vlan_ids[r.vlan_count++] = load16(frame.data() + pos) & kVlanIdMask;
        type_offset = pos + 2;
        ethertype = load16(frame.data() + type_offset);
        pos += kVlanTagSize;
    }
    if (ethernet && ethertype <= kMax8023Length) {
        static constexpr std::uint8_t kSnap[] = {0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00};
        if (frame.size() - pos < kSnapHeaderSize) return fail(LinkError::Truncated, pos);
        for (std::size_t i = 0; i < sizeof kSnap; ++i) {
            if (frame[pos + i] != kSnap[i]) return fail(LinkError::NotIp, pos + i);
        }
        type_offset = pos + sizeof kSnap;
        ethertype = load16(frame.data() + type_offset);
        pos += kSnapHeaderSize;
    }
    if (ethertype != kEthertypeIpv4 && ethertype != kEthertypeIpv6) {
        return fail(LinkError::NotIp, type_offset);
    }
    r.ethertype = ethertype;
    r.ip = frame.subspan(pos);
    return r;
}

// A link header of `header_size` bytes with a 16-bit ethertype at `type_offset`.
LinkResult fixed_header(Bytes frame, std::size_t header_size, std::size_t type_offset,
                        bool ethernet = false) {
    if (frame.size() < header_size) return fail(LinkError::Truncated, frame.size());
    return from_ethertype(frame, header_size, type_offset, ethernet);
}

LinkResult raw_ip(Bytes frame, std::uint16_t ethertype) {
    if (frame.empty()) return fail(LinkError::Truncated, 0);
    if (ethertype == 0) {
        const unsigned version = frame[0] >> 4;
        if (version == 4) {
            ethertype = kEthertypeIpv4;
        } else if (version == 6) {
            ethertype = kEthertypeIpv6;
        } else {
            return fail(LinkError::NotIp, 0);
        }
    }
    LinkResult r;
    r.ethertype = ethertype;
    r.ip = frame;
    return r;
}

// DLT_NULL carries the address family in the capturing host's byte order, DLT_LOOP in
// network order; a family never needs the upper 16 bits, which tells the order apart.
LinkResult loopback(Bytes frame, bool network_order) {
    if (frame.size() < kLoopbackHeaderSize) return fail(LinkError::Truncated, frame.size());
    const std::uint32_t big = load32(frame.data());
    const std::uint32_t little =
        (big >> 24) | ((big >> 8) & 0xFF00) | ((big << 8) & 0xFF0000) | (big << 24);
    const std::uint32_t family = network_order || (little & 0xFFFF0000u) != 0 ? big : little;
    std::uint16_t ethertype = 0;
    switch (family) {
        case kAfInet:
            ethertype = kEthertypeIpv4;
            break;
        case kAfInet6Linux:
        case kAfInet6NetBsd:
        case kAfInet6FreeBsd:
        case kAfInet6Darwin:
            ethertype = kEthertypeIpv6;
            break;
        default:
            return fail(LinkError::NotIp, 0);
    }
    return raw_ip(frame.subspan(kLoopbackHeaderSize), ethertype);
}

}  // namespace

const char* to_string(LinkError e) {
    switch (e) {
        case LinkError::Ok:
            return "ok";
        case LinkError::UnsupportedLinkType:
            return "unsupported link type";
        case LinkError::Truncated:
            return "truncated link header";
        case LinkError::NotIp:
            return "not IP";
        case LinkError::TooManyVlanTags:
            return "too many VLAN tags";
    }
    return "unknown link error";
}

LinkResult extract_ip(int dlt, Bytes frame) {
    switch (dlt) {
        case DLT_EN10MB:
            return fixed_header(frame, kEthernetHeaderSize, kEthernetTypeOffset, true);
        case DLT_LINUX_SLL:
            return fixed_header(frame, kSllHeaderSize, kSllProtocolOffset);
        case DLT_LINUX_SLL2:
            return fixed_header(frame, kSll2HeaderSize, kSll2ProtocolOffset);
        case DLT_RAW:
            return raw_ip(frame, 0);
        case DLT_IPV4:
            return raw_ip(frame, kEthertypeIpv4);
        case DLT_IPV6:
            return raw_ip(frame, kEthertypeIpv6);
        case DLT_NULL:
            return loopback(frame, false);
        case DLT_LOOP:
            return loopback(frame, true);
        default:
            return fail(LinkError::UnsupportedLinkType, 0);
    }
}

bool link_type_supported(int dlt) {
    return extract_ip(dlt, Bytes()).error != LinkError::UnsupportedLinkType;
}

}  // namespace pgm
