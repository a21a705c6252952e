// FUZZ: libFuzzer target for the network-element core (router::Router). Owns the test
// environment (four interfaces, routes towards two sources, group membership the input can
// change), the decoding of an input into a sequence of steps (packets with their arrival
// interface and IP header, time steps, membership changes, interface_down, reconfigure,
// clear_repairs) and the invariants checked after every step; a broken one calls
// __builtin_trap() so that libFuzzer records the input.
//
// Input: u8 configuration flags (bit 4: pgmd is a DLR for G0, bit 7: it discovers DLRs; see
// LLVMFuzzerTestOneInput), u32 data base, u32 SPM base (step_format.h), then steps:
//   op u8, by op & 7:
//     0-2  templated packet: dt, arrival, ip source, ip destination, TemplateSpec
//     3    raw packet:       dt, arrival, ip source, ip destination, u16 length, bytes
//     4    time step:        dt
//     5    membership:       u8 (bits 0-1 group mod 3, bits 2-6 interfaces to toggle)
//     6    interface_down:   u8 (interface)
//     7    reconfigure:      u8 (bit 0 toggles the RDATA hold, bit 1 clear_repairs(), bit 2
//                            toggles the DLR role, bit 3 toggles DLR discovery)
//   arrival u8: bits 0-2 interface (1,2,3,4,1,2,3,9), bits 3-4 TTL (64,1,2,255),
//               bit 5 Router Alert, bit 6 UDP encapsulation (port 3055).
//   ip source / destination u8: index into the address table (& 15).
// A POLR template's sequence is relative to the POLL_SQN of the last DLR discovery POLL the
// router sent (step_format.h), so that an off-tree DLR's answer costs one byte.
// Before every packet, and on time steps, the harness calls on_timer() at each deadline
// the core reports (next_deadline()) up to the new time, as the daemon's loop does.
//
// Invariants: state within its caps (sessions, repair states, held RDATA bytes, DLR sessions
// and each DLR cache's packet and byte bounds); parity counts only beside parity repair
// entries; every repair entry and session has a future deadline once the timers have run
// (nothing lingers); sessions were accepted through the RPF check; DLR records sit where they
// were heard (upstream DLR on the upstream interface, off-tree DLR below another one). Per
// packet: unparseable input produces nothing; every output parses (checksum verified except
// switched ODATA); ODATA, SPM and RDATA never go back out of their arrival interface and only
// to members; RDATA goes only to interfaces that were in that (TSI, sqn)'s repair set before
// the packet (for the off-tree DLR's rewritten RDATA, its own interface included), or back
// to the interface of a NAK for a sequence in phase REPAIRED (a held copy) or in the DLR
// cache; NCFs go only to the NAK's interface; NAKs, NNAKs, SPMRs and ACKs only up the
// session's upstream interface, to its upstream neighbour or a DLR it recorded, NAKs only
// for sequences the DLR cache did not answer; as a DLR: gap NAKs upstream only for holes of
// the cache, NNAKs only for what the cache answered, one redirecting POLR per NAK_RPT_IVL on
// an NCF, and to a NAK from the parent only unicast answers to it; discovery POLLs only on a
// NAK, for a session without DLR, not upstream; POLL and POLR input send nothing; timers send
// only NAK repeats (to the same destinations) and POLRs, upstream; next_deadline() is after
// the time on_timer() was called with.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include "protocol/packet.h"
#include "router/router.h"
#include "tests/fuzz/step_format.h"

