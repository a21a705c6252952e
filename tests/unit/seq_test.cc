// Serial-number arithmetic (RFC 3208 §3.2, §3.3): ordering and distance across the 2^32
// wrap, and window membership, size and the empty/size-1 edge cases.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>

#include "protocol/seq.h"

namespace pgm {
namespace {

TEST(Sqn, OrderingAcrossWrap) {
    const Sqn before(0xFFFFFFF0u), after(0x10u);
    EXPECT_TRUE(before < after);
    EXPECT_TRUE(after > before);
    EXPECT_TRUE(before <= after);
    EXPECT_TRUE(after >= before);
    EXPECT_FALSE(after < before);
    EXPECT_FALSE(before > after);
    EXPECT_FALSE(before >= after);
    EXPECT_TRUE(Sqn(0xFFFFFFFFu) < Sqn(0));
    EXPECT_TRUE(Sqn(5) <= Sqn(5));
    EXPECT_FALSE(Sqn(5) < Sqn(5));
}

TEST(Sqn, OrderingWithinHalfSpaceWithoutWrap) {
    EXPECT_TRUE(Sqn(1) < Sqn(2));
    EXPECT_TRUE(Sqn(0) < Sqn(0x7FFFFFFFu));  // just under half the space: newer
    EXPECT_TRUE(Sqn(0x80000001u) < Sqn(0));  // more than half away: treated as older
}

TEST(Sqn, DistanceAcrossWrap) {
    EXPECT_EQ(Sqn(0x10u).distance_from(Sqn(0xFFFFFFF0u)), 0x20);
    EXPECT_EQ(Sqn(0xFFFFFFF0u).distance_from(Sqn(0x10u)), -0x20);
    EXPECT_EQ(Sqn(7).distance_from(Sqn(7)), 0);
    EXPECT_EQ(Sqn(0).distance_from(Sqn(0xFFFFFFFFu)), 1);
}

TEST(Sqn, ArithmeticWrapsModulo2To32) {
    Sqn s(0xFFFFFFFFu);
    ++s;
    EXPECT_EQ(s, Sqn(0));
    EXPECT_EQ(Sqn(0xFFFFFFFEu) + 4, Sqn(2));
    EXPECT_EQ(Sqn(2) - 4, Sqn(0xFFFFFFFEu));
    EXPECT_EQ(std::hash<Sqn>{}(Sqn(42)), std::hash<Sqn>{}(Sqn(40) + 2));
}

TEST(SqnWindow, EmptyWhenTrailIsLeadPlusOne) {
    for (std::uint32_t lead : {0u, 100u, 0xFFFFFFFFu}) {
        const SqnWindow w{Sqn(lead) + 1, Sqn(lead)};
        EXPECT_TRUE(w.empty()) << lead;
        EXPECT_EQ(w.size(), 0u) << lead;
        EXPECT_FALSE(w.contains(Sqn(lead))) << lead;
        EXPECT_FALSE(w.contains(Sqn(lead) + 1)) << lead;
    }
}

TEST(SqnWindow, SizeOneWhenTrailEqualsLead) {
    const SqnWindow w{Sqn(0xFFFFFFFFu), Sqn(0xFFFFFFFFu)};
    EXPECT_FALSE(w.empty());
    EXPECT_EQ(w.size(), 1u);
    EXPECT_TRUE(w.contains(Sqn(0xFFFFFFFFu)));
    EXPECT_FALSE(w.contains(Sqn(0)));
    EXPECT_FALSE(w.contains(Sqn(0xFFFFFFFEu)));
}

TEST(SqnWindow, SizeAndContainsAcrossWrap) {
    const SqnWindow w{Sqn(0xFFFFFFFEu), Sqn(1)};
    EXPECT_FALSE(w.empty());
    EXPECT_EQ(w.size(), 4u);
    for (std::uint32_t in : {0xFFFFFFFEu, 0xFFFFFFFFu, 0u, 1u})
        EXPECT_TRUE(w.contains(Sqn(in))) << in;
    for (std::uint32_t out : {0xFFFFFFFDu, 2u, 0x80000000u})
        EXPECT_FALSE(w.contains(Sqn(out))) << out;
}

TEST(SqnWindow, SizeOfLargeAndInvertedWindows) {
    EXPECT_EQ((SqnWindow{Sqn(10), Sqn(1009)}).size(), 1000u);
    EXPECT_EQ((SqnWindow{Sqn(0), Sqn(0x7FFFFFFEu)}).size(), 0x7FFFFFFFu);  // TXW_SQNS maximum
    EXPECT_EQ((SqnWindow{Sqn(10), Sqn(5)}).size(), 0u);                    // lead behind trail
    EXPECT_FALSE((SqnWindow{Sqn(10), Sqn(5)}).contains(Sqn(7)));
}

}  // namespace
}  // namespace pgm
