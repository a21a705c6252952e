// DOC: Scenarios of the network element's NAK-storm and failure containment, in the virtual
// network with the scenario fixture (router_scenario_fixture.h) and exact counts: identical
// NCFs rate limited (N-NAK-4, decisions.md D33), DUP_NAK_MAX failure containment with unicast
// OPT_NBR_UNREACH NCFs (RFC 3208 §15.3, N-NAK-20, D34), and OPT_NBR_UNREACH from the upstream
// neighbour: NAK forwarding halted, the special SPM, a regular SPM resuming (§15.3.2,
// N-NCF-8, N-SPM-6, N-SPM-7, N-NAK-19, D11, D35).
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/unit/router_scenario_fixture.h"

namespace pgm::sim::simtest {
namespace {

using router::Counter;

bool has_nbr_unreach(const PacketSpec& p) {
    return std::any_of(p.options.begin(), p.options.end(), [](const OptionSpec& o) {
        return std::holds_alternative<OptNbrUnreach>(o);
    });
}

std::optional<Nla> path_nla_of(const PacketSpec& p) {
    for (const OptionSpec& o : p.options)
        if (const auto* path = std::get_if<OptPathNla>(&o)) return path->path;
    return std::nullopt;
}

// N-NAK-4, C32 (D33): 21 NAKs for one sequence on one interface within ncf_repeat_interval
// (50 ms) get one NCF; another interface gets its own; a NAK list naming a sequence not yet
// confirmed there is answered; after the interval the next NAK is answered again. Every NAK
// still joins the repair state and is eliminated as before.
TEST_F(RouterScenario, IdenticalNcfsAreRateLimitedPerInterface) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, std::nullopt);
    const Endpoint& r1 = t.on_a[0];
    const Endpoint& r2 = t.on_b[0];
    for (int i = 0; i < 21; ++i)
        nak(r1, at(100ms + i * 1ms), session.nak(Sqn(3)));
    nak(r2, at(105ms), session.nak(Sqn(3)));            // other interface: its own NCF
    nak(r1, at(130ms), session.nak(Sqn(3), {Sqn(4)}));  // 4 not confirmed on A: NCF
    nak(r1, at(140ms), session.nak(Sqn(4)));            // limited
    nak(r1, at(200ms), session.nak(Sqn(3)));            // interval over: NCF
    net.run_until(at(300ms));

    EXPECT_EQ(sent_on(t.a, PacketType::Ncf), 3u);
    EXPECT_EQ(sent_on(t.b, PacketType::Ncf), 1u);
    EXPECT_EQ(r1.count(PacketType::Ncf), 3u);
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::InNaks], 25u);
    EXPECT_EQ(c[Counter::OutNcfs], 4u);
    EXPECT_EQ(c[Counter::NcfRateLimited], 21u);
    EXPECT_EQ(c[Counter::NakEliminated], 23u);
    EXPECT_EQ(t.source.count(PacketType::Nak), 2u);  // 3, then the list for 4
    EXPECT_EQ(repair_interfaces(*t.ne1, session.tsi(), Sqn(3)).size(), 2u);
    const auto ncfs = captures(t.ne1->id(), PacketType::Ncf);
    ASSERT_EQ(ncfs.size(), 4u);
    EXPECT_EQ(nak_list(*ncfs[2]->spec), std::vector<Sqn>{Sqn(4)});  // the list echoed (D12)
}

// The limit off (ncf_repeat_interval = 0): every NAK is confirmed, as before D33.
TEST_F(RouterScenario, NcfRateLimitOffConfirmsEveryNak) {
    config.ncf_repeat_interval = 0s;
    Star t = star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, std::nullopt);
    for (int i = 0; i < 21; ++i)
        nak(t.on_a[0], at(100ms + i * 1ms), session.nak(Sqn(3)));
    net.run_until(at(300ms));
    EXPECT_EQ(sent_on(t.a, PacketType::Ncf), 21u);
    EXPECT_EQ(t.ne1->router().totals()[Counter::NcfRateLimited], 0u);
}

