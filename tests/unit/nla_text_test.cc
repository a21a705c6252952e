// Nla's text conversion (protocol/nla.cc, written without <arpa/inet.h> so that protocol/
// includes no OS header) against glibc's inet_pton/inet_ntop, which it replaced: the same
// strings accepted with the same bytes, the same strings refused, the same text printed.
// The test may include the OS header; the code under test may not.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "protocol/nla.h"

namespace pgm {
namespace {

// What glibc makes of `text`: the Nla inet_pton gives, or nullopt when it refuses both families.
std::optional<Nla> libc_parse(const std::string& text) {
    std::array<std::uint8_t, 16> b{};
    if (inet_pton(AF_INET, text.c_str(), b.data()) == 1) return Nla::ipv4({b[0], b[1], b[2], b[3]});
    if (inet_pton(AF_INET6, text.c_str(), b.data()) == 1) return Nla::ipv6(b);
    return std::nullopt;
}

std::string libc_format(const Nla& n) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(n.is_ipv4() ? AF_INET : AF_INET6, n.address().data(), buf, sizeof buf);
    return buf;
}

void expect_same_parse(const std::string& text) {
    const std::optional<Nla> ours = Nla::parse(text);
    const std::optional<Nla> theirs = libc_parse(text);
    ASSERT_EQ(ours.has_value(), theirs.has_value()) << '"' << text << '"';
    if (ours) {
        EXPECT_EQ(*ours, *theirs) << '"' << text << '"';
    }
}

TEST(NlaText, ParsesExactlyWhatInetPtonParses) {
    for (const char* t : {"",
                          "0.0.0.0",
                          "255.255.255.255",
                          "1.2.3.4",
                          "01.2.3.4",
                          "1.2.3.04",
                          "1.2.3.0",
                          "1.2.3",
                          "1.2.3.4.",
                          ".1.2.3.4",
                          "1..2.3",
                          "256.0.0.1",
                          "1.2.3.4 ",
                          " 1.2.3.4",
                          "1.2.3.-4",
                          "0x1.2.3.4",
                          "::",
                          "::1",
                          "1::",
                          ":1",
                          "1:",
                          ":::",
                          "1:::2",
                          "1::2::3",
                          "1:2:3:4:5:6:7:8",
                          "1:2:3:4:5:6:7:8:9",
                          "1:2:3:4:5:6:7",
                          "1:2:3:4:5:6:7::",
                          "::1:2:3:4:5:6:7",
                          "1:2:3:4:5:6:7:8::",
                          "::1:2:3:4:5:6:7:8",
                          "1:2:3:4:5:6:7::8",
                          "ffff:FFFF:abcd:ABCD:0:00:000:0000",
                          "12345::",
                          "0000f::",
                          "::ffff:1.2.3.4",
                          "::1.2.3.4",
                          "1:2:3:4:5:6:1.2.3.4",
                          "1:2:3:4:5:6:7:1.2.3.4",
                          "1::1.2.3.4",
                          "::1.2.3",
                          "::1.2.3.4.5",
                          "::01.2.3.4",
                          "::256.1.1.1",
                          "::ffff:1.2.3.4:1",
                          "1.2.3.4::",
                          "::a.b.c.d",
                          "fe80::1%eth0",
                          "g::",
                          "2001:db8::g",
                          "[::1]",
                          "1:2:3:4:5:6::7",
                          "::0:0",
                          "0::0"}) {
        expect_same_parse(t);
    }
}

TEST(NlaText, RandomStringsParseAsInetPtonParsesThem) {
    std::mt19937 prng(3208);
    const std::string alphabet = "0123456789abcdefABCDEF:.:.:x";
    for (int i = 0; i < 200000; ++i) {
        std::string t;
        const int len = static_cast<int>(prng() % 24);
        for (int k = 0; k < len; ++k)
            t += alphabet[prng() % alphabet.size()];
        expect_same_parse(t);
        if (HasFatalFailure()) return;
    }
}

// Addresses with runs of zero groups of every length and place, printed both ways, and the
// printed text parsed back.
TEST(NlaText, FormatsExactlyAsInetNtopAndRoundTrips) {
    std::mt19937 prng(7);
    for (int i = 0; i < 100000; ++i) {
        std::array<std::uint8_t, 16> b{};
        for (int w = 0; w < 8; ++w) {
            const unsigned kind = prng() % 4;  // zero groups are common, as in real addresses
            const unsigned v = kind == 0   ? 0
                               : kind == 1 ? 0xffff
                               : kind == 2 ? prng() % 16
                                           : prng();
            b[2 * w] = static_cast<std::uint8_t>(v >> 8);
            b[2 * w + 1] = static_cast<std::uint8_t>(v);
        }
        const Nla v6 = Nla::ipv6(b);
        ASSERT_EQ(v6.to_string(), libc_format(v6));
        ASSERT_EQ(Nla::parse(v6.to_string()), v6);
        const Nla v4 = Nla::ipv4({b[0], b[1], b[2], b[3]});
        ASSERT_EQ(v4.to_string(), libc_format(v4));
        ASSERT_EQ(Nla::parse(v4.to_string()), v4);
    }
    EXPECT_EQ(Nla::parse("::ffff:10.0.0.1")->to_string(), "::ffff:10.0.0.1");
    EXPECT_EQ(Nla::parse("::10.0.0.1")->to_string(), "::10.0.0.1");
    EXPECT_EQ(Nla::parse("1:0:0:1:0:0:0:1")->to_string(), "1:0:0:1::1");
    EXPECT_EQ(Nla::parse("1:0:0:1:0:0:1:1")->to_string(), "1::1:0:0:1:1");
    EXPECT_EQ(Nla().to_string(), "none");
}

}  // namespace
}  // namespace pgm