namespace {

using namespace pgm;
using namespace pgm::fuzz;
using router::RepairKey;
using router::RepairPhase;
using router::Router;
using router::RouterConfig;

void check(bool ok) {
    if (!ok) __builtin_trap();
}

const std::array<Nla, 16>& kNlas = kFuzzNlas;
constexpr std::array<IfIndex, 8> kArrivalInterfaces{1, 2, 3, 4, 1, 2, 3, 9};
constexpr std::array<std::uint8_t, 4> kTtls{64, 1, 2, 255};
constexpr std::array<IfIndex, 5> kAllInterfaces{1, 2, 3, 4, 9};  // 9 has no address
// Groups with members: G0, G1, G0 over IPv6.
constexpr std::array<std::size_t, 3> kGroupNla{2, 3, 10};

class FuzzEnvironment : public router::Environment {
  public:
    std::optional<Nla> interface_address(IfIndex i, Nla::Family family) const override {
        if (i < 1 || i > 4) return std::nullopt;
        if (family == Nla::Family::Ipv4) return fuzz_v4(10, 0, static_cast<std::uint8_t>(i), 254);
        if (family == Nla::Family::Ipv6 && i <= 3)
            return fuzz_v6(static_cast<std::uint8_t>(i), 0xfe);
        return std::nullopt;
    }
    std::optional<IfIndex> route_interface(const Nla& a) const override {
        Bytes b = a.address();
        if (a.is_ipv4() && b[0] == 10 && b[1] == 0 && b[2] >= 1 && b[2] <= 4) return b[2];
        if (a.is_ipv6() && b[0] == 0x20 && b[1] == 0x01 && b[5] >= 1 && b[5] <= 4) return b[5];
        return std::nullopt;
    }
    void group_members(const Nla&, const Nla& group, std::vector<IfIndex>& out) const override {
        out.clear();
        const int g = group_index(group);
        if (g < 0) return;
        for (std::size_t i = 0; i < kAllInterfaces.size(); ++i)
            if (members[g] & (1u << i)) out.push_back(kAllInterfaces[i]);
    }
    bool is_member(const Nla& group, IfIndex ifindex) const {
        const int g = group_index(group);
        if (g < 0) return false;
        for (std::size_t i = 0; i < kAllInterfaces.size(); ++i)
            if (kAllInterfaces[i] == ifindex) return (members[g] & (1u << i)) != 0;
        return false;
    }
    static int group_index(const Nla& group) {
        for (std::size_t g = 0; g < kGroupNla.size(); ++g)
            if (kNlas[kGroupNla[g]] == group) return static_cast<int>(g);
        return -1;
    }

    // Bit i: kAllInterfaces[i] has members. G0 on 2, 3, 4 (and 1, the upstream: the core
    // must leave it out itself); G1 on 4 and the interface without an address; G0/IPv6 on
    // 3, 4.
    std::array<std::uint32_t, 3> members{0b01111, 0b11000, 0b01100};
};

// What one packet step may legitimately send, computed before the core sees the packet.
struct Expectation {
    bool parsed = false;
    PacketView view;
    Tsi tsi;
    std::set<IfIndex> rdata_to;        // RDATA input: the repair set before (not the arrival)
    bool rdata_rewritten = false;      // RDATA input: the off-tree DLR's, sent on as the source's
    std::set<std::uint32_t> resend;    // NAK input: its sequences in phase REPAIRED
    std::set<std::uint32_t> nak_sqns;  // NAK input: the header sequence and the list
    std::set<std::uint32_t> dlr_held;  // NAK input: its sequences the DLR cache held
    bool parent_nak = false;           // NAK input: our parent's, to us as its off-tree DLR
    // NAK input: from a sibling on the upstream segment, redirected to us as its upstream DLR
    // (D29): answered there, and its misses go to the parent out of the same interface.
    bool upstream_dlr_nak = false;
    bool discovery = false;         // NAK input: may start a DLR discovery round
    bool redirecting_polr = false;  // NCF input: may announce us as the upstream DLR
    std::optional<router::Session> session;
};

// The sequences of a NAK-type packet (header and OPT_NAK_LIST).
std::set<std::uint32_t> nak_sqns_of(const PacketView& v) {
    std::set<std::uint32_t> r{v.get<NakFields>()->sqn.value()};
    if (auto list = v.nak_list())
        for (std::size_t i = 0; i < list->size(); ++i)
            r.insert((*list)[i].value());
    return r;
}

class Harness {
  public:
    Harness(const RouterConfig& config) : config_(config), router_(config, env_) {}

