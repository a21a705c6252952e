// DOC: The network-element conformance lines no other test pinned (issue 17, item 1; the
// catalogue, docs/rfc3208-rules.md, lists every line with its test):
//   * RDATA cancels a pending NAK, ODATA does not (C17, N-NAK-15, N-RD-5; RFC 3208 §7.3):
//     scenario style in the virtual network, with exact counts of the NAK repeats;
//   * Router Alert on the forwarded SPMs and RDATA, none on forwarded ODATA, which leaves
//     byte for byte as it came and is switched without its checksum being looked at (C2, S10;
//     §2.3, §4, §8): on the router core directly, because the scenario fixture rightly
//     refuses any router packet with a bad checksum.
#include <gtest/gtest.h>

#include <vector>

#include "protocol/spec.h"
#include "router/environment.h"
#include "router/router.h"
#include "sim/network.h"
#include "sim/router_node.h"
#include "sim/scripted_host.h"
#include "tests/unit/router_scenario_fixture.h"

// --- RDATA and ODATA against a pending NAK (§7.3) --------------------------------------------

namespace pgm::sim::simtest {
namespace {

using router::Counter;

// S -link- NE1 -link- NE2 -LAN- R. Every NCF NE1 sends towards NE2 is lost and the source
// answers no NAK, so both routers hold the NAK for sequence 3 PENDING and repeat it every
// NAK_RPT_RTE (100 ms) until NAK_RPT_IVL (1 s) ends. What arrives meanwhile decides.
class PendingNak : public RouterScenario {
  protected:
    Chain start() {
        Chain c = chain();
        start_session(c.source, session, Sqn(1), 5);
        net.add_drop_rule(
            DropRule::on(c.link_12).sent_by(c.ne1_down.attachment).of_type(PacketType::Ncf));
        nak(c.receiver, at(100ms), session.nak(Sqn(3)));  // NE2 forwards it at 101 ms
        return c;
    }
};

// RDATA for the sequence at 250 ms, between the first repeat (201 ms) and the second: each
// router forwards it where the NAK came from and stops repeating at once (§7.3: RDATA
// ends NAK forwarding). Without the cancellation NE2 would send 10 NAKs, as in
// Scenario05_GivesUpAfterNakRptIvl.
TEST_F(PendingNak, RdataCancelsThePendingNak) {
    Chain c = start();
    net.run_until(at(240ms));
    ASSERT_EQ(phase(*c.ne2, session.tsi(), Sqn(3)), RepairPhase::Pending);
    ASSERT_EQ(phase(*c.ne1, session.tsi(), Sqn(3)), RepairPhase::Pending);
    ASSERT_EQ(sent_on(c.ne2_up, PacketType::Nak), 2u);  // 101 ms and the repeat at 201 ms
    rdata(c.source, session, at(250ms), Sqn(3));
    net.run_until(at(1500ms));

    EXPECT_EQ(sent_on(c.ne2_up, PacketType::Nak), 2u);
    EXPECT_EQ(c.source.count(PacketType::Nak), 2u);  // NE1's NAK and its one repeat
    for (const RouterNode* ne : {c.ne1, c.ne2}) {
        const router::CounterSet n = ne->router().totals();
        EXPECT_EQ(n[Counter::NakRetransmitted], 1u);
        EXPECT_EQ(n[Counter::NakRetryExpired], 0u);
        EXPECT_EQ(n[Counter::NcfReceived], 0u);
        EXPECT_EQ(n[Counter::OutRdata], 1u);
        // The state is gone with the RDATA (the fixture holds none, D27).
        EXPECT_FALSE(phase(*ne, session.tsi(), Sqn(3)).has_value());
    }
    EXPECT_EQ(c.receiver.count(PacketType::Rdata), 1u);
}

// The same, but the source sends ODATA with the NAKed sequence again at 250 ms (a late or
// duplicated original). ODATA is switched without transport processing (§2.3) and does not
// cancel NAK forwarding (§7.3): it reaches the receiver, and both routers keep repeating
// until NAK_RPT_IVL ends.
TEST_F(PendingNak, OdataLeavesThePendingNakAlone) {
    Chain c = start();
    std::vector<std::uint8_t> payload(32, 3);
    c.source.host->send_at(at(250ms), c.source.port.ifindex, IpParams::to(session.group),
                           session.odata(Sqn(3), Sqn(1), payload));
    net.run_until(at(1090ms));
    EXPECT_EQ(phase(*c.ne2, session.tsi(), Sqn(3)), RepairPhase::Pending);
    EXPECT_EQ(phase(*c.ne1, session.tsi(), Sqn(3)), RepairPhase::Pending);
    net.run_until(at(1500ms));

    EXPECT_EQ(c.receiver.count(PacketType::Odata), 6u);  // 1-5 and the second 3
    EXPECT_EQ(sent_on(c.ne2_up, PacketType::Nak), 10u);  // at 101, 201, ..., 1001 ms
    for (const RouterNode* ne : {c.ne1, c.ne2}) {
        const router::CounterSet n = ne->router().totals();
        EXPECT_EQ(n[Counter::NakRetransmitted], 9u);
        EXPECT_EQ(n[Counter::NakRetryExpired], 1u);
        EXPECT_EQ(n[Counter::OutRdata], 0u);
        EXPECT_EQ(n[Counter::OutOdata], 6u);
        EXPECT_FALSE(phase(*ne, session.tsi(), Sqn(3)).has_value());
    }
    EXPECT_EQ(c.source.count(PacketType::Nak), 10u);
}

}  // namespace
}  // namespace pgm::sim::simtest

