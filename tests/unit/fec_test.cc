// The Reed-Solomon parity code (protocol/fec.h): the field against OpenPGM's own tables,
// the generator matrix against hand-checked values and a slow reference, every erasure
// pattern of small codes, the packet layer (variable lengths, OPT_FRAGMENT), and the parity
// OpenPGM itself put on the wire (tests/data/openpgm_fec.pcap).
#include "protocol/fec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "protocol/packet.h"

// OpenPGM 5.3's exported GF(2^8) tables (libpgm, galois_tables.c).
extern "C" {
extern const unsigned char pgm_gftable[256 * 256];  // [a << 8 | b] = a * b
extern const unsigned char pgm_gfantilog[256];      // [i] = alpha^i
extern const unsigned char pgm_gflog[256];          // [alpha^i] = i
}

namespace pgm {
namespace {

using Block = std::vector<std::uint8_t>;

std::uint8_t ref_mul(std::uint8_t a, std::uint8_t b) {
    return pgm_gftable[(a << 8) | b];
}

std::uint8_t ref_inverse(std::uint8_t a) {
    for (unsigned b = 1; b < 256; ++b) {
        if (ref_mul(a, static_cast<std::uint8_t>(b)) == 1) return static_cast<std::uint8_t>(b);
    }
    return 0;
}

// OpenPGM's generator matrix computed the slow way from its own tables: Vandermonde rows at
// 0, alpha^0, alpha^1, ... (antilog[(i * j) % 255], reed_solomon.c), the top k x k block
// inverted by plain Gauss-Jordan, GM = V * top^-1.
std::vector<Block> reference_generator(unsigned k, unsigned n) {
    auto v = [](unsigned r, unsigned c) -> std::uint8_t {
        if (r == 0) return c == 0 ? 1 : 0;
        return pgm_gfantilog[((r - 1) * c) % 255];
    };
    std::vector<Block> a(k, Block(2 * k));
    for (unsigned r = 0; r < k; ++r) {
        for (unsigned c = 0; c < k; ++c)
            a[r][c] = v(r, c);
        a[r][k + r] = 1;
    }
    for (unsigned col = 0; col < k; ++col) {
        unsigned pivot = col;
        while (a[pivot][col] == 0)
            ++pivot;
        std::swap(a[pivot], a[col]);
        const std::uint8_t inv = ref_inverse(a[col][col]);
        for (auto& x : a[col])
            x = ref_mul(x, inv);
        for (unsigned r = 0; r < k; ++r) {
            if (r == col || a[r][col] == 0) continue;
            const std::uint8_t f = a[r][col];
            for (unsigned c = 0; c < 2 * k; ++c)
                a[r][c] ^= ref_mul(f, a[col][c]);
        }
    }
    std::vector<Block> gm(n, Block(k));
    for (unsigned r = 0; r < n; ++r) {
        for (unsigned c = 0; c < k; ++c) {
            if (r < k) {
                gm[r][c] = r == c ? 1 : 0;
                continue;
            }
            std::uint8_t sum = 0;
            for (unsigned m = 0; m < k; ++m)
                sum ^= ref_mul(v(r, m), a[m][k + c]);
            gm[r][c] = sum;
        }
    }
    return gm;
}

// Byte-at-a-time parity from the reference matrix and OpenPGM's multiplication table.
Block reference_parity(const std::vector<Block>& gm, const std::vector<Block>& data, unsigned k,
                       unsigned j) {
    Block out(data[0].size());
    for (unsigned i = 0; i < k; ++i) {
        for (std::size_t b = 0; b < out.size(); ++b)
            out[b] ^= ref_mul(gm[k + j][i], data[i][b]);
    }
    return out;
}

std::vector<Block> random_blocks(unsigned count, std::size_t length, std::mt19937& rng) {
    std::vector<Block> blocks(count, Block(length));
    for (auto& b : blocks) {
        for (auto& x : b)
            x = static_cast<std::uint8_t>(rng());
    }
    return blocks;
}

std::vector<const std::uint8_t*> pointers(const std::vector<Block>& blocks) {
    std::vector<const std::uint8_t*> p;
    for (const Block& b : blocks)
        p.push_back(b.data());
    return p;
}

// --- The field ---------------------------------------------------------------------------

TEST(FecField, MultiplicationIsOpenPgmsTable) {
    int mismatches = 0;
    for (unsigned a = 0; a < 256; ++a) {
        for (unsigned b = 0; b < 256; ++b) {
            const auto x = static_cast<std::uint8_t>(a);
            const auto y = static_cast<std::uint8_t>(b);
            if (gf_mul(x, y) != ref_mul(x, y)) ++mismatches;
        }
    }
    EXPECT_EQ(mismatches, 0);
    EXPECT_EQ(gf_mul(0x80, 2), 0x1d);  // x^8 = x^4 + x^3 + x^2 + 1: polynomial 0x11d
}

TEST(FecField, PowersAreOpenPgmsAntilogTable) {
    for (unsigned i = 0; i < 255; ++i) {
        ASSERT_EQ(gf_exp(i), pgm_gfantilog[i]) << i;
        ASSERT_EQ(pgm_gflog[gf_exp(i)], i) << i;
    }
    EXPECT_EQ(gf_exp(255), 1);  // alpha has order 255: it generates the field
}

// --- The code ----------------------------------------------------------------------------

TEST(FecCode, ParameterBounds) {
    EXPECT_TRUE(fec_params_valid(2, 3));
    EXPECT_TRUE(fec_params_valid(128, 255));
    EXPECT_TRUE(fec_params_valid(8, 16));
    EXPECT_FALSE(fec_params_valid(1, 2));      // k >= 2
    EXPECT_FALSE(fec_params_valid(6, 12));     // a power of two
    EXPECT_FALSE(fec_params_valid(256, 300));  // k <= 128
    EXPECT_FALSE(fec_params_valid(8, 8));      // at least one parity packet
    EXPECT_FALSE(fec_params_valid(128, 256));  // n <= 255
}

TEST(FecCode, HandCheckedGeneratorRows) {
    // k = 2: V = [1 0; 1 1; 1 a; 1 a^2], top^-1 = top (GF(2) arithmetic), so
    // GM row 2 = [1 a] * [1 0; 1 1] = [1 + a, a] = [3, 2] and row 3 = [1 + a^2, a^2] = [5, 4].
    const ReedSolomon rs(2, 4);
    EXPECT_EQ(Block(rs.row(0).begin(), rs.row(0).end()), (Block{1, 0}));
    EXPECT_EQ(Block(rs.row(1).begin(), rs.row(1).end()), (Block{0, 1}));
    EXPECT_EQ(Block(rs.row(2).begin(), rs.row(2).end()), (Block{3, 2}));
    EXPECT_EQ(Block(rs.row(3).begin(), rs.row(3).end()), (Block{5, 4}));

    // parity 0 of (0x80, 0x01) = 3 * 0x80 + 2 * 0x01 = (0x1d ^ 0x80) ^ 0x02 = 0x9f.
    const std::vector<Block> data{{0x80, 0x00, 0x01}, {0x01, 0x00, 0x00}};
    Block parity(3);
    rs.encode(pointers(data), 3, 0, parity.data());
    EXPECT_EQ(parity, (Block{0x9f, 0x00, 0x03}));
    rs.encode(pointers(data), 3, 1, parity.data());  // 5 * 0x80 + 4 = 0x3a ^ 0x80 ^ 4
    EXPECT_EQ(parity, (Block{static_cast<std::uint8_t>(gf_mul(5, 0x80) ^ 4), 0x00, 0x05}));
}

TEST(FecCode, GeneratorMatchesSlowReference) {
    for (auto [k, n] :
         {std::pair{2u, 3u}, {4u, 8u}, {8u, 12u}, {16u, 32u}, {64u, 255u}, {128u, 255u}}) {
        const ReedSolomon rs(k, n);
        const std::vector<Block> gm = reference_generator(k, n);
        for (unsigned r = 0; r < n; ++r)
            ASSERT_EQ(Block(rs.row(r).begin(), rs.row(r).end()), gm[r])
                << k << "," << n << " " << r;
    }
}

TEST(FecCode, IsalEncodeMatchesByteLoop) {
    std::mt19937 rng(7);
    for (auto [k, n] : {std::pair{2u, 4u}, {8u, 16u}, {16u, 24u}, {128u, 255u}}) {
        const ReedSolomon rs(k, n);
        const std::vector<Block> gm = reference_generator(k, n);
        // Lengths around ISA-L's 16/32/64-byte vector loops and a full packet.
        for (std::size_t length : {1u, 15u, 31u, 33u, 64u, 100u, 1500u}) {
            const std::vector<Block> data = random_blocks(k, length, rng);
            for (unsigned j : {0u, n - k - 1}) {
                Block parity(length);
                rs.encode(pointers(data), length, j, parity.data());
                ASSERT_EQ(parity, reference_parity(gm, data, k, j))
                    << k << "," << n << " length " << length << " parity " << j;
            }
        }
    }
}

// Every choice of k received blocks out of n recovers every data block.
TEST(FecCode, EveryErasurePatternDecodes) {
    std::mt19937 rng(11);
    for (auto [k, n] : {std::pair{2u, 3u}, {2u, 4u}, {4u, 6u}, {4u, 8u}, {8u, 12u}}) {
        const ReedSolomon rs(k, n);
        const std::size_t length = 37;
        std::vector<Block> word = random_blocks(k, length, rng);
        for (unsigned j = 0; j < n - k; ++j) {
            Block& p = word.emplace_back(length);
            rs.encode(pointers(std::vector<Block>(word.begin(), word.begin() + k)), length, j,
                      p.data());
        }
        int patterns = 0;
        std::vector<bool> pick(n, false);
        std::fill(pick.end() - k, pick.end(), true);
        do {
            std::vector<unsigned> indices;
            std::vector<const std::uint8_t*> blocks;
            for (unsigned i = 0; i < n; ++i) {
                if (!pick[i]) continue;
                indices.push_back(i);
                blocks.push_back(word[i].data());
            }
            std::vector<unsigned> wanted;
            for (unsigned d = 0; d < k; ++d)
                wanted.push_back(d);  // all of them, the present ones too
            std::vector<Block> out(k, Block(length));
            std::vector<std::uint8_t*> targets;
            for (Block& b : out)
                targets.push_back(b.data());
            ASSERT_TRUE(rs.decode(indices, blocks, length, wanted, targets));
            for (unsigned d = 0; d < k; ++d)
                ASSERT_EQ(out[d], word[d]) << k << "," << n << " pattern " << patterns;
            ++patterns;
        } while (std::next_permutation(pick.begin(), pick.end()));
        unsigned expected = 1;  // C(n, k)
        for (unsigned i = 0; i < k; ++i)
            expected = expected * (n - i) / (i + 1);
        EXPECT_EQ(patterns, static_cast<int>(expected));
    }
}

TEST(FecCode, LargestCodeRecoversFromParityOnly) {
    std::mt19937 rng(3);
    const ReedSolomon rs(128, 255);
    const std::size_t length = 64;
    const std::vector<Block> data = random_blocks(128, length, rng);
    // One data block and 127 parity blocks (the most parity there is).
    std::vector<Block> parity(127, Block(length));
    std::vector<unsigned> indices{5};
    std::vector<const std::uint8_t*> blocks{data[5].data()};
    for (unsigned j = 0; j < 127; ++j) {
        rs.encode(pointers(data), length, j, parity[j].data());
        indices.push_back(128 + j);
        blocks.push_back(parity[j].data());
    }
    const std::vector<unsigned> wanted{0, 127};
    std::vector<Block> out(2, Block(length));
    std::vector<std::uint8_t*> targets{out[0].data(), out[1].data()};
    ASSERT_TRUE(rs.decode(indices, blocks, length, wanted, targets));
    EXPECT_EQ(out[0], data[0]);
    EXPECT_EQ(out[1], data[127]);
}

TEST(FecCode, DecodeRejectsBadIndices) {
    const ReedSolomon rs(2, 4);
    const Block a(4, 1), b(4, 2);
    Block out(4);
    std::vector<const std::uint8_t*> blocks{a.data(), b.data()};
    std::vector<std::uint8_t*> targets{out.data()};
    const std::vector<unsigned> wanted{0};
    EXPECT_FALSE(rs.decode(std::vector<unsigned>{2, 2}, blocks, 4, wanted, targets));
    EXPECT_FALSE(rs.decode(std::vector<unsigned>{2, 4}, blocks, 4, wanted, targets));
    EXPECT_FALSE(
        rs.decode(std::vector<unsigned>{2}, std::span(blocks).first(1), 4, wanted, targets));
    EXPECT_FALSE(
        rs.decode(std::vector<unsigned>{1, 2}, blocks, 4, std::vector<unsigned>{2}, targets));
}

// --- The packet layer --------------------------------------------------------------------

struct Group {
    std::vector<Block> tsdus;
    std::vector<std::optional<OptFragment>> fragments;
    std::vector<FecData> data() const {
        std::vector<FecData> d;
        for (std::size_t i = 0; i < tsdus.size(); ++i)
            d.push_back(FecData{tsdus[i], fragments[i]});
        return d;
    }
};

// Recovers the group with the data packets in `lost` replaced by parity 0, 1, ...
std::vector<FecRecovered> recover_group(const FecCodec& codec, const Group& g,
                                        const std::vector<FecParity>& parity,
                                        const std::vector<unsigned>& lost, Sqn tg_sqn,
                                        FecError expect = FecError::Ok) {
    std::vector<FecReceived> received;
    for (unsigned i = 0; i < codec.k(); ++i) {
        if (std::ranges::find(lost, i) != lost.end()) continue;
        received.push_back(FecReceived{i, g.tsdus[i], g.fragments[i], {}, false});
    }
    for (unsigned j = 0; j < lost.size(); ++j) {
        received.push_back(
            FecReceived{codec.k() + j, parity[j].tsdu, {}, parity[j].option, parity[j].var_pktlen});
    }
    std::vector<FecRecovered> out;
    EXPECT_EQ(codec.recover(received, tg_sqn, out), expect);
    return out;
}

TEST(FecPackets, EqualLengthsNeedNoTrailer) {
    const FecCodec codec(4, 6);
    Group g{{Block(100, 1), Block(100, 2), Block(100, 3), Block(100, 4)}, {{}, {}, {}, {}}};
    std::vector<FecParity> parity(2);
    codec.encode(g.data(), 0, parity[0]);
    codec.encode(g.data(), 1, parity[1]);
    EXPECT_FALSE(parity[0].var_pktlen);
    EXPECT_FALSE(parity[0].option.has_value());
    EXPECT_EQ(parity[0].tsdu.size(), 100u);
    const auto out = recover_group(codec, g, parity, {1, 3}, Sqn(8));
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].index, 1u);
    EXPECT_EQ(out[0].tsdu, g.tsdus[1]);
    EXPECT_FALSE(out[0].fragment.has_value());
    EXPECT_EQ(out[1].index, 3u);
    EXPECT_EQ(out[1].tsdu, g.tsdus[3]);
}

