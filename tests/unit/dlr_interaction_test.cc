// DOC: The DLR role (router/dlr.*, D29) and NAK redirection (router/redirect.*, D28) against
// each other, with pgmd on both sides, plus a randomised memory-safety run of one Router.
// The first two tests pin defects found in review of the merge (each states it).
#include <gtest/gtest.h>

#include <map>

#include "router/dlr.h"
#include "tests/unit/router_scenario_fixture.h"

namespace pgm::sim::simtest {
namespace {

using router::Counter;

//   S ── LAN-S ── NE1 ── LAN-P ─┬─ NE2 ── LAN-R ── R
//                               └─ DLR (pgmd with a [dlr] scope)
class UpstreamDlrPgmd : public RouterScenario {
  protected:
    UpstreamDlrPgmd() {
        router::DlrScope scope;
        scope.group = ipv4(239, 1, 0, 0);
        scope.prefix_length = 16;
        dlr_config = config;
        dlr_config.dlr.scopes.push_back(scope);
    }
    void build() {
        lan_s = lan("LAN-S");
        lan_p = lan("LAN-P");
        lan_r = lan("LAN-R");
        source = add_host("S", lan_s);
        session.source = source.port.address;
        ne1 = &add_router("NE1");
        attach_router(*ne1, lan_s, false);
        ne1_p = attach_router(*ne1, lan_p, true);
        ne2 = &add_router("NE2");
        ne2_up = attach_router(*ne2, lan_p, false);
        attach_router(*ne2, lan_r, true);
        const router::RouterConfig plain = config;
        config = dlr_config;
        dlr = &add_router("DLR");
        config = plain;
        dlr_up = attach_router(*dlr, lan_p, false);
        receiver = add_host("R", lan_r);
    }
    router::RouterConfig dlr_config;
    Endpoint source, receiver;
    RouterNode *ne1 = nullptr, *ne2 = nullptr, *dlr = nullptr;
    Port dlr_up, ne2_up, ne1_p;
    SegmentId lan_s = 0, lan_p = 0, lan_r = 0;
};

// Found in review: NE2 learns the upstream DLR from its redirecting POLR and redirects its next
// NAK to it (N-DLR-4), unicast on LAN-P. The DLR gets that NAK on its UPSTREAM interface from
// a host that is not its parent, and on_nak_like() drops it as NakError (D14.6), so the
// redirected NAK is never answered: NE2 waits NAK_RPT_IVL, discards the DLR (N-DLR-6) and
// goes to NE1 after all.
TEST_F(UpstreamDlrPgmd, RedirectedNakIsAnsweredByTheUpstreamDlr) {
    build();
    start_session(source, session, Sqn(1), 5);
    serve_naks(source, session, 5ms);
    net.add_drop_rule(DropRule::on(lan_r).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    net.add_drop_rule(DropRule::on(lan_r).of_type(PacketType::Odata).with_sqn(Sqn(4)));
    nak(receiver, at(100ms), session.nak(Sqn(3)));  // NE1's NCF -> DLR's POLR -> NE2 learns
    nak(receiver, at(400ms), session.nak(Sqn(4)));  // redirected to the DLR
    net.run_until(at(3s));

    ASSERT_TRUE(ne2->router().sessions().at(session.tsi()).redirect.used);
    EXPECT_GE(ne2->router().totals()[Counter::NakForwardedDLR], 1u);
    EXPECT_EQ(receiver.count(PacketType::Rdata), 2u);  // 3 from S, 4 from the DLR
    // The DLR holds 4: it should answer (NCF + RDATA on LAN-P, NNAK upstream).
    EXPECT_EQ(dlr->router().totals()[Counter::NakError], 0u);
    EXPECT_EQ(dlr->router().totals()[Counter::DlrNaksAnsweredLocally], 1u);
    EXPECT_EQ(ne2->router().totals()[Counter::NakRetryExpiredDLR], 0u);
    EXPECT_EQ(source.count(PacketType::Nak), 1u);  // only the NAK for 3 reached S
}

// Found in review: §9.5.2.1 says an upstream DLR MUST NOT send a redirecting POLR for an NCF that
// completes its own NAK. DlrRepairer::on_parent_ncf() looks the NCF's sequences up as they are on
// the wire; for a parity NCF that is TG_SQN | (PKT_CNT - 1), but parity repair state is keyed by
// TG_SQN alone, so an NCF confirming the parity NAK it forwarded is not recognised as its
// own whenever PKT_CNT > 1, and it announces itself.
TEST_F(RouterScenario, DlrNoPolrForTheParityNcfOfItsOwnNak) {
    router::DlrScope scope;
    scope.group = ipv4(239, 1, 0, 0);
    scope.prefix_length = 16;
    config.dlr.scopes.push_back(scope);
    Star t = star(1, 0);
    start_session(t.source, session, Sqn(1), 8);
    spm(t.source, session, at(50ms), Sqn(2), {OptParityPrm{false, true, 4}}, Sqn(1), Sqn(8));
    PacketSpec pnak = session.nak(Sqn(5));  // TG 4, PKT_CNT 1: two parity packets wanted
    pnak.extra_flags = kOptParity;
    nak(t.on_a[0], at(100ms), pnak);
    PacketSpec pncf = session.ncf(Sqn(5));  // the source confirms it
    pncf.extra_flags = kOptParity;
    t.source.host->send_at(at(105ms), t.source.port.ifindex, downstream_ip(session),
                           *build(pncf, true));
    net.run_until(at(300ms));

    ASSERT_EQ(t.source.count(PacketType::Nak), 1u);                 // NE1 forwarded the parity NAK
    EXPECT_EQ(t.ne1->router().totals()[Counter::NcfReceived], 1u);  // and the NCF confirmed it
    EXPECT_EQ(captures(t.ne1->id(), PacketType::Polr).size(), 0u);
}

// Both halves of the merge against each other (no scripted DLR or parent): NE1 discovers
// a pgmd off-tree DLR on LAN-B with PGM_POLL_DLR, redirects R's NAK to it; the DLR answers
// with a unicast NCF, NNAK then RDATA; NE1 rewrites the RDATA onto LAN-A.
//   S ── LAN-S ── NE1 ─┬─ LAN-A ── R
//                      └─ LAN-B ── DLR (pgmd, its upstream interface on LAN-B)
TEST_F(RouterScenario, PgmdOffTreeDlrUnderPgmdRedirector) {
    config.discover_dlrs = true;
    Star t = star(1, 0);
    router::RouterConfig dlr_config = config;
    dlr_config.discover_dlrs = false;
    router::DlrScope scope;
    scope.group = ipv4(239, 1, 0, 0);
    scope.prefix_length = 16;
    dlr_config.dlr.scopes.push_back(scope);
    const router::RouterConfig plain = config;
    config = dlr_config;
    RouterNode& dlr = add_router("DLR");
    config = plain;
    const Port dlr_up = attach_router(dlr, t.lan_b, false);
    start_session(t.source, session, Sqn(1), 6);
    serve_naks(t.source, session, 5ms);
    net.add_drop_rule(DropRule::on(t.lan_a).of_type(PacketType::Odata).with_sqn(Sqn(2)));
    net.add_drop_rule(DropRule::on(t.lan_a).of_type(PacketType::Odata).with_sqn(Sqn(5)));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(2)));  // no DLR known: to S, and POLL_DLR
    nak(t.on_a[0], at(400ms), session.nak(Sqn(5)));  // to the DLR
    net.run_until(at(3s));