// --- What the forwarded copies carry (§2.3, §4, §8) --------------------------------------------

namespace pgm::router {
namespace {

using namespace std::chrono_literals;

const Nla kSource = *Nla::parse("10.0.0.1");
const Nla kGroup = *Nla::parse("239.1.2.3");
const Nla kReceiver = *Nla::parse("10.1.0.5");
const Tsi kTsi{Gsi{{1, 2, 3, 4, 5, 6}}, 1000};
constexpr std::uint16_t kDataPort = 7500;

// up (1) towards the source; members of the group on 2 and 3.
class TwoLans : public Environment {
  public:
    std::optional<Nla> interface_address(IfIndex ifindex, Nla::Family) const override {
        static const Nla kAddresses[] = {*Nla::parse("10.0.0.2"), *Nla::parse("10.1.0.1"),
                                         *Nla::parse("10.2.0.1")};
        if (ifindex < 1 || ifindex > 3) return std::nullopt;
        return kAddresses[ifindex - 1];
    }
    std::optional<IfIndex> route_interface(const Nla& address) const override {
        return static_cast<IfIndex>(((address.ipv4_host_order() >> 8) & 0xff) + 1);
    }
    void group_members(const Nla&, const Nla&, std::vector<IfIndex>& out) const override {
        out = {2, 3};
    }
};

class ForwardedCopies : public ::testing::Test {
  protected:
    PacketSpec downstream(PacketType type, Fields fields) const {
        PacketSpec s;
        s.type = type;
        s.source_port = kTsi.source_port;
        s.destination_port = kDataPort;
        s.gsi = kTsi.gsi;
        s.fields = fields;
        return s;
    }
    PacketSpec data(PacketType type, std::uint32_t sqn) const {
        PacketSpec s = downstream(type, DataFields{Sqn(sqn), Sqn(1)});
        s.payload.assign(100, static_cast<std::uint8_t>(sqn));
        return s;
    }
    static std::vector<std::uint8_t> bytes(const PacketSpec& s) { return *build(s); }
    // Feeds `pgm` as arriving on `ifindex`, multicast from the source unless said otherwise.
    void feed(IfIndex ifindex, const std::vector<std::uint8_t>& pgm, bool router_alert,
              const Nla& from = kSource, const Nla& to = kGroup) {
        out.clear();
        Arrival a;
        a.ifindex = ifindex;
        a.ip.source = from;
        a.ip.destination = to;
        a.ip.ttl = 16;
        a.ip.router_alert = router_alert;
        core.on_packet(a, Bytes(pgm.data(), pgm.size()), now, out);
        now += 1ms;
    }
    std::vector<std::uint8_t> sent(std::size_t i) const {
        const Bytes b = out.bytes(out.transmits().at(i));
        return {b.begin(), b.end()};
    }
    std::uint64_t total(Counter c) const { return core.totals()[c]; }
    void start_session() {
        feed(1, bytes(downstream(PacketType::Spm, SpmFields{Sqn(1), Sqn(1), Sqn(0), kSource, 0})),
             true);
        ASSERT_EQ(core.sessions().count(kTsi), 1u);
    }