    void run(StepReader& r, Sqn data_base, Sqn spm_base) {
        std::vector<std::uint8_t> packet;
        while (!r.empty()) {
            const std::uint8_t op = r.u8();
            switch (op & 7) {
                case 0:
                case 1:
                case 2:
                case 3: {
                    advance(read_dt(r));
                    const Arrival a = read_arrival(r);
                    if ((op & 7) == 3) {
                        const std::size_t n = r.u16() % 2049;
                        Bytes b = r.take(n);
                        packet.assign(b.begin(), b.end());
                    } else {
                        TemplateSpec spec;
                        spec.read(r, data_base, spm_base, last_poll_sqn_);
                        packet = spec.build(kNlas);
                    }
                    on_packet(a, packet);
                    break;
                }
                case 4:
                    advance(read_dt(r));
                    break;
                case 5: {
                    const std::uint8_t b = r.u8();
                    env_.members[(b & 3) % 3] ^= (b >> 2) & 0x1F;
                    break;
                }
                case 6:
                    router_.interface_down(kArrivalInterfaces[r.u8() & 7]);
                    check_state();
                    break;
                case 7: {
                    const std::uint8_t b = r.u8();
                    if (b & 1)
                        config_.rdata_hold = config_.rdata_hold == Duration::zero()
                                                 ? Duration(std::chrono::seconds(2))
                                                 : Duration::zero();
                    if (b & 4) config_.dlr.scopes = config_.dlr.enabled() ? kNoDlr : kDlrScopes;
                    if (b & 8) config_.discover_dlrs = !config_.discover_dlrs;
                    if (b & 0x0D) router_.reconfigure(config_);
                    if (b & 2) router_.clear_repairs();
                    check_state();
                    break;
                }
            }
        }
        // Let everything expire: no state may outlive its timers.
        advance(std::chrono::seconds(3600));
        check(router_.repairs().empty() && router_.sessions().empty());
        check(router_.held_rdata_bytes() == 0);
        check(router_.dlr_sessions().empty());
    }

    // The DLR role the input can switch on: G0 (IPv4), any source. G1 and G0 over IPv6 stay
    // ordinary sessions beside it.
    static inline const std::vector<router::DlrScope> kDlrScopes{
        router::DlrScope{kNlas[kNlaG0], 32, std::nullopt}};
    static inline const std::vector<router::DlrScope> kNoDlr{};

  private:
    Arrival read_arrival(StepReader& r) {
        const std::uint8_t b = r.u8();
        Arrival a;
        a.ifindex = kArrivalInterfaces[b & 7];
        a.ip.ttl = kTtls[(b >> 3) & 3];
        a.ip.router_alert = (b & 0x20) != 0;
        if (b & 0x40) {
            a.ip.encapsulation = Encapsulation::Udp;
            a.ip.udp_source_port = kDefaultUdpEncapsulationPort;
            a.ip.udp_destination_port = kDefaultUdpEncapsulationPort;
        }
        a.ip.source = kNlas[r.u8() & 15];
        a.ip.destination = kNlas[r.u8() & 15];
        a.ip.version = a.ip.source.is_ipv6() ? 6 : 4;
        return a;
    }

    // Runs the timers at each deadline up to now + dt, then moves the clock there.
    void advance(Duration dt) {
        const Time until = now_ + dt;
        for (int guard = 0; guard < 100000; ++guard) {
            const Time due = router_.next_deadline();
            if (due > until) break;
            check(due >= now_);  // nothing was left overdue by the previous step
            timer(due);
        }
        now_ = until;
        check_state();
    }