TEST(FecPackets, VariableLengthsArePaddedWithTheLengthAppended) {
    const FecCodec codec(4, 8);
    std::mt19937 rng(5);
    Group g{random_blocks(4, 1, rng), {{}, {}, {}, {}}};
    g.tsdus[0].resize(300, 0xAA);
    g.tsdus[1].resize(0);
    g.tsdus[2].resize(299, 0x55);
    g.tsdus[3].resize(17, 0x11);
    std::vector<FecParity> parity(4);
    for (unsigned j = 0; j < 4; ++j)
        codec.encode(g.data(), j, parity[j]);
    EXPECT_TRUE(parity[0].var_pktlen);
    EXPECT_EQ(parity[0].tsdu.size(), 302u);  // the longest + the 2-byte length

    // The padded block of packet 2 is its TSDU, a zero, then 299 little-endian (D32).
    Block padded = g.tsdus[2];
    padded.resize(300, 0);
    padded.push_back(299 & 0xFF);
    padded.push_back(299 >> 8);
    const ReedSolomon& rs = codec.code();
    Block expected(302, 0);
    for (unsigned i = 0; i < 4; ++i) {
        Block block = g.tsdus[i];
        block.resize(300, 0);
        block.push_back(static_cast<std::uint8_t>(g.tsdus[i].size() & 0xFF));
        block.push_back(static_cast<std::uint8_t>(g.tsdus[i].size() >> 8));
        if (i == 2) {
            EXPECT_EQ(block, padded);
        }
        for (std::size_t b = 0; b < block.size(); ++b)
            expected[b] ^= gf_mul(rs.row(4)[i], block[b]);
    }
    EXPECT_EQ(parity[0].tsdu, expected);

    const auto out = recover_group(codec, g, parity, {0, 1, 2, 3}, Sqn(0));
    ASSERT_EQ(out.size(), 4u);
    for (unsigned i = 0; i < 4; ++i)
        EXPECT_EQ(out[i].tsdu, g.tsdus[i]) << i;
}

