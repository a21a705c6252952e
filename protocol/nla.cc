#include "protocol/nla.h"

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

// Text conversion written here rather than taken from <arpa/inet.h>: protocol/ includes no
// OS header (tests/docs/os_headers_test.py). It accepts and prints exactly what glibc's
// inet_pton/inet_ntop do (tests/unit/nla_text_test.cc compares the two).
namespace {

// A dotted quad: four decimal parts 0-255, no leading zeros, nothing else.
bool parse_ipv4(std::string_view t, std::uint8_t* out) {
    int parts = 0;
    std::size_t i = 0;
    while (true) {
        if (i >= t.size() || t[i] < '0' || t[i] > '9') return false;
        unsigned value = 0;
        const std::size_t start = i;
        while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
            if (i > start && value == 0) return false;  // leading zero
            value = value * 10 + static_cast<unsigned>(t[i] - '0');
            if (value > 255) return false;
            ++i;
        }
        out[parts++] = static_cast<std::uint8_t>(value);
        if (parts == 4) return i == t.size();
        if (i >= t.size() || t[i] != '.') return false;
        ++i;
    }
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// RFC 4291 §2.2 text: eight groups of 1-4 hex digits, one "::" for a run of zero groups,
// and a dotted quad in place of the last two groups.
bool parse_ipv6(std::string_view t, std::uint8_t* out) {
    std::array<std::uint8_t, 16> a{};
    std::size_t n = 0;               // bytes written
    std::optional<std::size_t> gap;  // where "::" stands
    std::size_t i = 0;
    if (t.size() >= 2 && t[0] == ':') {
        if (t[1] != ':') return false;
        gap = 0;
        i = 2;
        if (i == t.size()) {
            std::memcpy(out, a.data(), 16);
            return true;
        }
    }
    while (true) {
        // One group, or the closing dotted quad.
        const std::size_t start = i;
        unsigned value = 0;
        int digits = 0;
        while (i < t.size() && hex_digit(t[i]) >= 0) {
            if (++digits > 4) return false;
            value = value << 4 | static_cast<unsigned>(hex_digit(t[i]));
            ++i;
        }
        if (i < t.size() && t[i] == '.') {
            if (n + 4 > 16 || !parse_ipv4(t.substr(start), a.data() + n)) return false;
            n += 4;
            break;
        }
        if (digits == 0 || n + 2 > 16) return false;
        a[n++] = static_cast<std::uint8_t>(value >> 8);
        a[n++] = static_cast<std::uint8_t>(value);
        if (i == t.size()) break;
        if (t[i] != ':') return false;
        ++i;
        if (i < t.size() && t[i] == ':') {
            if (gap) return false;  // a second "::"
            gap = n;
            ++i;
            if (i == t.size()) break;
        } else if (i == t.size()) {
            return false;  // a trailing single ':'
        }
    }
    if (gap) {
        if (n == 16) return false;  // "::" must stand for at least one group
        const std::size_t tail = n - *gap;
        std::memmove(a.data() + 16 - tail, a.data() + *gap, tail);
        std::memset(a.data() + *gap, 0, 16 - tail - *gap);
    } else if (n != 16) {
        return false;
    }
    std::memcpy(out, a.data(), 16);
    return true;
}

void append_ipv4(std::string& s, const std::uint8_t* b) {
    for (int i = 0; i < 4; ++i) {
        if (i) s += '.';
        s += std::to_string(b[i]);
    }
}

// RFC 5952 form as glibc prints it: lower-case hex without leading zeros, the first longest
// run of two or more zero groups as "::", and the IPv4-compatible (::a.b.c.d) and
// IPv4-mapped (::ffff:a.b.c.d) addresses with a dotted quad.
std::string format_ipv6(const std::uint8_t* b) {
    std::array<unsigned, 8> w{};
    for (int i = 0; i < 8; ++i)
        w[i] = static_cast<unsigned>(b[2 * i] << 8 | b[2 * i + 1]);
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (w[i] != 0) {
            ++i;
            continue;
        }
        int j = i;
        while (j < 8 && w[j] == 0)
            ++j;
        if (j - i > best_len) best = i, best_len = j - i;
        i = j;
    }
    if (best_len < 2) best = -1;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < 8; ++i) {
        if (best >= 0 && i >= best && i < best + best_len) {
            if (i == best) s += ':';
            continue;
        }
        if (i != 0) s += ':';
        if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff))) {
            append_ipv4(s, b + 12);
            return s;
        }
        bool started = false;
        for (int shift = 12; shift >= 0; shift -= 4) {
            const unsigned d = (w[i] >> shift) & 0xF;
            if (d != 0 || started || shift == 0) {
                s += kHex[d];
                started = true;
            }
        }
    }
    if (best >= 0 && best + best_len == 8) s += ':';
    return s;
}

}  // namespace

std::optional<Nla> Nla::parse(std::string_view text) {
    std::array<std::uint8_t, 16> buf{};
    if (parse_ipv4(text, buf.data())) return ipv4({buf[0], buf[1], buf[2], buf[3]});
    if (parse_ipv6(text, buf.data())) return ipv6(buf);
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
    if (family_ == Family::Ipv4) {
        std::string s;
        append_ipv4(s, bytes_.data());
        return s;
    }
    if (family_ == Family::Ipv6) return format_ipv6(bytes_.data());
    return "none";
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