    // A NAK to `t` goes where the session's NAKs may go: its upstream neighbour, or a DLR it
    // recorded (upstream DLR on the upstream interface, off-tree DLR on its own interface).
    static bool nak_destination_ok(const Transmit& t, const router::Session& s, bool parity) {
        if (t.ifindex == s.upstream_interface && t.ip_destination == s.upstream_neighbour)
            return true;
        for (const auto* d : {&s.redirect.upstream, &s.redirect.off_tree})
            if (*d && t.ifindex == (*d)->ifindex && t.ip_destination == (*d)->nla &&
                (!parity || (*d)->parity))  // N-DLR-2
                return true;
        return false;
    }

    void timer(Time at) {
        const auto sessions = router_.sessions();  // before: timers may expire them
        out_.clear();
        router_.on_timer(at, out_);
        check(router_.next_deadline() > at);
        check(out_.transmits().size() <= sessions.size() + router_.config().max_repair_states);
        for (const Transmit& t : out_.transmits()) {
            ParseResult p = parse(out_.bytes(t));
            check(static_cast<bool>(p));
            const PacketType type = p.view.header.type;
            check(type == PacketType::Nak || type == PacketType::Polr);
            auto s = sessions.find(p.view.header.tsi());
            check(s != sessions.end());
            if (type == PacketType::Nak) {
                check(nak_destination_ok(t, s->second, p.view.header.parity()));
            } else {
                check(t.ifindex == s->second.upstream_interface);
                // The answer to a DLR POLL names us, the address it comes from (§9.5.2.2).
                if (auto redirect = p.view.redirect()) check(redirect->dlr == t.ip_source);
            }
        }
        now_ = at;
        check_state();
    }

    bool dlr_serves(const router::Session& s) const {
        for (const router::DlrScope& scope : router_.config().dlr.scopes)
            if (scope.matches(s.source, s.group)) return true;
        return false;
    }

    Expectation expect(const Arrival& a, Bytes pgm) const {
        Expectation e;
        ParseOptions opts;
        opts.verify_checksum =
            !(pgm.size() > kOffsetType &&
              (pgm[kOffsetType] & kTypeCodeMask) == static_cast<std::uint8_t>(PacketType::Odata));
        ParseResult p = parse(pgm, opts);
        if (!p) return e;
        e.parsed = true;
        e.view = p.view;
        e.tsi = p.view.header.tsi();
        auto s = router_.sessions().find(e.tsi);
        if (s != router_.sessions().end()) e.session = s->second;
        if (!e.session) return e;
        const router::Session& session = *e.session;
        const auto dlr = router_.dlr_sessions().find(e.tsi);
        const PacketType type = p.view.header.type;
        if (type == PacketType::Rdata) {
            Sqn sqn = p.view.get<DataFields>()->sqn;
            const bool parity = p.view.header.parity();
            if (parity) {
                if (session.tgs == 0) return e;
                sqn = Sqn(sqn.value() & ~(session.tgs - 1));
            }
            // N-RD-7: the off-tree DLR's unicast RDATA is the source's now, for every
            // interface of the repair set, the DLR's own included (redirect.cc).
            const auto& off_tree = session.redirect.off_tree;
            e.rdata_rewritten = off_tree && a.ifindex == off_tree->ifindex &&
                                a.ip.source == off_tree->nla && !a.ip.destination.is_multicast();
            auto it = router_.repairs().find(RepairKey{e.tsi, sqn, parity});
            if (it == router_.repairs().end()) return e;
            for (IfIndex i : router_.interfaces_of(it->second.interfaces))
                if (i != a.ifindex || e.rdata_rewritten) e.rdata_to.insert(i);
        } else if (type == PacketType::Nak || type == PacketType::Nnak) {
            e.nak_sqns = nak_sqns_of(p.view);
            const bool parity = p.view.header.parity();
            if (type == PacketType::Nak && !parity) {
                for (std::uint32_t sqn : e.nak_sqns) {
                    auto it = router_.repairs().find(RepairKey{e.tsi, Sqn(sqn), false});
                    if (it != router_.repairs().end() && it->second.phase == RepairPhase::Repaired)
                        e.resend.insert(sqn);
                    if (dlr != router_.dlr_sessions().end() && dlr->second.cache.holds(Sqn(sqn)))
                        e.dlr_held.insert(sqn);
                }
            }
            // Router::on_nak_like: our parent redirecting a NAK to us (§9.5.2.2).
            e.parent_nak = a.ifindex == session.upstream_interface &&
                           a.ip.source == session.upstream_neighbour &&
                           p.view.get<NakFields>()->group == session.group &&
                           router_.config().dlr.enabled() && dlr_serves(session);
            e.upstream_dlr_nak = type == PacketType::Nak && !parity && !e.parent_nak &&
                                 a.ifindex == session.upstream_interface &&
                                 !a.ip.destination.is_multicast() &&
                                 p.view.get<NakFields>()->group == session.group &&
                                 router_.config().dlr.enabled() && dlr_serves(session);
            e.discovery = router_.config().discover_dlrs && !session.redirect.any() &&
                          now_ >= session.redirect.next_poll;
        } else if (type == PacketType::Ncf) {
            // §9.5.2.1: at most one redirecting POLR per NAK_RPT_IVL, and only from a DLR.
            e.redirecting_polr = dlr != router_.dlr_sessions().end() &&
                                 a.ifindex == session.upstream_interface &&
                                 (!dlr->second.last_polr ||
                                  now_ - *dlr->second.last_polr >= router_.config().nak_rpt_ivl);
        }
        return e;
    }

