// DOC: Congestion reports at the network element (RFC 3208 Appendix B §12.6; N-NAK-18, C31;
// decisions.md D37; issue 17, item 2):
//   * CongestionReports (router/congestion.h) on its own: the merge of the three reports,
//     aging, a receiver's own newer report, the 5 % override boundary, the NLA family rule;
//   * scenarios in the virtual network, with exact values on the wire: the worst receiver's
//     report rewritten into every NAK NE1 forwards, a duplicate NAK let through when the
//     aggregate moved by more than 5 % and eliminated when not, aging, parity NAKs, and two
//     network elements in a chain. The fixture checks every router packet's checksum, so
//     the in-place rewrites are checked too.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "protocol/spec.h"
#include "router/congestion.h"
#include "router/router.h"
#include "sim/network.h"
#include "sim/router_node.h"
#include "sim/scripted_host.h"
#include "tests/unit/router_scenario_fixture.h"

namespace pgm::sim::simtest {
namespace {

using router::CongestionReports;
using router::Counter;

const Nla kRx1 = Nla::ipv4(0x0A000A01u);  // 10.0.10.1 .. 3: the receivers named in reports
const Nla kRx2 = Nla::ipv4(0x0A000A02u);
const Nla kRx3 = Nla::ipv4(0x0A000A03u);
const Nla kRx6 = Nla::ipv6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});

OptCr rx_report(std::uint32_t lead, std::uint16_t rx_wp, const Nla& receiver) {
    return OptCr{false, false, true, Sqn(lead), 0, 0, rx_wp, receiver};
}

// --- CongestionReports alone -----------------------------------------------------------------

TEST(CongestionReports, EachReportKeepsItsWorstAndAges) {
    CongestionReports c;
    const Time t0 = kStart;
    c.merge(OptCr{true, true, true, Sqn(10), 100, 200, 300, kRx1}, t0, 2s);
    c.merge(OptCr{true, false, true, Sqn(11), 50, 9999, 700, kRx2}, t0 + 100ms, 2s);
    c.merge(OptCr{false, true, false, Sqn(12), 9999, 150, 9999, kRx3}, t0 + 200ms, 2s);
    // NE_WL stays 100 (50 is better), NE_WP 200 (150 better; P of kRx2's was not set),
    // RX_WP 700 from kRx2 (R of kRx3's was not set).
    EXPECT_EQ(c.worst(CongestionReports::NeWl).value, 100);
    EXPECT_EQ(c.worst(CongestionReports::NeWp).value, 200);
    EXPECT_EQ(c.worst(CongestionReports::RxWp).value, 700);
    EXPECT_EQ(c.worst(CongestionReports::RxWp).receiver, kRx2);
    EXPECT_EQ(c.worst(CongestionReports::RxWp).lead, Sqn(11));
    // The fields the NAK carries, each the worst; RCVR and LEAD of the worst RX_WP.
    EXPECT_EQ(c.outgoing(OptCr{true, false, true, Sqn(12), 0, 0, 5, kRx3}),
              (OptCr{true, false, true, Sqn(11), 100, 0, 700, kRx2}));

    // Better reports do not move a fresh worst ...
    c.merge(rx_report(13, 10, kRx1), t0 + 2099ms, 2s);
    EXPECT_EQ(c.worst(CongestionReports::RxWp).value, 700);
    // ... but once it is `age` old, the next report replaces it.
    c.merge(rx_report(14, 20, kRx1), t0 + 2100ms, 2s);
    EXPECT_EQ(c.worst(CongestionReports::RxWp).value, 20);
    EXPECT_EQ(c.worst(CongestionReports::RxWp).receiver, kRx1);
    // The worst receiver's own newer report replaces its older one at once; an older one
    // (reordered, lead behind) does not.
    c.merge(rx_report(15, 5000, kRx2), t0 + 2200ms, 2s);
    c.merge(rx_report(16, 4000, kRx2), t0 + 2300ms, 2s);
    EXPECT_EQ(c.worst(CongestionReports::RxWp).value, 4000);
    c.merge(rx_report(15, 3000, kRx2), t0 + 2400ms, 2s);
    EXPECT_EQ(c.worst(CongestionReports::RxWp).value, 4000);
}

