// DOC: What the network element does with unknown options, by their OPX bits (RFC 3208 §9.1,
// decisions.md D10): only for options it does not know, and only when the sender set the
// NETWORK bit (option flags) asking network elements to act. OPX = 10 (and the reserved 11)
// discards the packet; OPX = 01 invalidates the option (type 0x7F) in the copies it forwards,
// which receivers skip. Pure functions of the parsed packet; nothing is kept.
#pragma once

#include <cstddef>
#include <cstdint>

#include "protocol/checksum.h"
#include "protocol/packet.h"

namespace pgm::router {

// True when an unknown option asks network elements to discard the packet (D10).
inline bool opx_discards(const PacketView& v) {
    if (!v.has_unknown_options || !(v.header.option_flags & kOptNetwork)) return false;
    OptionIterator it = v.options();
    while (auto o = it.next())
        if (!o->known() && (o->opx() == Opx::Discard || o->opx() == Opx::Reserved)) return true;
    return false;
}

// Invalidates the unknown options with OPX = 01 in `copy`, a copy of `v` about to be
// forwarded (checksum fixed incrementally); returns how many, for OptionInvalidated.
inline std::size_t invalidate_opx(const PacketView& v, MutableBytes copy) {
    if (!v.has_unknown_options || !(v.header.option_flags & kOptNetwork)) return 0;
    std::size_t n = 0;
    OptionIterator it = v.options();
    while (auto o = it.next()) {
        if (o->known() || o->opx() != Opx::Invalidate) continue;
        const auto b = static_cast<std::uint8_t>((copy[o->offset] & kOptEnd) |
                                                 static_cast<std::uint8_t>(OptionType::Invalid));
        rewrite_in_place(copy, o->offset, Bytes(&b, 1));
        ++n;
    }
    return n;
}

}  // namespace pgm::router