    // Our address on the session's upstream interface, where we speak to our parent from.
    std::optional<Nla> upstream_address(const router::Session& s, const Nla& to) const {
        return env_.interface_address(s.upstream_interface, to.family());
    }

    // A NAK/NNAK the DLR wrote itself for data packets, SPMs: every sequence is a hole of the
    // session's cache, with repair state, and it goes to the upstream neighbour.
    void check_gap_nak(const Transmit& t, const PacketView& v) const {
        check(v.header.type == PacketType::Nak && !v.header.parity());
        auto s = router_.sessions().find(v.header.tsi());
        check(s != router_.sessions().end());
        auto d = router_.dlr_sessions().find(v.header.tsi());
        check(d != router_.dlr_sessions().end());
        check(t.ifindex == s->second.upstream_interface &&
              t.ip_destination == s->second.upstream_neighbour);
        const auto& holes = d->second.cache.holes();
        for (std::uint32_t sqn : nak_sqns_of(v)) {
            check(std::find(holes.begin(), holes.end(), Sqn(sqn)) != holes.end());
            check(router_.repairs().contains(RepairKey{v.header.tsi(), Sqn(sqn), false}));
        }
    }

    void on_packet(const Arrival& a, const std::vector<std::uint8_t>& packet) {
        const Bytes pgm(packet);
        const Expectation e = expect(a, pgm);
        out_.clear();
        router_.on_packet(a, pgm, now_, out_);
        if (!e.parsed) {
            check(out_.empty());
            check_state();
            return;
        }
        const PacketType in = e.view.header.type;
        check(out_.transmits().size() <= 4 + 2 + kMaxNakList + 1);
        std::set<IfIndex> polled;
        std::size_t polrs = 0;
        for (const Transmit& t : out_.transmits()) {
            const Bytes bytes = out_.bytes(t);
            check(!bytes.empty() && bytes.size() <= 4096);  // inputs are < 4 KiB, NCFs < 512
            ParseOptions opts;
            // Switched ODATA keeps whatever checksum it came with; everything else the core
            // verified on the way in or wrote itself.
            opts.verify_checksum = in != PacketType::Odata;
            ParseResult p = parse(bytes, opts);
            check(static_cast<bool>(p));
            const PacketType type = p.view.header.type;
            check(p.view.header.tsi() == e.tsi);
            check(t.ttl >= 1);
            if (in == PacketType::Nak && e.parent_nak) {
                // Our parent redirected a NAK to us (dlr.cc): a unicast NCF, NNAKs for what
                // the cache held and its RDATA, a NAK for the rest; all back to the parent.
                check(t.ifindex == a.ifindex && t.ip_destination == a.ip.source);
                check(!t.router_alert && t.ip_source == upstream_address(*e.session, a.ip.source));
                switch (type) {
                    case PacketType::Ncf:
                        break;
                    case PacketType::Rdata:
                        check(e.dlr_held.contains(p.view.get<DataFields>()->sqn.value()));
                        break;
                    case PacketType::Nnak:
                        for (std::uint32_t sqn : nak_sqns_of(p.view))
                            check(e.dlr_held.contains(sqn));
                        break;
                    case PacketType::Nak:
                        for (std::uint32_t sqn : nak_sqns_of(p.view))
                            check(e.nak_sqns.contains(sqn) && !e.dlr_held.contains(sqn));
                        break;
                    default:
                        check(false);
                }
                continue;
            }
            switch (type) {
                case PacketType::Odata:
                case PacketType::Spm:
                    check(in == type);
                    // Only from the RPF interface: the session's upstream, or the route.
                    check(a.ifindex == (in == PacketType::Odata && e.session
                                            ? e.session->upstream_interface
                                            : env_.route_interface(a.ip.source).value_or(0)));
                    check(t.ifindex != a.ifindex);  // no loops
                    check(env_.is_member(a.ip.destination, t.ifindex));
                    check(t.ttl == a.ip.ttl - 1);
                    break;
                case PacketType::Rdata: {
                    const Sqn sqn = p.view.get<DataFields>()->sqn;
                    if (in == PacketType::Rdata) {
                        check(e.rdata_to.contains(t.ifindex));  // repair state there before
                        check(sqn == e.view.get<DataFields>()->sqn);
                        if (e.rdata_rewritten) {  // N-RD-7: as the source's, as far as SPMs go
                            check(t.ip_source == e.session->source &&
                                  t.ip_destination == e.session->group && t.router_alert);
                            check(t.ttl == e.session->last_ttl - 1);
                        } else {
                            check(t.ttl == a.ip.ttl - 1);
                        }
                    } else {
                        // Back to the NAK's link: a held copy, or the DLR cache's (D29) sent
                        // as the source would.
                        check(in == PacketType::Nak && t.ifindex == a.ifindex);
                        const bool from_cache =
                            e.dlr_held.contains(sqn.value()) && t.ip_source == e.session->source &&
                            t.ip_destination == e.session->group && t.router_alert;
                        check(e.resend.contains(sqn.value()) || from_cache);
                    }
                    break;
                }
                case PacketType::Ncf:
                    check(in == PacketType::Nak);
                    check(t.ifindex == a.ifindex && t.ip_destination.is_multicast());
                    check(e.session && t.ip_source == e.session->source);
                    break;
                case PacketType::Nak:
                    check(e.session.has_value());
                    if (in != PacketType::Nak) {  // the DLR's own NAK for holes of its cache
                        check(in == PacketType::Odata || in == PacketType::Rdata ||
                              in == PacketType::Spm);
                        check_gap_nak(t, p.view);
                        break;
                    }
                    check(t.ifindex != a.ifindex || e.upstream_dlr_nak);
                    check(nak_destination_ok(t, *e.session, p.view.header.parity()));
                    if (!p.view.header.parity())  // the cache answered the rest (D29)
                        for (std::uint32_t sqn : nak_sqns_of(p.view))
                            check(e.nak_sqns.contains(sqn) && !e.dlr_held.contains(sqn));
                    break;
                case PacketType::Nnak:
                    check(e.session && (in == PacketType::Nnak || in == PacketType::Nak));
                    check(t.ifindex == e.session->upstream_interface &&
                          (t.ifindex != a.ifindex || e.upstream_dlr_nak));
                    check(t.ip_destination == e.session->upstream_neighbour);
                    if (in == PacketType::Nak)  // the DLR's, for what its cache answered
                        for (std::uint32_t sqn : nak_sqns_of(p.view))
                            check(e.dlr_held.contains(sqn));
                    break;
                case PacketType::Spmr:
                case PacketType::Ack:
                    check(in == type && e.session);
                    check(t.ifindex == e.session->upstream_interface && t.ifindex != a.ifindex);
                    check(t.ip_destination == e.session->upstream_neighbour);
                    break;
                case PacketType::Poll: {
                    // DLR discovery (N-DLR-1): on a NAK, down every member interface but the
                    // upstream one, once each, as the source.
                    check(in == PacketType::Nak && e.discovery);
                    const PollFields& f = *p.view.get<PollFields>();
                    check(f.subtype == kPollDlr && f.round == 0);
                    check(t.ifindex != e.session->upstream_interface &&
                          env_.is_member(e.session->group, t.ifindex));
                    check(polled.insert(t.ifindex).second);
                    check(t.ip_source == e.session->source &&
                          t.ip_destination == e.session->group && t.router_alert);
                    check(f.path == env_.interface_address(t.ifindex, f.path.family()));
                    last_poll_sqn_ = f.sqn;
                    break;
                }
                case PacketType::Polr: {
                    // §9.5.2.1: the DLR announces itself to the parent's segment.
                    check(in == PacketType::Ncf && e.redirecting_polr && ++polrs == 1);
                    check(t.ifindex == e.session->upstream_interface && t.ttl == 1);
                    check(t.ip_source == e.session->source &&
                          t.ip_destination == e.session->group && t.router_alert);
                    auto redirect = p.view.redirect();
                    check(redirect &&
                          redirect->dlr == upstream_address(*e.session, e.session->source));
                    break;
                }
            }
        }
        check_state();
    }