TEST(FecPackets, FragmentOptionsAreRecovered) {
    const FecCodec codec(8, 10);
    const Sqn tg(0x12345670);  // high bits set: OPT_SQN's must come back whole
    Group g;
    for (unsigned i = 0; i < 8; ++i) {
        g.tsdus.emplace_back(50 + i, static_cast<std::uint8_t>(i));
        // Packets 0..4: the tail of an APDU begun before the group; 5: a whole APDU; 6..7 a new
        // one.
        if (i < 5) {
            g.fragments.push_back(OptFragment{Sqn(0x1234566E), 1000 + 100 * i, 5000});
        } else if (i == 5) {
            g.fragments.push_back(std::nullopt);
        } else {
            g.fragments.push_back(OptFragment{tg + 6, 1400 * (i - 6), 2800});
        }
    }
    std::vector<FecParity> parity(2);
    codec.encode(g.data(), 0, parity[0]);
    codec.encode(g.data(), 1, parity[1]);
    ASSERT_TRUE(parity[0].option.has_value());

    auto out = recover_group(codec, g, parity, {2, 5}, tg);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].fragment, g.fragments[2]);
    EXPECT_EQ(out[0].tsdu, g.tsdus[2]);
    EXPECT_FALSE(out[1].fragment.has_value());  // the dummy option: no fragment
    out = recover_group(codec, g, parity, {0, 7}, tg);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].fragment, g.fragments[0]);
    EXPECT_EQ(out[1].fragment, g.fragments[7]);
}

