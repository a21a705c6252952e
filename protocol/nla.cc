#include "protocol/nla.h"

#include <arpa/inet.h>  // inet_pton/inet_ntop: POSIX text conversion only, no sockets

#include <cstring>
#include <string>

namespace pgm {

Nla Nla::ipv4(std::uint32_t host_order_address) {
    Nla n;
    n.family_ = Family::Ipv4;
    store32(n.bytes_.data(), host_order_address);
    return n;
}

Nla Nla::ipv4(const std::array<std::uint8_t, 4>& bytes) {
    Nla n;
    n.family_ = Family::Ipv4;
    std::memcpy(n.bytes_.data(), bytes.data(), 4);
    return n;
}

Nla Nla::ipv6(const std::array<std::uint8_t, 16>& bytes) {
    Nla n;
    n.family_ = Family::Ipv6;
    n.bytes_ = bytes;
    return n;
}

std::optional<Nla> Nla::parse(std::string_view text) {
    std::string s(text);
    std::array<std::uint8_t, 16> buf{};
    if (inet_pton(AF_INET, s.c_str(), buf.data()) == 1)
        return ipv4({buf[0], buf[1], buf[2], buf[3]});
    if (inet_pton(AF_INET6, s.c_str(), buf.data()) == 1) return ipv6(buf);
    return std::nullopt;
}

std::uint16_t Nla::afi() const {
    switch (family_) {
        case Family::Ipv4:
            return kAfiIpv4;
        case Family::Ipv6:
            return kAfiIpv6;
        case Family::None:
            break;
    }
    return 0;
}

std::size_t Nla::address_size() const {
    switch (family_) {
        case Family::Ipv4:
            return 4;
        case Family::Ipv6:
            return 16;
        case Family::None:
            break;
    }
    return 0;
}

std::uint32_t Nla::ipv4_host_order() const {
    return load32(bytes_.data());
}

bool Nla::is_multicast() const {
    if (family_ == Family::Ipv4) return (bytes_[0] & 0xF0) == 0xE0;
    if (family_ == Family::Ipv6) return bytes_[0] == 0xFF;
    return false;
}

std::string Nla::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family_ == Family::Ipv4)
        inet_ntop(AF_INET, bytes_.data(), buf, sizeof buf);
    else if (family_ == Family::Ipv6)
        inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf);
    else
        return "none";
    return buf;
}

std::size_t nla_wire_size(std::uint16_t afi) {
    if (afi == kAfiIpv4) return 8;
    if (afi == kAfiIpv6) return 20;
    return 0;
}

}  // namespace pgm

std::size_t std::hash<pgm::Nla>::operator()(const pgm::Nla& n) const noexcept {
    std::size_t h = static_cast<std::size_t>(n.family());
    for (std::uint8_t b : n.address())
        h = h * 1099511628211ull ^ b;
    return h;
}