// N-NAK-20, C30 (D34): with dup_nak_max 3, the third duplicate NAK for a sequence on an
// interface makes the router assume its subtree unreachable; later NAKs there get unicast
// NCFs to their sender with OPT_NBR_UNREACH and OPT_PATH_NLA (our address there), until a
// regular SPM ends it. The duplicate count is per repair state and interface.
TEST_F(RouterScenario, DupNakMaxAnswersWithUnicastNbrUnreachNcfs) {
    config.dup_nak_max = 3;
    Star t = star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, std::nullopt);
    const Endpoint& r = t.on_a[0];
    for (int i = 0; i < 6; ++i)  // 100 ms apart: none rate limited
        nak(r, at(100ms + i * 100ms), session.nak(Sqn(3)));
    spm(t.source, session, at(650ms), Sqn(2));
    nak(r, at(700ms), session.nak(Sqn(3)));
    net.run_until(at(800ms));

    EXPECT_EQ(sent_on(t.a, PacketType::Ncf), 7u);
    EXPECT_EQ(r.count(PacketType::Ncf), 7u);
    const router::CounterSet c = t.ne1->router().totals();
    // The counts live as long as the repair state (§15.3): the duplicate at 700 ms, after the
    // regular SPM, is answered by multicast and assumes the failure again (D34).
    EXPECT_EQ(c[Counter::DupNakMaxReached], 2u);
    EXPECT_EQ(c[Counter::OutNbrUnreachNcfs], 2u);  // the NAKs at 500 and 600 ms
    EXPECT_EQ(c[Counter::OutNcfs], 7u);
    EXPECT_EQ(c[Counter::NakEliminated], 6u);
    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);
    const auto ncfs = captures(t.ne1->id(), PacketType::Ncf);
    ASSERT_EQ(ncfs.size(), 7u);
    for (std::size_t i = 0; i < ncfs.size(); ++i) {
        const bool unicast = i == 4 || i == 5;
        EXPECT_EQ(has_nbr_unreach(*ncfs[i]->spec), unicast) << i;
        EXPECT_EQ(ncfs[i]->transmit.ip_destination.is_multicast(), !unicast) << i;
    }
    EXPECT_EQ(ncfs[4]->transmit.ip_destination, r.port.address);
    EXPECT_EQ(ncfs[4]->transmit.ip_source, t.a.address);
    EXPECT_EQ(path_nla_of(*ncfs[4]->spec), t.a.address);
    EXPECT_EQ(nak_fields(*ncfs[4]->spec).sqn, Sqn(3));
}

// NAKs that crossed the NCF on their LAN (within ncf-repeat-interval of it: several receivers
// losing one packet upstream) are no duplicates for DUP_NAK_MAX: five NAKs 10 ms apart get
// one NCF and no containment. Before, the third such NAK assumed the LAN unreachable.
TEST_F(RouterScenario, DupNakMaxIgnoresNaksThatCrossedTheNcf) {
    config.dup_nak_max = 3;
    Star t = star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, std::nullopt);
    for (int i = 0; i < 5; ++i)
        nak(t.on_a[0], at(100ms + i * 10ms), session.nak(Sqn(3)));
    net.run_until(at(300ms));
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::OutNcfs], 1u);
    EXPECT_EQ(c[Counter::NcfRateLimited], 4u);
    EXPECT_EQ(c[Counter::DupNakMaxReached], 0u);
    EXPECT_EQ(c[Counter::OutNbrUnreachNcfs], 0u);
    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);
}

// Off by default (App. E is opt-in): any number of duplicates get multicast NCFs.
TEST_F(RouterScenario, DupNakMaxOffByDefault) {
    Star t = star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, std::nullopt);
    for (int i = 0; i < 10; ++i)
        nak(t.on_a[0], at(100ms + i * 100ms), session.nak(Sqn(3)));
    net.run_until(at(1100ms));
    EXPECT_EQ(sent_on(t.a, PacketType::Ncf), 10u);
    EXPECT_EQ(t.ne1->router().totals()[Counter::OutNbrUnreachNcfs], 0u);
}

