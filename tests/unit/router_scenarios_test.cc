// DOC: End-to-end scenarios of the network element (checklist §6), each run in the virtual
// network with scripted sources and receivers and asserting exact counts: per-link packet
// counters, captured packets, the router's repair state and its PGM-MIB counters. The
// fixture (router_scenario_fixture.h) adds the invariants every scenario must keep.
#include <gtest/gtest.h>

#include "protocol/checksum.h"
#include "sim/scenario.h"
#include "tests/unit/router_scenario_fixture.h"

namespace pgm::sim::simtest {
namespace {

using router::Counter;
using router::RepairPhase;

std::vector<std::uint8_t> bytes_of(const PacketSpec& s, bool checksum = true) {
    return *build(s, checksum);
}

// 1. Shared loss on one LAN: one NAK upstream, one NCF heard by both, the receiver that
// backed off longer suppresses its NAK, one RDATA repairs both.
TEST_F(RouterScenario, Scenario01_SharedLossOneNakUpstream) {
    Star t = star(2, 0);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 5ms);
    net.add_drop_rule(
        DropRule::on(t.lan_a).sent_by(t.a.attachment).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    suppress_on_ncf(t.on_a[1], nak(t.on_a[1], at(150ms), session.nak(Sqn(3))), Sqn(3));
    net.run_until(at(3s));

    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);
    EXPECT_EQ(nak_fields(*t.source.host->received(PacketType::Nak)[0]->spec).sqn, Sqn(3));
    for (const Endpoint& r : t.on_a) {
        EXPECT_EQ(r.count(PacketType::Ncf), 1u);
        EXPECT_EQ(r.count(PacketType::Odata), 4u);
        EXPECT_EQ(r.count(PacketType::Rdata), 1u);
    }
    EXPECT_EQ(net.counters(t.on_a[0].port.attachment).sent.count(PacketType::Nak), 1u);
    EXPECT_EQ(net.counters(t.on_a[1].port.attachment).sent.count(PacketType::Nak), 0u);
    EXPECT_EQ(sent_on(t.a, PacketType::Ncf), 1u);
    EXPECT_EQ(sent_on(t.a, PacketType::Rdata), 1u);
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::InNaks], 1u);
    EXPECT_EQ(c[Counter::UniqueNaks], 1u);
    EXPECT_EQ(c[Counter::OutNaks], 1u);
    EXPECT_EQ(c[Counter::NakEliminated], 0u);
    EXPECT_EQ(c[Counter::NcfReceived], 1u);
    EXPECT_EQ(c[Counter::OutRdata], 1u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
}

// 2. Loss towards one subtree only: the repair goes there and nowhere else.
TEST_F(RouterScenario, Scenario02_SubtreeConstrainedRepair) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 5ms);
    net.add_drop_rule(DropRule::on(t.lan_a).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    net.run_until(at(3s));

    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);
    EXPECT_EQ(sent_on(t.a, PacketType::Rdata), 1u);
    const TypeCounters lan_b = net.segment_sent(t.lan_b);
    EXPECT_EQ(lan_b.count(PacketType::Rdata), 0u);
    EXPECT_EQ(lan_b.byte_count(PacketType::Rdata), 0u);
    EXPECT_EQ(lan_b.count(PacketType::Ncf), 0u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Rdata), 1u);
    EXPECT_EQ(t.on_b[0].count(PacketType::Rdata), 0u);
    EXPECT_EQ(t.on_b[0].count(PacketType::Odata), 5u);
    EXPECT_EQ(repair_interfaces(*t.ne1, session.tsi(), Sqn(3)).size(), 0u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
}

// 3. The same loss on two interfaces: one NAK upstream, an NCF and the RDATA on each, no
// state afterwards, so a second copy of the RDATA goes nowhere.
TEST_F(RouterScenario, Scenario03_CrossInterfaceElimination) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 50ms);
    net.add_drop_rule(DropRule::on(t.lan_a).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    net.add_drop_rule(DropRule::on(t.lan_b).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    nak(t.on_b[0], at(120ms), session.nak(Sqn(3)));
    rdata(t.source, session, at(400ms), Sqn(3));  // a second copy, after the state is gone
    net.run_until(at(140ms));
    EXPECT_EQ(repair_interfaces(*t.ne1, session.tsi(), Sqn(3)),
              (std::vector<IfIndex>{t.a.ifindex, t.b.ifindex}));
    net.run_until(at(3s));

    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);
    EXPECT_EQ(sent_on(t.a, PacketType::Ncf), 1u);
    EXPECT_EQ(sent_on(t.b, PacketType::Ncf), 1u);
    EXPECT_EQ(sent_on(t.a, PacketType::Rdata), 1u);
    EXPECT_EQ(sent_on(t.b, PacketType::Rdata), 1u);
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::NakEliminated], 1u);
    EXPECT_EQ(c[Counter::InRdata], 2u);
    EXPECT_EQ(c[Counter::RdataEliminatedSqn], 1u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
}

// 4. The NCF the router makes: multicast from the data source with Router Alert, the NAK's
// TSI/SQN/SRC/GRP in downstream port orientation, valid checksum, only on the NAK's
// interface; and the NAK it forwards: from its own address to the SPM_PATH neighbour.
TEST_F(RouterScenario, Scenario04_NcfFormatFromTheNetworkElement) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, std::nullopt);
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    net.run_until(at(500ms));

    auto ncfs = captures(t.ne1->id(), PacketType::Ncf);
    ASSERT_EQ(ncfs.size(), 1u);
    const Captured& ncf = *ncfs[0];
    EXPECT_EQ(ncf.segment, t.lan_a);
    EXPECT_EQ(ncf.transmit.ifindex, t.a.ifindex);
    EXPECT_EQ(ncf.transmit.ip_source, session.source);
    EXPECT_EQ(ncf.transmit.ip_destination, session.group);
    EXPECT_TRUE(ncf.transmit.router_alert);
    EXPECT_EQ(ncf.transmit.ttl, 254);  // D12: the TTL NE1 forwards the SPMs with
    EXPECT_EQ(ncf.spec->source_port, session.source_port);
    EXPECT_EQ(ncf.spec->destination_port, session.destination_port);
    EXPECT_EQ(ncf.spec->gsi, session.gsi);
    EXPECT_EQ(nak_fields(*ncf.spec), (NakFields{Sqn(3), session.source, session.group}));
    EXPECT_TRUE(checksum_field_valid(ncf.bytes));
    EXPECT_NE(load16(ncf.bytes.data() + kOffsetChecksum), 0u);

    auto naks = captures(t.ne1->id(), PacketType::Nak);
    ASSERT_EQ(naks.size(), 1u);
    EXPECT_EQ(naks[0]->segment, t.lan_s);
    EXPECT_EQ(naks[0]->transmit.ip_source, t.up.address);
    EXPECT_EQ(naks[0]->transmit.ip_destination, session.source);
    EXPECT_FALSE(naks[0]->transmit.router_alert);
    EXPECT_EQ(naks[0]->bytes, bytes_of(session.nak(Sqn(3))));  // forwarded intact
    EXPECT_EQ(net.segment_sent(t.lan_b).count(PacketType::Ncf), 0u);
}

// OpenPGM receivers put the router's address in NAK_SRC: the NAK forwarded upstream and the
// NCF carry the real data source, with valid checksums.
TEST_F(RouterScenario, NakSrcRewrittenToTheDataSource) {
    Star t = star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, std::nullopt);
    PacketSpec openpgm_nak = session.nak(Sqn(3));
    std::get<NakFields>(openpgm_nak.fields).source = t.a.address;
    nak(t.on_a[0], at(100ms), openpgm_nak);
    net.run_until(at(500ms));

    auto naks = t.source.host->received(PacketType::Nak);
    ASSERT_EQ(naks.size(), 1u);
    EXPECT_EQ(naks[0]->error, ParseError::Ok);
    EXPECT_EQ(nak_fields(*naks[0]->spec), (NakFields{Sqn(3), session.source, session.group}));
    EXPECT_EQ(naks[0]->bytes, bytes_of(session.nak(Sqn(3))));
    auto ncfs = t.on_a[0].host->received(PacketType::Ncf);
    ASSERT_EQ(ncfs.size(), 1u);
    EXPECT_EQ(nak_fields(*ncfs[0]->spec).source, session.source);
}

