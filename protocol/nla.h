// DOC: Network-layer addresses (NLAs) as carried in PGM packets: AFI (2 bytes), reserved
// (2 bytes, zero), then a 4-byte IPv4 or 16-byte IPv6 address (RFC 3208 §8).
//
// `Nla` is a small value type (no heap) used everywhere an address is stored: path state,
// NAK source and group, SPM path. Text conversion exists for tools and logs only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/wire.h"

namespace pgm {

class Nla {
  public:
    enum class Family : std::uint8_t { None = 0, Ipv4 = 4, Ipv6 = 6 };

    constexpr Nla() = default;
    static Nla ipv4(std::uint32_t host_order_address);
    static Nla ipv4(const std::array<std::uint8_t, 4>& bytes);
    static Nla ipv6(const std::array<std::uint8_t, 16>& bytes);
    // Dotted quad or IPv6 text; nullopt when it is neither.
    static std::optional<Nla> parse(std::string_view text);

    Family family() const { return family_; }
    bool is_ipv4() const { return family_ == Family::Ipv4; }
    bool is_ipv6() const { return family_ == Family::Ipv6; }
    std::uint16_t afi() const;
    // Address bytes: 4 for IPv4, 16 for IPv6, 0 for None.
    std::size_t address_size() const;
    Bytes address() const { return Bytes(bytes_.data(), address_size()); }
    // Size on the wire with AFI and reserved field: 8 (IPv4) or 20 (IPv6).
    std::size_t wire_size() const { return 4 + address_size(); }
    std::uint32_t ipv4_host_order() const;  // requires is_ipv4()
    bool is_multicast() const;
    std::string to_string() const;

    friend bool operator==(const Nla&, const Nla&) = default;

  private:
    Family family_ = Family::None;
    std::array<std::uint8_t, 16> bytes_{};
};

// Size on the wire of an NLA with this AFI, including AFI and reserved: 8, 20, or 0 when
// the AFI is unknown.
std::size_t nla_wire_size(std::uint16_t afi);

}  // namespace pgm

template <>
struct std::hash<pgm::Nla> {
    std::size_t operator()(const pgm::Nla& n) const noexcept;
};