TEST(CongestionReports, OverrideAboveFivePercentOfFullScale) {
    CongestionReports c;
    const OptCr first = rx_report(1, 10000, kRx1);
    EXPECT_TRUE(c.changed(first)) << "nothing sent yet";
    c.note_sent(first);
    EXPECT_EQ(c.sent(CongestionReports::RxWp), 10000);
    // 5 % of 0xFFFF is 3276.75: 3276 either way is no change, 3277 is.
    EXPECT_FALSE(c.changed(rx_report(1, 13276, kRx1)));
    EXPECT_FALSE(c.changed(rx_report(1, 6724, kRx1)));
    EXPECT_TRUE(c.changed(rx_report(1, 13277, kRx1)));
    EXPECT_TRUE(c.changed(rx_report(1, 6723, kRx1)));
    // A field never sent counts as changed; fields not carried do not count.
    EXPECT_TRUE(c.changed(OptCr{true, false, true, Sqn(1), 0, 0, 10000, kRx1}));
    EXPECT_FALSE(c.changed(OptCr{false, false, true, Sqn(1), 0xFFFF, 0xFFFF, 10000, kRx1}));
}

TEST(CongestionReports, ReceiverOfAnotherFamilyIsNotPutInPlace) {
    CongestionReports c;
    c.merge(rx_report(7, 9000, kRx6), kStart, 2s);
    // An IPv4 NAK cannot carry the IPv6 receiver in place: its own RX_WP, RCVR, LEAD stay.
    EXPECT_EQ(c.outgoing(rx_report(8, 100, kRx1)), rx_report(8, 100, kRx1));
}

// --- Scenarios -----------------------------------------------------------------------------

class CongestionScenario : public RouterScenario {
  protected:
    PacketSpec nak_with(Sqn sqn, const OptCr& report, std::vector<Sqn> list = {}) {
        PacketSpec p = session.nak(sqn, list);
        p.options.push_back(report);
        return p;
    }
    // The OPT_CR of every NAK `ne` sent, in order.
    std::vector<OptCr> forwarded_reports(const RouterNode& ne) const {
        std::vector<OptCr> r;
        for (const Captured* c : captures(ne.id(), PacketType::Nak)) {
            for (const OptionSpec& o : c->spec->options)
                if (auto* cr = std::get_if<OptCr>(&o)) r.push_back(*cr);
        }
        return r;
    }
};

// Three receivers NAK the same loss, the source confirms and sends no RDATA (the state
// stays outstanding). NE1 sends upstream: R1's NAK (first: its report as it came); R2's
// duplicate, because RX_WP rose from 1000 to 9000 (> 5 %), rewritten to nothing but itself
// as the worst; not R3's duplicate (the aggregate is still 9000). A new NAK of R3 for 4
// goes with R2's report in place of its own.
TEST_F(CongestionScenario, WorstReceiverReportedUpstreamAndFivePercentOverride) {
    // Every NAK confirmed, as the last checks expect: with the identical-NCF limit (D33) the
    // second NAK on A, 20 ms after the first, would get none (RouterScenario tests that).
    config.ncf_repeat_interval = 0s;
    Star t = star(2, 1);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, std::nullopt);
    nak(t.on_a[0], at(100ms), nak_with(Sqn(3), rx_report(5, 1000, kRx1)));
    nak(t.on_a[1], at(120ms), nak_with(Sqn(3), rx_report(5, 9000, kRx2)));
    nak(t.on_b[0], at(140ms), nak_with(Sqn(3), rx_report(5, 2000, kRx3)));
    nak(t.on_b[0], at(160ms), nak_with(Sqn(4), rx_report(5, 500, kRx3)));
    net.run_until(at(1s));

    EXPECT_EQ(forwarded_reports(*t.ne1),
              (std::vector<OptCr>{rx_report(5, 1000, kRx1), rx_report(5, 9000, kRx2),
                                  rx_report(5, 9000, kRx2)}));
    EXPECT_EQ(t.source.count(PacketType::Nak), 3u);
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::NakCrOverride], 1u);
    EXPECT_EQ(c[Counter::NakEliminated], 1u);
    EXPECT_EQ(c[Counter::OutNaks], 3u);
    EXPECT_EQ(sent_on(t.a, PacketType::Ncf), 2u);  // every NAK is confirmed all the same
    EXPECT_EQ(sent_on(t.b, PacketType::Ncf), 2u);
    const router::Session& s = t.ne1->router().sessions().at(session.tsi());
    EXPECT_EQ(s.congestion.sent(CongestionReports::RxWp), 9000);
}

// A receiver (or anyone naming it) whose RX_WP flips between extremes: every duplicate would
// move the report by more than 5 %, but at most one goes upstream as an override per
// NAK_ELIM_IVL (1 s here), so the one-NAK-per-sequence bound holds (D37, security.md).
TEST_F(CongestionScenario, OverridesAtMostOncePerElimIvl) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, std::nullopt);
    nak(t.on_a[0], at(100ms), nak_with(Sqn(3), rx_report(5, 1000, kRx1)));
    const std::uint16_t flips[] = {60000, 0, 60000, 0, 60000};
    for (int i = 0; i < 5; ++i)
        nak(t.on_a[0], at(200ms + i * 100ms), nak_with(Sqn(3), rx_report(5, flips[i], kRx1)));
    net.run_until(at(900ms));
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::NakCrOverride], 1u);
    EXPECT_EQ(c[Counter::NakEliminated], 4u);
    EXPECT_EQ(t.source.count(PacketType::Nak), 2u);
}