// 5. The first NCFs from NE1 to NE2 are lost: NE2 repeats the NAK every NAK_RPT_RTE until an
// NCF gets through, then stops; NE1 eliminates the repeats.
TEST_F(RouterScenario, Scenario05_HopByHopNakReliability) {
    Chain c = chain();
    start_session(c.source, session, Sqn(1), 5);
    serve_naks(c.source, session, std::nullopt);
    const RuleId lost = net.add_drop_rule(
        DropRule::on(c.link_12).sent_by(c.ne1_down.attachment).of_type(PacketType::Ncf).first(3));
    nak(c.receiver, at(100ms), session.nak(Sqn(3)));
    net.run_until(at(350ms));
    EXPECT_EQ(phase(*c.ne2, session.tsi(), Sqn(3)), RepairPhase::Pending);
    net.run_until(at(1300ms));

    EXPECT_EQ(net.dropped_by(lost), 3u);
    EXPECT_EQ(sent_on(c.ne2_up, PacketType::Nak), 4u);  // the NAK and 3 repeats
    EXPECT_EQ(sent_on(c.ne1_down, PacketType::Ncf), 4u);
    const router::CounterSet ne2 = c.ne2->router().totals();
    EXPECT_EQ(ne2[Counter::NakRetransmitted], 3u);
    EXPECT_EQ(ne2[Counter::NcfReceived], 1u);
    EXPECT_EQ(ne2[Counter::NakRetryExpired], 0u);
    EXPECT_EQ(phase(*c.ne2, session.tsi(), Sqn(3)), RepairPhase::Outstanding);
    EXPECT_EQ(c.ne1->router().totals()[Counter::NakEliminated], 3u);
    EXPECT_EQ(c.source.count(PacketType::Nak), 1u);
}

// 5 (cont.). Every NCF lost: NE2 repeats until NAK_RPT_IVL and then drops the state.
TEST_F(RouterScenario, Scenario05_GivesUpAfterNakRptIvl) {
    Chain c = chain();
    start_session(c.source, session, Sqn(1), 5);
    serve_naks(c.source, session, std::nullopt);
    net.add_drop_rule(
        DropRule::on(c.link_12).sent_by(c.ne1_down.attachment).of_type(PacketType::Ncf));
    nak(c.receiver, at(100ms), session.nak(Sqn(3)));  // forwarded at 101 ms
    net.run_until(at(1100ms));
    EXPECT_EQ(phase(*c.ne2, session.tsi(), Sqn(3)), RepairPhase::Pending);
    net.run_until(at(1500ms));

    EXPECT_FALSE(phase(*c.ne2, session.tsi(), Sqn(3)).has_value());
    EXPECT_EQ(sent_on(c.ne2_up, PacketType::Nak), 10u);  // at 101, 201, ..., 1001 ms
    const router::CounterSet ne2 = c.ne2->router().totals();
    EXPECT_EQ(ne2[Counter::NakRetransmitted], 9u);
    EXPECT_EQ(ne2[Counter::NakRetryExpired], 1u);
    EXPECT_EQ(ne2[Counter::NcfReceived], 0u);
    EXPECT_EQ(c.source.count(PacketType::Nak), 1u);
}

// 6. RDATA never comes: no NAK is repeated after the NCF, the state goes after
// NAK_RDATA_IVL, and the receiver's own re-NAK then makes new state and is forwarded.
TEST_F(RouterScenario, Scenario06_NoRetryAfterConfirmation) {
    Chain c = chain();
    start_session(c.source, session, Sqn(1), 5);
    serve_naks(c.source, session, 5ms);
    const RuleId blocked = net.add_drop_rule(DropRule::on(c.link_s).of_type(PacketType::Rdata));
    nak(c.receiver, at(100ms), session.nak(Sqn(3)));  // confirmed at NE2 at 103 ms
    net.run_until(at(2050ms));
    EXPECT_EQ(sent_on(c.ne2_up, PacketType::Nak), 1u);
    EXPECT_EQ(phase(*c.ne2, session.tsi(), Sqn(3)), RepairPhase::ElimSuspended);
    net.run_until(at(2200ms));
    EXPECT_FALSE(phase(*c.ne2, session.tsi(), Sqn(3)).has_value());
    EXPECT_EQ(c.ne2->router().totals()[Counter::ReXmitTimedOut], 1u);
    EXPECT_EQ(sent_on(c.ne2_up, PacketType::Nak), 1u);

    nak(c.receiver, at(2500ms), session.nak(Sqn(3)));
    net.run_until(at(2600ms));
    EXPECT_EQ(sent_on(c.ne2_up, PacketType::Nak), 2u);
    EXPECT_EQ(c.ne2->router().totals()[Counter::UniqueNaks], 2u);
    EXPECT_EQ(phase(*c.ne2, session.tsi(), Sqn(3)), RepairPhase::Outstanding);
    EXPECT_EQ(c.source.count(PacketType::Nak), 2u);
    EXPECT_EQ(net.dropped_by(blocked), 2u);
    EXPECT_EQ(c.receiver.count(PacketType::Rdata), 0u);
}

// 7. NAK_ELIM_IVL cycle: duplicates inside it are NCF'd but dropped, the first after it is
// forwarded, and each confirmation restarts NAK_RDATA_IVL (the RDATA at 2.5 s still finds
// the state that would have expired at 2.1 s).
TEST_F(RouterScenario, Scenario07_NakElimIvlCycle) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, std::nullopt);
    const Endpoint& r1 = t.on_a[0];
    const Endpoint& r2 = t.on_b[0];
    const Tsi tsi = session.tsi();
    nak(r1, at(100ms), session.nak(Sqn(3)));   // forwarded, confirmed at 103 ms
    nak(r2, at(600ms), session.nak(Sqn(3)));   // inside NAK_ELIM_IVL: eliminated
    nak(r1, at(1200ms), session.nak(Sqn(3)));  // after it: forwarded, confirmed at 1203 ms
    nak(r2, at(1300ms), session.nak(Sqn(3)));  // eliminated again
    rdata(t.source, session, at(2500ms), Sqn(3));

    net.run_until(at(700ms));
    EXPECT_EQ(phase(*t.ne1, tsi, Sqn(3)), RepairPhase::Outstanding);
    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);
    EXPECT_EQ(t.ne1->router().totals()[Counter::NakEliminated], 1u);
    EXPECT_EQ(r2.count(PacketType::Ncf), 1u);
    net.run_until(at(1150ms));
    EXPECT_EQ(phase(*t.ne1, tsi, Sqn(3)), RepairPhase::ElimSuspended);
    net.run_until(at(1250ms));
    EXPECT_EQ(phase(*t.ne1, tsi, Sqn(3)), RepairPhase::Outstanding);
    EXPECT_EQ(t.source.count(PacketType::Nak), 2u);
    net.run_until(at(2400ms));
    EXPECT_EQ(phase(*t.ne1, tsi, Sqn(3)), RepairPhase::ElimSuspended);
    net.run_until(at(3500ms));

    EXPECT_EQ(t.source.count(PacketType::Nak), 2u);
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::OutNcfs], 4u);
    EXPECT_EQ(c[Counter::NakEliminated], 2u);
    EXPECT_EQ(c[Counter::NcfReceived], 2u);
    EXPECT_EQ(c[Counter::ReXmitTimedOut], 0u);
    EXPECT_EQ(sent_on(t.a, PacketType::Rdata), 1u);
    EXPECT_EQ(sent_on(t.b, PacketType::Rdata), 1u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
}

// 8. Anticipation: NE2 hears NE1's NCF for NE2''s NAK on its upstream interface, so its
// own receiver's later NAK is NCF'd and eliminated but its interface still gets the RDATA.
// An NCF arriving on a downstream interface makes no state.
TEST_F(RouterScenario, Scenario08_NakAnticipation) {
    const SegmentId link_s = p2p("S-NE1");
    const SegmentId lan_x = lan("LAN-X");
    const SegmentId lan_r = lan("LAN-R");
    const SegmentId lan_r2 = lan("LAN-R'");
    const Endpoint s = add_host("S", link_s);
    session.source = s.port.address;
    RouterNode& ne1 = add_router("NE1");
    RouterNode& ne2 = add_router("NE2");
    RouterNode& ne2b = add_router("NE2'");
    attach_router(ne1, link_s, false);
    const Port x = attach_router(ne1, lan_x, true);
    attach_router(ne2, lan_x, false);
    attach_router(ne2b, lan_x, false);
    const Port ne2_down = attach_router(ne2, lan_r, true);
    attach_router(ne2b, lan_r2, true);
    const Endpoint r = add_host("R", lan_r);
    const Endpoint r2 = add_host("R'", lan_r2);
    start_session(s, session, Sqn(1), 5);
    serve_naks(s, session, 300ms);
    net.add_drop_rule(DropRule::on(lan_x).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    nak(r2, at(100ms), session.nak(Sqn(3)));
    nak(r, at(200ms), session.nak(Sqn(3)));
    net.run_until(at(150ms));
    EXPECT_EQ(phase(ne2, session.tsi(), Sqn(3)), RepairPhase::Anticipated);
    EXPECT_TRUE(repair_interfaces(ne2, session.tsi(), Sqn(3)).empty());
    net.run_until(at(250ms));
    EXPECT_EQ(repair_interfaces(ne2, session.tsi(), Sqn(3)),
              std::vector<IfIndex>{ne2_down.ifindex});
    net.run_until(at(1s));

    const router::CounterSet c2 = ne2.router().totals();
    EXPECT_EQ(c2[Counter::NcfAnticipated], 1u);
    EXPECT_EQ(c2[Counter::OutNcfs], 1u);
    EXPECT_EQ(c2[Counter::NakEliminated], 1u);
    EXPECT_EQ(c2[Counter::OutNaks], 0u);
    EXPECT_EQ(c2[Counter::OutRdata], 1u);
    EXPECT_EQ(ne2b.router().totals()[Counter::NcfReceived], 1u);
    EXPECT_EQ(ne1.router().totals()[Counter::InNaks], 1u);
    EXPECT_EQ(sent_on(x, PacketType::Rdata), 1u);
    EXPECT_EQ(s.count(PacketType::Nak), 1u);
    EXPECT_EQ(r.count(PacketType::Rdata), 1u);
    EXPECT_EQ(r2.count(PacketType::Rdata), 1u);
    EXPECT_TRUE(ne2.router().repairs().empty());

    // An NCF injected downstream of NE2: no state.
    r.host->send_at(at(1100ms), r.port.ifindex, downstream_ip(session), session.ncf(Sqn(4)));
    net.run_until(at(1200ms));
    EXPECT_EQ(ne2.router().totals()[Counter::NcfError], 1u);
    EXPECT_TRUE(ne2.router().repairs().empty());
}

// 9. RDATA that nobody asked for goes nowhere.
TEST_F(RouterScenario, Scenario09_RdataWithNoState) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 5);
    rdata(t.source, session, at(100ms), Sqn(4));
    net.run_until(at(500ms));

    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::InRdata], 1u);
    EXPECT_EQ(c[Counter::RdataEliminatedSqn], 1u);
    EXPECT_EQ(c[Counter::OutRdata], 0u);
    EXPECT_EQ(net.segment_sent(t.lan_a).count(PacketType::Rdata), 0u);
    EXPECT_EQ(net.segment_sent(t.lan_b).count(PacketType::Rdata), 0u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Rdata) + t.on_b[0].count(PacketType::Rdata), 0u);
}