// OpenPGM's source encodes OPT_FRAGMENT from option byte 6 on (txw.c skips three bytes more
// than the RFC), takes its dummy option from the first byte instead, and leaves bytes 3..5 of
// the parity option unwritten. The decoder must still recover offset, length and OPT_SQN.
TEST(FecPackets, OpenPgmShiftedOptionEncodingIsRecovered) {
    const FecCodec codec(4, 6);
    const Sqn tg(0x00ABCD00);
    Group g{{Block(10, 1), Block(10, 2), Block(10, 3), Block(10, 4)},
            {OptFragment{tg, 0, 30}, OptFragment{tg, 10, 30}, OptFragment{tg, 20, 30}, {}}};
    std::vector<const std::uint8_t*> sources;
    std::vector<std::array<std::uint8_t, 10>> shifted(4);
    for (unsigned i = 0; i < 4; ++i) {
        const FecOption o = fec_option_of(g.fragments[i]);
        if (g.fragments[i]) {
            std::copy(o.begin() + 3, o.end(), shifted[i].begin());
        } else {
            shifted[i] = {kOptEncodedNull};
        }
        sources.push_back(shifted[i].data());
    }
    std::vector<FecParity> parity(2);
    for (unsigned j = 0; j < 2; ++j) {
        codec.encode(g.data(), j, parity[j]);
        FecOption openpgm{};  // bytes 0..2 never written by OpenPGM: zero in a fresh buffer
        codec.code().encode(sources, 10, j, openpgm.data() + 3);
        parity[j].option = openpgm;
    }

    // The unfragmented packet lost with a fragment: both come back.
    auto out = recover_group(codec, g, parity, {1, 3}, tg);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].fragment, g.fragments[1]);
    EXPECT_FALSE(out[1].fragment.has_value());
    // Every packet fragmented (what OpenPGM's own receiver supports): all come back whole.
    Group all = g;
    all.fragments[3] = OptFragment{tg + 3, 0, 10};
    for (unsigned j = 0; j < 2; ++j) {
        FecOption openpgm{};
        codec.encode(all.data(), j, parity[j]);
        for (unsigned i = 0; i < 4; ++i) {
            const FecOption o = fec_option_of(all.fragments[i]);
            std::copy(o.begin() + 3, o.end(), shifted[i].begin());
        }
        codec.code().encode(sources, 10, j, openpgm.data() + 3);
        parity[j].option = openpgm;
    }
    out = recover_group(codec, all, parity, {0, 3}, tg);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].fragment, all.fragments[0]);
    EXPECT_EQ(out[1].fragment, all.fragments[3]);
    for (unsigned j = 0; j < 2; ++j)  // back to the mixed group
        codec.encode(g.data(), j, parity[j]);
    for (unsigned i = 0; i < 4; ++i) {
        const FecOption o = fec_option_of(g.fragments[i]);
        if (g.fragments[i]) {
            std::copy(o.begin() + 3, o.end(), shifted[i].begin());
        } else {
            shifted[i] = {kOptEncodedNull};
        }
    }
    for (unsigned j = 0; j < 2; ++j) {
        FecOption openpgm{};
        codec.code().encode(sources, 10, j, openpgm.data() + 3);
        parity[j].option = openpgm;
    }
    // With the unfragmented packet received, OpenPGM's misplaced dummy byte lands in OPT_SQN
    // (D32: a known OpenPGM defect); offset and length still come back.
    out = recover_group(codec, g, parity, {1}, tg);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_TRUE(out[0].fragment.has_value());
    EXPECT_EQ(out[0].fragment->offset, 10u);
    EXPECT_EQ(out[0].fragment->apdu_length, 30u);
}

