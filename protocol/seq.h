// DOC: Serial-number arithmetic for PGM sequence numbers (RFC 3208 §3.2, RFC 1982 style).
//
// Owns the one definition of "older" and "newer" in the circular 32-bit sequence space, and
// of membership in a window [trail, lead]. Every comparison of sequence numbers anywhere in
// the code base goes through this type so that wrap-around at 2^32 is handled once.
#pragma once

#include <cstdint>
#include <functional>

namespace pgm {

class Sqn {
  public:
    constexpr Sqn() = default;
    constexpr explicit Sqn(std::uint32_t value) : value_(value) {}

    constexpr std::uint32_t value() const { return value_; }

    // Signed distance from `other` to this: positive when this is newer. Meaningful only
    // while the two are within half the space of each other.
    constexpr std::int32_t distance_from(Sqn other) const {
        return static_cast<std::int32_t>(value_ - other.value_);
    }

    friend constexpr bool operator==(Sqn a, Sqn b) { return a.value_ == b.value_; }
    friend constexpr bool operator<(Sqn a, Sqn b) { return a.distance_from(b) < 0; }
    friend constexpr bool operator>(Sqn a, Sqn b) { return b < a; }
    friend constexpr bool operator<=(Sqn a, Sqn b) { return !(b < a); }
    friend constexpr bool operator>=(Sqn a, Sqn b) { return !(a < b); }

    friend constexpr Sqn operator+(Sqn a, std::uint32_t n) { return Sqn(a.value_ + n); }
    friend constexpr Sqn operator-(Sqn a, std::uint32_t n) { return Sqn(a.value_ - n); }
    constexpr Sqn& operator++() {
        ++value_;
        return *this;
    }

  private:
    std::uint32_t value_ = 0;
};

// Inclusive window [trail, lead]. trail == lead + 1 is the empty window (§3.3).
struct SqnWindow {
    Sqn trail;
    Sqn lead;

    constexpr bool empty() const { return trail == lead + 1; }
    // Number of sequence numbers in the window; 0 when empty or inverted.
    constexpr std::uint32_t size() const {
        std::int32_t d = lead.distance_from(trail);
        return d < 0 ? 0 : static_cast<std::uint32_t>(d) + 1;
    }
    constexpr bool contains(Sqn s) const { return !empty() && s >= trail && s <= lead; }
};

}  // namespace pgm

template <>
struct std::hash<pgm::Sqn> {
    std::size_t operator()(pgm::Sqn s) const noexcept {
        return std::hash<std::uint32_t>{}(s.value());
    }
};