    const auto& rec = t.ne1->router().sessions().at(session.tsi()).redirect;
    ASSERT_TRUE(rec.off_tree.has_value());
    EXPECT_EQ(rec.off_tree->nla, dlr_up.address);
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::NakForwardedDLR], 1u);
    EXPECT_EQ(c[Counter::InRedirectNcfs], 1u);
    EXPECT_EQ(c[Counter::DlrNnaksForwarded], 1u);
    EXPECT_EQ(c[Counter::DlrRdataRewritten], 1u);
    EXPECT_EQ(c[Counter::NakRetryExpiredDLR], 0u);
    EXPECT_EQ(dlr.router().totals()[Counter::DlrNaksAnsweredLocally], 1u);
    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);
    EXPECT_EQ(t.source.count(PacketType::Nnak), 1u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Rdata), 2u);
}

// --- Randomised driving of one Router (run under the Sanitize build) ----------------------
// Memory-safety net for the integration: the one-entry session cache across session expiry,
// interface_down and the session cap; references into the flat_hash_map repair table
// across apply(); the DLR map across sessions coming and going; every byte of every packet
// the router writes (parsed back with its checksum).
namespace stress {

constexpr IfIndex kUp = 1, kDownA = 2, kDownB = 3;
const Nla kSource = ipv4(10, 0, 0, 1);
const Nla kParent = ipv4(10, 0, 0, 254);  // SPM_PATH: the upstream neighbour
const Nla kUpAddr = ipv4(10, 0, 0, 2);
const Nla kDownAAddr = ipv4(10, 0, 1, 1);
const Nla kDownBAddr = ipv4(10, 0, 2, 1);
const Nla kOffTreeDlr = ipv4(10, 0, 1, 9);
const Nla kReceiverB = ipv4(10, 0, 2, 7);
const Nla kGroup = ipv4(239, 1, 2, 3);

class Env : public router::Environment {
  public:
    std::optional<Nla> interface_address(IfIndex i, Nla::Family) const override {
        if (i == kUp) return kUpAddr;
        if (i == kDownA) return kDownAAddr;
        if (i == kDownB) return kDownBAddr;
        return std::nullopt;
    }
    std::optional<IfIndex> route_interface(const Nla& a) const override {
        const Bytes b = a.address();
        if (b.size() != 4) return std::nullopt;
        if (b[2] == 0) return kUp;
        if (b[2] == 1) return kDownA;
        if (b[2] == 2) return kDownB;
        return std::nullopt;
    }
    void group_members(const Nla&, const Nla&, std::vector<IfIndex>& out) const override {
        out.assign({kUp, kDownA, kDownB});
    }
};

struct Rng {
    std::uint64_t s;
    std::uint64_t next() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
    std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }
};