    TwoLans env;
    Router core{RouterConfig{}, env};
    Output out;
    Time now = Time{} + 100s;
};

// SPMs go on with Router Alert (§4: SPM, NCF and RDATA carry it), each copy with the SPM_PATH
// of its interface; ODATA goes on without it and byte for byte as it came.
TEST_F(ForwardedCopies, RouterAlertOnSpmAndRdataNoneOnOdataWhichIsByteIdentical) {
    start_session();
    ASSERT_EQ(out.transmits().size(), 2u);
    for (std::size_t i = 0; i < 2; ++i) {
        const Transmit& t = out.transmits()[i];
        EXPECT_TRUE(t.router_alert) << "SPM copy " << i;
        EXPECT_EQ(t.ip_source, kSource);
        EXPECT_EQ(t.ip_destination, kGroup);
        EXPECT_EQ(t.ttl, 15);
        const std::vector<std::uint8_t> copy = sent(i);
        ParseResult r = parse(Bytes(copy.data(), copy.size()));
        ASSERT_TRUE(r) << "SPM copy " << i;
        EXPECT_EQ(r.view.get<SpmFields>()->path, *env.interface_address(t.ifindex, {}));
    }

    for (const bool with_options : {false, true}) {
        PacketSpec odata = data(PacketType::Odata, with_options ? 2 : 1);
        if (with_options) odata.options = {OptSyn{}};  // takes the core's full parsing path
        const std::vector<std::uint8_t> in = bytes(odata);
        feed(1, in, false);
        ASSERT_EQ(out.transmits().size(), 2u) << with_options;
        for (std::size_t i = 0; i < 2; ++i) {
            const Transmit& t = out.transmits()[i];
            EXPECT_FALSE(t.router_alert) << with_options;
            EXPECT_EQ(t.ip_source, kSource);
            EXPECT_EQ(t.ip_destination, kGroup);
            EXPECT_EQ(t.ttl, 15);
            EXPECT_EQ(sent(i), in) << with_options;
        }
    }

    // A NAK on interface 2 makes repair state there; the RDATA goes there only, with Router
    // Alert, and unchanged.
    PacketSpec nak;
    nak.type = PacketType::Nak;
    nak.source_port = kDataPort;
    nak.destination_port = kTsi.source_port;
    nak.gsi = kTsi.gsi;
    nak.fields = NakFields{Sqn(2), kSource, kGroup};
    feed(2, bytes(nak), false, kReceiver, *env.interface_address(2, {}));
    ASSERT_EQ(total(Counter::UniqueNaks), 1u);
    const std::vector<std::uint8_t> rdata = bytes(data(PacketType::Rdata, 2));
    feed(1, rdata, true);
    ASSERT_EQ(out.transmits().size(), 1u);
    EXPECT_EQ(out.transmits()[0].ifindex, 2u);
    EXPECT_TRUE(out.transmits()[0].router_alert);
    EXPECT_EQ(out.transmits()[0].ip_source, kSource);
    EXPECT_EQ(sent(0), rdata);
    EXPECT_EQ(total(Counter::Malformed), 0u);
}

// ODATA whose checksum is wrong is still switched, unchanged: the router does not process
// ODATA at the transport layer (§2.3), so checking its checksum is the receivers' job (they
// drop it, R2). The packets the router intercepts and acts on (SPM, RDATA, NAK) are checked
// and dropped (§8).
TEST_F(ForwardedCopies, OdataWithABadChecksumIsSwitchedUnchangedInterceptedPacketsAreNot) {
    start_session();
    auto corrupt = [](std::vector<std::uint8_t> b) {
        b.back() ^= 0x5a;  // the payload's last byte: the checksum no longer matches
        EXPECT_FALSE(parse(Bytes(b.data(), b.size())));
        return b;
    };
    for (const bool with_options : {false, true}) {
        PacketSpec odata = data(PacketType::Odata, 1);
        if (with_options) odata.options = {OptSyn{}};
        const std::vector<std::uint8_t> bad = corrupt(bytes(odata));
        feed(1, bad, false);
        ASSERT_EQ(out.transmits().size(), 2u) << with_options;
        EXPECT_EQ(sent(0), bad);
        EXPECT_EQ(sent(1), bad);
    }
    EXPECT_EQ(total(Counter::Malformed), 0u);
    EXPECT_EQ(total(Counter::OutOdata), 4u);

    // Repair state for 1, then RDATA for it with a bad checksum: dropped, state kept.
    PacketSpec nak;
    nak.type = PacketType::Nak;
    nak.source_port = kDataPort;
    nak.destination_port = kTsi.source_port;
    nak.gsi = kTsi.gsi;
    nak.fields = NakFields{Sqn(1), kSource, kGroup};
    feed(2, bytes(nak), false, kReceiver, *env.interface_address(2, {}));
    ASSERT_EQ(core.repairs().size(), 1u);
    feed(1, corrupt(bytes(data(PacketType::Rdata, 1))), true);
    EXPECT_TRUE(out.transmits().empty());
    EXPECT_EQ(core.repairs().size(), 1u);
    EXPECT_EQ(total(Counter::OutRdata), 0u);

    PacketSpec spm = downstream(PacketType::Spm, SpmFields{Sqn(2), Sqn(1), Sqn(2), kSource, 0});
    std::vector<std::uint8_t> bad_spm = bytes(spm);
    bad_spm[20] ^= 0x01;  // SPM_TRAIL
    feed(1, bad_spm, true);
    EXPECT_TRUE(out.transmits().empty());
    EXPECT_EQ(total(Counter::OutSpms), 2u);  // the first SPM's two copies only

    nak.fields = NakFields{Sqn(1), kSource, kGroup};
    std::vector<std::uint8_t> bad_nak = bytes(nak);
    bad_nak[19] ^= 0x01;  // NAK_SQN
    feed(2, bad_nak, false, kReceiver, *env.interface_address(2, {}));
    EXPECT_TRUE(out.transmits().empty());
    EXPECT_EQ(total(Counter::UniqueNaks), 1u);
    EXPECT_EQ(total(Counter::Malformed), 3u);
}

}  // namespace
}  // namespace pgm::router
