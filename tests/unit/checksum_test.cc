// Checksum tests: the fast sum against the byte-at-a-time reference and a known vector, the
// 0 -> 0xFFFF rule, "no checksum" per packet type, bit flips, and incremental updates
// (RFC 1624) against full recomputation, including the network element's two rewrites:
// SPM path NLA and option invalidation.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "protocol/checksum.h"
#include "protocol/packet.h"
#include "protocol/spec.h"
#include "protocol/wire.h"
#include "tests/unit/codec_test_util.h"

namespace pgm {
namespace {

using test::Buf;
using test::make_spec;
using test::must_build;

Buf random_bytes(std::mt19937& rng, std::size_t n) {
    std::uniform_int_distribution<int> byte(0, 255);
    Buf b(n);
    for (auto& x : b)
        x = static_cast<std::uint8_t>(byte(rng));
    return b;
}

// The checksum a full recomputation gives for `packet` (whatever its field holds).
std::uint16_t full_checksum(Buf packet) {
    store16(&packet[kOffsetChecksum], 0);
    return pgm_checksum(packet);
}

TEST(OnesComplementSum, KnownVectorFromRfc1071) {
    // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
    const Buf data = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    EXPECT_EQ(ones_complement_sum(data), 0xddf2);
    EXPECT_EQ(ones_complement_sum_reference(data), 0xddf2);
    // An odd trailing byte is the high byte of a zero-padded word; carries wrap around.
    EXPECT_EQ(ones_complement_sum(Buf{0xff, 0xff, 0x01}), 0x0100);
    EXPECT_EQ(ones_complement_sum(Buf{0x80, 0x00, 0x80, 0x01}), 0x0002);
    EXPECT_EQ(ones_complement_sum(Buf{0x12, 0x34}, 0xF000), 0x0235);
    EXPECT_EQ(ones_complement_sum(Buf{}), 0);
}

TEST(OnesComplementSum, FastEqualsReferenceForEveryLengthAndAlignment) {
    std::mt19937 rng(3208);
    std::uniform_int_distribution<int> word(0, 0xFFFF);
    const Buf storage = random_bytes(rng, 300 + 8);
    const Buf ones(300 + 8, 0xFF);  // all-ones data stresses the carry folding
    for (const Buf* buf : {&storage, &ones}) {
        for (std::size_t align = 0; align < 8; ++align) {
            for (std::size_t len = 0; len <= 300; ++len) {
                const Bytes data(buf->data() + align, len);
                const auto initial = static_cast<std::uint16_t>(word(rng));
                ASSERT_EQ(ones_complement_sum(data), ones_complement_sum_reference(data))
                    << "len " << len << " align " << align;
                ASSERT_EQ(ones_complement_sum(data, initial),
                          ones_complement_sum_reference(data, initial))
                    << "len " << len << " align " << align << " initial " << initial;
            }
        }
    }
}

// An ODATA whose computed checksum is 0: the first payload word is chosen so that the sum of
// the packet is 0xFFFF.
Buf odata_with_zero_checksum(Buf* with_zero_word = nullptr) {
    PacketSpec s = make_spec(PacketType::Odata);
    s.payload = {0, 0, 'a', 'b', 'c'};
    Buf zeroed = must_build(s);
    store16(&zeroed[kOffsetChecksum], 0);
    const std::uint16_t word = static_cast<std::uint16_t>(~ones_complement_sum_reference(zeroed));
    if (with_zero_word) *with_zero_word = must_build(s);
    s.payload[0] = static_cast<std::uint8_t>(word >> 8);
    s.payload[1] = static_cast<std::uint8_t>(word);
    return must_build(s);
}

TEST(Checksum, ComputedZeroIsSentAsFfffAndParses) {
    const Buf bytes = odata_with_zero_checksum();
    Buf zeroed = bytes;
    store16(&zeroed[kOffsetChecksum], 0);
    ASSERT_EQ(ones_complement_sum_reference(zeroed), 0xFFFF)
        << "crafted packet does not sum to 0xFFFF";
    EXPECT_EQ(pgm_checksum(zeroed), 0xFFFF);
    EXPECT_EQ(load16(&bytes[kOffsetChecksum]), 0xFFFF);
    EXPECT_TRUE(checksum_field_valid(bytes));
    Buf rewritten = bytes;
    write_checksum(rewritten);
    EXPECT_EQ(rewritten, bytes);
    EXPECT_TRUE(parse(bytes));
}

class ZeroChecksumField : public ::testing::TestWithParam<PacketType> {};

TEST_P(ZeroChecksumField, AcceptedExceptOnOdataAndRdata) {
    const Buf bytes = must_build(make_spec(GetParam()), /*checksum=*/false);
    ASSERT_EQ(load16(&bytes[kOffsetChecksum]), 0);
    EXPECT_TRUE(checksum_field_valid(bytes));
    ParseResult r = parse(bytes);
    if (GetParam() == PacketType::Odata || GetParam() == PacketType::Rdata) {
        EXPECT_EQ(r.error, ParseError::MissingChecksum);
    } else {
        EXPECT_TRUE(r) << to_string(r.error);
    }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, ZeroChecksumField, ::testing::ValuesIn(test::kAllPacketTypes),
                         [](const auto& p) { return test::type_name(p.param); });

TEST(Checksum, AnyFlippedBitIsBadChecksum) {
    PacketSpec s = make_spec(PacketType::Rdata);
    s.options = {OptFragment{Sqn(1), 0, 5}};
    const Buf good = must_build(s);
    for (std::size_t i = kHeaderSize; i < good.size(); ++i) {
        for (int bit = 0; bit < 8; ++bit) {
            Buf bad = good;
            bad[i] ^= static_cast<std::uint8_t>(1 << bit);
            EXPECT_FALSE(checksum_field_valid(bad)) << "byte " << i << " bit " << bit;
            if (i >= good.size() - s.payload.size()) {
                // Payload bits break nothing else: only the checksum notices.
                EXPECT_EQ(parse(bad).error, ParseError::BadChecksum)
                    << "byte " << i << " bit " << bit;
                EXPECT_TRUE(parse(bad, {/*verify_checksum=*/false}));
            }
        }
    }
}

TEST(ChecksumUpdate, EqualsFullRecomputationForRandomRewrites) {
    std::mt19937 rng(1624);
    for (int trial = 0; trial < 4000; ++trial) {
        Buf packet = random_bytes(rng, std::uniform_int_distribution<std::size_t>(40, 200)(rng));
        write_checksum(packet);
        // Alternate odd/even offsets and odd/even lengths; never touch the field itself.
        const std::size_t len =
            1 + 2 * std::uniform_int_distribution<std::size_t>(0, 8)(rng) + ((trial >> 1) & 1);
        std::size_t offset =
            2 * std::uniform_int_distribution<std::size_t>(4, (packet.size() - len) / 2 - 1)(rng);
        offset += (trial & 1);
        ASSERT_GE(offset, 8u);
        ASSERT_LE(offset + len, packet.size());
        const Buf old_bytes = test::slice(packet, offset, len);
        const Buf new_bytes = random_bytes(rng, len);

        Buf expected = packet;
        std::copy(new_bytes.begin(), new_bytes.end(),
                  expected.begin() + static_cast<std::ptrdiff_t>(offset));
        write_checksum(expected);

        EXPECT_EQ(checksum_update(load16(&packet[kOffsetChecksum]), offset, old_bytes, new_bytes),
                  load16(&expected[kOffsetChecksum]))
            << "trial " << trial << " offset " << offset << " len " << len;
        rewrite_in_place(packet, offset, new_bytes);
        ASSERT_EQ(packet, expected) << "trial " << trial << " offset " << offset << " len " << len;
    }
}

TEST(ChecksumUpdate, ReachingAndLeavingZeroSumKeepsFfffRule) {
    Buf before;
    const Buf zero_sum = odata_with_zero_checksum(&before);
    const std::size_t word = 24;  // first payload word
    // Into the zero-sum state: must give 0xFFFF, not 0x0000.
    Buf packet = before;
    rewrite_in_place(packet, word, test::slice(zero_sum, word, 2));
    EXPECT_EQ(packet, zero_sum);
    EXPECT_EQ(checksum_update(load16(&before[kOffsetChecksum]), word, test::slice(before, word, 2),
                              test::slice(zero_sum, word, 2)),
              0xFFFF);
    // And back out of it, from a field of 0xFFFF.
    rewrite_in_place(packet, word, test::slice(before, word, 2));
    EXPECT_EQ(packet, before);
    EXPECT_EQ(load16(&packet[kOffsetChecksum]), full_checksum(before));
}

TEST(ChecksumUpdate, NoChecksumFieldStaysZero) {
    Buf packet = must_build(make_spec(PacketType::Spm), /*checksum=*/false);
    EXPECT_EQ(checksum_update(0, 33, Buf{1, 2, 3}, Buf{4, 5, 6}), 0);
    rewrite_in_place(packet, 33, Buf{4, 5, 6});
    EXPECT_EQ(load16(&packet[kOffsetChecksum]), 0);
    EXPECT_EQ(packet[33], 4);
}

TEST(ChecksumUpdate, RewritingSpmPathKeepsChecksumValid) {
    for (Nla::Family fam : {Nla::Family::Ipv4, Nla::Family::Ipv6}) {
        Buf packet = must_build(make_spec(PacketType::Spm, fam));
        ParseResult r = parse(packet);
        ASSERT_TRUE(r);
        const std::size_t address = r.view.get<SpmFields>()->path_offset + 4;
        const Nla new_path = test::addresses(fam).unicast;
        rewrite_in_place(packet, address, new_path.address());
        EXPECT_EQ(load16(&packet[kOffsetChecksum]), full_checksum(packet));
        ParseResult after = parse(packet);
        ASSERT_TRUE(after) << to_string(after.error);
        EXPECT_EQ(after.view.get<SpmFields>()->path, new_path);
    }
}

// An NE invalidates an unknown option with OPX=01 by setting its type to 0x7F, keeping the
// E bit. The 5-byte first option puts the second one at an odd offset.
TEST(ChecksumUpdate, InvalidatingOptionsKeepsChecksumValidAndEndBit) {
    PacketSpec s = make_spec(PacketType::Odata);
    s.options = {OptRaw{0x21, static_cast<std::uint8_t>(Opx::Invalidate), 0, {7}},
                 OptRaw{0x22, static_cast<std::uint8_t>(Opx::Invalidate), 0, {1, 2, 3, 4}}};
    Buf packet = must_build(s);
    ParseResult r = parse(packet);
    ASSERT_TRUE(r) << to_string(r.error);
    std::vector<std::size_t> offsets;
    OptionIterator it = r.view.options();
    while (auto o = it.next())
        offsets.push_back(o->offset);
    ASSERT_EQ(offsets.size(), 2u);
    EXPECT_EQ(offsets[1] % 2, 1u);
    for (std::size_t off : offsets) {
        const std::uint8_t invalid = static_cast<std::uint8_t>((packet[off] & kOptEnd) | 0x7F);
        rewrite_in_place(packet, off, Buf{invalid});
        EXPECT_EQ(load16(&packet[kOffsetChecksum]), full_checksum(packet));
    }
    ParseResult after = parse(packet);
    ASSERT_TRUE(after) << to_string(after.error);
    it = after.view.options();
    auto first = it.next();
    auto second = it.next();
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->type, 0x7F);
    EXPECT_FALSE(first->end);
    EXPECT_EQ(second->type, 0x7F);
    EXPECT_TRUE(second->end);
    EXPECT_EQ(Buf(second->value.begin(), second->value.end()), (Buf{1, 2, 3, 4}));
}

}  // namespace
}  // namespace pgm
