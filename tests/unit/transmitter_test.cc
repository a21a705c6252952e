// DOC: Transmitter (dataplane/sockets.h) on a real raw socket in a private network
// namespace: a batch of packets goes out in one sendmmsg(), and a packet the kernel refuses
// in the middle of a batch (here an nftables rule in the output hook, as a host firewall
// would) is counted as an error and not sent a second time; an interface with Router Alert
// turned off ([interface] router-alert = no) sends what asks for it without. Needs root (CI runs as
// root); skipped, and reported as skipped, otherwise.
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

// The packet counters of a table's rules (ip txtest, ip ratest), in rule order.
std::vector<std::uint64_t> rule_counters(const std::string& table = "txtest") {
    std::vector<std::uint64_t> counts;
    const std::string text = output_of("nft list table ip " + table);
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
            !run("nft add rule ip txtest out ip protocol 113 counter") ||
            !run("nft add table ip ratest") ||
            !run("nft 'add chain ip ratest out { type filter hook output priority 0; }'") ||
            !run("nft add rule ip ratest out ip protocol 113 ip hdrlength 6 counter") ||
            !run("nft add rule ip ratest out ip protocol 113 ip hdrlength 5 counter")) {
            error_ = "could not build the link and the nftables rules (ip, nft)";
        }
    }
    void SetUp() override {
        if (!error_.empty()) GTEST_SKIP() << error_;
    }

    // An ODATA-shaped PGM packet (type 0x04, sequence at byte 16) to the group out of txa.
    static void add(Output& out, std::uint32_t sqn, bool router_alert = false) {
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
        t.router_alert = router_alert;
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

// [interface] router-alert = no: packets that ask for Router Alert (SPM, NCF, RDATA) go out
// of that interface without it (IHL 5, not 6), both ways of sending; yes again restores it.
TEST_F(TransmitterOnALink, RouterAlertCanBeTurnedOffPerInterface) {
    Transmitter tx;
    const unsigned txa = if_nametoindex("txa");
    tx.add_interface(txa, "txa");
    auto sent = [&](bool allowed) {  // {with Router Alert, without} for one queued, one direct
        tx.set_router_alert(txa, allowed);
        const std::vector<std::uint64_t> before = rule_counters("ratest");
        Output out;
        add(out, 11, true);
        tx.queue(out);
        tx.flush();
        Output direct;
        add(direct, 12, true);
        EXPECT_TRUE(tx.send(direct.transmits().front(), direct.bytes(direct.transmits().front())));
        const std::vector<std::uint64_t> after = rule_counters("ratest");
        EXPECT_EQ(after.size(), 2u);
        return std::vector<std::uint64_t>{after.at(0) - before.at(0), after.at(1) - before.at(1)};
    };
    EXPECT_EQ(sent(true), (std::vector<std::uint64_t>{2, 0}));
    EXPECT_EQ(sent(false), (std::vector<std::uint64_t>{0, 2}));
    EXPECT_EQ(sent(true), (std::vector<std::uint64_t>{2, 0}));
}

}  // namespace
