// DOC: The PGM checksum (RFC 3208 §8): the Internet checksum over the whole PGM packet,
// header, options and payload, with no pseudo-header.
//
// Owns the fast sum (64-bit word at a time), the byte-at-a-time reference used to check it
// and as the benchmark baseline, and the incremental update (RFC 1624) used when a network
// element rewrites bytes in place (SPM path, option invalidation). Stateless.
//
// Wire rules: a computed value of 0 is transmitted as 0xFFFF; a checksum field of 0 means
// "no checksum" and is allowed on every type but ODATA and RDATA.
#pragma once

#include <cstddef>
#include <cstdint>

#include "protocol/wire.h"

namespace pgm {

// Ones'-complement sum of `data` folded to 16 bits, added to `initial` (also folded).
// Bytes are taken in network order; an odd trailing byte is padded with zero.
std::uint16_t ones_complement_sum(Bytes data, std::uint16_t initial = 0);

// Same result, one byte at a time: the obviously correct reference.
std::uint16_t ones_complement_sum_reference(Bytes data, std::uint16_t initial = 0);

// The value to put in the checksum field of `packet`, whose checksum field (offset 6)
// must hold zero: ~sum, with 0 mapped to 0xFFFF.
std::uint16_t pgm_checksum(Bytes packet);

// Computes the checksum of `packet` (treating its checksum field as zero, whatever it
// holds) and writes it. `packet` must be at least kHeaderSize bytes.
void write_checksum(MutableBytes packet);

// True when the checksum field is 0 (none) or matches the packet.
bool checksum_field_valid(Bytes packet);

// Incremental update: `old_checksum` was valid before the bytes at `offset` changed from
// `old_bytes` to `new_bytes` (same length). Returns the new field value. A field of 0
// (no checksum) stays 0. Offsets may be odd.
std::uint16_t checksum_update(std::uint16_t old_checksum, std::size_t offset, Bytes old_bytes,
                              Bytes new_bytes);

// Rewrites `packet[offset, offset+new_bytes.size())` with `new_bytes` and fixes the checksum
// field in place incrementally.
void rewrite_in_place(MutableBytes packet, std::size_t offset, Bytes new_bytes);

}  // namespace pgm