// 10. A non-PGM router between NE1 and NE2: every SPM copy carries the PGM hop that sent
// it, the receiver NAKs NE2, NE2 NAKs NE1 across the cloud, NE1's NCF confirms it.
TEST_F(RouterScenario, Scenario10_SpmPathRewritingAcrossANonPgmCloud) {
    const SegmentId link_s = p2p("S-NE1");
    const SegmentId link_c1 = p2p("NE1-cloud");
    const SegmentId link_c2 = p2p("cloud-NE2");
    const SegmentId lan_r = lan("LAN-R");
    const Endpoint s = add_host("S", link_s);
    session.source = s.port.address;
    RouterNode& ne1 = add_router("NE1");
    MulticastRouterNode& cloud = topo.cloud("cloud");
    RouterNode& ne2 = add_router("NE2");
    attach_router(ne1, link_s, false);
    const Port ne1_c = attach_router(ne1, link_c1, true);
    topo.attach(cloud.id(), link_c1);
    cloud.join(topo.attach(cloud.id(), link_c2).ifindex, session.group);
    const Port ne2_up = attach_router(ne2, link_c2, false);
    const Port ne2_down = attach_router(ne2, lan_r, true);
    const Endpoint r = add_host("R", lan_r);
    start_session(s, session, Sqn(1), 5);
    serve_naks(s, session, 5ms);
    net.add_drop_rule(DropRule::on(lan_r).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    nak(r, at(100ms), session.nak(Sqn(3)));
    net.run_until(at(1s));

    auto path_of = [](const Captured* c) { return std::get<SpmFields>(c->spec->fields).path; };
    auto ne1_spms = captures(ne1.id(), PacketType::Spm);
    auto cloud_spms = captures(cloud.id(), PacketType::Spm);
    auto ne2_spms = captures(ne2.id(), PacketType::Spm);
    ASSERT_EQ(ne1_spms.size(), 1u);
    ASSERT_EQ(cloud_spms.size(), 1u);
    ASSERT_EQ(ne2_spms.size(), 1u);
    EXPECT_EQ(path_of(ne1_spms[0]), ne1_c.address);
    EXPECT_EQ(path_of(cloud_spms[0]), ne1_c.address);  // the cloud is no PGM hop
    EXPECT_EQ(path_of(ne2_spms[0]), ne2_down.address);
    EXPECT_TRUE(cloud_spms[0]->spec.has_value());  // valid checksum after the rewrite
    EXPECT_EQ(last_spm_path(*r.host), ne2_down.address);

    auto ne2_naks = captures(ne2.id(), PacketType::Nak);
    ASSERT_EQ(ne2_naks.size(), 1u);
    EXPECT_EQ(ne2_naks[0]->transmit.ip_source, ne2_up.address);
    EXPECT_EQ(ne2_naks[0]->transmit.ip_destination, ne1_c.address);
    EXPECT_EQ(cloud.counters().forwarded.count(PacketType::Nak), 1u);
    EXPECT_EQ(cloud.counters().forwarded.count(PacketType::Ncf), 1u);
    EXPECT_EQ(ne1.router().totals()[Counter::InNaks], 1u);
    EXPECT_EQ(ne2.router().totals()[Counter::NcfReceived], 1u);
    EXPECT_EQ(ne2.router().totals()[Counter::NakRetransmitted], 0u);
    EXPECT_EQ(s.count(PacketType::Nak), 1u);
    EXPECT_EQ(r.count(PacketType::Rdata), 1u);
}

// 11. The route to the source moves from NE1 to NE1': until an SPM comes down the new path
// NE2 keeps NAKing NE1 (unconfirmed: that link is down); afterwards NE1'.
TEST_F(RouterScenario, Scenario11_RouteChange) {
    const SegmentId lan_s = lan("LAN-S");
    const SegmentId link_1 = p2p("NE1-NE2");
    const SegmentId link_1b = p2p("NE1'-NE2");
    const SegmentId lan_r = lan("LAN-R");
    const Endpoint s = add_host("S", lan_s);
    session.source = s.port.address;
    RouterNode& ne1 = add_router("NE1");
    RouterNode& ne1b = add_router("NE1'");
    RouterNode& ne2 = add_router("NE2");
    attach_router(ne1, lan_s, false);
    attach_router(ne1b, lan_s, false);
    const Port ne1_down = attach_router(ne1, link_1, true);
    const Port ne1b_down = attach_router(ne1b, link_1b, false);
    const Port ne2_old = attach_router(ne2, link_1, false);
    const Port ne2_new = attach_router(ne2, link_1b, false);
    attach_router(ne2, lan_r, true);
    const Endpoint r = add_host("R", lan_r);
    net.set_route(ne2.id(), session.source, ne2_old.ifindex, ne1_down.address);
    start_session(s, session, Sqn(1), 5);
    serve_naks(s, session, 5ms);
    nak(r, at(100ms), session.nak(Sqn(3)));
    net.run_until(at(500ms));
    EXPECT_EQ(ne2.router().sessions().at(session.tsi()).upstream_neighbour, ne1_down.address);

    // The route changes and the old link fails.
    net.set_route(ne2.id(), session.source, ne2_new.ifindex, ne1b_down.address);
    ne1.leave(ne1_down.ifindex, session.group);
    ne1b.join(ne1b_down.ifindex, session.group);
    const RuleId down = net.add_drop_rule(DropRule::on(link_1));
    nak(r, at(600ms), session.nak(Sqn(4)));  // to NE1 at 601, 701, 801 ms: lost
    spm(s, session, at(800ms), Sqn(2));      // reaches NE2 through NE1' at 802 ms
    nak(r, at(950ms), session.nak(Sqn(5)));
    net.run_until(at(1500ms));

    const router::Session& path = ne2.router().sessions().at(session.tsi());
    EXPECT_EQ(path.upstream_neighbour, ne1b_down.address);
    EXPECT_EQ(path.upstream_interface, ne2_new.ifindex);
    EXPECT_EQ(sent_on(ne2_old, PacketType::Nak), 4u);  // NAK 3, NAK 4 and its 2 repeats
    EXPECT_EQ(net.dropped_by(down), 3u);
    EXPECT_EQ(sent_on(ne2_new, PacketType::Nak), 2u);  // NAK 4 repeated at 901 ms, NAK 5
    EXPECT_EQ(ne2.router().totals()[Counter::NakRetransmitted], 3u);
    EXPECT_EQ(ne2.router().totals()[Counter::SpmRpfErrors], 0u);
    EXPECT_EQ(ne1b.router().totals()[Counter::InNaks], 2u);
    EXPECT_EQ(s.count(PacketType::Nak), 3u);
    EXPECT_EQ(r.count(PacketType::Rdata), 3u);
    EXPECT_EQ(r.count(PacketType::Spm), 2u);
}

// 12. OPT_NAK_LIST: forwarded intact while one listed sequence is not outstanding,
// eliminated once all are; the NCF echoes the list; an unsolicited listed NCF anticipates
// every sequence in it.
TEST_F(RouterScenario, Scenario12_NakList) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 25, 1ms);  // the NAKed sequences were sent
    serve_naks(t.source, session, std::nullopt);
    const std::vector<Sqn> list{Sqn(11), Sqn(12)};
    nak(t.on_b[0], at(100ms), session.nak(Sqn(10)));
    nak(t.on_a[0], at(200ms), session.nak(Sqn(10), list));
    nak(t.on_b[0], at(300ms), session.nak(Sqn(10), list));
    t.source.host->send_at(at(400ms), t.source.port.ifindex, downstream_ip(session),
                           session.ncf(Sqn(20), {Sqn(21), Sqn(22)}));
    net.run_until(at(500ms));

    auto naks = t.source.host->received(PacketType::Nak);
    ASSERT_EQ(naks.size(), 2u);
    EXPECT_EQ(naks[1]->bytes, bytes_of(session.nak(Sqn(10), list)));
    auto ncfs_a = t.on_a[0].host->received(PacketType::Ncf);
    ASSERT_EQ(ncfs_a.size(), 1u);
    EXPECT_EQ(nak_list(*ncfs_a[0]->spec), list);
    auto ncfs_b = t.on_b[0].host->received(PacketType::Ncf);
    ASSERT_EQ(ncfs_b.size(), 2u);
    EXPECT_EQ(nak_list(*ncfs_b[1]->spec), list);
    for (std::uint32_t q : {10u, 11u, 12u})
        EXPECT_EQ(phase(*t.ne1, session.tsi(), Sqn(q)), RepairPhase::Outstanding) << q;
    for (std::uint32_t q : {20u, 21u, 22u})
        EXPECT_EQ(phase(*t.ne1, session.tsi(), Sqn(q)), RepairPhase::Anticipated) << q;
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::InNaks], 3u);
    EXPECT_EQ(c[Counter::OutNaks], 2u);
    EXPECT_EQ(c[Counter::NakEliminated], 1u);
    EXPECT_EQ(c[Counter::NcfAnticipated], 3u);
    EXPECT_EQ(t.ne1->router().repairs().size(), 6u);
}

