// DOC: Tests of the link-layer decapsulation (dataplane/linklayer) for every DLT pgmdump
// reads, and of cli/pgm_format's promise never to fail on arbitrary frames.
#include <gtest/gtest.h>
#include <pcap/dlt.h>

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "cli/pgm_format.h"
#include "dataplane/linklayer.h"
#include "protocol/ip.h"

namespace pgm {
namespace {

using Frame = std::vector<std::uint8_t>;

const Frame kIpv4 = {0x45, 0x00, 0x00, 0x14, 0, 0, 0, 0, 1, 113, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
const Frame kIpv6 = {0x60, 0, 0, 0, 0, 0, 113, 1};  // enough for the version nibble

Frame concat(Frame head, const Frame& tail) {
    head.insert(head.end(), tail.begin(), tail.end());
    return head;
}

Frame ethernet(std::initializer_list<std::uint8_t> after_macs, const Frame& payload) {
    Frame f(12, 0xAA);
    f.insert(f.end(), after_macs);
    return concat(f, payload);
}

void expect_ip(const LinkResult& r, const Frame& ip, std::uint16_t ethertype) {
    ASSERT_TRUE(r) << to_string(r.error);
    EXPECT_EQ(r.ethertype, ethertype);
    EXPECT_EQ(Frame(r.ip.begin(), r.ip.end()), ip);
}

TEST(LinkLayer, EthernetIpv4AndIpv6) {
    expect_ip(extract_ip(DLT_EN10MB, ethernet({0x08, 0x00}, kIpv4)), kIpv4, kEthertypeIpv4);
    expect_ip(extract_ip(DLT_EN10MB, ethernet({0x86, 0xDD}, kIpv6)), kIpv6, kEthertypeIpv6);
}

TEST(LinkLayer, EthernetVlanTags) {
    // The result points into the frame: keep the frames alive.
    const Frame tagged = ethernet({0x81, 0x00, 0x20, 0x64, 0x08, 0x00}, kIpv4);
    const LinkResult one = extract_ip(DLT_EN10MB, tagged);
    expect_ip(one, kIpv4, kEthertypeIpv4);
    ASSERT_EQ(one.vlan_count, 1);
    EXPECT_EQ(one.vlan_ids[0], 100);  // priority bits masked off

    const Frame qinq =
        ethernet({0x88, 0xA8, 0x00, 0x0A, 0x81, 0x00, 0x00, 0x14, 0x86, 0xDD}, kIpv6);
    const LinkResult two = extract_ip(DLT_EN10MB, qinq);
    expect_ip(two, kIpv6, kEthertypeIpv6);
    ASSERT_EQ(two.vlan_count, 2);
    EXPECT_EQ(two.vlan_ids[0], 10);
    EXPECT_EQ(two.vlan_ids[1], 20);

    Frame deep(12, 0);
    for (std::size_t i = 0; i <= kMaxVlanTags; ++i)
        deep.insert(deep.end(), {0x81, 0x00, 0x00, 0x01});
    deep.insert(deep.end(), {0x08, 0x00});
    EXPECT_EQ(extract_ip(DLT_EN10MB, concat(deep, kIpv4)).error, LinkError::TooManyVlanTags);
}

TEST(LinkLayer, EthernetSnap) {
    const Frame snap =
        ethernet({0x00, 0x30, 0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00}, kIpv4);
    expect_ip(extract_ip(DLT_EN10MB, snap), kIpv4, kEthertypeIpv4);
    const Frame llc = ethernet({0x00, 0x30, 0x42, 0x42, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00}, kIpv4);
    EXPECT_EQ(extract_ip(DLT_EN10MB, llc).error, LinkError::NotIp);
}

TEST(LinkLayer, EthernetErrors) {
    const LinkResult arp = extract_ip(DLT_EN10MB, ethernet({0x08, 0x06}, kIpv4));
    EXPECT_EQ(arp.error, LinkError::NotIp);
    EXPECT_EQ(arp.error_offset, 12u);
    const LinkResult cut = extract_ip(DLT_EN10MB, Frame(10, 0));
    EXPECT_EQ(cut.error, LinkError::Truncated);
    EXPECT_EQ(cut.error_offset, 10u);
    EXPECT_EQ(extract_ip(DLT_EN10MB, ethernet({0x81, 0x00, 0x00}, {})).error, LinkError::Truncated);
}

TEST(LinkLayer, LinuxCooked) {
    Frame sll(14, 0);
    sll.insert(sll.end(), {0x08, 0x00});
    expect_ip(extract_ip(DLT_LINUX_SLL, concat(sll, kIpv4)), kIpv4, kEthertypeIpv4);
    Frame sll2 = {0x86, 0xDD};
    sll2.resize(20, 0);
    expect_ip(extract_ip(DLT_LINUX_SLL2, concat(sll2, kIpv6)), kIpv6, kEthertypeIpv6);
    const LinkResult not_ip = extract_ip(DLT_LINUX_SLL2, Frame(20, 0));
    EXPECT_EQ(not_ip.error, LinkError::NotIp);
    EXPECT_EQ(not_ip.error_offset, 0u);
    EXPECT_EQ(extract_ip(DLT_LINUX_SLL, Frame(15, 0)).error, LinkError::Truncated);
}

TEST(LinkLayer, RawIp) {
    expect_ip(extract_ip(DLT_RAW, kIpv4), kIpv4, kEthertypeIpv4);
    expect_ip(extract_ip(DLT_RAW, kIpv6), kIpv6, kEthertypeIpv6);
    expect_ip(extract_ip(DLT_IPV4, kIpv4), kIpv4, kEthertypeIpv4);
    expect_ip(extract_ip(DLT_IPV6, kIpv6), kIpv6, kEthertypeIpv6);
    EXPECT_EQ(extract_ip(DLT_RAW, Frame{0x50, 0}).error, LinkError::NotIp);
    EXPECT_EQ(extract_ip(DLT_RAW, Frame{}).error, LinkError::Truncated);
}

TEST(LinkLayer, Loopback) {
    expect_ip(extract_ip(DLT_NULL, concat({2, 0, 0, 0}, kIpv4)), kIpv4, kEthertypeIpv4);
    expect_ip(extract_ip(DLT_NULL, concat({0, 0, 0, 2}, kIpv4)), kIpv4, kEthertypeIpv4);
    expect_ip(extract_ip(DLT_NULL, concat({30, 0, 0, 0}, kIpv6)), kIpv6, kEthertypeIpv6);
    expect_ip(extract_ip(DLT_LOOP, concat({0, 0, 0, 24}, kIpv6)), kIpv6, kEthertypeIpv6);
    EXPECT_EQ(extract_ip(DLT_LOOP, concat({2, 0, 0, 0}, kIpv4)).error, LinkError::NotIp);
    EXPECT_EQ(extract_ip(DLT_NULL, Frame{2, 0}).error, LinkError::Truncated);
}

TEST(LinkLayer, UnsupportedLinkType) {
    EXPECT_EQ(extract_ip(DLT_IEEE802_11, kIpv4).error, LinkError::UnsupportedLinkType);
}

// Random frames on every link type go through decoding and both descriptions without
// crashing or throwing; run under ASan/UBSan in the sanitizer build.
TEST(PgmFormat, RandomFramesNeverFail) {
    std::mt19937 random(20260101);
    const std::uint16_t ports[] = {kDefaultUdpEncapsulationPort};
    const int dlts[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, DLT_NULL};
    Ipv4Params ip;
    ip.source = Nla::ipv4(0x0a000001);
    ip.destination = Nla::ipv4(0xefc00001);
    for (int i = 0; i < 20000; ++i) {
        Frame f(random() % 128);
        for (auto& b : f)
            b = static_cast<std::uint8_t>(random());
        cli::DecodeSettings settings;
        settings.dlt = dlts[i % std::size(dlts)];
        if (i % 2 == 0) {
            // Half of them in a valid IPv4 packet, native or UDP, to reach the PGM parser.
            Frame packet(f.size() + 64);
            const std::optional<UdpPorts> udp =
                i % 4 == 0 ? std::optional<UdpPorts>(UdpPorts{}) : std::nullopt;
            packet.resize(build_ipv4(packet, ip, udp, f).value());
            f = packet;
            settings.dlt = DLT_RAW;
        }
        settings.udp_ports = ports;
        cli::Frame frame;
        frame.number = static_cast<std::uint64_t>(i);
        frame.wire_length = static_cast<std::uint32_t>(f.size());
        frame.data = f;
        const cli::Decoded d = cli::decode_frame(frame, settings);
        EXPECT_NO_THROW(cli::to_text(cli::to_json(d)));
    }
}

}  // namespace
}  // namespace pgm
