// DOC: Sequence numbers of parity repairs (RFC 3208 §11.3, §11.6), in one place: a
// transmission group of TGS packets (a power of two, 2..128) starts at a sequence whose low
// log2(TGS) bits are clear (TG_SQN); in a parity NAK or NCF those low bits carry PKT_CNT,
// the number of parity packets asked for, minus one. pgmd holds the count as
// wanted = PKT_CNT + 1 (decisions.md D9), 1..TGS.
//
// Pure functions on values; nothing is kept.
#pragma once

#include <cstdint>

#include "protocol/seq.h"

namespace pgm {

// A transmission-group size OPT_PARITY_PRM may announce: a power of two from 2 to 128.
constexpr bool valid_tgs(std::uint32_t tgs) {
    return tgs >= 2 && tgs <= 128 && (tgs & (tgs - 1)) == 0;
}

// The TG_SQN of the group `sqn` is in (`tgs` valid).
constexpr Sqn tg_of(std::uint32_t tgs, Sqn sqn) {
    return Sqn(sqn.value() & ~(tgs - 1));
}
// The position of `sqn` in its group, 0..tgs-1.
constexpr std::uint32_t index_in_tg(std::uint32_t tgs, Sqn sqn) {
    return sqn.value() & (tgs - 1);
}

// A parity NAK/NCF sequence split into its group and the count of packets wanted.
struct ParitySqn {
    Sqn tg;
    std::uint16_t wanted;  // PKT_CNT + 1
};
constexpr ParitySqn decode_parity_sqn(std::uint32_t tgs, Sqn sqn) {
    return {tg_of(tgs, sqn), static_cast<std::uint16_t>(index_in_tg(tgs, sqn) + 1)};
}
// `wanted` 1..TGS of the group starting at `tg`.
constexpr Sqn encode_parity_sqn(Sqn tg, std::uint16_t wanted) {
    return Sqn(tg.value() | static_cast<std::uint32_t>(wanted - 1));
}

}  // namespace pgm