// Aging (D37, RouterConfig::congestion_report_age): R2's 9000 stands against R1's 1000 for
// 2 s; after that R1's report replaces it. R2's own newer report replaces R2's at once.
TEST_F(CongestionScenario, WorstReportAgesOut) {
    Star t = star(2, 0);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, std::nullopt);
    nak(t.on_a[1], at(100ms), nak_with(Sqn(2), rx_report(5, 9000, kRx2)));
    nak(t.on_a[0], at(1s), nak_with(Sqn(3), rx_report(5, 1000, kRx1)));      // 9000 held
    nak(t.on_a[0], at(2200ms), nak_with(Sqn(4), rx_report(5, 1000, kRx1)));  // 9000 aged
    nak(t.on_a[1], at(2300ms), nak_with(Sqn(5), rx_report(5, 800, kRx2)));   // R1's 1000 held
    nak(t.on_a[0], at(2400ms), nak_with(Sqn(1), rx_report(5, 700, kRx1)));   // R1 itself
    net.run_until(at(3s));

    EXPECT_EQ(forwarded_reports(*t.ne1),
              (std::vector<OptCr>{rx_report(5, 9000, kRx2), rx_report(5, 9000, kRx2),
                                  rx_report(5, 1000, kRx1), rx_report(5, 1000, kRx1),
                                  rx_report(5, 700, kRx1)}));
    EXPECT_EQ(t.ne1->router().totals()[Counter::NakCrOverride], 0u);
}

// NE_WL and NE_WP as a downstream network element reports them pass through as the worst
// of the subtree (pgmd measures neither itself, D37); two NEs in a chain: NE2 rewrites,
// NE1 rewrites again, the source hears the worst of all.
TEST_F(CongestionScenario, ChainOfNetworkElementsReportsTheWorstOfAll) {
    Chain c = chain();
    start_session(c.source, session, Sqn(1), 5);
    serve_naks(c.source, session, std::nullopt);
    const OptCr from_r{true, true, true, Sqn(5), 0, 0, 4000, kRx1};
    nak(c.receiver, at(100ms),
        nak_with(Sqn(2),
                 OptCr{true, true, true, Sqn(5), 7000, 300, 0, kRx2}));  // as a farther NE would
    nak(c.receiver, at(200ms), nak_with(Sqn(3), from_r));
    net.run_until(at(1s));

    const OptCr worst{true, true, true, Sqn(5), 7000, 300, 4000, kRx1};
    EXPECT_EQ(forwarded_reports(*c.ne2),
              (std::vector<OptCr>{OptCr{true, true, true, Sqn(5), 7000, 300, 0, kRx2}, worst}));
    EXPECT_EQ(forwarded_reports(*c.ne1), forwarded_reports(*c.ne2));
}

// A parity NAK's report is merged and rewritten the same way, and a duplicate parity NAK
// whose report moved goes upstream with the largest known count (N-NAK-17).
TEST_F(CongestionScenario, ParityNakReportsToo) {
    Star t = star(2, 0);
    start_session(t.source, session, Sqn(1), 8, 5ms);
    spm(t.source, session, at(80ms), Sqn(2), {OptParityPrm{false, true, 4}}, Sqn(1), Sqn(8));
    auto parity = [](PacketSpec p) {
        p.extra_flags = kOptParity;
        return p;
    };
    nak(t.on_a[0], at(100ms), parity(nak_with(Sqn(4 | 1), rx_report(8, 1000, kRx1))));  // 2
    t.source.host->send_at(at(110ms), t.source.port.ifindex, downstream_ip(session),
                           parity(session.ncf(Sqn(4 | 1))));
    nak(t.on_a[1], at(150ms), parity(nak_with(Sqn(4 | 0), rx_report(8, 20000, kRx2))));  // 1
    net.run_until(at(1s));

    EXPECT_EQ(forwarded_reports(*t.ne1),
              (std::vector<OptCr>{rx_report(8, 1000, kRx1), rx_report(8, 20000, kRx2)}));
    const auto naks = captures(t.ne1->id(), PacketType::Nak);
    ASSERT_EQ(naks.size(), 2u);
    EXPECT_EQ(nak_fields(*naks[1]->spec).sqn, Sqn(4 | 1)) << "the largest known count";
    EXPECT_EQ(t.ne1->router().totals()[Counter::NakCrOverride], 1u);
    EXPECT_EQ(t.ne1->router().totals()[Counter::NakEliminated], 0u);
}

}  // namespace
}  // namespace pgm::sim::simtest