    void check_state() const {
        const RouterConfig& c = router_.config();
        check(router_.sessions().size() <= c.max_sessions);
        check(router_.repairs().size() <= c.max_repair_states);
        check(router_.held_rdata_bytes() <= c.max_rdata_hold_bytes);
        check(router_.interfaces().size() <= router::kMaxInterfaces);
        const router::InterfaceSlots known =
            router_.interfaces().size() >= 64
                ? ~router::InterfaceSlots{0}
                : (router::InterfaceSlots{1} << router_.interfaces().size()) - 1;
        std::size_t repaired = 0;
        for (const auto& [key, e] : router_.repairs()) {
            check((e.interfaces & ~known) == 0);
            check(e.next_deadline() != kNever);  // every entry ends some day
            check(e.next_deadline() > now_);     // and is not overdue after the timers ran
            if (e.phase == RepairPhase::Repaired) {
                check(!key.parity);
                ++repaired;
            }
        }
        check(router_.held_rdata_bytes() <= repaired * 65535);
        for (const auto& [key, pc] : router_.parity_counts()) {
            check(key.parity && router_.repairs().contains(key));
            for (const auto& slot : pc.interfaces)
                check(slot.slot < router_.interfaces().size());
        }
        for (const auto& [tsi, s] : router_.sessions()) {
            check(env_.route_interface(s.source) == s.upstream_interface);  // RPF
            check(now_ - s.last_spm < c.session_lifetime);
            // DLR records (D28): at most one of each kind, where they were heard.
            const router::RedirectState& r = s.redirect;
            if (r.upstream)
                check(r.upstream->ifindex == s.upstream_interface &&
                      env_.route_interface(r.upstream->nla) == r.upstream->ifindex);
            if (r.off_tree)
                check(r.off_tree->ifindex != s.upstream_interface &&
                      env_.route_interface(r.off_tree->nla) == r.off_tree->ifindex &&
                      !r.off_tree->nla.is_multicast());
            check(!r.any() || r.used);
            check((r.polled_slots & ~known) == 0);
        }
        // The DLR (D29): state only for live sessions it serves, caches within their bounds.
        check(router_.dlr_sessions().size() <= router_.sessions().size());
        check(c.dlr.enabled() || router_.dlr_sessions().empty());
        // Session::dlr, decided on SPMs and reload, is what the scopes say (router/dlr.h).
        for (const auto& [tsi, s] : router_.sessions())
            check(s.dlr == dlr_serves(s));
        for (const auto& [tsi, d] : router_.dlr_sessions()) {
            auto s = router_.sessions().find(tsi);
            check(s != router_.sessions().end() && dlr_serves(s->second));
            const router::DlrCache& cache = d.cache;
            check(cache.span() <= c.dlr.cache_packets_per_session);
            check(cache.bytes() <= c.dlr.cache_bytes_per_session);
            check(cache.packets() <= cache.span());
            check(cache.holes().size() + cache.packets() <= cache.span());
            check(cache.span() > 0 || (cache.bytes() == 0 && cache.holes().empty()));
            std::optional<Sqn> previous;
            for (Sqn h : cache.holes()) {
                check(cache.first() && !(h < *cache.first()) &&
                      static_cast<std::size_t>(h.distance_from(*cache.first())) < cache.span());
                check(!cache.holds(h));
                check(!previous || *previous < h);  // oldest first, each once
                previous = h;
            }
        }
    }