PacketSpec spec(PacketType type, std::uint16_t sport, Fields f, bool upstream) {
    PacketSpec s;
    s.type = type;
    s.source_port = upstream ? 7500 : sport;
    s.destination_port = upstream ? sport : 7500;
    s.gsi = Gsi{{1, 2, 3, 4, 5, 6}};
    s.fields = std::move(f);
    return s;
}

Arrival arrival(IfIndex i, const Nla& src, const Nla& dst, bool ra = true) {
    Arrival a;
    a.ifindex = i;
    a.ip.source = src;
    a.ip.destination = dst;
    a.ip.ttl = 64;
    a.ip.router_alert = ra;
    return a;
}

// Everything the router sent for one seed, with the Output arena pre-filled with `poison`
// before every call (Output keeps its capacity and no longer zero-fills): a byte the writers
// leave unwritten shows up as a difference between two poisons.
std::vector<std::vector<std::uint8_t>> run(std::uint64_t seed, std::uint8_t poison);

TEST(DlrRedirectStress, NoUnwrittenArenaBytes) {
    {  // the premise: begin() hands out the old bytes of the arena as they were
        Output o;
        MutableBytes j = o.begin(64);
        std::fill(j.begin(), j.end(), std::uint8_t{0x5A});
        o.abandon();
        ASSERT_EQ(o.begin(64)[10], 0x5A);
    }
    std::map<PacketType, std::size_t> types;
    for (std::uint64_t seed = 1; seed <= 10; ++seed) {
        const auto a = run(seed, 0x00), b = run(seed, 0xFF);
        for (const auto& p : a)
            ++types[parse(p).view.header.type];
        ASSERT_EQ(a.size(), b.size());
        for (std::size_t i = 0; i < a.size(); ++i)
            ASSERT_EQ(a[i], b[i]) << "seed " << seed << " packet " << i;
    }
    // Every writer of the router ran: NCF, NAK (forwarded, repeated, the DLR's own), NNAK
    // (the DLR's), POLL (discovery), POLR (the DLR's, upstream and off-tree), RDATA, SPM.
    for (PacketType t : {PacketType::Ncf, PacketType::Nak, PacketType::Nnak, PacketType::Poll,
                         PacketType::Polr, PacketType::Rdata, PacketType::Spm, PacketType::Odata})
        EXPECT_GT(types[t], 0u) << static_cast<int>(t);
}

