// DOC: What the daemon reports to the router core about ODATA its kernel fast path forwarded
// (Router::note_kernel_odata, Router::add_interface_counts): the session's lead advances with
// it, so that NAKs for data only the kernel saw are not refused as beyond the lead (D14.4),
// it never moves back, unknown TSIs are ignored, and the counters read as if the core had
// forwarded the ODATA itself.
#include <gtest/gtest.h>

#include "protocol/spec.h"
#include "router/environment.h"
#include "router/router.h"

namespace pgm::router {
namespace {

using namespace std::chrono_literals;

const Nla kSource = *Nla::parse("10.0.0.1");
const Nla kGroup = *Nla::parse("239.1.2.3");
const Nla kReceiver = *Nla::parse("10.1.0.5");
const Nla kDownAddress = *Nla::parse("10.1.0.1");
const Tsi kTsi{Gsi{{1, 2, 3, 4, 5, 6}}, 1000};

// up (1) towards the source, down (2) with a receiver.
class Env : public Environment {
  public:
    std::optional<Nla> interface_address(IfIndex ifindex, Nla::Family) const override {
        return ifindex == 1 ? Nla::parse("10.0.0.2") : kDownAddress;
    }
    std::optional<IfIndex> route_interface(const Nla& address) const override {
        return (address.ipv4_host_order() >> 8) == 0x0a0000 ? 1 : 2;
    }
    void group_members(const Nla&, const Nla&, std::vector<IfIndex>& out) const override {
        out = {2};
    }
};

class KernelOdata : public ::testing::Test {
  protected:
    void feed(IfIndex ifindex, const Nla& source, const Nla& destination, const PacketSpec& spec) {
        const auto bytes = build(spec);
        ASSERT_TRUE(bytes);
        Arrival a;
        a.ifindex = ifindex;
        a.ip.source = source;
        a.ip.destination = destination;
        a.ip.ttl = 16;
        a.ip.router_alert = true;
        core.on_packet(a, Bytes(bytes->data(), bytes->size()), now, out);
        out.clear();
    }
    // The session, its SPM advertising the window [1, lead].
    void spm(std::uint32_t lead) {
        PacketSpec s;
        s.type = PacketType::Spm;
        s.source_port = kTsi.source_port;
        s.destination_port = 7500;
        s.gsi = kTsi.gsi;
        s.fields = SpmFields{Sqn(++spm_sqn), Sqn(1), Sqn(lead), kSource, 0};
        feed(1, kSource, kGroup, s);
    }
    // A receiver's NAK for `sqn`, unicast to us on the downstream interface.
    void nak(std::uint32_t sqn) {
        PacketSpec s;
        s.type = PacketType::Nak;
        s.source_port = 7500;
        s.destination_port = kTsi.source_port;  // upstream: DPORT is the data-source port
        s.gsi = kTsi.gsi;
        s.fields = NakFields{Sqn(sqn), kSource, kGroup};
        feed(2, kReceiver, kDownAddress, s);
        now += 10ms;
    }
    const Session& session() const { return core.sessions().at(kTsi); }
    std::uint64_t if_counter(IfIndex ifindex, Counter c) const {
        for (const InterfaceState& i : core.interfaces())
            if (i.ifindex == ifindex) return i.counters[c];
        return 0;
    }

