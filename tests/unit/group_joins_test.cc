// DOC: GroupJoins (dataplane/sockets.h) in a private network namespace: any-source joins and
// source-specific ones (MCAST_JOIN_SOURCE_GROUP) as the kernel holds them, read back from
// /proc/net/igmp and /proc/net/mcfilter; a group turning from source-specific to any-source
// and back; everything left when the set is empty; a failed join tried again only when the
// lists change or after retry_failed(). Needs root (CI runs as root); skipped, and reported
// as skipped, otherwise.
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/sockets.h"
#include "protocol/nla.h"

namespace {

using pgm::IfIndex;
using pgm::Nla;
using pgm::dataplane::GroupJoins;
using pgm::dataplane::SourceGroup;

const Nla kAny = *Nla::parse("239.1.1.1");
const Nla kSsm = *Nla::parse("232.1.1.1");
const Nla kS1 = *Nla::parse("10.0.0.1");
const Nla kS2 = *Nla::parse("10.0.0.2");

// "a.b.c.d" of /proc/net/igmp's hex address (the __be32 printed as a host-order number).
std::string from_proc_hex(const std::string& hex) {
    const auto v = static_cast<std::uint32_t>(std::stoul(hex, nullptr, 16));
    const auto* b = reinterpret_cast<const unsigned char*>(&v);
    return std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
           std::to_string(b[3]);
}
// "a.b.c.d" of /proc/net/mcfilter's "0x..." address (printed after ntohl()).
std::string from_mcfilter_hex(const std::string& hex) {
    return Nla::ipv4(static_cast<std::uint32_t>(std::stoul(hex, nullptr, 16))).to_string();
}

// (group, source) of the source filters on `dev` (/proc/net/mcfilter).
std::set<std::pair<std::string, std::string>> source_filters(const std::string& dev) {
    std::set<std::pair<std::string, std::string>> out;
    std::ifstream in("/proc/net/mcfilter");
    std::string line;
    std::getline(in, line);  // heading
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string idx, name, group, source;
        if (f >> idx >> name >> group >> source && name == dev)
            out.emplace(from_mcfilter_hex(group), from_mcfilter_hex(source));
    }
    return out;
}

// The groups joined on `dev` (/proc/net/igmp: a device line, then its groups indented).
std::set<std::string> groups_on(const std::string& dev) {
    std::set<std::string> out;
    std::ifstream in("/proc/net/igmp");
    std::string line;
    bool ours = false;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        if (line[0] != '\t' && line[0] != ' ') {
            std::istringstream f(line);
            std::string idx, name;
            f >> idx >> name;
            ours = name == dev;
            continue;
        }
        std::istringstream f(line);
        std::string group;
        if (ours && f >> group && group.size() == 8) out.insert(from_proc_hex(group));
    }
    return out;
}

class GroupJoinsOnALink : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (geteuid() != 0) {
            error_ = "needs root: a private network namespace and a veth pair";
            return;
        }
        if (unshare(CLONE_NEWNET) != 0) {
            error_ = "unshare(CLONE_NEWNET) failed";
            return;
        }
        if (std::system("ip link add gja type veth peer name gjb >/dev/null 2>&1") != 0 ||
            std::system("ip link set gja up && ip link set gjb up") != 0 ||
            std::system("ip addr add 10.78.0.1/24 dev gja") != 0) {
            error_ = "could not build the veth pair (ip)";
        }
    }
    void SetUp() override {
        if (!error_.empty()) GTEST_SKIP() << error_;
        ifindex_ = if_nametoindex("gja");
        ASSERT_NE(ifindex_, 0u);
    }
    static inline std::string error_;
    IfIndex ifindex_ = 0;
};

TEST_F(GroupJoinsOnALink, SourceSpecificJoinsAreTheKernelsSourceFilters) {
    GroupJoins joins;
    EXPECT_TRUE(joins.set(ifindex_, {kAny}, {{kS1, kSsm}, {kS2, kSsm}}).empty());
    EXPECT_EQ(groups_on("gja").count("232.1.1.1"), 1u);
    EXPECT_EQ(groups_on("gja").count("239.1.1.1"), 1u);
    EXPECT_EQ(source_filters("gja"), (std::set<std::pair<std::string, std::string>>{
                                         {"232.1.1.1", "10.0.0.1"}, {"232.1.1.1", "10.0.0.2"}}));
    EXPECT_EQ(joins.joined(ifindex_), std::vector<Nla>{kAny});
    EXPECT_EQ(joins.joined_sources(ifindex_), (std::vector<SourceGroup>{{kS1, kSsm}, {kS2, kSsm}}));

    // One source left.
    EXPECT_TRUE(joins.set(ifindex_, {kAny}, {{kS2, kSsm}}).empty());
    EXPECT_EQ(source_filters("gja"),
              (std::set<std::pair<std::string, std::string>>{{"232.1.1.1", "10.0.0.2"}}));

    // The group also listed any-source: joined for every source, no filter left.
    EXPECT_TRUE(joins.set(ifindex_, {kAny, kSsm}, {{kS2, kSsm}}).empty());
    EXPECT_TRUE(source_filters("gja").empty());
    EXPECT_EQ(groups_on("gja").count("232.1.1.1"), 1u);
    EXPECT_TRUE(joins.joined_sources(ifindex_).empty());

    // And back to source-specific.
    EXPECT_TRUE(joins.set(ifindex_, {}, {{kS1, kSsm}}).empty());
    EXPECT_EQ(source_filters("gja"),
              (std::set<std::pair<std::string, std::string>>{{"232.1.1.1", "10.0.0.1"}}));
    EXPECT_EQ(groups_on("gja").count("239.1.1.1"), 0u);

    EXPECT_TRUE(joins.set(ifindex_, {}, {}).empty());
    EXPECT_TRUE(source_filters("gja").empty());
    EXPECT_EQ(groups_on("gja").count("232.1.1.1"), 0u);
}

// set() runs at every membership change: a join that failed is not tried again while the
// lists stay the same, only when they change or after retry_failed() (the daemon calls it
// when links, addresses or routes change). The failure: net.ipv4.igmp_max_msf (per network
// namespace) at 1 refuses a socket's second source of a group.
TEST_F(GroupJoinsOnALink, AFailedJoinIsTriedAgainOnlyAfterRetryFailed) {
    const std::string msf = "/proc/sys/net/ipv4/igmp_max_msf";
    std::string before;
    std::ifstream(msf) >> before;
    auto set_msf = [&](const std::string& v) { return static_cast<bool>(std::ofstream(msf) << v); };
    ASSERT_TRUE(set_msf("1"));
    GroupJoins joins;
    const std::vector<SourceGroup> two{{kS1, kSsm}, {kS2, kSsm}};
    EXPECT_EQ(joins.set(ifindex_, {}, two).size(), 1u);
    EXPECT_EQ(source_filters("gja").size(), 1u);
    ASSERT_TRUE(set_msf(before));
    const auto again = joins.set(ifindex_, {}, two);  // the same lists: the same failure
    EXPECT_EQ(again.size(), 1u);
    EXPECT_EQ(source_filters("gja").size(), 1u);
    joins.retry_failed();
    EXPECT_TRUE(joins.set(ifindex_, {}, two).empty());
    EXPECT_EQ(source_filters("gja").size(), 2u);
    EXPECT_TRUE(joins.set(ifindex_, {}, {}).empty());
    EXPECT_TRUE(source_filters("gja").empty());
}

}  // namespace
