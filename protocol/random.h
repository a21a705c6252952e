// DOC: The one pseudo-random generator of pgmd's sans-I/O cores: splitmix64 (Steele, Lea and
// Flood, "Fast splittable pseudorandom number generators", 2014). Small, seedable and the
// same numbers on every platform for a seed (std distributions are not), so that tests and
// the simulator replay exactly. Not for anything that must be unpredictable.
//
// The caller owns the 64-bit state; each call advances it and returns the next number.
#pragma once

#include <cstdint>

namespace pgm {

constexpr std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

}  // namespace pgm
