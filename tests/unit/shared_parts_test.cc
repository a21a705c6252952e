// DOC: The small pieces the cores share (issue 16), each on its own: the PRNG
// (protocol/random.h), parity sequence numbers (protocol/parity_sqn.h), the packet-writing
// ritual (protocol/write_packet.h), the NAK rate cap's token bucket (router/token_bucket.h) and
// the "as the source" network header (router/transmit.h).
#include <gtest/gtest.h>

#include <cstdint>

#include "protocol/packet.h"
#include "protocol/parity_sqn.h"
#include "protocol/random.h"
#include "protocol/write_packet.h"
#include "router/token_bucket.h"
#include "router/transmit.h"

namespace pgm {
namespace {

using namespace std::chrono_literals;

// The published splitmix64 outputs (Vigna's reference splitmix64.c): the simulator's and the
// tests' seeds replay the same runs everywhere.
TEST(Splitmix64, ReferenceOutputs) {
    std::uint64_t state = 0;
    EXPECT_EQ(splitmix64(state), 0xE220A8397B1DCDAFull);
    EXPECT_EQ(splitmix64(state), 0x6E789E6AA1B965F4ull);
    state = 1234567;
    EXPECT_EQ(splitmix64(state), 6457827717110365317ull);
    EXPECT_EQ(splitmix64(state), 3203168211198807973ull);
    EXPECT_EQ(splitmix64(state), 9817491932198370423ull);
}

TEST(ParitySqn, EncodeDecodeRoundTrip) {
    EXPECT_TRUE(valid_tgs(2));
    EXPECT_TRUE(valid_tgs(128));
    EXPECT_FALSE(valid_tgs(0));
    EXPECT_FALSE(valid_tgs(1));
    EXPECT_FALSE(valid_tgs(12));
    EXPECT_FALSE(valid_tgs(256));
    EXPECT_EQ(tg_of(8, Sqn(0x1234567F)), Sqn(0x12345678));
    EXPECT_EQ(index_in_tg(8, Sqn(0x1234567F)), 7u);
    // PKT_CNT 2 in the group starting at 16 (TGS 4): wanted 3.
    const ParitySqn p = decode_parity_sqn(4, Sqn(18));
    EXPECT_EQ(p.tg, Sqn(16));
    EXPECT_EQ(p.wanted, 3);
    EXPECT_EQ(encode_parity_sqn(p.tg, p.wanted), Sqn(18));
    // Across the wrap of the sequence space.
    const ParitySqn w = decode_parity_sqn(128, Sqn(0xFFFFFFFF));
    EXPECT_EQ(w.tg, Sqn(0xFFFFFF80));
    EXPECT_EQ(w.wanted, 128);
    EXPECT_EQ(encode_parity_sqn(w.tg, w.wanted), Sqn(0xFFFFFFFF));
    for (std::uint16_t wanted = 1; wanted <= 16; ++wanted)
        EXPECT_EQ(decode_parity_sqn(16, encode_parity_sqn(Sqn(32), wanted)).wanted, wanted);
}

TEST(WritePacket, CommitsWhatFitsAndAbandonsWhatDoesNot) {
    Output out;
    Transmit t;
    t.ifindex = 7;
    Gsi gsi{};
    const auto spmr = [&](PacketWriter& w) { w.begin(PacketType::Spmr, 1, 2, gsi); };
    const auto size = write_packet(out, 64, t, spmr);
    ASSERT_TRUE(size.has_value());
    ASSERT_EQ(out.transmits().size(), 1u);
    EXPECT_EQ(out.transmits()[0].ifindex, 7u);
    EXPECT_EQ(out.transmits()[0].length, *size);
    ASSERT_TRUE(parse(out.bytes(out.transmits()[0])));
    // Too small for the header: nothing committed, and nothing left in the arena.
    EXPECT_FALSE(write_packet(out, 4, t, spmr).has_value());
    EXPECT_EQ(out.transmits().size(), 1u);
    ASSERT_TRUE(write_packet(out, 64, t, spmr).has_value());
    EXPECT_EQ(out.transmits()[1].offset, out.transmits()[0].length);  // no hole left behind
}

}  // namespace

namespace router {
namespace {

TEST(TokenBucket, StartsFullRefillsAtTheRateAndNeverOverfills) {
    TokenBucket b;
    const Time t0 = Time{} + 100s;
    EXPECT_TRUE(b.take(10, 10, t0));          // full: 10 tokens
    EXPECT_FALSE(b.take(10, 1, t0));          // empty, and a refused take spends nothing
    EXPECT_FALSE(b.take(10, 2, t0 + 100ms));  // one token back
    EXPECT_TRUE(b.take(10, 1, t0 + 100ms));
    EXPECT_TRUE(b.take(10, 10, t0 + 1h));  // a long pause refills to the rate, no more
    EXPECT_FALSE(b.take(10, 1, t0 + 1h));
    EXPECT_FALSE(b.take(10, 1, t0));  // time going backwards adds nothing
}

TEST(SourceTransmit, FromTheSourceToTheGroupWithRouterAlert) {
    Session s;
    s.source = Nla::parse("10.0.0.1").value();
    s.group = Nla::parse("239.1.1.1").value();
    s.last_ttl = 10;
    s.encapsulation = Encapsulation::Udp;
    s.udp_port = 3056;
    const Transmit t = as_source_transmit(s, 4);
    EXPECT_EQ(t.ifindex, 4u);
    EXPECT_EQ(t.ip_source, s.source);
    EXPECT_EQ(t.ip_destination, s.group);
    EXPECT_EQ(t.ttl, 9);  // as far as the session's SPMs (D12)
    EXPECT_TRUE(t.router_alert);
    EXPECT_EQ(t.encapsulation, Encapsulation::Udp);
    EXPECT_EQ(t.udp_port, 3056);
    s.last_ttl = 1;
    EXPECT_EQ(as_source_transmit(s, 4).ttl, 1);  // never 0

    Arrival a;
    a.ifindex = 2;
    a.ip.encapsulation = Encapsulation::Native;
    const Transmit answer = as_source_answer(s, a);  // encapsulated as the NAK it answers
    EXPECT_EQ(answer.ifindex, 2u);
    EXPECT_EQ(answer.encapsulation, Encapsulation::Native);
    EXPECT_EQ(answer.udp_port, 3056);
    a.ip.encapsulation = Encapsulation::Udp;
    a.ip.udp_destination_port = 4000;
    EXPECT_EQ(as_source_answer(s, a).udp_port, 4000);
}

}  // namespace
}  // namespace router
}  // namespace pgm