// 13. Unknown options, each sent once with the NETWORK flag set and once without (D10): the
// script sends SPM 1 {OPX 00, OPX 01}, SPM 2 {OPX 10}, NAK 3 {OPX 01}, NAK 4 {OPX 10} and
// NAK 5 {OPX 00}.
class UnknownOptions : public RouterScenario {
  protected:
    const OptRaw ignore{0x21, 0x00, 0, {1, 2, 3, 4}};
    const OptRaw invalidate{0x22, 0x01, 0, {5, 6, 7, 8}};
    const OptRaw discard{0x23, 0x02, 0, {9, 9, 9, 9}};

    OptRaw invalidated() const {
        OptRaw o = invalidate;
        o.type = static_cast<std::uint8_t>(OptionType::Invalid);
        return o;
    }
    static PacketSpec with(PacketSpec p, std::vector<OptionSpec> options) {
        p.options = std::move(options);
        return p;
    }
    // The packet's bytes, with the NETWORK flag set (checksum fixed) when `network`.
    static std::vector<std::uint8_t> wire(const PacketSpec& p, bool network) {
        std::vector<std::uint8_t> b = bytes_of(p);
        if (network) {
            b[kOffsetOptions] |= kOptNetwork;
            write_checksum(b);
        }
        return b;
    }
    void run(bool network) {
        t = star(1, 1);
        serve_naks(t.source, session, std::nullopt);
        const Endpoint& s = t.source;
        const IpParams down = downstream_ip(session);
        s.host->send_at(
            at(0ms), s.port.ifindex, down,
            wire(with(session.spm(Sqn(1), Sqn(1), Sqn(5), s.port.address), {ignore, invalidate}),
                 network));
        s.host->send_at(
            at(50ms), s.port.ifindex, down,
            wire(with(session.spm(Sqn(2), Sqn(1), Sqn(5), s.port.address), {discard}), network));
        const std::tuple<const Endpoint*, std::uint32_t, OptRaw, Duration> naks[] = {
            {&t.on_a[0], 3, invalidate, 100ms},
            {&t.on_b[0], 4, discard, 100ms},
            {&t.on_a[0], 5, ignore, 200ms}};
        for (const auto& [r, sqn, option, when] : naks) {
            sent_naks.push_back(wire(with(session.nak(Sqn(sqn)), {option}), network));
            r->host->send_at(at(when), r->port.ifindex,
                             IpParams::to(r == &t.on_a[0] ? t.a.address : t.b.address),
                             sent_naks.back());
        }
        net.run_until(at(1500ms));
    }

    Star t;
    std::vector<std::vector<std::uint8_t>> sent_naks;
};

TEST_F(UnknownOptions, Scenario13_UnknownOptionsByOpx) {
    run(true);
    for (const Endpoint& r : {t.on_a[0], t.on_b[0]}) {
        auto spms = r.host->received(PacketType::Spm);
        ASSERT_EQ(spms.size(), 1u);  // the OPX=10 SPM was dropped
        EXPECT_EQ(spms[0]->error, ParseError::Ok);
        EXPECT_EQ(spms[0]->spec->options, (std::vector<OptionSpec>{ignore, invalidated()}));
        const std::size_t last = spms[0]->bytes.size() - kOptionHeaderSize - 4;
        EXPECT_EQ(spms[0]->bytes[last], kOptEnd | static_cast<std::uint8_t>(OptionType::Invalid));
    }
    auto naks = t.source.host->received(PacketType::Nak);
    ASSERT_EQ(naks.size(), 2u);  // the OPX=10 NAK was dropped, and not repeated
    EXPECT_EQ(naks[0]->error, ParseError::Ok);
    EXPECT_EQ(naks[0]->spec->options, std::vector<OptionSpec>{invalidated()});
    EXPECT_EQ(naks[1]->bytes, sent_naks[2]);  // OPX=00: unchanged
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::OptionInvalidated], 3u);  // two SPM copies, one NAK
    EXPECT_EQ(c[Counter::OptionDiscards], 2u);     // SPM 2, NAK 4
    EXPECT_FALSE(phase(*t.ne1, session.tsi(), Sqn(4)).has_value());
    EXPECT_EQ(t.on_b[0].count(PacketType::Ncf), 0u);
}

TEST_F(UnknownOptions, Scenario13_WithoutNetworkFlagEverythingPassesUnchanged) {
    run(false);
    for (const Endpoint& r : {t.on_a[0], t.on_b[0]}) {
        auto spms = r.host->received(PacketType::Spm);
        ASSERT_EQ(spms.size(), 2u);
        EXPECT_EQ(spms[0]->spec->options, (std::vector<OptionSpec>{ignore, invalidate}));
        EXPECT_EQ(spms[1]->spec->options, std::vector<OptionSpec>{discard});
    }
    auto naks = t.source.host->received(PacketType::Nak);
    ASSERT_EQ(naks.size(), 3u);
    for (std::size_t i = 0; i < naks.size(); ++i)
        EXPECT_EQ(naks[i]->bytes, sent_naks[i]);
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::OptionInvalidated], 0u);
    EXPECT_EQ(c[Counter::OptionDiscards], 0u);
}

// 16. NNAK: no NCF, no repeat, no interface; the state lives NAK_ELIM_IVL; a real NAK for
// the sequence in that time is still forwarded.
TEST_F(RouterScenario, Scenario16_NnakRules) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 25, 1ms);  // the NAKed sequences were sent
    nak(t.on_a[0], at(100ms), session.nnak(Sqn(7)));
    net.run_until(at(1050ms));
    EXPECT_EQ(phase(*t.ne1, session.tsi(), Sqn(7)), RepairPhase::NullNak);
    EXPECT_TRUE(repair_interfaces(*t.ne1, session.tsi(), Sqn(7)).empty());
    net.run_until(at(1200ms));
    EXPECT_FALSE(phase(*t.ne1, session.tsi(), Sqn(7)).has_value());
    EXPECT_EQ(t.source.count(PacketType::Nnak), 1u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Ncf), 0u);

    nak(t.on_a[0], at(2000ms), session.nnak(Sqn(8)));
    nak(t.on_a[0], at(2200ms), session.nnak(Sqn(8)));  // state exists: eliminated
    nak(t.on_b[0], at(2300ms), session.nak(Sqn(8)));   // still forwarded
    net.run_until(at(2400ms));
    EXPECT_EQ(t.source.count(PacketType::Nnak), 2u);
    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);
    EXPECT_EQ(phase(*t.ne1, session.tsi(), Sqn(8)), RepairPhase::Pending);
    EXPECT_EQ(repair_interfaces(*t.ne1, session.tsi(), Sqn(8)), std::vector<IfIndex>{t.b.ifindex});
    EXPECT_EQ(t.on_a[0].count(PacketType::Ncf), 0u);
    EXPECT_EQ(t.on_b[0].count(PacketType::Ncf), 1u);
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::OutNnaks], 2u);
    EXPECT_EQ(c[Counter::NNakEliminated], 1u);
    EXPECT_EQ(c[Counter::OutNaks], 1u);
}