TEST(DlrRedirectStress, RandomTrafficAcrossDlrRedirectAndSessionChurn) {
    for (std::uint64_t seed = 1; seed <= 40; ++seed)
        EXPECT_GT(run(seed, 0xA5).size(), 1000u);
}

std::vector<std::vector<std::uint8_t>> run(std::uint64_t seed, std::uint8_t poison) {
    std::vector<std::vector<std::uint8_t>> sent;
    Env env;
    router::RouterConfig c;
    router::DlrScope scope;
    scope.group = ipv4(239, 1, 0, 0);
    scope.prefix_length = 16;
    c.dlr.scopes.push_back(scope);
    c.dlr.cache_packets_per_session = 16;
    c.dlr.cache_bytes_per_session = 2000;
    c.dlr.cache_bytes_total = 3000;  // below max_sessions x the per-session bound
    c.discover_dlrs = true;
    c.dlr_poll_interval = 200ms;
    c.max_sessions = 3;
    c.max_repair_states = 40;  // small: flat_hash_map rehashes and the cap are exercised
    c.session_lifetime = 2s;
    c.max_naks_per_second_per_interface = 0;
    std::size_t max_cached = 0;
    {
        Rng rng{seed * 0x9E3779B97F4A7C15ull};
        router::Router r(c, env);
        Output out;
        Time now = kStart;
        std::uint32_t spm_sqn[5] = {1, 1, 1, 1, 1};
        std::uint32_t lead[5] = {10, 10, 10, 10, 10};
        std::vector<std::pair<IfIndex, PollFields>> polls;
        for (int step = 0; step < 4000; ++step) {
            now += std::chrono::milliseconds(rng.below(40));
            const std::uint16_t sport = static_cast<std::uint16_t>(7000 + rng.below(5));
            const std::size_t si = sport - 7000;
            auto sqn = [&] { return Sqn(lead[si] - rng.below(24)); };
            auto nak_fields = [&] { return NakFields{sqn(), kSource, kGroup}; };
            auto with_list = [&](PacketSpec s) {
                if (rng.below(3) == 0) {
                    OptNakList l;
                    for (std::uint32_t i = 0, n = 1 + rng.below(8); i < n; ++i)
                        l.sqns.push_back(sqn());
                    s.options.push_back(l);
                }
                return s;
            };
            std::optional<std::vector<std::uint8_t>> bytes;
            Arrival a;
            switch (rng.below(14)) {
                case 0: {  // SPM
                    lead[si] += rng.below(6);
                    bytes = build(spec(
                        PacketType::Spm, sport,
                        SpmFields{Sqn(spm_sqn[si]++), Sqn(lead[si] - 12), Sqn(lead[si]), kParent},
                        false));
                    a = arrival(kUp, kSource, kGroup);
                    break;
                }
                case 1:
                case 2: {  // ODATA, sometimes with an unknown OPX=01 option (slow path)
                    lead[si] += rng.below(3);
                    PacketSpec s =
                        spec(PacketType::Odata, sport,
                             DataFields{Sqn(lead[si] - rng.below(4)), Sqn(lead[si] - 12)}, false);
                    s.payload.assign(20 + rng.below(300), static_cast<std::uint8_t>(step));
                    if (rng.below(4) == 0) s.options.push_back(OptRaw{0x30, 0x40, 0, {1, 2}});
                    bytes = build(s);
                    a = arrival(kUp, kSource, kGroup, false);
                    break;
                }
                case 3: {  // RDATA from upstream
                    PacketSpec s = spec(PacketType::Rdata, sport,
                                        DataFields{sqn(), Sqn(lead[si] - 12)}, false);
                    s.payload.assign(40, 7);
                    bytes = build(s);
                    a = arrival(kUp, kSource, kGroup);
                    break;
                }
                case 4:
                case 5: {  // NAK from a receiver below B (or A)
                    bytes = build(with_list(spec(PacketType::Nak, sport, nak_fields(), true)));
                    const bool b = rng.below(2);
                    a = arrival(b ? kDownB : kDownA, b ? kReceiverB : kOffTreeDlr,
                                b ? kDownBAddr : kDownAAddr, false);
                    break;
                }
                case 6: {  // NCF from the parent
                    bytes = build(with_list(spec(PacketType::Ncf, sport, nak_fields(), false)));
                    a = arrival(kUp, kSource, kGroup);
                    break;
                }
                case 7: {  // the parent's NAK to us (we are its off-tree DLR)
                    bytes = build(with_list(spec(PacketType::Nak, sport, nak_fields(), true)));
                    a = arrival(kUp, kParent, kUpAddr, false);
                    break;
                }
                case 8: {  // the off-tree DLR's unicast NCF / NNAK / RDATA
                    const std::uint32_t k = rng.below(3);
                    PacketSpec s =
                        k == 2 ? spec(PacketType::Rdata, sport, DataFields{sqn(), Sqn(1)}, false)
                               : with_list(spec(k ? PacketType::Nnak : PacketType::Ncf, sport,
                                                nak_fields(), k == 1));
                    if (k == 2) s.payload.assign(30, 1);
                    bytes = build(s);
                    a = arrival(kDownA, kOffTreeDlr, kDownAAddr, false);
                    break;
                }
                case 9: {  // an upstream DLR's redirecting POLR
                    PacketSpec s = spec(PacketType::Polr, sport, PolrFields{Sqn(step), 0}, true);
                    s.options.push_back(OptRedirect{ipv4(10, 0, 0, 50)});
                    bytes = build(s);
                    a = arrival(kUp, kSource, kGroup);
                    break;
                }
                case 10: {  // answer a POLL_DLR we sent, as the off-tree DLR
                    if (polls.empty()) continue;
                    const auto [i, f] = polls[rng.below(static_cast<std::uint32_t>(polls.size()))];
                    PacketSpec s = spec(PacketType::Polr, sport, PolrFields{f.sqn, f.round}, true);
                    s.options.push_back(OptRedirect{kOffTreeDlr});
                    bytes = build(s);
                    a = arrival(kDownA, kOffTreeDlr, kDownAAddr, false);
                    break;
                }
                case 11: {  // the parent's POLL_DLR
                    bytes = build(spec(
                        PacketType::Poll, sport,
                        PollFields{Sqn(rng.below(3)), 0, kPollDlr, kParent, 1000, 0, 0}, false));
                    a = arrival(kUp, kSource, kGroup);
                    break;
                }
                case 12:
                    if (rng.below(10) == 0) r.interface_down(rng.below(2) ? kDownA : kUp);
                    if (rng.below(10) == 0) r.reconfigure(c);
                    continue;
                default:
                    if (now >= r.next_deadline()) r.on_timer(now, out);
                    break;
            }
            {
                MutableBytes junk = out.begin(1 << 16);
                std::fill(junk.begin(), junk.end(), poison);
                out.abandon();
            }
            if (bytes) r.on_packet(a, Bytes(*bytes), now, out);
            if (now >= r.next_deadline()) r.on_timer(now, out);
            for (const Transmit& t : out.transmits()) {
                ParseOptions o;
                o.verify_checksum = true;
                ParseResult p = parse(out.bytes(t), o);
                EXPECT_TRUE(p) << "seed " << seed << " step " << step;
                if (!p) return sent;
                const Bytes b = out.bytes(t);
                sent.emplace_back(b.begin(), b.end());
                if (p.view.header.type == PacketType::Poll)
                    polls.emplace_back(t.ifindex, *p.view.get<PollFields>());
            }
            if (polls.size() > 16) polls.erase(polls.begin());
            out.clear();
            EXPECT_LE(r.sessions().size(), c.max_sessions);
            EXPECT_LE(r.dlr_sessions().size(), c.max_sessions);
            std::size_t cached = 0;
            for (const auto& [tsi, d] : r.dlr_sessions())
                cached += d.cache.bytes();
            EXPECT_LE(cached, c.dlr.cache_bytes_total);
            max_cached = std::max(max_cached, cached);
            EXPECT_LE(r.repairs().size(), c.max_repair_states);
        }
    }
    EXPECT_GT(max_cached, c.dlr.cache_bytes_per_session);  // several sessions cached
    return sent;
}

}  // namespace stress
}  // namespace
}  // namespace pgm::sim::simtest