    Env env;
    Router core{RouterConfig{}, env};
    Output out;
    Time now = Time{} + 1000s;
    std::uint32_t spm_sqn = 0;
};

TEST_F(KernelOdata, LeadAdvancesSoANakBeyondTheOldLeadIsAccepted) {
    spm(100);
    ASSERT_EQ(session().lead_seen, Sqn(100));
    nak(150);  // beyond anything the core knows of
    EXPECT_EQ(core.totals()[Counter::InNakSeqErrors], 1u);
    EXPECT_EQ(core.repairs().size(), 0u);

    core.note_kernel_odata(kTsi, Sqn(200), 100, 100);
    EXPECT_EQ(session().lead_seen, Sqn(200));
    nak(150);
    EXPECT_EQ(core.totals()[Counter::InNakSeqErrors], 1u);  // not refused this time
    EXPECT_EQ(core.repairs().size(), 1u);
    nak(201);  // still beyond the new lead
    EXPECT_EQ(core.totals()[Counter::InNakSeqErrors], 2u);
}

TEST_F(KernelOdata, LeadNeverMovesBackwards) {
    spm(100);
    core.note_kernel_odata(kTsi, Sqn(300), 1, 1);
    core.note_kernel_odata(kTsi, Sqn(250), 1, 1);  // an older report, another CPU's
    EXPECT_EQ(session().lead_seen, Sqn(300));
    spm(120);  // an SPM lagging behind the data
    EXPECT_EQ(session().lead_seen, Sqn(300));
    // Serial arithmetic (RFC 1982): 2^32 - 16 is 316 behind 300, not far ahead of it.
    core.note_kernel_odata(kTsi, Sqn(0xFFFFFFF0u), 1, 1);
    EXPECT_EQ(session().lead_seen, Sqn(300));
}

TEST_F(KernelOdata, LeadFollowsSerialArithmeticAcrossTheWrap) {
    spm(0xFFFFFF00u);
    core.note_kernel_odata(kTsi, Sqn(5), 1, 1);
    EXPECT_EQ(session().lead_seen, Sqn(5));
}

TEST_F(KernelOdata, UnknownTsiIsIgnored) {
    spm(100);
    const CounterSet before = session().counters;
    const Tsi other{Gsi{{9, 9, 9, 9, 9, 9}}, 1};
    core.note_kernel_odata(other, Sqn(500), 10, 20);
    EXPECT_EQ(core.sessions().size(), 1u);
    EXPECT_EQ(session().lead_seen, Sqn(100));
    EXPECT_EQ(session().counters.values, before.values);
    EXPECT_EQ(core.totals()[Counter::InOdata], 0u);
}

// ODATA of a session the kernel holds with no member interface: dropped there, counted as
// the core counts its own (InOdata = OutOdata + OdataNoMembers + OdataRpfErrors).
TEST_F(KernelOdata, NoMemberDropsCountOnTheSessionAndItsUpstreamInterface) {
    spm(100);
    core.note_kernel_odata(kTsi, Sqn(110), 10, 0);
    core.add_session_counts(kTsi, Counter::OdataNoMembers, 10);
    core.add_interface_counts(1, Counter::InOdata, 10);
    core.add_interface_counts(1, Counter::OdataNoMembers, 10);
    EXPECT_EQ(session().counters[Counter::InOdata], 10u);
    EXPECT_EQ(session().counters[Counter::OutOdata], 0u);
    EXPECT_EQ(session().counters[Counter::OdataNoMembers], 10u);
    EXPECT_EQ(if_counter(1, Counter::OdataNoMembers), 10u);
    const CounterSet before = session().counters;
    core.add_session_counts(Tsi{Gsi{{9, 9, 9, 9, 9, 9}}, 1}, Counter::OdataNoMembers, 5);
    EXPECT_EQ(session().counters.values, before.values);  // an unknown TSI: nothing
    EXPECT_EQ(core.totals()[Counter::OdataNoMembers], 10u);
}

TEST_F(KernelOdata, CountersReadAsIfTheCoreHadForwarded) {
    spm(100);
    // One ODATA through the core: InOdata on up, OutOdata on down, both on the session.
    PacketSpec odata;
    odata.type = PacketType::Odata;
    odata.source_port = kTsi.source_port;
    odata.destination_port = 7500;
    odata.gsi = kTsi.gsi;
    odata.fields = DataFields{Sqn(101), Sqn(1)};
    odata.payload = {1, 2, 3};
    feed(1, kSource, kGroup, odata);

    // The kernel forwarded 10 more, 10 copies, and dropped 2 with TTL 1.
    core.note_kernel_odata(kTsi, Sqn(111), 10, 10);
    core.add_interface_counts(1, Counter::InOdata, 12);
    core.add_interface_counts(2, Counter::OutOdata, 10);
    core.add_interface_counts(1, Counter::TtlExpired, 2);
    core.add_interface_counts(3, Counter::OutOdata, 0);  // nothing: no interface made for it

    EXPECT_EQ(session().counters[Counter::InOdata], 11u);
    EXPECT_EQ(session().counters[Counter::OutOdata], 11u);
    EXPECT_EQ(if_counter(1, Counter::InOdata), 13u);
    EXPECT_EQ(if_counter(2, Counter::OutOdata), 11u);
    EXPECT_EQ(if_counter(1, Counter::TtlExpired), 2u);
    EXPECT_EQ(core.totals()[Counter::InOdata], 13u);
    for (const InterfaceState& i : core.interfaces())
        EXPECT_NE(i.ifindex, 3u);
    // Cleared like the rest.
    core.clear_counters();
    EXPECT_EQ(core.totals()[Counter::InOdata], 0u);
    EXPECT_EQ(session().counters[Counter::OutOdata], 0u);
}

}  // namespace
}  // namespace pgm::router
