// DOC: pgmd's capture filter with the kernel fast path attached (dataplane/capture.h),
// compiled by libpcap as pgmd compiles it (optimised, DLT_EN10MB) and run over the shared
// fast path vectors (tests/unit/fastpath_frames.h): it leaves out exactly the eligible ODATA
// of dataplane/bpf/fastpath_abi.h and keeps everything else the plain filter captures,
// including frames too short for the exclusion's own loads.
#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <set>
#include <string>
#include <vector>

#include "dataplane/capture.h"
#include "tests/unit/fastpath_frames.h"

namespace pgm::dataplane {
namespace {

using fastpath_test::FastPathFrame;
using fastpath_test::kFrameUdpPorts;

// A compiled filter on a dead Ethernet handle.
class Filter {
  public:
    Filter(const std::string& expression, bool optimize = true) {
        handle_ = pcap_open_dead(DLT_EN10MB, 65535);
        if (pcap_compile(handle_, &program_, expression.c_str(), optimize ? 1 : 0,
                         PCAP_NETMASK_UNKNOWN) != 0) {
            ADD_FAILURE() << "pcap_compile '" << expression << "': " << pcap_geterr(handle_);
        } else {
            compiled_ = true;
        }
    }
    ~Filter() {
        if (compiled_) pcap_freecode(&program_);
        pcap_close(handle_);
    }
    Filter(const Filter&) = delete;
    Filter& operator=(const Filter&) = delete;

    bool compiled() const { return compiled_; }
    bool matches(const std::vector<std::uint8_t>& frame) const {
        pcap_pkthdr h{};
        h.caplen = static_cast<bpf_u_int32>(frame.size());
        h.len = h.caplen;
        return pcap_offline_filter(&program_, &h, frame.data()) != 0;
    }

  private:
    pcap_t* handle_ = nullptr;
    bpf_program program_{};
    bool compiled_ = false;
};

const std::vector<std::uint16_t> kPorts(kFrameUdpPorts.begin(), kFrameUdpPorts.end());

// The frames the plain filter does not capture either (pgmd never saw them).
const std::set<std::string> kNotCapturedBefore = {
    "udp odata, neither port configured",
    "udp odata, later fragment (offset)",  // `port` reads first fragments only
    "native odata, VLAN-tagged",  // in the frame: the dead handle reads the tag as the type
    "udp odata, VLAN-tagged",
    "tcp",
};

TEST(CaptureFilter, VectorsAgreeWithTheAbiText) {
    int eligible = 0;
    for (const FastPathFrame& f : fastpath_test::fastpath_frames()) {
        EXPECT_EQ(fastpath_test::abi_eligible(f.bytes), f.eligible) << f.name;
        eligible += f.eligible;
    }
    EXPECT_GE(eligible, 5);
}

TEST(CaptureFilter, ExclusionIsExactlyTheEligibleOdata) {
    for (bool optimize : {true, false}) {
        Filter exclusion(fastpath_capture_exclusion(kPorts), optimize);
        ASSERT_TRUE(exclusion.compiled());
        for (const FastPathFrame& f : fastpath_test::fastpath_frames())
            EXPECT_EQ(exclusion.matches(f.bytes), f.eligible) << f.name << " optimize " << optimize;
    }
}

TEST(CaptureFilter, WithTheFastPathEverythingButEligibleOdataIsCapturedAsBefore) {
    for (bool optimize : {true, false}) {
        Filter plain(Capture::filter_expression(kPorts), optimize);
        Filter fastpath(Capture::filter_expression(kPorts, true), optimize);
        ASSERT_TRUE(plain.compiled() && fastpath.compiled());
        for (const FastPathFrame& f : fastpath_test::fastpath_frames()) {
            SCOPED_TRACE(f.name + (optimize ? " (optimised)" : ""));
            EXPECT_EQ(plain.matches(f.bytes), !kNotCapturedBefore.contains(f.name));
            if (f.eligible) {
                EXPECT_FALSE(fastpath.matches(f.bytes));
            } else {
                EXPECT_EQ(fastpath.matches(f.bytes), plain.matches(f.bytes));
            }
        }
    }
}

TEST(CaptureFilter, UnchangedWithoutTheFastPath) {
    EXPECT_EQ(Capture::filter_expression(kPorts),
              "ip proto 113 or igmp or (udp and (port 3055 or port 3056))");
    EXPECT_EQ(Capture::filter_expression(kPorts, false), Capture::filter_expression(kPorts));
    EXPECT_EQ(Capture::filter_expression({}), "ip proto 113 or igmp");
}

TEST(CaptureFilter, WithoutUdpPortsOnlyNativeOdataIsExcluded) {
    Filter fastpath(Capture::filter_expression({}, true));
    ASSERT_TRUE(fastpath.compiled());
    for (const FastPathFrame& f : fastpath_test::fastpath_frames()) {
        const bool udp = f.name.starts_with("udp");
        // Native eligible ODATA left out; UDP not captured at all without ports.
        if ((f.eligible && !udp) || udp) {
            EXPECT_FALSE(fastpath.matches(f.bytes)) << f.name;
        }
    }
    Filter exclusion(fastpath_capture_exclusion({}));
    ASSERT_TRUE(exclusion.compiled());
    for (const FastPathFrame& f : fastpath_test::fastpath_frames())
        EXPECT_EQ(exclusion.matches(f.bytes), f.eligible && !f.name.starts_with("udp")) << f.name;
}

// The program knows FP_MAX_UDP_PORTS ports: a fifth configured port is captured as before.
TEST(CaptureFilter, PortsBeyondTheProgramsAreNotExcluded) {
    const std::vector<std::uint16_t> ports = {1, 0, 2, 1, 3, 4, 3055};
    EXPECT_EQ(fastpath_udp_ports(ports), (std::vector<std::uint16_t>{1, 2, 3, 4}));
    Filter fastpath(Capture::filter_expression(ports, true));
    ASSERT_TRUE(fastpath.compiled());
    for (const FastPathFrame& f : fastpath_test::fastpath_frames()) {
        if (f.name == "udp odata") {
            EXPECT_TRUE(fastpath.matches(f.bytes));
        }
    }
    const std::vector<std::uint16_t> four = {3055, 0, 3055, 3056, 5, 6, 7};
    EXPECT_EQ(fastpath_udp_ports(four), (std::vector<std::uint16_t>{3055, 3056, 5, 6}));
}

}  // namespace
}  // namespace pgm::dataplane