    FuzzEnvironment env_;
    RouterConfig config_;
    Router router_;
    Output out_;
    Time now_ = Time{} + std::chrono::seconds(1000);
    std::optional<Sqn> last_poll_sqn_;  // of the router's last DLR discovery POLL
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    StepReader r(data, size);
    const std::uint8_t flags = r.u8();
    const Sqn data_base(r.u32());
    const Sqn spm_base(r.u32());
    RouterConfig c;
    // Low caps, so that inputs reach them; short timers, so that time steps reach them.
    c.max_sessions = (flags & 0x08) ? 8 : 2;
    c.max_repair_states = (flags & 0x20) ? 64 : 8;
    c.max_rdata_hold_bytes = (flags & 0x04) ? 4096 : 600;
    c.rdata_hold = (flags & 0x01) ? Duration::zero() : Duration(std::chrono::seconds(2));
    c.max_naks_per_second_per_interface = (flags & 0x02) ? 20 : 0;
    // Per-source NAK caps (D36) with room for two sources, so that replacing an idle one
    // and the shared bucket are reached.
    c.max_naks_per_second_per_neighbour = (flags & 0x02) ? 8 : 0;
    c.max_nak_neighbours_per_interface = 2;
    c.session_lifetime = std::chrono::seconds(20);
    c.nak_rdata_ivl = std::chrono::seconds(3);
    c.nak_elim_ivl = std::chrono::milliseconds(500);
    c.nak_rpt_ivl = std::chrono::seconds(1);
    c.nak_repeat_period = std::chrono::milliseconds(100);
    c.random_seed = 0x5eed + (flags >> 6);
    // The DLR role (D29) for G0, with a cache small enough to evict; DLR discovery (D28)
    // polling often enough for the input's time steps.
    if (flags & 0x10) c.dlr.scopes = Harness::kDlrScopes;
    c.dlr.cache_packets_per_session = 8;
    c.dlr.cache_bytes_per_session = 2048;
    c.discover_dlrs = (flags & 0x80) != 0;
    c.dlr_poll_interval = std::chrono::milliseconds(500);
    c.dlr_poll_backoff = std::chrono::milliseconds(50);
    Harness h(c);
    h.run(r, data_base, spm_base);
    return 0;
}
