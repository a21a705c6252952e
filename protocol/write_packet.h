// DOC: The one way a sans-I/O core writes a packet of its own into an Output: room for the
// largest it may be (Output::begin), a PacketWriter over it, finish(), then commit with its
// network header, or abandon when it did not fit. Callers used to spell the four steps out
// each time, and an early return between begin and commit/abandon would leave a half-written
// packet in the arena.
//
// Pure helper over Output (protocol/io.h) and PacketWriter (protocol/writer.h); keeps nothing.
#pragma once

#include <cstddef>
#include <optional>

#include "protocol/io.h"
#include "protocol/writer.h"

namespace pgm {

// `fill(PacketWriter&)` writes the packet (w.begin(...), fields, options); it is committed
// with `t` when it fits in `max_size` bytes, else abandoned. Returns its size, or nullopt
// when abandoned.
template <class Fill>
std::optional<std::size_t> write_packet(Output& out, std::size_t max_size, const Transmit& t,
                                        Fill&& fill) {
    PacketWriter w(out.begin(max_size));
    fill(w);
    const std::optional<std::size_t> size = w.finish();
    if (!size) {
        out.abandon();
        return std::nullopt;
    }
    out.commit(t, *size);
    return size;
}

}  // namespace pgm