// Scenario 21 (N-NAK-20, N-NCF-8, N-NAK-19, N-SPM-7; D34, D35): NE1's NCFs to NE2 are lost,
// so NE2 repeats its NAK; the third duplicate makes NE1 answer with a unicast NCF carrying
// OPT_NBR_UNREACH and OPT_PATH_NLA. NE2 checks the path against its upstream neighbour,
// stops forwarding NAKs, and sends the special SPM (last SPM_SQN, no window) downstream.
// The source's next regular SPM ends the state on both: NAKs flow again.
TEST_F(RouterScenario, Scenario21_ImplosionContainment) {
    config.dup_nak_max = 3;
    config.nbr_unreach = true;
    Chain c = chain();
    start_session(c.source, session, Sqn(1), 5);
    serve_naks(c.source, session, std::nullopt);
    const RuleId lost = net.add_drop_rule(
        DropRule::on(c.link_12).sent_by(c.ne1_down.attachment).of_type(PacketType::Ncf).first(4));
    nak(c.receiver, at(100ms), session.nak(Sqn(3)));  // NE2 repeats it at +100, +200, ...
    nak(c.receiver, at(750ms), session.nak(Sqn(4)));  // held at NE2
    net.run_until(at(980ms));

    EXPECT_EQ(net.dropped_by(lost), 4u);
    const router::CounterSet ne1 = c.ne1->router().totals();
    EXPECT_EQ(ne1[Counter::DupNakMaxReached], 1u);
    EXPECT_EQ(ne1[Counter::OutNbrUnreachNcfs], 1u);
    EXPECT_EQ(sent_on(c.ne1_down, PacketType::Ncf), 5u);
    const router::CounterSet ne2 = c.ne2->router().totals();
    EXPECT_EQ(ne2[Counter::NakRetransmitted], 4u);
    EXPECT_EQ(ne2[Counter::NbrUnreachReceived], 1u);
    EXPECT_EQ(ne2[Counter::NcfReceived], 1u);  // the unicast NCF confirms as any other
    EXPECT_EQ(ne2[Counter::OutNbrUnreachSpms], 1u);
    EXPECT_EQ(ne2[Counter::NakNbrUnreachHeld], 3u);  // 4 at 750, 850, 950 ms
    EXPECT_EQ(sent_on(c.ne2_up, PacketType::Nak), 5u);
    EXPECT_EQ(c.receiver.count(PacketType::Ncf), 2u);  // NE2 still confirms both NAKs
    EXPECT_EQ(c.receiver.count(PacketType::Spm), 2u);  // the session's, the special one
    const auto spms = captures(c.ne2->id(), PacketType::Spm);
    ASSERT_EQ(spms.size(), 2u);
    ASSERT_TRUE(has_nbr_unreach(*spms[1]->spec));
    const SpmFields& special = std::get<SpmFields>(spms[1]->spec->fields);
    EXPECT_EQ(special.sqn, Sqn(1));
    EXPECT_EQ(special.trail, Sqn(kNoWindowTrail));
    EXPECT_EQ(special.lead, Sqn(kNoWindowLead));
    EXPECT_EQ(special.path, std::get<SpmFields>(spms[0]->spec->fields).path);
    EXPECT_TRUE(spms[1]->transmit.router_alert);
    EXPECT_EQ(spms[1]->transmit.ip_source, session.source);

    spm(c.source, session, at(1000ms), Sqn(2));  // regular: both states end
    nak(c.receiver, at(1100ms), session.nak(Sqn(5)));
    net.run_until(at(1300ms));
    EXPECT_EQ(c.ne2->router().totals()[Counter::NakNbrUnreachHeld], 3u);
    // NAK 4's repeat at 1050 ms and NAK 5 reach the source; NE1 confirms them by multicast.
    EXPECT_EQ(c.source.count(PacketType::Nak), 3u);
    EXPECT_EQ(c.ne1->router().totals()[Counter::OutNbrUnreachNcfs], 1u);
    EXPECT_EQ(c.ne1->router().totals()[Counter::DupNakMaxReached], 1u);
}

// N-SPM-6, D11: an SPM with OPT_NBR_UNREACH repeating the last SPM_SQN from the upstream
// neighbour is forwarded and halts NAK forwarding without changing path state; one whose
// SPM_PATH is anyone else, or an NCF whose OPT_PATH_NLA is, is ignored.
TEST_F(RouterScenario, NbrUnreachSpmFromTheParentHaltsNakForwarding) {
    config.nbr_unreach = true;
    Star t = star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, std::nullopt);
    const Nla elsewhere = t.on_a[0].port.address;
    spm(t.source, session, at(50ms), Sqn(1), {OptNbrUnreach{}}, Sqn(kNoWindowTrail),
        Sqn(kNoWindowLead));
    PacketSpec wrong = session.spm(Sqn(1), Sqn(kNoWindowTrail), Sqn(kNoWindowLead), elsewhere);
    wrong.options = {OptNbrUnreach{}};
    t.source.host->send_at(at(60ms), t.source.port.ifindex, downstream_ip(session), wrong);
    PacketSpec ncf = session.ncf(Sqn(2));
    ncf.options = {OptNbrUnreach{}, OptPathNla{elsewhere}};
    nak_to(t.source, at(70ms), t.up.address, ncf);
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    net.run_until(at(330ms));

    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::NbrUnreachReceived], 1u);
    EXPECT_EQ(c[Counter::NbrUnreachIgnored], 2u);
    EXPECT_EQ(c[Counter::OutNbrUnreachSpms], 0u);  // forwarded, not originated
    EXPECT_EQ(t.on_a[0].count(PacketType::Spm), 2u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Ncf), 1u);
    EXPECT_EQ(c[Counter::NakNbrUnreachHeld], 3u);  // at 100, 200, 300 ms
    EXPECT_EQ(t.source.count(PacketType::Nak), 0u);
    EXPECT_EQ(t.ne1->router().sessions().at(session.tsi()).last_spm_sqn, Sqn(1));

    spm(t.source, session, at(350ms), Sqn(2));
    net.run_until(at(500ms));
    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);  // the repeat at 400 ms
}

}  // namespace
}  // namespace pgm::sim::simtest