// 17. Parity repair (§11.6, C27, decisions.md D9). TGS = 4 from OPT_PARITY_PRM; TG t = 8.
// A NAKs PKT_CNT = 1 (two parity packets), B PKT_CNT = 2 (three): each NAK goes upstream
// with the largest count so far, a parity NCF for fewer packets than that does not stop the
// repetition, one for all of them does; the parity RDATA go to both, then only to B, and the
// state is gone after the third. Then TG 12 shortened by OPT_CURR_TGSIZE to 2 packets.
PacketSpec parity(PacketSpec p) {
    p.extra_flags |= kOptParity;
    return p;
}

TEST_F(RouterScenario, Scenario17_ParityRepair) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 12, 5ms);
    spm(t.source, session, at(80ms), Sqn(2), {OptParityPrm{false, true, 4}}, Sqn(1), Sqn(12));
    const Endpoint& ra = t.on_a[0];
    const Endpoint& rb = t.on_b[0];
    const IpParams down = downstream_ip(session);
    auto parity_rdata = [&](Time when, Sqn sqn, std::vector<OptionSpec> options = {}) {
        PacketSpec p = parity(session.rdata(sqn, Sqn(1), std::vector<std::uint8_t>(32, 0xAB)));
        p.options = std::move(options);
        t.source.host->send_at(when, t.source.port.ifindex, down, p);
    };
    auto sqns_of = [](const std::vector<const Received*>& got) {
        std::vector<std::uint32_t> r;
        for (const Received* p : got) {
            EXPECT_TRUE(p->spec->extra_flags & kOptParity);
            r.push_back(nak_fields(*p->spec).sqn.value());
        }
        return r;
    };
    const router::RepairKey tg8{session.tsi(), Sqn(8), true};
    const router::Router& ne1 = t.ne1->router();

    nak(ra, at(200ms), parity(session.nak(Sqn(8 | 1))));  // A: 2 packets
    nak(rb, at(210ms), parity(session.nak(Sqn(8 | 2))));  // B: 3 packets, more: forwarded
    nak(ra, at(250ms), parity(session.nak(Sqn(8 | 1))));  // no more than known: eliminated
    nak(ra, at(260ms), parity(session.nak(Sqn(8 | 0))));  // NCF confirms what A wants: 2
    // The source confirms 2 packets only: the NAK for 3 is still repeated (at 310 ms).
    t.source.host->send_at(at(305ms), t.source.port.ifindex, down, parity(session.ncf(Sqn(8 | 1))));
    net.run_until(at(350ms));
    EXPECT_EQ(sqns_of(t.source.host->received(PacketType::Nak)),
              (std::vector<std::uint32_t>{9, 10, 10}));
    EXPECT_EQ(sqns_of(ra.host->received(PacketType::Ncf)), (std::vector<std::uint32_t>{9, 9, 9}));
    EXPECT_EQ(sqns_of(rb.host->received(PacketType::Ncf)), (std::vector<std::uint32_t>{10}));
    EXPECT_EQ(ne1.repairs().at(tg8).phase, RepairPhase::Pending);
    EXPECT_FALSE(phase(*t.ne1, session.tsi(), Sqn(8)).has_value());  // not a selective entry
    ASSERT_TRUE(ne1.parity_counts().contains(tg8));
    EXPECT_EQ(ne1.parity_counts().at(tg8).largest, 3u);
    EXPECT_EQ(ne1.parity_counts().at(tg8).wanted(0), 0u);  // the upstream interface

    // The source confirms all 3: the repetition stops.
    t.source.host->send_at(at(400ms), t.source.port.ifindex, down, parity(session.ncf(Sqn(8 | 2))));
    net.run_until(at(480ms));
    EXPECT_EQ(ne1.repairs().at(tg8).phase, RepairPhase::Outstanding);
    EXPECT_EQ(t.source.count(PacketType::Nak), 3u);

    parity_rdata(at(500ms), Sqn(8));
    net.run_until(at(505ms));
    EXPECT_EQ(repair_interfaces(*t.ne1, session.tsi(), Sqn(8)).size(), 0u);  // selective key
    EXPECT_EQ(ne1.interfaces_of(ne1.repairs().at(tg8).interfaces),
              (std::vector<IfIndex>{t.a.ifindex, t.b.ifindex}));
    EXPECT_EQ(ne1.parity_counts().at(tg8).largest, 2u);
    parity_rdata(at(510ms), Sqn(9));
    net.run_until(at(515ms));
    EXPECT_EQ(ne1.interfaces_of(ne1.repairs().at(tg8).interfaces),
              std::vector<IfIndex>{t.b.ifindex});
    parity_rdata(at(520ms), Sqn(10));
    net.run_until(at(525ms));
    EXPECT_FALSE(ne1.repairs().contains(tg8));
    EXPECT_FALSE(ne1.parity_counts().contains(tg8));
    parity_rdata(at(530ms), Sqn(11));  // nobody wants it any more
    net.run_until(at(600ms));
    EXPECT_EQ(ra.count(PacketType::Rdata), 2u);
    EXPECT_EQ(rb.count(PacketType::Rdata), 3u);
    EXPECT_EQ(sent_on(t.a, PacketType::Rdata), 2u);
    EXPECT_EQ(sent_on(t.b, PacketType::Rdata), 3u);

    router::CounterSet c = ne1.totals();
    EXPECT_EQ(c[Counter::InParityNaks], 4u);
    EXPECT_EQ(c[Counter::OutParityNaks], 3u);  // two forwarded, one repeat
    EXPECT_EQ(c[Counter::NakRetransmitted], 1u);
    EXPECT_EQ(c[Counter::NakEliminated], 2u);
    EXPECT_EQ(c[Counter::UniqueNaks], 1u);  // one state for the TG
    EXPECT_EQ(c[Counter::OutParityNcfs], 4u);
    EXPECT_EQ(c[Counter::InParityNcfs], 2u);
    EXPECT_EQ(c[Counter::NcfReceived], 1u);  // the short NCF confirms nothing
    EXPECT_EQ(c[Counter::InParityRdata], 4u);
    EXPECT_EQ(c[Counter::OutParityRdata], 5u);
    EXPECT_EQ(c[Counter::RdataEliminatedSqn], 1u);

    // TG 12 shortened to 2 packets: OPT_CURR_TGSIZE sets the TG-size offset to 4 - 2 = 2,
    // and an interface leaves when its count reaches it: A (3 = 1 lost + 2) after one parity
    // RDATA, B (4 = 2 lost + 2) after two.
    const router::RepairKey tg12{session.tsi(), Sqn(12), true};
    nak(ra, at(1000ms), parity(session.nak(Sqn(12 | 2))));
    nak(rb, at(1010ms), parity(session.nak(Sqn(12 | 3))));
    t.source.host->send_at(at(1050ms), t.source.port.ifindex, down,
                           parity(session.ncf(Sqn(12 | 3))));
    parity_rdata(at(1100ms), Sqn(12), {OptCurrTgsize{2}});
    net.run_until(at(1105ms));
    EXPECT_EQ(ne1.parity_counts().at(tg12).offset, 2u);
    EXPECT_EQ(ne1.interfaces_of(ne1.repairs().at(tg12).interfaces),
              std::vector<IfIndex>{t.b.ifindex});
    parity_rdata(at(1110ms), Sqn(13), {OptCurrTgsize{2}});
    net.run_until(at(1200ms));
    EXPECT_FALSE(ne1.repairs().contains(tg12));
    EXPECT_EQ(ra.count(PacketType::Rdata), 3u);
    EXPECT_EQ(rb.count(PacketType::Rdata), 5u);
    EXPECT_EQ(sqns_of(t.source.host->received(PacketType::Nak)),
              (std::vector<std::uint32_t>{9, 10, 10, 14, 15}));
    EXPECT_TRUE(ne1.repairs().empty());
    EXPECT_TRUE(ne1.parity_counts().empty());
}

