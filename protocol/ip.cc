#include "protocol/ip.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "protocol/checksum.h"

namespace pgm {

const char* to_string(IpError e) {
    switch (e) {
        case IpError::Ok:
            return "ok";
        case IpError::Truncated:
            return "IP packet truncated";
        case IpError::BadVersion:
            return "not IPv4 or IPv6";
        case IpError::BadHeaderLength:
            return "bad IP header length";
        case IpError::BadTotalLength:
            return "IP length larger than captured";
        case IpError::BadHeaderChecksum:
            return "bad IPv4 header checksum";
        case IpError::Fragment:
            return "IP fragment";
        case IpError::NotPgm:
            return "not PGM";
        case IpError::BadUdpLength:
            return "bad UDP length";
        case IpError::BadUdpChecksum:
            return "bad UDP checksum";
    }
    return "unknown";
}

namespace {

constexpr std::uint8_t kProtoUdp = 17;
constexpr std::uint8_t kIpOptEol = 0;
constexpr std::uint8_t kIpOptNop = 1;
constexpr std::uint8_t kIpOptRouterAlert = 0x94;
constexpr std::uint8_t kIp6OptPad1 = 0;
constexpr std::uint8_t kIp6OptRouterAlert = 5;
constexpr std::uint8_t kIp6HopByHop = 0, kIp6Routing = 43, kIp6Fragment = 44, kIp6DestOpts = 60;

LocatedPgm failure(IpError e) {
    LocatedPgm r;
    r.error = e;
    return r;
}

// UDP checksum over the pseudo-header (RFC 768 / RFC 8200 §8.1) and the datagram.
std::uint16_t udp_sum(const Nla& src, const Nla& dst, Bytes udp) {
    std::array<std::uint8_t, 8> tail{};
    store32(tail.data(), static_cast<std::uint32_t>(udp.size()));
    tail[7] = kProtoUdp;
    std::uint16_t s = ones_complement_sum(src.address());
    s = ones_complement_sum(dst.address(), s);
    s = ones_complement_sum(tail, s);
    return ones_complement_sum(udp, s);
}

// Takes the transport at `at` (protocol `proto`) of an IP packet bounded by `end`.
LocatedPgm transport(Bytes p, std::size_t at, std::size_t end, std::uint8_t proto, IpInfo info,
                     std::span<const std::uint16_t> ports, const LocateOptions& opts) {
    LocatedPgm r;
    r.ip = info;
    if (proto == kIpProtocolPgm) {
        r.pgm = p.subspan(at, end - at);
        return r;
    }
    if (proto != kProtoUdp) return failure(IpError::NotPgm);
    if (at + kUdpHeaderSize > end) return failure(IpError::Truncated);
    std::uint16_t sport = load16(p.data() + at), dport = load16(p.data() + at + 2);
    bool ours = std::find(ports.begin(), ports.end(), sport) != ports.end() ||
                std::find(ports.begin(), ports.end(), dport) != ports.end();
    if (!ours) return failure(IpError::NotPgm);
    std::size_t len = load16(p.data() + at + 4);
    if (len < kUdpHeaderSize || at + len > end) return failure(IpError::BadUdpLength);
    Bytes udp = p.subspan(at, len);
    bool has_sum = load16(p.data() + at + 6) != 0 || info.version == 6;
    if (opts.verify_udp_checksum && has_sum &&
        udp_sum(info.source, info.destination, udp) != 0xFFFF) {
        return failure(IpError::BadUdpChecksum);
    }
    r.ip.encapsulation = Encapsulation::Udp;
    r.ip.udp_source_port = sport;
    r.ip.udp_destination_port = dport;
    r.pgm = udp.subspan(kUdpHeaderSize);
    return r;
}

LocatedPgm locate_v4(Bytes p, std::span<const std::uint16_t> ports, const LocateOptions& opts) {
    if (p.size() < kIpv4HeaderSize) return failure(IpError::Truncated);
    std::size_t ihl = std::size_t{p[0] & 0x0Fu} * 4;
    if (ihl < kIpv4HeaderSize || ihl > p.size()) return failure(IpError::BadHeaderLength);
    std::size_t total = load16(p.data() + 2);
    if (total < ihl || total > p.size()) return failure(IpError::BadTotalLength);
    if (ones_complement_sum(p.first(ihl)) != 0xFFFF) return failure(IpError::BadHeaderChecksum);
    if ((load16(p.data() + 6) & 0x3FFF) != 0) return failure(IpError::Fragment);
    IpInfo info;
    info.version = 4;
    info.ttl = p[8];
    info.source = Nla::ipv4(load32(p.data() + 12));
    info.destination = Nla::ipv4(load32(p.data() + 16));
    for (std::size_t i = kIpv4HeaderSize; i < ihl;) {
        std::uint8_t type = p[i];
        if (type == kIpOptEol) break;
        if (type == kIpOptNop) {
            ++i;
            continue;
        }
        if (i + 1 >= ihl || p[i + 1] < 2 || i + p[i + 1] > ihl)
            return failure(IpError::BadHeaderLength);
        if (type == kIpOptRouterAlert) info.router_alert = true;
        i += p[i + 1];
    }
    return transport(p, ihl, total, p[9], info, ports, opts);
}

LocatedPgm locate_v6(Bytes p, std::span<const std::uint16_t> ports, const LocateOptions& opts) {
    constexpr std::size_t kFixed = 40;
    if (p.size() < kFixed) return failure(IpError::Truncated);
    std::size_t end = kFixed + load16(p.data() + 4);
    if (end > p.size()) return failure(IpError::BadTotalLength);
    IpInfo info;
    info.version = 6;
    info.ttl = p[7];
    std::array<std::uint8_t, 16> a{};
    std::memcpy(a.data(), p.data() + 8, 16);
    info.source = Nla::ipv6(a);
    std::memcpy(a.data(), p.data() + 24, 16);
    info.destination = Nla::ipv6(a);
    std::uint8_t next = p[6];
    std::size_t at = kFixed;
    while (next == kIp6HopByHop || next == kIp6Routing || next == kIp6DestOpts ||
           next == kIp6Fragment) {
        if (next == kIp6Fragment) return failure(IpError::Fragment);
        if (at + 8 > end) return failure(IpError::Truncated);
        std::size_t len = (std::size_t{p[at + 1]} + 1) * 8;
        if (at + len > end) return failure(IpError::Truncated);
        if (next == kIp6HopByHop) {
            for (std::size_t i = at + 2; i < at + len;) {
                if (p[i] == kIp6OptPad1) {
                    ++i;
                    continue;
                }
                if (i + 2 > at + len || i + 2 + p[i + 1] > at + len)
                    return failure(IpError::BadHeaderLength);
                if (p[i] == kIp6OptRouterAlert) info.router_alert = true;
                i += 2 + std::size_t{p[i + 1]};
            }
        }
        next = p[at];
        at += len;
    }
    return transport(p, at, end, next, info, ports, opts);
}

}  // namespace

LocatedPgm locate_pgm(Bytes ip_packet, std::span<const std::uint16_t> udp_ports,
                      const LocateOptions& options) {
    if (ip_packet.empty()) return failure(IpError::Truncated);
    switch (ip_packet[0] >> 4) {
        case 4:
            return locate_v4(ip_packet, udp_ports, options);
        case 6:
            return locate_v6(ip_packet, udp_ports, options);
        default:
            return failure(IpError::BadVersion);
    }
}

std::optional<std::size_t> build_ipv4(MutableBytes out, const Ipv4Params& ip,
                                      const std::optional<UdpPorts>& udp, Bytes pgm) {
    if (!ip.source.is_ipv4() || !ip.destination.is_ipv4()) return std::nullopt;
    std::size_t ihl = kIpv4HeaderSize + (ip.router_alert ? kRouterAlertOptionSize : 0);
    std::size_t udp_len = udp ? kUdpHeaderSize + pgm.size() : 0;
    std::size_t total = ihl + (udp ? udp_len : pgm.size());
    if (total > out.size() || total > 0xFFFF) return std::nullopt;
    std::uint8_t* p = out.data();
    std::memset(p, 0, ihl);
    p[0] = static_cast<std::uint8_t>(0x40 | (ihl / 4));
    p[1] = ip.tos;
    store16(p + 2, static_cast<std::uint16_t>(total));
    store16(p + 4, ip.id);
    p[8] = ip.ttl;
    p[9] = udp ? kProtoUdp : kIpProtocolPgm;
    std::memcpy(p + 12, ip.source.address().data(), 4);
    std::memcpy(p + 16, ip.destination.address().data(), 4);
    if (ip.router_alert) {
        p[20] = kIpOptRouterAlert;
        p[21] = kRouterAlertOptionSize;
    }
    store16(p + 10, static_cast<std::uint16_t>(~ones_complement_sum(Bytes(p, ihl))));
    std::uint8_t* payload = p + ihl;
    if (udp) {
        store16(payload, udp->source);
        store16(payload + 2, udp->destination);
        store16(payload + 4, static_cast<std::uint16_t>(udp_len));
        store16(payload + 6, 0);
        if (!pgm.empty()) std::memcpy(payload + kUdpHeaderSize, pgm.data(), pgm.size());
        auto c = static_cast<std::uint16_t>(
            ~udp_sum(ip.source, ip.destination, Bytes(payload, udp_len)));
        store16(payload + 6, c == 0 ? 0xFFFF : c);
    } else {
        if (!pgm.empty()) std::memcpy(payload, pgm.data(), pgm.size());
    }
    return total;
}

}  // namespace pgm
