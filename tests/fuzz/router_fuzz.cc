// FUZZ: libFuzzer target for the network-element core (router::Router). Owns the test
// environment (four interfaces, routes towards two sources, group membership the input can
// change), the decoding of an input into a sequence of steps (packets with their arrival
// interface and IP header, time steps, membership changes, interface_down, reconfigure,
// clear_repairs) and the invariants checked after every step; a broken one calls
// __builtin_trap() so that libFuzzer records the input.
//
// Input: u8 configuration flags, u32 data base, u32 SPM base (step_format.h), then steps:
//   op u8, by op & 7:
//     0-2  templated packet: dt, arrival, ip source, ip destination, TemplateSpec
//     3    raw packet:       dt, arrival, ip source, ip destination, u16 length, bytes
//     4    time step:        dt
//     5    membership:       u8 (bits 0-1 group mod 3, bits 2-6 interfaces to toggle)
//     6    interface_down:   u8 (interface)
//     7    reconfigure:      u8 (bit 0 toggles the RDATA hold, bit 1 clear_repairs())
//   arrival u8: bits 0-2 interface (1,2,3,4,1,2,3,9), bits 3-4 TTL (64,1,2,255),
//               bit 5 Router Alert, bit 6 UDP encapsulation (port 3055).
//   ip source / destination u8: index into the address table (& 15).
// Before every packet, and on time steps, the harness calls on_timer() at each deadline
// the core reports (next_deadline()) up to the new time, as the daemon's loop does.
//
// Invariants: state within its caps (sessions, repair states, held RDATA bytes); parity counts
// only beside parity repair entries; every repair entry and session has a future deadline once
// the timers have run (nothing lingers); sessions were accepted through the RPF check. Per
// packet: unparseable input produces nothing; every output parses (checksum verified except
// switched ODATA); ODATA, SPM and RDATA never go back out of their arrival interface and only
// to members; RDATA goes only to interfaces that were in that (TSI, sqn)'s repair set before
// the packet, or (a held copy) back to the interface of a NAK for a sequence in phase
// REPAIRED; NCFs go only to the NAK's interface; NAKs, NNAKs, SPMRs and ACKs only up the
// session's upstream interface, to its upstream neighbour; NCF, POLL and POLR input send
// nothing; timers send only NAK repeats and POLRs, upstream; next_deadline() is after the
// time on_timer() was called with.
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
    std::set<IfIndex> rdata_to;      // RDATA input: the repair set before (not the arrival)
    std::set<std::uint32_t> resend;  // NAK input: its sequences in phase REPAIRED
    std::optional<router::Session> session;
};

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
                        spec.read(r, data_base, spm_base);
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
                    if (b & 1) {
                        config_.rdata_hold = config_.rdata_hold == Duration::zero()
                                                 ? Duration(std::chrono::seconds(2))
                                                 : Duration::zero();
                        router_.reconfigure(config_);
                    }
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
    }

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
            check(t.ifindex == s->second.upstream_interface);
            if (type == PacketType::Nak) check(t.ip_destination == s->second.upstream_neighbour);
        }
        now_ = at;
        check_state();
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
        const PacketType type = p.view.header.type;
        if (type == PacketType::Rdata) {
            Sqn sqn = p.view.get<DataFields>()->sqn;
            const bool parity = p.view.header.parity();
            if (parity) {
                if (e.session->tgs == 0) return e;
                sqn = Sqn(sqn.value() & ~(e.session->tgs - 1));
            }
            auto it = router_.repairs().find(RepairKey{e.tsi, sqn, parity});
            if (it == router_.repairs().end()) return e;
            for (IfIndex i : router_.interfaces_of(it->second.interfaces))
                if (i != a.ifindex) e.rdata_to.insert(i);
        } else if (type == PacketType::Nak && !p.view.header.parity()) {
            auto mark = [&](Sqn sqn) {
                auto it = router_.repairs().find(RepairKey{e.tsi, sqn, false});
                if (it != router_.repairs().end() && it->second.phase == RepairPhase::Repaired)
                    e.resend.insert(sqn.value());
            };
            mark(p.view.get<NakFields>()->sqn);
            if (auto list = p.view.nak_list())
                for (std::size_t i = 0; i < list->size(); ++i)
                    mark((*list)[i]);
        }
        return e;
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
                        check(t.ttl == a.ip.ttl - 1);
                    } else {
                        check(in == PacketType::Nak);  // a held copy, back to the NAK's link
                        check(t.ifindex == a.ifindex && e.resend.contains(sqn.value()));
                    }
                    break;
                }
                case PacketType::Ncf:
                    check(in == PacketType::Nak);
                    check(t.ifindex == a.ifindex && t.ip_destination.is_multicast());
                    check(e.session && t.ip_source == e.session->source);
                    break;
                case PacketType::Nak:
                case PacketType::Nnak:
                case PacketType::Spmr:
                case PacketType::Ack:
                    check(in == type && e.session);
                    check(t.ifindex == e.session->upstream_interface && t.ifindex != a.ifindex);
                    check(t.ip_destination == e.session->upstream_neighbour);
                    break;
                default:
                    check(false);  // POLL, POLR: never forwarded; NCF input: nothing
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
        }
    }

    FuzzEnvironment env_;
    RouterConfig config_;
    Router router_;
    Output out_;
    Time now_ = Time{} + std::chrono::seconds(1000);
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
    c.session_lifetime = std::chrono::seconds(20);
    c.nak_rdata_ivl = std::chrono::seconds(3);
    c.nak_elim_ivl = std::chrono::milliseconds(500);
    c.nak_rpt_ivl = std::chrono::seconds(1);
    c.nak_repeat_period = std::chrono::milliseconds(100);
    c.random_seed = 0x5eed + (flags >> 6);
    Harness h(c);
    h.run(r, data_base, spm_base);
    return 0;
}