// 17, the SPM variant (§11.4, N-SPM-8): OPT_CURR_TGSIZE in an SPM whose lead ends a shortened
// TG sets that TG's offset, whether its parity state exists already (TG 20) or comes later
// (TG 16). TGS = 4, both TGs shortened to 2 packets: offset 2.
TEST_F(RouterScenario, Scenario17_TgShortenedByAnSpm) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 17, 2ms);
    spm(t.source, session, at(80ms), Sqn(2), {OptParityPrm{false, true, 4}, OptCurrTgsize{2}},
        Sqn(1), Sqn(17));
    const Endpoint& ra = t.on_a[0];
    const Endpoint& rb = t.on_b[0];
    const IpParams down = downstream_ip(session);
    auto parity_rdata = [&](Time when, Sqn sqn) {
        PacketSpec p = parity(session.rdata(sqn, Sqn(1), std::vector<std::uint8_t>(32, 0xAB)));
        t.source.host->send_at(when, t.source.port.ifindex, down, p);
    };
    const router::Router& ne1 = t.ne1->router();

    // TG 16: A lost one packet (wants 1 + 2 = 3), B two (4). Each RDATA takes one off.
    const router::RepairKey tg16{session.tsi(), Sqn(16), true};
    nak(ra, at(200ms), parity(session.nak(Sqn(16 | 2))));
    nak(rb, at(210ms), parity(session.nak(Sqn(16 | 3))));
    t.source.host->send_at(at(250ms), t.source.port.ifindex, down,
                           parity(session.ncf(Sqn(16 | 3))));
    net.run_until(at(300ms));
    ASSERT_TRUE(ne1.parity_counts().contains(tg16));
    EXPECT_EQ(ne1.parity_counts().at(tg16).offset, 2u);
    parity_rdata(at(310ms), Sqn(16));
    net.run_until(at(315ms));
    EXPECT_EQ(ne1.interfaces_of(ne1.repairs().at(tg16).interfaces),
              std::vector<IfIndex>{t.b.ifindex});
    parity_rdata(at(320ms), Sqn(17));
    net.run_until(at(325ms));
    EXPECT_FALSE(ne1.repairs().contains(tg16));
    EXPECT_EQ(ra.count(PacketType::Rdata), 1u);
    EXPECT_EQ(rb.count(PacketType::Rdata), 2u);

    // TG 20: the state exists (unshortened: offset 0) when the SPM announcing 21 as the last
    // sequence of a 2-packet TG arrives.
    const router::RepairKey tg20{session.tsi(), Sqn(20), true};
    for (std::uint32_t q = 18; q <= 21; ++q) {
        PacketSpec o = session.odata(Sqn(q), Sqn(1), std::vector<std::uint8_t>(32, 0xCD));
        t.source.host->send_at(at(400ms) + q * 1ms, t.source.port.ifindex, down, o);
    }
    nak(rb, at(500ms), parity(session.nak(Sqn(20 | 3))));
    t.source.host->send_at(at(550ms), t.source.port.ifindex, down,
                           parity(session.ncf(Sqn(20 | 3))));
    net.run_until(at(600ms));
    EXPECT_EQ(ne1.parity_counts().at(tg20).offset, 0u);
    spm(t.source, session, at(650ms), Sqn(3), {OptParityPrm{false, true, 4}, OptCurrTgsize{2}},
        Sqn(1), Sqn(21));
    net.run_until(at(700ms));
    EXPECT_EQ(ne1.parity_counts().at(tg20).offset, 2u);
    parity_rdata(at(710ms), Sqn(20));
    parity_rdata(at(720ms), Sqn(21));
    net.run_until(at(800ms));
    EXPECT_FALSE(ne1.repairs().contains(tg20));
    EXPECT_EQ(rb.count(PacketType::Rdata), 4u);
    EXPECT_TRUE(ne1.parity_counts().empty());
}

// A parity NAK before any OPT_PARITY_PRM cannot be read (no TGS): neither confirmed nor
// forwarded; a selective NAK for the same sequence is unaffected.
TEST_F(RouterScenario, ParityNakWithoutTgsIsDropped) {
    Star t = star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    nak(t.on_a[0], at(100ms), parity(session.nak(Sqn(3))));
    net.run_until(at(500ms));
    EXPECT_EQ(t.source.count(PacketType::Nak), 0u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Ncf), 0u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
    EXPECT_EQ(t.ne1->router().totals()[Counter::NakError], 1u);
    EXPECT_EQ(t.ne1->router().totals()[Counter::InParityNaks], 1u);
}

// N-NN-5: a parity NNAK is eliminated only when the NAK state wants more packets than it.
TEST_F(RouterScenario, ParityNnakEliminatedOnlyBelowTheKnownCount) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 12, 5ms);
    spm(t.source, session, at(80ms), Sqn(2), {OptParityPrm{false, true, 4}}, Sqn(1), Sqn(12));
    nak(t.on_a[0], at(200ms), parity(session.nak(Sqn(8 | 2))));   // 3 packets
    nak(t.on_b[0], at(250ms), parity(session.nnak(Sqn(8 | 1))));  // 2 < 3: eliminated
    nak(t.on_b[0], at(300ms), parity(session.nnak(Sqn(8 | 2))));  // 3, not < 3: forwarded
    net.run_until(at(350ms));
    EXPECT_EQ(t.source.count(PacketType::Nnak), 1u);
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::NNakEliminated], 1u);
    EXPECT_EQ(c[Counter::OutNnaks], 1u);
    EXPECT_EQ(t.ne1->router().repairs().at(router::RepairKey{session.tsi(), Sqn(8), true}).phase,
              RepairPhase::Pending);
}

// 19. Shared LAN suppression with the real receiver stack: 20 receivers on one LAN behind one
// network element, one ODATA lost on that LAN. The first receiver whose back-off ends NAKs
// (unicast, to the router); the router's multicast NCF suppresses the others' NAKs (R8), so
// one NAK (two at most, when a second back-off ends within the NCF's round trip) reaches
// the router, one goes to the source, and the one RDATA repairs all 20.
TEST(SharedLan, Scenario19_SharedLanSuppression) {
    ScenarioConfig config;
    config.shape = ScenarioShape::Star;
    config.fanout = 1;
    config.lan_receivers = 20;
    config.loss = 0;
    config.link_delay = std::chrono::microseconds(200);
    config.stream = StreamConfig{40, 1000.0, 64, std::chrono::milliseconds(100)};
    config.time_limit_after_stream = std::chrono::seconds(10);
    Scenario sc(config);
    ASSERT_EQ(sc.level_segments(1).size(), 1u);
    const SegmentId lan = sc.level_segments(1)[0];
    sc.network().add_drop_rule(
        DropRule::on(lan).of_type(PacketType::Odata).with_sqn(Sqn(10)).first(1));
    ASSERT_TRUE(sc.run());

    const ScenarioResult r = sc.result();
    EXPECT_EQ(r.receivers, 20u);
    EXPECT_EQ(r.receivers_complete, 20u);
    EXPECT_EQ(r.unrecoverable_sqns, 0u);
    EXPECT_EQ(r.mismatched_apdus, 0u);
    EXPECT_GE(r.receiver_naks_sent, 1u);
    EXPECT_LE(r.receiver_naks_sent, 2u);
    EXPECT_EQ(r.source_nak_packets, 1u);
    EXPECT_EQ(r.source_max_naks_per_sqn, 1u);
    std::uint64_t suppressed = 0;
    for (const ReceiverNode& n : sc.receivers())
        suppressed += n.receiver().stats().naks_suppressed;
    EXPECT_EQ(suppressed + r.receiver_naks_sent, 20u);  // everyone else held back
    const router::CounterSet& c = r.router_totals;
    EXPECT_EQ(c[Counter::InNaks], r.receiver_naks_sent);
    EXPECT_EQ(c[Counter::OutNcfs], c[Counter::InNaks]);
    EXPECT_EQ(c[Counter::OutNaks], 1u);
    EXPECT_EQ(c[Counter::NakEliminated], c[Counter::InNaks] - 1);
    EXPECT_EQ(c[Counter::InRdata], 1u);
    EXPECT_EQ(c[Counter::OutRdata], 1u);  // one copy on the LAN serves all 20
    EXPECT_EQ(r.stalled_timers, 0u);
}

// 22. OPT_NAK_BO_IVL in the source's SPM: no forwarded copy carries it (NE1 invalidates it,
// decisions.md D8), every copy has its interface's SPM_PATH and a valid checksum.
TEST_F(RouterScenario, Scenario22_NakBoIvlRewrite) {
    Star t = star(1, 1);
    spm(t.source, session, at(0ms), Sqn(1), {OptNakBoIvl{50000, Sqn(0)}});
    net.run_until(at(100ms));

    const std::pair<const Endpoint*, Nla> copies[] = {{&t.on_a[0], t.a.address},
                                                      {&t.on_b[0], t.b.address}};
    for (const auto& [r, path] : copies) {
        auto spms = r->host->received(PacketType::Spm);
        ASSERT_EQ(spms.size(), 1u);
        EXPECT_EQ(spms[0]->error, ParseError::Ok);
        EXPECT_EQ(std::get<SpmFields>(spms[0]->spec->fields).path, path);
        // D8: invalidated in place (type 0x7F), length and value kept.
        const OptRaw invalidated{static_cast<std::uint8_t>(OptionType::Invalid),
                                 0,
                                 0,
                                 {0x00, 0x00, 0xC3, 0x50, 0, 0, 0, 0}};
        EXPECT_EQ(spms[0]->spec->options, std::vector<OptionSpec>{invalidated});
    }
}

// D27, the RDATA hold: a NAK that reaches the router after the RDATA went by (its back-off
// was longer than the repair's round trip) is answered from the held copy, on its own
// interface, and the source hears one NAK only. Without the hold (RFC 3208 to the letter)
// the same late NAK starts a second repair from the source.
class RdataHold : public RouterScenario, public ::testing::WithParamInterface<bool> {};