TEST(FecPackets, RecoverReportsWhatItCannotUse) {
    const FecCodec codec(2, 4);
    Group g{{Block(10, 1), Block(12, 2)}, {{}, {}}};
    std::vector<FecParity> parity(2);
    codec.encode(g.data(), 0, parity[0]);
    codec.encode(g.data(), 1, parity[1]);
    std::vector<FecRecovered> out;
    // One packet of two.
    std::vector<FecReceived> r{{0, g.tsdus[0], {}, {}, false}};
    EXPECT_EQ(codec.recover(r, Sqn(0), out), FecError::NotEnough);
    // The same packet twice, an index past n.
    r = {{0, g.tsdus[0], {}, {}, false}, {0, g.tsdus[0], {}, {}, false}};
    EXPECT_EQ(codec.recover(r, Sqn(0), out), FecError::BadIndex);
    r = {{0, g.tsdus[0], {}, {}, false}, {4, parity[0].tsdu, {}, {}, true}};
    EXPECT_EQ(codec.recover(r, Sqn(0), out), FecError::BadIndex);
    // Two parity packets of different lengths.
    Block shorter(parity[1].tsdu.begin(), parity[1].tsdu.end() - 1);
    r = {{2, parity[0].tsdu, {}, {}, true}, {3, shorter, {}, {}, true}};
    EXPECT_EQ(codec.recover(r, Sqn(0), out), FecError::Inconsistent);
    // A data packet longer than the parity block allows.
    const Block longer(20, 0);
    r = {{0, longer, {}, {}, false}, {2, parity[0].tsdu, {}, {}, true}};
    EXPECT_EQ(codec.recover(r, Sqn(0), out), FecError::Inconsistent);
    // A corrupted parity packet whose recovered length trailer overflows the block.
    Block bad = parity[0].tsdu;
    bad[bad.size() - 1] ^= 0x40;  // parity row 2 is [3 2]: packet 1 gets 0x40 * 2^-1 in its
    r = {{0, g.tsdus[0], {}, {}, false}, {2, bad, {}, {}, true}};  // length's high byte
    EXPECT_EQ(codec.recover(r, Sqn(0), out), FecError::BadLength);
    EXPECT_TRUE(out.empty());
    // Nothing missing: nothing to do.
    r = {{0, g.tsdus[0], {}, {}, false}, {1, g.tsdus[1], {}, {}, false}};
    EXPECT_EQ(codec.recover(r, Sqn(0), out), FecError::Ok);
    EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace pgm

namespace pgm {
namespace {

// --- OpenPGM's own parity (tests/data/make_openpgm_fec_pcaps.sh) ---------------------------

// The PGM packets (UDP-encapsulated IPv4 in Ethernet frames) of a pcap file.
std::vector<Block> read_pgm_packets(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    const Block file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<Block> packets;
    constexpr std::size_t kFileHeader = 24, kRecordHeader = 16, kEthernet = 14, kUdp = 8;
    std::size_t pos = kFileHeader;
    while (pos + kRecordHeader <= file.size()) {
        const std::uint32_t captured = static_cast<std::uint32_t>(file[pos + 8]) |
                                       static_cast<std::uint32_t>(file[pos + 9]) << 8 |
                                       static_cast<std::uint32_t>(file[pos + 10]) << 16 |
                                       static_cast<std::uint32_t>(file[pos + 11]) << 24;
        const std::size_t frame = pos + kRecordHeader;
        pos = frame + captured;
        if (pos > file.size()) break;
        const std::size_t ip = frame + kEthernet;
        const std::size_t pgm = ip + (file[ip] & 0x0F) * 4u + kUdp;
        if (pgm < pos)
            packets.emplace_back(file.begin() + static_cast<std::ptrdiff_t>(pgm),
                                 file.begin() + static_cast<std::ptrdiff_t>(pos));
    }
    return packets;
}

struct Capture {
    std::map<std::uint32_t, Block> odata;                // TSDU by sequence number
    std::map<std::uint32_t, std::vector<Block>> parity;  // parity TSDUs by sequence number
    std::map<std::uint32_t, bool> var_pktlen;
    int parity_bad_checksums = 0;
};

Capture read_capture(const std::string& name) {
    Capture c;
    for (const Block& p : read_pgm_packets(std::string(PGMD_TEST_DATA_DIR) + "/" + name)) {
        const ParseResult r = parse(p, ParseOptions{.verify_checksum = false});
        if (!r) continue;
        const Header& h = r.view.header;
        const DataFields* d = r.view.get<DataFields>();
        if (!d) continue;
        const Bytes tsdu = r.view.payload();
        if (h.parity()) {
            c.parity[d->sqn.value()].emplace_back(tsdu.begin(), tsdu.end());
            c.var_pktlen[d->sqn.value()] = h.var_pktlen();
            if (!parse(p)) ++c.parity_bad_checksums;
        } else if (h.type == PacketType::Odata) {
            c.odata[d->sqn.value()] = Block(tsdu.begin(), tsdu.end());
        }
    }
    return c;
}

// OpenPGM's parity RDATA for groups 0 and 4 (k = 4, n = 8) equals what our encoder makes
// from the captured ODATA, and rebuilds erased ODATA.
void check_capture(const std::string& name, bool var_pktlen) {
    const Capture c = read_capture(name);
    ASSERT_EQ(c.odata.size(), 8u) << name;
    const FecCodec codec(4, 8);
    int compared = 0;
    for (const auto& [sqn, tsdus] : c.parity) {
        const std::uint32_t tg = sqn & ~3u;
        const unsigned j = sqn & 3u;  // OpenPGM: RDATA_SQN = TG_SQN | parity index
        Group g;
        for (std::uint32_t i = 0; i < 4; ++i) {
            g.tsdus.push_back(c.odata.at(tg + i));
            g.fragments.emplace_back();
        }
        FecParity ours;
        codec.encode(g.data(), j, ours);
        EXPECT_EQ(ours.var_pktlen, var_pktlen);
        EXPECT_EQ(c.var_pktlen.at(sqn), var_pktlen);
        for (const Block& theirs : tsdus) {
            EXPECT_EQ(ours.tsdu, theirs) << name << " parity sqn " << sqn;
            ++compared;
        }
        // Erase data packet j (and j + 1 when a second parity packet is there) and rebuild.
        std::vector<FecReceived> received;
        for (unsigned i = 0; i < 4; ++i) {
            if (i != j) received.push_back(FecReceived{i, g.tsdus[i], {}, {}, false});
        }
        received.push_back(FecReceived{4 + j, tsdus.front(), {}, {}, c.var_pktlen.at(sqn)});
        std::vector<FecRecovered> out;
        ASSERT_EQ(codec.recover(received, Sqn(tg), out), FecError::Ok);
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(out[0].index, j);
        EXPECT_EQ(out[0].tsdu, g.tsdus[j]) << name << " group " << tg;
    }
    EXPECT_GE(compared, 4) << name;  // parity 0..1 of both groups at least
    // OpenPGM 5.3.128 sends parity RDATA with a wrong checksum (D32): noticed if it is fixed.
    EXPECT_EQ(c.parity_bad_checksums, compared) << name;
}

TEST(FecOpenPgm, EqualLengthParityMatches) {
    check_capture("openpgm_fec_equal.pcap", false);
}

TEST(FecOpenPgm, VariableLengthParityMatches) {
    check_capture("openpgm_fec_varlen.pcap", true);
}

// Two data packets of a group erased at once and rebuilt from two of OpenPGM's parity packets.
TEST(FecOpenPgm, TwoErasuresFromOpenPgmParity) {
    const Capture c = read_capture("openpgm_fec_varlen.pcap");
    const FecCodec codec(4, 8);
    ASSERT_TRUE(c.parity.contains(0) && c.parity.contains(1));
    std::vector<FecReceived> received{
        {1, c.odata.at(1), {}, {}, false},
        {3, c.odata.at(3), {}, {}, false},
        {4, c.parity.at(0).front(), {}, {}, true},
        {5, c.parity.at(1).front(), {}, {}, true},
    };
    std::vector<FecRecovered> out;
    ASSERT_EQ(codec.recover(received, Sqn(0), out), FecError::Ok);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].tsdu, c.odata.at(0));
    EXPECT_EQ(out[1].tsdu, c.odata.at(2));
    EXPECT_EQ(out[1].tsdu.size(), 80u);
}

}  // namespace
}  // namespace pgm
