// IP layer tests: build_ipv4 (Router Alert, UDP encapsulation) and locate_pgm on IPv4 and a
// hand-built IPv6 packet with the RFC 2711 hop-by-hop Router Alert; every IpError; link
// padding. Also Nla text conversion and multicast classification.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "protocol/checksum.h"
#include "protocol/ip.h"
#include "protocol/nla.h"
#include "tests/unit/codec_test_util.h"

namespace pgm {
namespace {

using test::Buf;

constexpr std::array<std::uint16_t, 1> kPorts = {kDefaultUdpEncapsulationPort};
constexpr std::uint8_t kProtoUdp = 17;

Buf sample_pgm() {
    return test::must_build(test::make_spec(PacketType::Spm));
}

Ipv4Params sample_params(bool router_alert) {
    Ipv4Params p;
    p.source = Nla::ipv4(0xC0000201u);       // 192.0.2.1
    p.destination = Nla::ipv4(0xEF010203u);  // 239.1.2.3
    p.ttl = 17;
    p.router_alert = router_alert;
    p.tos = 0x10;
    p.id = 0x4242;
    return p;
}

Buf build_v4(bool router_alert, const std::optional<UdpPorts>& udp, const Buf& pgm) {
    Buf out(200 + pgm.size());
    auto n = build_ipv4(out, sample_params(router_alert), udp, pgm);
    EXPECT_TRUE(n.has_value());
    out.resize(n.value_or(0));
    return out;
}

// Recomputes the IPv4 header checksum after an edit.
void fix_ipv4_checksum(Buf& b) {
    const std::size_t ihl = (b[0] & 0x0F) * 4u;
    store16(&b[10], 0);
    store16(&b[10], static_cast<std::uint16_t>(~ones_complement_sum(Bytes(b.data(), ihl))));
}

struct V4Case {
    bool router_alert;
    bool udp;
};

class BuildIpv4 : public ::testing::TestWithParam<V4Case> {};

TEST_P(BuildIpv4, HeadersAreValidAndLocatePgmFindsThePacket) {
    const auto [ra, udp] = GetParam();
    const Buf pgm = sample_pgm();
    const std::optional<UdpPorts> ports =
        udp ? std::optional<UdpPorts>(UdpPorts{40000, 3055}) : std::nullopt;
    const Buf b = build_v4(ra, ports, pgm);

    // IPv4 header, checked independently.
    const std::size_t ihl = ra ? kIpv4HeaderSize + kRouterAlertOptionSize : kIpv4HeaderSize;
    const std::size_t l4 = ihl + (udp ? kUdpHeaderSize : 0);
    ASSERT_EQ(b.size(), l4 + pgm.size());
    EXPECT_EQ(b[0], 0x40 | (ihl / 4));
    EXPECT_EQ(b[1], 0x10);
    EXPECT_EQ(load16(&b[2]), b.size());
    EXPECT_EQ(load16(&b[4]), 0x4242);
    EXPECT_EQ(load16(&b[6]) & 0x3FFF, 0) << "must not be a fragment";
    EXPECT_EQ(b[8], 17);
    EXPECT_EQ(b[9], udp ? kProtoUdp : kIpProtocolPgm);
    EXPECT_EQ(ones_complement_sum(Bytes(b.data(), ihl)), 0xFFFF) << "IPv4 header checksum";
    EXPECT_EQ(load32(&b[12]), 0xC0000201u);
    EXPECT_EQ(load32(&b[16]), 0xEF010203u);
    if (ra) {
        EXPECT_EQ(test::slice(b, 20, 4), (Buf{0x94, 0x04, 0x00, 0x00}));
    }
    if (udp) {
        EXPECT_EQ(load16(&b[ihl]), 40000);
        EXPECT_EQ(load16(&b[ihl + 2]), 3055);
        EXPECT_EQ(load16(&b[ihl + 4]), kUdpHeaderSize + pgm.size());
        // RFC 768 pseudo-header: source, destination, zero, protocol, UDP length.
        const Buf pseudo = test::cat({test::slice(b, 12, 8), Buf{0, kProtoUdp},
                                      test::be16(static_cast<std::uint16_t>(b.size() - ihl)),
                                      test::slice(b, ihl, b.size() - ihl)});
        EXPECT_NE(load16(&b[ihl + 6]), 0);
        EXPECT_EQ(ones_complement_sum(pseudo), 0xFFFF) << "UDP checksum";
    }
    EXPECT_EQ(test::slice(b, l4, pgm.size()), pgm);

    const LocatedPgm loc = locate_pgm(b, kPorts);
    ASSERT_TRUE(loc) << to_string(loc.error);
    EXPECT_EQ(Buf(loc.pgm.begin(), loc.pgm.end()), pgm);
    EXPECT_EQ(loc.pgm.data(), b.data() + l4);
    EXPECT_EQ(loc.ip.version, 4);
    EXPECT_EQ(loc.ip.source, Nla::ipv4(0xC0000201u));
    EXPECT_EQ(loc.ip.destination, Nla::ipv4(0xEF010203u));
    EXPECT_EQ(loc.ip.ttl, 17);
    EXPECT_EQ(loc.ip.router_alert, ra);
    EXPECT_EQ(loc.ip.encapsulation, udp ? Encapsulation::Udp : Encapsulation::Native);
    if (udp) {
        EXPECT_EQ(loc.ip.udp_source_port, 40000);
        EXPECT_EQ(loc.ip.udp_destination_port, 3055);
    }

    // Link-layer padding after the IP total length is not part of the PGM packet.
    Buf padded = b;
    padded.resize(b.size() + 6, 0);
    const LocatedPgm loc_padded = locate_pgm(padded, kPorts);
    ASSERT_TRUE(loc_padded) << to_string(loc_padded.error);
    EXPECT_EQ(Buf(loc_padded.pgm.begin(), loc_padded.pgm.end()), pgm);
}

INSTANTIATE_TEST_SUITE_P(RouterAlertAndUdp, BuildIpv4,
                         ::testing::Values(V4Case{false, false}, V4Case{true, false},
                                           V4Case{false, true}, V4Case{true, true}),
                         [](const auto& p) {
                             return std::string(p.param.router_alert ? "RouterAlert"
                                                                     : "NoRouterAlert") +
                                    (p.param.udp ? "Udp" : "Native");
                         });

TEST(BuildIpv4, RejectsIpv6AddressesAndSmallBuffers) {
    const Buf pgm = sample_pgm();
    Buf out(200);
    Ipv4Params v6 = sample_params(false);
    v6.source = test::addresses(Nla::Family::Ipv6).unicast;
    EXPECT_FALSE(build_ipv4(out, v6, std::nullopt, pgm).has_value());
    Buf small(kIpv4HeaderSize + pgm.size() - 1);
    EXPECT_FALSE(build_ipv4(small, sample_params(false), std::nullopt, pgm).has_value());
}

// --- Errors: each edits one valid packet. ---

class LocateErrors : public ::testing::Test {
  protected:
    IpError locate_edited(bool router_alert, bool udp, const std::function<void(Buf&)>& edit,
                          bool fix_header_checksum = true) {
        bytes_ = build_v4(router_alert, udp ? std::optional<UdpPorts>(UdpPorts{}) : std::nullopt,
                          sample_pgm());
        edit(bytes_);
        if (fix_header_checksum) fix_ipv4_checksum(bytes_);
        return locate_pgm(bytes_, kPorts).error;
    }
    Buf bytes_;
};

TEST_F(LocateErrors, Truncated) {
    EXPECT_EQ(locate_pgm(Buf{}, kPorts).error, IpError::Truncated);
    EXPECT_EQ(locate_edited(
                  false, false, [](Buf& b) { b.resize(kIpv4HeaderSize - 1); }, false),
              IpError::Truncated);
}

TEST_F(LocateErrors, TruncatedUdpHeader) {
    // IP total length covers only 4 bytes of the UDP header.
    EXPECT_EQ(locate_edited(false, true,
                            [](Buf& b) {
                                b.resize(kIpv4HeaderSize + 4);
                                store16(&b[2], static_cast<std::uint16_t>(b.size()));
                            }),
              IpError::Truncated);
}

TEST_F(LocateErrors, BadVersion) {
    EXPECT_EQ(locate_edited(false, false, [](Buf& b) { b[0] = 0x55; }), IpError::BadVersion);
}

TEST_F(LocateErrors, BadHeaderLength) {
    EXPECT_EQ(locate_edited(
                  false, false, [](Buf& b) { b[0] = 0x44; }, false),
              IpError::BadHeaderLength);
    // IHL 15 (60 bytes) in a packet of 56 bytes.
    EXPECT_EQ(locate_edited(
                  false, false, [](Buf& b) { b[0] = 0x4F; }, false),
              IpError::BadHeaderLength);
}

TEST_F(LocateErrors, BadTotalLength) {
    EXPECT_EQ(
        locate_edited(true, false,
                      [](Buf& b) { store16(&b[2], static_cast<std::uint16_t>(b.size() + 1)); }),
        IpError::BadTotalLength);
}

TEST_F(LocateErrors, BadHeaderChecksum) {
    EXPECT_EQ(locate_edited(
                  true, false, [](Buf& b) { b[8] ^= 0x01; }, false),
              IpError::BadHeaderChecksum);
}

TEST_F(LocateErrors, Fragment) {
    EXPECT_EQ(locate_edited(false, false, [](Buf& b) { b[6] |= 0x20; }), IpError::Fragment);  // MF
    EXPECT_EQ(locate_edited(false, false, [](Buf& b) { store16(&b[6], 0x0001); }),
              IpError::Fragment);
    EXPECT_EQ(locate_edited(false, false, [](Buf& b) { b[6] |= 0x40; }), IpError::Ok);  // DF only
}

TEST_F(LocateErrors, NotPgm) {
    EXPECT_EQ(locate_edited(false, false, [](Buf& b) { b[9] = 6; }), IpError::NotPgm);  // TCP
    // UDP on ports other than the encapsulation ports.
    bytes_ = build_v4(false, UdpPorts{4000, 4001}, sample_pgm());
    EXPECT_EQ(locate_pgm(bytes_, kPorts).error, IpError::NotPgm);
    // Either direction matches.
    bytes_ = build_v4(false, UdpPorts{4000, 3055}, sample_pgm());
    EXPECT_EQ(locate_pgm(bytes_, kPorts).error, IpError::Ok);
    bytes_ = build_v4(false, UdpPorts{3055, 4000}, sample_pgm());
    EXPECT_EQ(locate_pgm(bytes_, kPorts).error, IpError::Ok);
}

TEST_F(LocateErrors, BadUdpLength) {
    const std::size_t len = kIpv4HeaderSize + 4;
    EXPECT_EQ(locate_edited(false, true, [&](Buf& b) { store16(&b[len], load16(&b[len]) + 1); }),
              IpError::BadUdpLength);
    EXPECT_EQ(locate_edited(false, true, [&](Buf& b) { store16(&b[len], kUdpHeaderSize - 1); }),
              IpError::BadUdpLength);
}

TEST_F(LocateErrors, BadUdpChecksum) {
    EXPECT_EQ(locate_edited(false, true, [](Buf& b) { b.back() ^= 0x80; }),
              IpError::BadUdpChecksum);
    // RFC 768: a UDP checksum of 0 over IPv4 means "none".
    EXPECT_EQ(locate_edited(false, true, [](Buf& b) { store16(&b[kIpv4HeaderSize + 6], 0); }),
              IpError::Ok);
}

TEST(IpErrorNames, EveryErrorHasADistinctName) {
    std::set<std::string> names;
    for (int e = 0; e <= static_cast<int>(IpError::BadUdpChecksum); ++e) {
        const char* n = to_string(static_cast<IpError>(e));
        ASSERT_NE(n, nullptr);
        names.insert(n);
    }
    EXPECT_EQ(names.size(), static_cast<std::size_t>(IpError::BadUdpChecksum) + 1);
}

// --- IPv6, built by hand. ---

// IPv6 header + optional hop-by-hop header + native PGM. `hbh` is the 6 bytes of options
// after the HBH next-header and length bytes.
Buf ipv6_packet(const std::optional<Buf>& hbh, const Buf& pgm) {
    const Nla src = test::addresses(Nla::Family::Ipv6).unicast;
    const Nla dst = test::addresses(Nla::Family::Ipv6).group;
    const Buf ext = hbh ? test::cat({Buf{kIpProtocolPgm, 0}, *hbh}) : Buf{};
    return test::cat({Buf{0x60, 0, 0, 0},
                      test::be16(static_cast<std::uint16_t>(ext.size() + pgm.size())),
                      Buf{static_cast<std::uint8_t>(hbh ? 0 : kIpProtocolPgm), 9},
                      Buf(src.address().begin(), src.address().end()),
                      Buf(dst.address().begin(), dst.address().end()), ext, pgm});
}
// RFC 2711 Router Alert option (type 5, length 2, value 0), then a PadN of 0 data bytes.
const Buf kHbhRouterAlert = {0x05, 0x02, 0x00, 0x00, 0x01, 0x00};
const Buf kHbhPadOnly = {0x01, 0x04, 0x00, 0x00, 0x00, 0x00};

TEST(LocateIpv6, HopByHopRouterAlertWithNativePgm) {
    const Buf pgm = test::must_build(test::make_spec(PacketType::Ncf, Nla::Family::Ipv6));
    const Buf b = ipv6_packet(kHbhRouterAlert, pgm);
    const LocatedPgm loc = locate_pgm(b, kPorts);
    ASSERT_TRUE(loc) << to_string(loc.error);
    EXPECT_EQ(loc.ip.version, 6);
    EXPECT_TRUE(loc.ip.router_alert);
    EXPECT_EQ(loc.ip.encapsulation, Encapsulation::Native);
    EXPECT_EQ(loc.ip.ttl, 9);
    EXPECT_EQ(loc.ip.source, test::addresses(Nla::Family::Ipv6).unicast);
    EXPECT_EQ(loc.ip.destination, test::addresses(Nla::Family::Ipv6).group);
    EXPECT_EQ(Buf(loc.pgm.begin(), loc.pgm.end()), pgm);
}

TEST(LocateIpv6, NoRouterAlertWithoutOrWithOtherHopByHopOptions) {
    const Buf pgm = sample_pgm();
    for (const std::optional<Buf>& hbh : {std::optional<Buf>(), std::optional<Buf>(kHbhPadOnly)}) {
        const Buf b = ipv6_packet(hbh, pgm);  // outlives the view
        const LocatedPgm loc = locate_pgm(b, kPorts);
        ASSERT_TRUE(loc) << to_string(loc.error);
        EXPECT_FALSE(loc.ip.router_alert);
        EXPECT_EQ(Buf(loc.pgm.begin(), loc.pgm.end()), pgm);
    }
}

TEST(LocateIpv6, PaddingIgnoredAndPayloadLengthChecked) {
    const Buf pgm = sample_pgm();
    Buf b = ipv6_packet(kHbhRouterAlert, pgm);
    b.resize(b.size() + 10, 0);
    const LocatedPgm loc = locate_pgm(b, kPorts);
    ASSERT_TRUE(loc) << to_string(loc.error);
    EXPECT_EQ(Buf(loc.pgm.begin(), loc.pgm.end()), pgm);

    Buf cut = ipv6_packet(kHbhRouterAlert, pgm);
    cut.pop_back();
    EXPECT_EQ(locate_pgm(cut, kPorts).error, IpError::BadTotalLength);
    EXPECT_EQ(locate_pgm(Buf(cut.begin(), cut.begin() + 39), kPorts).error, IpError::Truncated);
}

// --- Nla ---

TEST(Nla, ParseAndFormatIpv4) {
    const auto n = Nla::parse("10.1.2.3");
    ASSERT_TRUE(n.has_value());
    EXPECT_TRUE(n->is_ipv4());
    EXPECT_EQ(n->ipv4_host_order(), 0x0A010203u);
    EXPECT_EQ(n->afi(), kAfiIpv4);
    EXPECT_EQ(n->address_size(), 4u);
    EXPECT_EQ(n->wire_size(), 8u);
    EXPECT_EQ(Buf(n->address().begin(), n->address().end()), (Buf{10, 1, 2, 3}));
    EXPECT_EQ(n->to_string(), "10.1.2.3");
    EXPECT_EQ(*n, Nla::ipv4(std::array<std::uint8_t, 4>{10, 1, 2, 3}));
    EXPECT_EQ(std::hash<Nla>{}(*n), std::hash<Nla>{}(Nla::ipv4(0x0A010203u)));
}

TEST(Nla, ParseAndFormatIpv6) {
    const auto n = Nla::parse("2001:db8::1");
    ASSERT_TRUE(n.has_value());
    EXPECT_TRUE(n->is_ipv6());
    EXPECT_EQ(n->afi(), kAfiIpv6);
    EXPECT_EQ(n->address_size(), 16u);
    EXPECT_EQ(n->wire_size(), 20u);
    EXPECT_EQ(*n, test::addresses(Nla::Family::Ipv6).unicast);
    EXPECT_EQ(n->to_string(), "2001:db8::1");
    EXPECT_EQ(Nla::parse("FF0E:0:0:0:0:0:0:1")->to_string(), "ff0e::1");
    EXPECT_NE(*n, *Nla::parse("2001:db8::2"));
}

TEST(Nla, ParseRejectsMalformedText) {
    for (const char* bad :
         {"", "1.2.3", "256.1.1.1", "1.2.3.4.5", "host", "1.2.3.4:80", "2001:db8::g", ":::"}) {
        EXPECT_FALSE(Nla::parse(bad).has_value()) << bad;
    }
}

TEST(Nla, IsMulticast) {
    for (const char* m : {"224.0.0.1", "239.255.255.255", "ff02::1", "ff0e::1234"}) {
        EXPECT_TRUE(Nla::parse(m)->is_multicast()) << m;
    }
    for (const char* u : {"223.255.255.255", "240.0.0.1", "10.0.0.1", "fe80::1", "2001:db8::1"}) {
        EXPECT_FALSE(Nla::parse(u)->is_multicast()) << u;
    }
    EXPECT_FALSE(Nla().is_multicast());
}

TEST(Nla, WireSizeByAfi) {
    EXPECT_EQ(nla_wire_size(kAfiIpv4), 8u);
    EXPECT_EQ(nla_wire_size(kAfiIpv6), 20u);
    EXPECT_EQ(nla_wire_size(3), 0u);
    EXPECT_EQ(Nla().address_size(), 0u);
}

}  // namespace
}  // namespace pgm