TEST_P(RdataHold, LateNakAnsweredFromHeldRdataOrForwardedWithoutHold) {
    const bool hold = GetParam();
    config.rdata_hold = hold ? 1s : Duration::zero();
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 5ms);
    net.add_drop_rule(DropRule::on(t.lan_a).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    net.add_drop_rule(DropRule::on(t.lan_b).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    nak(t.on_b[0], at(400ms), session.nak(Sqn(3)));  // long after the repair of LAN-A
    net.run_until(at(900ms));

    EXPECT_EQ(t.source.count(PacketType::Nak), hold ? 1u : 2u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Rdata), 1u);
    EXPECT_EQ(t.on_b[0].count(PacketType::Rdata), 1u);
    EXPECT_EQ(t.on_b[0].count(PacketType::Ncf), 1u);
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::RdataFromHold], hold ? 1u : 0u);
    EXPECT_EQ(c[Counter::OutNaks], hold ? 1u : 2u);
    EXPECT_EQ(phase(*t.ne1, session.tsi(), Sqn(3)),
              hold ? std::optional(RepairPhase::Repaired) : std::nullopt);
    // The held RDATA goes out as the source's: same bytes, source address, Router Alert.
    for (const Captured* c2 : captures(t.ne1->id(), PacketType::Rdata)) {
        EXPECT_EQ(c2->transmit.ip_source, session.source);
        EXPECT_TRUE(c2->transmit.router_alert);
    }
    net.run_until(at(2s));  // hold over: everything gone, held bytes released
    EXPECT_TRUE(t.ne1->router().repairs().empty());
    EXPECT_EQ(t.ne1->router().held_rdata_bytes(), 0u);
}

INSTANTIATE_TEST_SUITE_P(WithAndWithout, RdataHold, ::testing::Bool(),
                         [](const auto& p) { return p.param ? "Hold" : "RfcStrict"; });

// The hold never takes more than its byte budget: past it the state is deleted, as in the RFC.
TEST_F(RouterScenario, RdataHoldStaysWithinItsByteBudget) {
    config.rdata_hold = 10s;
    config.max_rdata_hold_bytes = 1;  // smaller than any RDATA
    Star t = star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 5ms);
    net.add_drop_rule(DropRule::on(t.lan_a).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    net.run_until(at(500ms));
    EXPECT_EQ(t.on_a[0].count(PacketType::Rdata), 1u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
    EXPECT_EQ(t.ne1->router().held_rdata_bytes(), 0u);
}

// D14.4: a NAK for a sequence the source has not sent (here: far beyond the lead) is neither
// confirmed nor forwarded. Its NCF would make OpenPGM receivers believe the window moved.
TEST_F(RouterScenario, NakBeyondTheLeadIsNeitherConfirmedNorForwarded) {
    Star t = star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    nak(t.on_a[0], at(100ms), session.nak(Sqn(0x40000000)));
    nak(t.on_a[0], at(110ms), session.nak(Sqn(3), {Sqn(4), Sqn(900)}));  // one entry beyond
    net.run_until(at(500ms));
    EXPECT_EQ(t.source.count(PacketType::Nak), 0u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Ncf), 0u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
    EXPECT_EQ(t.ne1->router().totals()[Counter::InNakSeqErrors], 2u);
}

// D27: a NAK flood for a repaired sequence gets the held RDATA once per interface per
// NAK_ELIM_IVL, not once per NAK.
TEST_F(RouterScenario, HeldRdataResentOncePerInterfacePerElimIvl) {
    config.rdata_hold = 3s;           // NAK_ELIM_IVL is 1 s in this fixture
    config.ncf_repeat_interval = 0s;  // every NAK confirmed (D33 limits identical NCFs)
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 5ms);
    net.add_drop_rule(DropRule::on(t.lan_a).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    for (int i = 0; i < 20; ++i)
        nak(t.on_b[0], at(300ms + i * 10ms), session.nak(Sqn(3)));
    nak(t.on_b[0], at(1500ms), session.nak(Sqn(3)));  // next interval: served again
    net.run_until(at(2s));
    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);
    EXPECT_EQ(t.on_b[0].count(PacketType::Rdata), 2u);
    EXPECT_EQ(t.on_b[0].count(PacketType::Ncf), 21u);  // every NAK is still confirmed
    EXPECT_EQ(t.ne1->router().totals()[Counter::RdataFromHold], 2u);
}

// 26. POLL as a child (§14.5): a general POLL from the parent is answered with one POLR after
// a random delay within POLL_BO_IVL, unicast to POLL_PATH, and never forwarded; an unknown
// sub-type, a mask that excludes us, and a round > 0 without its round 0 get no answer; a
// new POLL_SQN cancels the POLR still waiting.
TEST_F(RouterScenario, Scenario26_PollAsChild) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 5);
    const std::uint32_t node = t.ne1->router().rand_node_id();
    auto poll = [&](std::uint32_t sqn, std::uint16_t round, std::uint16_t subtype,
                    std::uint32_t rand, std::uint32_t mask, std::uint32_t backoff_us) {
        PacketSpec p = session.spm(Sqn(1), Sqn(1), Sqn(0), t.source.port.address);
        p.type = PacketType::Poll;
        p.options.clear();
        p.fields =
            PollFields{Sqn(sqn), round, subtype, t.source.port.address, backoff_us, rand, mask};
        return p;
    };
    const IpParams down = downstream_ip(session);
    auto send = [&](Duration when, const PacketSpec& p) {
        t.source.host->send_at(at(when), t.source.port.ifindex, down, bytes_of(p));
    };
    send(100ms, poll(1, 0, kPollGeneral, 0, 0, 50'000));           // answered within 50 ms
    send(300ms, poll(2, 0, 7, 0, 0, 1000));                        // unknown sub-type
    send(400ms, poll(3, 0, kPollGeneral, ~node, 0x1, 1000));       // mask excludes us
    send(500ms, poll(4, 1, kPollGeneral, 0, 0, 1000));             // round 1 without round 0
    send(600ms, poll(5, 0, kPollGeneral, node, 0xFFFF, 400'000));  // waits up to 400 ms ...
    send(610ms, poll(6, 0, kPollGeneral, 0, 0, 0));  // ... cancelled: answered at once
    net.run_until(at(1500ms));

    auto polrs = t.source.host->received(PacketType::Polr);
    ASSERT_EQ(polrs.size(), 2u);
    const std::pair<std::uint32_t, Duration> expected[] = {{1, 150ms}, {6, 611ms}};
    for (std::size_t i = 0; i < 2; ++i) {
        const PolrFields& f = std::get<PolrFields>(polrs[i]->spec->fields);
        EXPECT_EQ(f.sqn, Sqn(expected[i].first));
        EXPECT_EQ(f.round, 0u);
        EXPECT_LE(polrs[i]->at, at(expected[i].second + 2ms));             // link delay included
        EXPECT_EQ(polrs[i]->spec->destination_port, session.source_port);  // upstream orientation
    }
    EXPECT_GE(polrs[0]->at, at(100ms));
    EXPECT_EQ(net.segment_sent(t.lan_a).count(PacketType::Poll), 0u);  // POLLs stop here
    EXPECT_EQ(net.segment_sent(t.lan_b).count(PacketType::Poll), 0u);
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::PollSuccess], 3u);
    EXPECT_EQ(c[Counter::PolrOriginated], 2u);
    EXPECT_EQ(c[Counter::PollTypeError], 1u);
    EXPECT_EQ(c[Counter::PollRandomIgnore], 1u);
    EXPECT_EQ(c[Counter::PollError], 1u);
}

// 23. SPMR (D14.5): one addressed to the source is plain unicast, routed through; one
// addressed to the router (a receiver that used its SPM_PATH) is sent on to the upstream
// neighbour unchanged, from the router's upstream address.
TEST_F(RouterScenario, Scenario23_SpmrRoutedOrSentUpstream) {
    Star t = star(1, 0);
    start_session(t.source, session, Sqn(1), 2);
    PacketSpec spmr;
    spmr.type = PacketType::Spmr;
    spmr.source_port = session.destination_port;  // upstream orientation (§8.3)
    spmr.destination_port = session.source_port;
    spmr.gsi = session.gsi;
    spmr.fields = SpmrFields{};
    nak_to(t.on_a[0], at(100ms), session.source, spmr);
    nak_to(t.on_a[0], at(200ms), t.a.address, spmr);
    net.run_until(at(1s));

    EXPECT_EQ(t.source.count(PacketType::Spmr), 2u);
    const auto forwarded = captures(t.ne1->id(), PacketType::Spmr);
    ASSERT_EQ(forwarded.size(), 2u);  // one routed as plain IP, one sent on by the core
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::InSpmrs], 1u);
    EXPECT_EQ(c[Counter::OutSpmrs], 1u);
    EXPECT_EQ(t.ne1->transit().forwarded.count(PacketType::Spmr), 1u);
}

