// DOC: Transmitter (dataplane/sockets.h) on a real raw socket in a private network
// namespace: a batch of packets goes out in one sendmmsg(), and a packet the kernel refuses
// in the middle of a batch (here an nftables rule in the output hook, as a host firewall
// would) is counted as an error and not sent a second time. Needs root (CI runs as root);
// skipped, and reported as skipped, otherwise.
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/sockets.h"
#include "protocol/io.h"
#include "protocol/nla.h"

namespace {

using pgm::Nla;
using pgm::Output;
using pgm::Transmit;
using pgm::dataplane::Transmitter;

bool run(const std::string& command) {
    return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

std::string output_of(const std::string& command) {
    std::string text;
    if (FILE* p = popen(command.c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = fread(buf, 1, sizeof buf, p)) > 0)
            text.append(buf, n);
        pclose(p);
    }
    return text;
}

// The packet counters of table ip txtest's rules, in rule order.
std::vector<std::uint64_t> rule_counters() {
    std::vector<std::uint64_t> counts;
    const std::string text = output_of("nft list table ip txtest");
    const std::regex counter("counter packets ([0-9]+)");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), counter);
         it != std::sregex_iterator(); ++it)
        counts.push_back(std::stoull((*it)[1].str()));
    return counts;
}

class TransmitterOnALink : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        if (geteuid() != 0) {
            error_ = "needs root: a private network namespace, a veth pair and nftables";
            return;
        }
        if (unshare(CLONE_NEWNET) != 0) {
            error_ = "unshare(CLONE_NEWNET) failed";
            return;
        }
        // Output hook: PGM with sequence 2 at the ODATA sequence offset dropped, all PGM
        // counted.
        if (!run("ip link add txa type veth peer name txb") || !run("ip link set txa up") ||
            !run("ip link set txb up") || !run("ip addr add 10.77.0.1/24 dev txa") ||
            !run("nft add table ip txtest") ||
            !run("nft 'add chain ip txtest out { type filter hook output priority 0; }'") ||
            !run("nft add rule ip txtest out ip protocol 113 @th,128,32 2 counter drop") ||
            !run("nft add rule ip txtest out ip protocol 113 counter")) {
            error_ = "could not build the link and the nftables rules (ip, nft)";
        }
    }
    void SetUp() override {
        if (!error_.empty()) GTEST_SKIP() << error_;
    }

    // An ODATA-shaped PGM packet (type 0x04, sequence at byte 16) to the group out of txa.
    static void add(Output& out, std::uint32_t sqn) {
        std::vector<std::uint8_t> pgm(24, 0);
        pgm[4] = 0x04;
        pgm[16] = static_cast<std::uint8_t>(sqn >> 24);
        pgm[17] = static_cast<std::uint8_t>(sqn >> 16);
        pgm[18] = static_cast<std::uint8_t>(sqn >> 8);
        pgm[19] = static_cast<std::uint8_t>(sqn);
        Transmit t;
        t.ifindex = if_nametoindex("txa");
        t.ip_source = Nla::ipv4(0x0a4d0001);       // 10.77.0.1
        t.ip_destination = Nla::ipv4(0xefc00001);  // 239.192.0.1
        t.ttl = 8;
        out.add(t, pgm);
    }

    static inline std::string error_;
};

TEST_F(TransmitterOnALink, APacketRefusedInTheMiddleOfABatchIsCountedNotSentAgain) {
    Transmitter tx;
    tx.add_interface(if_nametoindex("txa"), "txa");
    const std::vector<std::uint64_t> before = rule_counters();
    ASSERT_EQ(before.size(), 2u);
    for (const std::vector<std::uint32_t>& batch :
         {std::vector<std::uint32_t>{1, 2, 3}, std::vector<std::uint32_t>{2, 4}}) {
        Output out;
        for (std::uint32_t sqn : batch)
            add(out, sqn);
        tx.queue(out);
        tx.flush();
    }
    const std::vector<std::uint64_t> after = rule_counters();
    ASSERT_EQ(after.size(), 2u);
    EXPECT_EQ(after[0] - before[0], 2u);  // each refused packet met the firewall once
    EXPECT_EQ(after[1] - before[1], 3u);  // 1, 3 and 4 went through
    EXPECT_EQ(tx.stats().sent, 3u);
    EXPECT_EQ(tx.stats().errors, 2u);
}

}  // namespace
