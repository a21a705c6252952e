#include "tests/unit/router_scenario_fixture.h"

#include <algorithm>

namespace pgm::sim::simtest {

using router::Counter;

std::vector<Sqn> nak_list(const PacketSpec& s) {
    for (const OptionSpec& o : s.options)
        if (const auto* l = std::get_if<OptNakList>(&o)) return l->sqns;
    return {};
}

const NakFields& nak_fields(const PacketSpec& s) {
    return std::get<NakFields>(s.fields);
}

RouterScenario::RouterScenario() {
    config.nak_repeat_period = 100ms;
    config.nak_rpt_ivl = 1s;
    config.nak_elim_ivl = 1s;
    config.nak_rdata_ivl = 2s;
    // The checklist §6 scenarios pin RFC 3208 to the letter: state deleted once RDATA has
    // passed (§7.8). The RDATA hold (D27) has its own tests.
    config.rdata_hold = Duration::zero();
    session.gsi = Gsi{{0x11, 0x22, 0x33, 0x44, 0x55, 0x66}};
    session.source_port = 7000;
    session.destination_port = 7500;
    session.group = ipv4(239, 1, 2, 3);
    net.set_capture([this](const Capture& c) { record(c); });
}

void RouterScenario::TearDown() {
    for (const RouterNode* r : routers_)
        expect_counters_match_links(*r);
    EXPECT_EQ(net.stalled_timers(), 0u);
}

// --- Building -------------------------------------------------------------------------------

Endpoint RouterScenario::add_host(const std::string& name, SegmentId s) {
    ScriptedHost& h = topo.host(name);
    return Endpoint{&h, topo.attach(h.id(), s)};
}

RouterNode& RouterScenario::add_router(const std::string& name) {
    RouterNode& r = topo.router(name, config);
    routers_.push_back(&r);
    return r;
}

Port RouterScenario::attach_router(RouterNode& r, SegmentId s, bool downstream) {
    Port p = topo.attach(r.id(), s);
    if (downstream) r.join(p.ifindex, session.group);
    return p;
}

RouterScenario::Star RouterScenario::star(int receivers_on_a, int receivers_on_b) {
    Star t;
    t.lan_s = lan("LAN-S");
    t.lan_a = lan("LAN-A");
    t.lan_b = lan("LAN-B");
    t.source = add_host("S", t.lan_s);
    session.source = t.source.port.address;
    t.ne1 = &add_router("NE1");
    t.up = attach_router(*t.ne1, t.lan_s, false);
    t.a = attach_router(*t.ne1, t.lan_a, true);
    t.b = attach_router(*t.ne1, t.lan_b, true);
    static const char* const kNames[] = {"R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"};
    int n = 0;
    for (int i = 0; i < receivers_on_a; ++i)
        t.on_a.push_back(add_host(kNames[n++], t.lan_a));
    for (int i = 0; i < receivers_on_b; ++i)
        t.on_b.push_back(add_host(kNames[n++], t.lan_b));
    return t;
}

RouterScenario::Chain RouterScenario::chain() {
    Chain c;
    c.link_s = p2p("S-NE1");
    c.link_12 = p2p("NE1-NE2");
    c.lan_r = lan("LAN-R");
    c.source = add_host("S", c.link_s);
    session.source = c.source.port.address;
    c.ne1 = &add_router("NE1");
    c.ne2 = &add_router("NE2");
    attach_router(*c.ne1, c.link_s, false);
    c.ne1_down = attach_router(*c.ne1, c.link_12, true);
    c.ne2_up = attach_router(*c.ne2, c.link_12, false);
    attach_router(*c.ne2, c.lan_r, true);
    c.receiver = add_host("R", c.lan_r);
    return c;
}

// --- Scripted behaviour ---------------------------------------------------------------------

IpParams RouterScenario::downstream_ip(const SessionPackets& s) const {
    return IpParams::to(s.group, true);
}

void RouterScenario::spm(const Endpoint& src, const SessionPackets& s, Time t, Sqn sqn,
                         std::vector<OptionSpec> options, Sqn trail, Sqn lead) {
    PacketSpec p = s.spm(sqn, trail, lead, src.port.address);
    p.options = std::move(options);
    src.host->send_at(t, src.port.ifindex, downstream_ip(s), p);
}

void RouterScenario::start_session(const Endpoint& src, const SessionPackets& s, Sqn first,
                                   int count, Duration spacing, Sqn spm_sqn) {
    spm(src, s, at(0ms), spm_sqn, {}, first, first - 1);
    const IpParams ip = IpParams::to(s.group);
    for (int i = 0; i < count; ++i) {
        const Sqn sqn = first + static_cast<std::uint32_t>(i);
        std::vector<std::uint8_t> payload(32, static_cast<std::uint8_t>(sqn.value()));
        src.host->send_at(at(spacing * (i + 1)), src.port.ifindex, ip,
                          s.odata(sqn, first, std::move(payload)));
    }
}

void RouterScenario::rdata(const Endpoint& src, const SessionPackets& s, Time t, Sqn sqn) {
    std::vector<std::uint8_t> payload(32, static_cast<std::uint8_t>(sqn.value()));
    src.host->send_at(t, src.port.ifindex, downstream_ip(s), s.rdata(sqn, Sqn(1), payload));
}

void RouterScenario::serve_naks(const Endpoint& src, const SessionPackets& s,
                                std::optional<Duration> rdata_delay) {
    src.host->on_receive([this, src, s, rdata_delay](ScriptedHost& h, const Received& p) {
        if (!p.spec || p.spec->type != PacketType::Nak || p.spec->gsi != s.gsi ||
            p.spec->destination_port != s.source_port)
            return;
        const Sqn sqn = nak_fields(*p.spec).sqn;
        const std::vector<Sqn> list = nak_list(*p.spec);
        h.send(src.port.ifindex, downstream_ip(s), s.ncf(sqn, list));
        if (!rdata_delay) return;
        const Time t = h.network().now() + *rdata_delay;
        rdata(src, s, t, sqn);
        for (Sqn q : list)
            rdata(src, s, t, q);
    });
}

Nla RouterScenario::last_spm_path(const ScriptedHost& h) {
    auto spms = h.received(PacketType::Spm);
    if (spms.empty()) {
        ADD_FAILURE() << "no SPM heard: no NAK destination";
        return Nla{};
    }
    return std::get<SpmFields>(spms.back()->spec->fields).path;
}

ScriptedHost::SendId RouterScenario::nak(const Endpoint& r, Time t, const PacketSpec& packet) {
    const IfIndex ifindex = r.port.ifindex;
    return r.host->call_at(t, [ifindex, packet](ScriptedHost& h) {
        h.send(ifindex, IpParams::to(last_spm_path(h)), packet);
    });
}

ScriptedHost::SendId RouterScenario::nak_to(const Endpoint& r, Time t, const Nla& to,
                                            const PacketSpec& packet) {
    return r.host->send_at(t, r.port.ifindex, IpParams::to(to), packet);
}

void RouterScenario::suppress_on_ncf(const Endpoint& r, ScriptedHost::SendId id, Sqn sqn) {
    r.host->on_receive([id, sqn](ScriptedHost& h, const Received& p) {
        if (p.spec && p.spec->type == PacketType::Ncf && nak_fields(*p.spec).sqn == sqn)
            h.cancel(id);
    });
}

// --- Observation ----------------------------------------------------------------------------

void RouterScenario::record(const Capture& c) {
    Captured k{
        c.at,        c.segment, net.info(c.from).node, c.transmit, {c.pgm.begin(), c.pgm.end()},
        std::nullopt};
    if (c.view) k.spec = from_view(*c.view);
    const bool from_router = std::any_of(routers_.begin(), routers_.end(),
                                         [&](const RouterNode* r) { return r->id() == k.node; });
    if (from_router) {
        const std::string who = net.name(k.node);
        EXPECT_TRUE(k.spec.has_value()) << who << " sent a packet that does not parse";
        const bool dlr = std::any_of(routers_.begin(), routers_.end(), [&](const RouterNode* r) {
            return r->id() == k.node && r->router().config().dlr.enabled();
        });
        const bool nbr_unreach =
            k.spec &&
            std::any_of(k.spec->options.begin(), k.spec->options.end(), [](const OptionSpec& o) {
                return std::holds_alternative<OptNbrUnreach>(o);
            });
        if (k.spec && k.spec->type == PacketType::Ncf && nbr_unreach) {
            // App. E (§15.3.2, D34): unicast to the NAK's sender from the router's own address,
            // without Router Alert.
            EXPECT_FALSE(c.transmit.ip_destination.is_multicast()) << who;
            EXPECT_FALSE(c.transmit.router_alert) << who << ": NBR_UNREACH NCF with Router Alert";
            EXPECT_TRUE(net.is_local(k.node, c.transmit.ip_source)) << who;
        } else if (k.spec && k.spec->type == PacketType::Ncf && dlr &&
                   !c.transmit.ip_destination.is_multicast()) {
            // An off-tree DLR's unicast NCF to its parent (§9.5.2.2): from its own address,
            // without Router Alert.
            EXPECT_FALSE(c.transmit.router_alert) << who << ": unicast DLR NCF with Router Alert";
            EXPECT_TRUE(net.is_local(k.node, c.transmit.ip_source)) << who;
        } else if (k.spec && k.spec->type == PacketType::Ncf) {
            EXPECT_TRUE(c.transmit.router_alert) << who << ": NCF without Router Alert";
            EXPECT_TRUE(c.transmit.ip_destination.is_multicast()) << who << ": unicast NCF";
            EXPECT_FALSE(net.is_local(k.node, c.transmit.ip_source))
                << who << ": NCF from its own address instead of the data source";
        }
    }
    captured.push_back(std::move(k));
}

std::vector<const Captured*> RouterScenario::captures(NodeId from, PacketType type) const {
    std::vector<const Captured*> r;
    for (const Captured& c : captured)
        if (c.node == from && c.spec && c.spec->type == type) r.push_back(&c);
    return r;
}

std::optional<RepairPhase> RouterScenario::phase(const RouterNode& r, const Tsi& tsi,
                                                 Sqn sqn) const {
    auto it = r.router().repairs().find(router::RepairKey{tsi, sqn});
    if (it == r.router().repairs().end()) return std::nullopt;
    return it->second.phase;
}

std::vector<IfIndex> RouterScenario::repair_interfaces(const RouterNode& r, const Tsi& tsi,
                                                       Sqn sqn) const {
    auto it = r.router().repairs().find(router::RepairKey{tsi, sqn});
    if (it == r.router().repairs().end()) return {};
    return r.router().interfaces_of(it->second.interfaces);
}

// Link counters minus the unicast the node routed as plain IP = the core's counters. Packets
// that an unknown option told the core to discard (D10) are counted only as OptionDiscards.
void RouterScenario::expect_counters_match_links(const RouterNode& r) const {
    TypeCounters sent, received;
    for (AttachmentId a : net.attachments_of(r.id())) {
        sent += net.counters(a).sent;
        received += net.counters(a).received;
    }
    const ForwardCounters& transit = r.transit();
    TypeCounters transit_in = transit.forwarded;
    transit_in += transit.ttl_expired;
    transit_in += transit.unroutable;
    const router::CounterSet c = r.router().totals();
    struct Row {
        PacketType type;
        Counter in;
        Counter out;  // Counter::Count: the core sends none of its own
    };
    static constexpr Row kRows[] = {
        {PacketType::Spm, Counter::InSpms, Counter::OutSpms},
        {PacketType::Odata, Counter::InOdata, Counter::OutOdata},
        {PacketType::Rdata, Counter::InRdata, Counter::OutRdata},
        {PacketType::Nak, Counter::InNaks, Counter::OutNaks},
        {PacketType::Nnak, Counter::InNnaks, Counter::OutNnaks},
        {PacketType::Ncf, Counter::InNcfs, Counter::OutNcfs},
        {PacketType::Poll, Counter::InPolls, Counter::PollOriginated},
        {PacketType::Polr, Counter::InPolrs, Counter::PolrOriginated},
        {PacketType::Spmr, Counter::InSpmrs, Counter::OutSpmrs},
    };
    const std::string& who = net.name(r.id());
    std::int64_t discarded = 0;
    for (const Row& row : kRows) {
        const std::int64_t in = static_cast<std::int64_t>(received.count(row.type)) -
                                static_cast<std::int64_t>(transit_in.count(row.type));
        const auto counted = static_cast<std::int64_t>(c[row.in]);
        EXPECT_GE(in, counted) << who << " " << router::name(row.in);
        discarded += in - counted;
        const std::uint64_t out = row.out == Counter::Count ? 0 : c[row.out];
        EXPECT_EQ(sent.count(row.type) - transit.forwarded.count(row.type), out)
            << who << " sent " << to_string(row.type);
    }
    EXPECT_EQ(discarded, static_cast<std::int64_t>(c[Counter::OptionDiscards]))
        << who << " In* counters + OptionDiscards = packets received";
    EXPECT_EQ(received.malformed, c[Counter::Malformed]) << who << " Malformed";

    // The parity counters (C27) are the OPT_PARITY subset of the packet counters: what the
    // core sent with OPT_PARITY (its own NAKs come from its address; routed NAKs do not).
    std::uint64_t parity_naks = 0, parity_ncfs = 0, parity_rdata = 0;
    for (const Captured& k : captured) {
        if (k.node != r.id() || !k.spec || !(k.spec->extra_flags & kOptParity)) continue;
        if (k.spec->type == PacketType::Nak && net.is_local(k.node, k.transmit.ip_source))
            ++parity_naks;
        if (k.spec->type == PacketType::Ncf) ++parity_ncfs;
        if (k.spec->type == PacketType::Rdata && k.transmit.ip_destination.is_multicast())
            ++parity_rdata;
    }
    EXPECT_EQ(parity_naks, c[Counter::OutParityNaks]) << who << " OutParityNaks";
    EXPECT_EQ(parity_ncfs, c[Counter::OutParityNcfs]) << who << " OutParityNcfs";
    EXPECT_EQ(parity_rdata, c[Counter::OutParityRdata]) << who << " OutParityRdata";
    EXPECT_LE(c[Counter::InParityNaks], c[Counter::InNaks]) << who;
    EXPECT_LE(c[Counter::InParityNcfs], c[Counter::InNcfs]) << who;
    EXPECT_LE(c[Counter::InParityRdata], c[Counter::InRdata]) << who;
}

}  // namespace pgm::sim::simtest
