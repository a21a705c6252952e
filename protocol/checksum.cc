#include "protocol/checksum.h"

#include <bit>
#include <cstring>

namespace pgm {
namespace {

std::uint16_t fold(std::uint64_t sum) {
    sum = (sum & 0xFFFFFFFFu) + (sum >> 32);
    sum = (sum & 0xFFFFFFFFu) + (sum >> 32);
    sum = (sum & 0xFFFFu) + (sum >> 16);
    sum = (sum & 0xFFFFu) + (sum >> 16);
    sum = (sum & 0xFFFFu) + (sum >> 16);
    return static_cast<std::uint16_t>(sum);
}

std::uint16_t add16(std::uint16_t a, std::uint16_t b) {
    return fold(std::uint64_t{a} + b);
}

std::uint16_t swap16(std::uint16_t v) {
    return static_cast<std::uint16_t>((v << 8) | (v >> 8));
}

// Sum in native byte order. The ones'-complement sum is byte-order independent up to a
// final swap (RFC 1071 §2(B)), so the loop adds native 32-bit words into 64-bit
// accumulators without any per-word swapping; the compiler vectorises it.
// Control packets and the pieces checksum_update() sums are a few dozen bytes: one
// accumulator and one fold, instead of the four-lane loop and its five folds.
std::uint16_t native_sum_small(const std::uint8_t* p, std::size_t n) {
    std::uint64_t a = 0;
    for (; n >= 4; p += 4, n -= 4) {
        std::uint32_t x;
        std::memcpy(&x, p, 4);
        a += x;
    }
    if (n & 2) {
        std::uint16_t x;
        std::memcpy(&x, p, 2);
        a += x;
        p += 2;
    }
    if (n & 1) {
        const std::uint8_t pad[2] = {*p, 0};
        std::uint16_t x;
        std::memcpy(&x, pad, 2);
        a += x;
    }
    return fold(a);
}

std::uint16_t native_sum(const std::uint8_t* p, std::size_t n) {
    if (n <= 64) return native_sum_small(p, n);
    std::uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    while (n >= 16) {
        std::uint32_t w[4];
        std::memcpy(w, p, 16);
        a0 += w[0];
        a1 += w[1];
        a2 += w[2];
        a3 += w[3];
        p += 16;
        n -= 16;
    }
    // Tail of 0..15 bytes in 8/4/2/1-byte pieces (all at even offsets, so the 16-bit lanes
    // stay aligned); an odd last byte is padded with zero as the RFC says.
    if (n & 8) {
        std::uint64_t x;
        std::memcpy(&x, p, 8);
        a0 += static_cast<std::uint32_t>(x);
        a1 += x >> 32;
        p += 8;
    }
    if (n & 4) {
        std::uint32_t x;
        std::memcpy(&x, p, 4);
        a2 += x;
        p += 4;
    }
    if (n & 2) {
        std::uint16_t x;
        std::memcpy(&x, p, 2);
        a3 += x;
        p += 2;
    }
    if (n & 1) {
        const std::uint8_t pad[2] = {*p, 0};
        std::uint16_t x;
        std::memcpy(&x, pad, 2);
        a3 += x;
    }
    // Each accumulator took at most 2^32 words of 2^32: no overflow below 16 GiB of input.
    return fold(fold(a0) + std::uint64_t{fold(a1)} + fold(a2) + fold(a3));
}

}  // namespace

std::uint16_t ones_complement_sum(Bytes data, std::uint16_t initial) {
    std::uint16_t s = native_sum(data.data(), data.size());
    if constexpr (std::endian::native == std::endian::little) s = swap16(s);
    return add16(s, initial);
}

std::uint16_t ones_complement_sum_reference(Bytes data, std::uint16_t initial) {
    std::uint32_t sum = initial;
    for (std::size_t i = 0; i < data.size(); ++i) {
        sum += (i % 2 == 0) ? std::uint32_t{data[i]} << 8 : std::uint32_t{data[i]};
        sum = (sum & 0xFFFFu) + (sum >> 16);
    }
    return static_cast<std::uint16_t>(sum);
}

static std::uint16_t finish(std::uint16_t sum) {
    std::uint16_t c = static_cast<std::uint16_t>(~sum);
    return c == 0 ? 0xFFFF : c;
}

std::uint16_t pgm_checksum(Bytes packet) {
    return finish(ones_complement_sum(packet));
}

void write_checksum(MutableBytes packet) {
    store16(packet.data() + kOffsetChecksum, 0);
    store16(packet.data() + kOffsetChecksum, pgm_checksum(packet));
}

bool checksum_field_valid(Bytes packet) {
    if (packet.size() < kHeaderSize) return false;
    if (load16(packet.data() + kOffsetChecksum) == 0) return true;
    // Summing with the field in place gives 0xFFFF (negative zero) when it matches.
    return ones_complement_sum(packet) == 0xFFFF;
}

std::uint16_t checksum_update(std::uint16_t old_checksum, std::size_t offset, Bytes old_bytes,
                              Bytes new_bytes) {
    if (old_checksum == 0) return 0;  // "no checksum" stays so
    std::uint16_t removed = ones_complement_sum(old_bytes);
    std::uint16_t added = ones_complement_sum(new_bytes);
    if (offset % 2 == 1) {  // bytes at odd positions weigh as the swapped sum
        removed = swap16(removed);
        added = swap16(added);
    }
    // RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
    std::uint16_t sum = static_cast<std::uint16_t>(~old_checksum);
    sum = add16(sum, static_cast<std::uint16_t>(~removed));
    sum = add16(sum, added);
    return finish(sum);
}

void rewrite_in_place(MutableBytes packet, std::size_t offset, Bytes new_bytes) {
    std::uint8_t* field = packet.data() + kOffsetChecksum;
    std::uint16_t updated = checksum_update(
        load16(field), offset, Bytes(packet.data() + offset, new_bytes.size()), new_bytes);
    if (!new_bytes.empty()) {
        std::memmove(packet.data() + offset, new_bytes.data(), new_bytes.size());
    }
    store16(field, updated);
}

}  // namespace pgm