// 24. Losses across the sequence wrap: SPMs in sequence through 0, NAK/NCF/RDATA and the
// elimination state as anywhere else.
TEST_F(RouterScenario, Scenario24_SequenceWrap) {
    Star t = star(1, 1);
    const Sqn first(0xFFFFFFF0u);
    start_session(t.source, session, first, 22, 10ms, Sqn(0xFFFFFFFEu));  // ODATA to 5
    spm(t.source, session, at(50ms), Sqn(0xFFFFFFFFu), {}, first, first + 5);
    spm(t.source, session, at(100ms), Sqn(0), {}, first, first + 10);
    spm(t.source, session, at(150ms), Sqn(1), {}, first, first + 15);
    serve_naks(t.source, session, 50ms);
    const std::vector<Sqn> lost{Sqn(0xFFFFFFFFu), Sqn(0), Sqn(1)};
    for (Sqn q : lost)
        net.add_drop_rule(DropRule::on(t.lan_a).of_type(PacketType::Odata).with_sqn(q));
    for (Sqn q : lost)
        net.add_drop_rule(DropRule::on(t.lan_b).of_type(PacketType::Odata).with_sqn(q));
    const std::vector<Sqn> tail{Sqn(0), Sqn(1)};
    nak(t.on_a[0], at(300ms), session.nak(Sqn(0xFFFFFFFFu), tail));
    nak(t.on_b[0], at(310ms), session.nak(Sqn(0xFFFFFFFFu), tail));
    net.run_until(at(1s));

    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);
    for (const Endpoint& r : {t.on_a[0], t.on_b[0]}) {
        EXPECT_EQ(r.count(PacketType::Odata), 19u);
        EXPECT_EQ(r.count(PacketType::Spm), 4u);
        EXPECT_EQ(r.count(PacketType::Ncf), 1u);
        std::vector<Sqn> repaired;
        for (const Received* p : r.host->received(PacketType::Rdata))
            repaired.push_back(std::get<DataFields>(p->spec->fields).sqn);
        EXPECT_EQ(repaired, lost);
    }
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::SpmBadSqn], 0u);
    EXPECT_EQ(c[Counter::OutSpms], 8u);
    EXPECT_EQ(c[Counter::UniqueNaks], 3u);
    EXPECT_EQ(c[Counter::NakEliminated], 1u);
    EXPECT_EQ(c[Counter::OutRdata], 6u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
}

// 25. Two sources on one group lose the same sequence: repair state, NCFs and RDATA stay
// with their own TSI.
TEST_F(RouterScenario, Scenario25_MultipleTsisOnOneGroup) {
    Star t = star(1, 1);
    const Endpoint s2 = add_host("S2", t.lan_s);
    SessionPackets other = session;
    other.gsi = Gsi{{0x99, 0x88, 0x77, 0x66, 0x55, 0x44}};
    other.source_port = 7001;
    other.source = s2.port.address;
    start_session(t.source, session, Sqn(1), 5);
    start_session(s2, other, Sqn(1), 5);
    serve_naks(t.source, session, 100ms);
    serve_naks(s2, other, 100ms);
    auto of = [](const SessionPackets& s) {
        return [tsi = s.tsi()](const PacketView& v) { return v.header.tsi() == tsi; };
    };
    net.add_drop_rule(
        DropRule::on(t.lan_a).of_type(PacketType::Odata).with_sqn(Sqn(3)).where(of(session)));
    net.add_drop_rule(
        DropRule::on(t.lan_b).of_type(PacketType::Odata).with_sqn(Sqn(3)).where(of(other)));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    nak(t.on_b[0], at(100ms), other.nak(Sqn(3)));
    net.run_until(at(150ms));
    EXPECT_EQ(repair_interfaces(*t.ne1, session.tsi(), Sqn(3)), std::vector<IfIndex>{t.a.ifindex});
    EXPECT_EQ(repair_interfaces(*t.ne1, other.tsi(), Sqn(3)), std::vector<IfIndex>{t.b.ifindex});
    net.run_until(at(1s));

    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);
    EXPECT_EQ(s2.count(PacketType::Nak), 1u);
    EXPECT_EQ(t.source.host->received(PacketType::Nak)[0]->spec->gsi, session.gsi);
    EXPECT_EQ(s2.host->received(PacketType::Nak)[0]->spec->gsi, other.gsi);
    const std::tuple<const Endpoint*, const SessionPackets*, SegmentId> subtrees[] = {
        {&t.on_a[0], &session, t.lan_a}, {&t.on_b[0], &other, t.lan_b}};
    for (const auto& [r, s, segment] : subtrees) {
        auto ncfs = r->host->received(PacketType::Ncf);
        ASSERT_EQ(ncfs.size(), 1u);
        EXPECT_EQ(ncfs[0]->arrival.ip.source, s->source);
        EXPECT_EQ(ncfs[0]->spec->gsi, s->gsi);
        auto repairs = r->host->received(PacketType::Rdata);
        ASSERT_EQ(repairs.size(), 1u);
        EXPECT_EQ(repairs[0]->spec->gsi, s->gsi);
        EXPECT_EQ(repairs[0]->spec->source_port, s->source_port);
        EXPECT_EQ(net.segment_sent(segment).count(PacketType::Rdata), 1u);
    }
    EXPECT_TRUE(t.ne1->router().repairs().empty());
}

// 27. Checksum edges: a rewritten SPM whose checksum computes to 0 goes out as 0xFFFF; a NAK
// without checksum (0) is accepted and forwarded as it is; a NAK with a bad checksum is
// dropped and counted. (The fixture checks every packet a router sent has a valid checksum.)
TEST_F(RouterScenario, Scenario27_ChecksumEdges) {
    Star t = star(1, 1);
    // Choose SPM_TRAIL so that the copy NE1 sends on LAN-A (SPM_PATH = its LAN-A address)
    // sums to 0xFFFF, i.e. its checksum computes to 0.
    const Sqn lead(0x00100000u);
    PacketSpec copy = session.spm(Sqn(1), Sqn(0), lead, t.a.address);
    const Sqn trail(static_cast<std::uint16_t>(~ones_complement_sum(bytes_of(copy, false))));
    std::get<SpmFields>(copy.fields).trail = trail;
    ASSERT_EQ(ones_complement_sum(bytes_of(copy, false)), 0xFFFF);
    serve_naks(t.source, session, std::nullopt);
    spm(t.source, session, at(0ms), Sqn(1), {}, trail, lead);

    const std::vector<std::uint8_t> unchecked = bytes_of(session.nak(Sqn(3)), false);
    std::vector<std::uint8_t> corrupt = bytes_of(session.nak(Sqn(4)));
    corrupt[kOffsetChecksum] ^= 0x5A;
    t.on_a[0].host->send_at(at(100ms), t.on_a[0].port.ifindex, IpParams::to(t.a.address),
                            unchecked);
    t.on_b[0].host->send_at(at(100ms), t.on_b[0].port.ifindex, IpParams::to(t.b.address), corrupt);
    net.run_until(at(500ms));

    auto spms = t.on_a[0].host->received(PacketType::Spm);
    ASSERT_EQ(spms.size(), 1u);
    EXPECT_EQ(spms[0]->error, ParseError::Ok);
    EXPECT_EQ(load16(spms[0]->bytes.data() + kOffsetChecksum), 0xFFFF);
    EXPECT_EQ(t.on_b[0].host->received(PacketType::Spm).at(0)->error, ParseError::Ok);

    auto naks = t.source.host->received(PacketType::Nak);
    ASSERT_EQ(naks.size(), 1u);
    EXPECT_EQ(naks[0]->bytes, unchecked);  // still "no checksum"
    EXPECT_EQ(t.on_a[0].count(PacketType::Ncf), 1u);

    EXPECT_EQ(t.on_b[0].count(PacketType::Ncf), 0u);
    EXPECT_FALSE(phase(*t.ne1, session.tsi(), Sqn(4)).has_value());
    EXPECT_EQ(t.ne1->router().totals()[Counter::Malformed], 1u);
    EXPECT_EQ(
        t.ne1->router().malformed_by_reason()[static_cast<std::size_t>(ParseError::BadChecksum)],
        1u);
}

// 29. A NAK for a TSI the router has no path state for: no NCF, no state, nothing
// forwarded, counted (the current decision for N-NAK-21).
TEST_F(RouterScenario, Scenario29_NakForUnknownTsi) {
    Star t = star(1, 1);
    nak_to(t.on_a[0], at(100ms), t.a.address, session.nak(Sqn(3)));
    net.run_until(at(1500ms));

    EXPECT_EQ(net.segment_sent(t.lan_a).count(PacketType::Ncf), 0u);
    EXPECT_EQ(t.source.count(PacketType::Nak), 0u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
    EXPECT_TRUE(t.ne1->router().sessions().empty());
    EXPECT_EQ(t.ne1->router().totals()[Counter::InNakNoSessionErrors], 1u);
}

}  // namespace
}  // namespace pgm::sim::simtest
