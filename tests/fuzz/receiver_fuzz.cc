// FUZZ: libFuzzer target for the receiver stack (pgm::Receiver). Owns the decoding of an
// input into a sequence of steps (packets with their IP header, time steps), the bookkeeping
// of what was fed, and the invariants checked after every step; a broken one calls
// __builtin_trap() so that libFuzzer records the input.
//
// Input: u8 configuration flags, u32 data base, u32 SPM base (step_format.h), then steps:
//   op u8, by op & 7: 0-2 templated packet, 3 raw packet (u16 length, bytes), other: time step.
//   Packet steps: dt, arrival (TTL, UDP bits; the interface is ignored), IP source,
//   IP destination, body. The receiver is R3 (10.0.3.2), in group G0 (239.1.1.1) or in any
//   group, on data-destination port 7500 or any.
// Before every packet, and on time steps, the harness calls on_timer() at each deadline the
// receiver reports, up to the new time.
//
// Invariants. Per TSI the events are one gap-free, duplicate-free run in sequence order: each
// Data or Loss event starts where the previous one ended (after a Data event of a fragmented
// APDU, at least one past its first sequence); a Loss covers at least one sequence; nothing
// follows SessionEnd; a TSI's state disappears only after its SessionEnd. Delivered data is
// what was sent: an unfragmented TSDU fed with that TSI and sequence, or an APDU of the length
// a fragment with that first sequence announced (and within max_window_bytes), or, within 128
// sequences of a parity packet fed for that TSI (FEC), anything within max_window_bytes
// (rebuilt from parity the fuzzer made up, it is whatever the code says it is). Memory stays
// within the configured bounds (sources, sequences and bytes per source). on_packet() sends
// nothing; on_timer() sends only NAKs and SPMRs from our address on our interface, NAKs with
// at most 63 distinct sequences, each of which is then in WAIT_NCF (inside the window), unless
// the session ended in that call (a parity NAK's entries are TG_SQN | count: some sequence of
// each entry's group, within 128 of it, is then in WAIT_NCF); next_deadline() is after the time
// on_timer() was called with. After an hour of silence nothing is left.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <unordered_map>
#include <variant>
#include <vector>

#include "protocol/packet.h"
#include "protocol/receiver.h"
#include "tests/fuzz/step_format.h"

namespace {

using namespace pgm;
using namespace pgm::fuzz;

void check(bool ok) {
    if (!ok) __builtin_trap();
}

constexpr std::array<std::uint8_t, 4> kTtls{64, 1, 2, 255};
constexpr IfIndex kOurInterface = 3;

std::uint64_t fnv(Bytes b) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::uint8_t c : b)
        h = (h ^ c) * 0x100000001b3ull;
    return h;
}

struct SqnKey {
    Tsi tsi;
    std::uint32_t sqn;
    friend bool operator==(const SqnKey&, const SqnKey&) = default;
};
struct SqnKeyHash {
    std::size_t operator()(const SqnKey& k) const noexcept {
        return std::hash<Tsi>{}(k.tsi) ^ (std::size_t{k.sqn} * 0x9E3779B97F4A7C15ull);
    }
};

// A data packet fed to the receiver, by its sequence number.
struct Fed {
    bool fragment = false;
    std::uint32_t frag_first = 0;
    std::uint32_t apdu_length = 0;
    std::uint64_t hash = 0;  // of the TSDU
};

// What the events of one TSI have covered so far.
struct Track {
    std::optional<Sqn> next;  // where the next Data or Loss event starts
    bool exact = true;        // false: at `next` or later (after a fragmented APDU)
    bool ended = false;       // SessionEnd seen
};

class Harness {
  public:
    explicit Harness(const ReceiverConfig& config) : config_(config), receiver_(config) {}

    void run(StepReader& r, Sqn data_base, Sqn spm_base) {
        std::vector<std::uint8_t> packet;
        while (!r.empty()) {
            const std::uint8_t op = r.u8();
            const std::uint8_t kind = op & 7;
            advance(read_dt(r));
            if (kind > kOpRaw) continue;
            Arrival a;
            const std::uint8_t b = r.u8();
            a.ifindex = kOurInterface;
            a.ip.ttl = kTtls[(b >> 3) & 3];
            a.ip.router_alert = (b & kArrivalRouterAlert) != 0;
            if (b & kArrivalUdp) {
                a.ip.encapsulation = Encapsulation::Udp;
                a.ip.udp_source_port = kDefaultUdpEncapsulationPort;
                a.ip.udp_destination_port = kDefaultUdpEncapsulationPort;
            }
            a.ip.source = kFuzzNlas[r.u8() & 15];
            a.ip.destination = kFuzzNlas[r.u8() & 15];
            a.ip.version = a.ip.source.is_ipv6() ? 6 : 4;
            if (kind == kOpRaw) {
                Bytes body = r.take(r.u16() % 2049);
                packet.assign(body.begin(), body.end());
            } else {
                TemplateSpec spec;
                spec.read(r, data_base, spm_base);
                packet = spec.build(kFuzzNlas);
            }
            on_packet(a, packet);
        }
        advance(std::chrono::seconds(3600));
        check(receiver_.peer_count() == 0);
        check(receiver_.stats().buffered_bytes == 0 && receiver_.stats().buffered_sqns == 0);
        check(tracks_.empty());
    }

  private:
    void advance(Duration dt) {
        const Time until = now_ + dt;
        for (int guard = 0; guard < 100000; ++guard) {
            const Time due = receiver_.next_deadline();
            if (due > until) break;
            check(due >= now_);
            timer(due);
        }
        now_ = until;
    }

    void timer(Time at) {
        out_.clear();
        receiver_.on_timer(at, out_);
        check(receiver_.next_deadline() > at);
        now_ = at;
        std::set<std::uint64_t> ended;  // TSIs whose session ended in this call (hashes)
        for (const ReceiverEvent& ev : receiver_.events())
            if (auto* end = std::get_if<SessionEndEvent>(&ev))
                ended.insert(std::hash<Tsi>{}(end->tsi));
        for (const Transmit& t : out_.transmits()) {
            ParseResult p = parse(out_.bytes(t));
            check(static_cast<bool>(p));
            check(t.ifindex == config_.ifindex && t.ip_source == config_.address);
            const Tsi tsi = p.view.header.tsi();
            if (p.view.header.type == PacketType::Spmr) continue;
            check(p.view.header.type == PacketType::Nak);
            check(receiver_.has_peer(tsi));
            std::set<std::uint32_t> sqns;
            sqns.insert(p.view.get<NakFields>()->sqn.value());
            std::size_t n = 1;
            if (auto list = p.view.nak_list()) {
                for (std::size_t i = 0; i < list->size(); ++i)
                    sqns.insert((*list)[i].value());
                n += list->size();
            }
            check(n == sqns.size() && n <= 1 + kMaxNakList);  // no sequence twice
            if (ended.contains(std::hash<Tsi>{}(tsi))) continue;
            if (p.view.header.parity()) {
                for (std::uint32_t s : sqns) {
                    bool naked = false;
                    for (std::uint32_t d = 0; d < 256 && !naked; ++d)
                        naked = receiver_.sqn_state(tsi, Sqn(s - 128 + d)) == SqnState::WaitNcf;
                    check(naked);
                }
                continue;
            }
            for (std::uint32_t s : sqns)
                check(receiver_.sqn_state(tsi, Sqn(s)) == SqnState::WaitNcf);
        }
        check_events();
    }

    void on_packet(const Arrival& a, const std::vector<std::uint8_t>& packet) {
        const Bytes pgm(packet);
        ParseResult p = parse(pgm);
        const bool data_type = p && (p.view.header.type == PacketType::Odata ||
                                     p.view.header.type == PacketType::Rdata);
        if (data_type && p.view.header.parity())
            parity_fed_[p.view.header.tsi()].insert(p.view.get<DataFields>()->sqn.value());
        if (data_type && !p.view.header.parity()) {
            Fed f;
            f.hash = fnv(p.view.payload());
            if (auto frag = p.view.fragment()) {
                f.fragment = true;
                f.frag_first = frag->first_sqn.value();
                f.apdu_length = frag->apdu_length;
            }
            const Tsi tsi = p.view.header.tsi();
            fed_[SqnKey{tsi, p.view.get<DataFields>()->sqn.value()}].push_back(f);
            if (f.fragment) fed_[SqnKey{tsi, f.frag_first}].push_back(f);
        }
        out_.clear();
        receiver_.on_packet(a, pgm, now_, out_);
        check(out_.empty());  // answers wait for a back-off: on_timer() only
        check_events();
    }

    void check_events() {
        for (const ReceiverEvent& ev : receiver_.events()) {
            if (auto* d = std::get_if<DataEvent>(&ev)) {
                Track& t = tracks_[d->tsi];
                check(!t.ended);
                if (t.next) check(t.exact ? d->first_sqn == *t.next : d->first_sqn >= *t.next);
                const std::uint64_t h = fnv(d->apdu);
                bool matched = false;
                bool fragmented = false;
                auto it = fed_.find(SqnKey{d->tsi, d->first_sqn.value()});
                const bool rebuilt_possible = parity_near(d->tsi, d->first_sqn.value());
                check(it != fed_.end() || rebuilt_possible);
                if (rebuilt_possible && d->apdu.size() <= config_.max_window_bytes) {
                    matched = true;
                    fragmented = true;  // a rebuilt APDU may span several sequences
                }
                for (const Fed& f : it == fed_.end() ? std::vector<Fed>{} : it->second) {
                    fragmented |= f.fragment;
                    if (!f.fragment && f.hash == h) matched = true;
                    if (f.fragment && f.frag_first == d->first_sqn.value() &&
                        f.apdu_length == d->apdu.size() &&
                        d->apdu.size() <= config_.max_window_bytes)
                        matched = true;
                }
                check(matched);
                t.next = d->first_sqn + 1;
                t.exact = !fragmented;
            } else if (auto* l = std::get_if<LossEvent>(&ev)) {
                Track& t = tracks_[l->tsi];
                check(!t.ended && l->count > 0);
                if (t.next) check(t.exact ? l->first_sqn == *t.next : l->first_sqn >= *t.next);
                t.next = l->first_sqn + l->count;
                t.exact = true;
            } else if (auto* e = std::get_if<SessionEndEvent>(&ev)) {
                Track& t = tracks_[e->tsi];
                check(!t.ended);
                t.ended = true;
            }
        }
        receiver_.events().clear();
        // A TSI's state goes only after its session ended.
        for (auto it = tracks_.begin(); it != tracks_.end();) {
            if (receiver_.has_peer(it->first)) {
                ++it;
                continue;
            }
            check(it->second.ended);
            it = tracks_.erase(it);
        }
        // Memory: tombstones (sessions that ended) hold nothing; the others their bounds.
        const ReceiverStats& s = receiver_.stats();
        const std::size_t peers = receiver_.peer_count();
        std::size_t tombstones = 0;
        for (const auto& [tsi, t] : tracks_)
            tombstones += t.ended ? 1 : 0;
        check(peers <= config_.max_sources && tombstones <= peers);
        check(s.buffered_sqns <= (peers - tombstones) * config_.max_window_sqns);
        check(s.buffered_bytes <= (peers - tombstones) * config_.max_window_bytes);
    }

    // Per TSI, the sequence numbers parity packets were fed with: data may be rebuilt only in
    // a transmission group that got parity, and a group (TGS <= 128) holds the parity's
    // sequence number, so a rebuilt packet lies within 128 of one of them.
    std::unordered_map<Tsi, std::set<std::uint32_t>> parity_fed_;

    bool parity_near(const Tsi& tsi, std::uint32_t sqn) const {
        auto it = parity_fed_.find(tsi);
        if (it == parity_fed_.end()) return false;
        for (std::uint32_t q : it->second) {
            const auto d = static_cast<std::int32_t>(sqn - q);  // serial distance
            if (d > -128 && d < 128) return true;
        }
        return false;
    }
    ReceiverConfig config_;
    Receiver receiver_;
    Output out_;
    Time now_ = Time{} + std::chrono::seconds(1000);
    std::unordered_map<SqnKey, std::vector<Fed>, SqnKeyHash> fed_;
    std::unordered_map<Tsi, Track> tracks_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    StepReader r(data, size);
    const std::uint8_t flags = r.u8();
    const Sqn data_base(r.u32());
    const Sqn spm_base(r.u32());
    ReceiverConfig c;
    c.address = kFuzzNlas[kNlaR3];
    if (!(flags & 0x01)) c.group = kFuzzNlas[kNlaG0];
    c.ifindex = kOurInterface;
    c.data_destination_port = (flags & 0x02) ? 0 : kDestPorts[0];
    // Small bounds and few retries, so that inputs reach them; short timers.
    static constexpr std::array<std::size_t, 4> kWindowSqns{4, 16, 64, 1024};
    c.max_window_sqns = kWindowSqns[(flags >> 2) & 3];
    c.max_window_bytes = (flags & 0x10) ? 8192 : 600;
    c.max_sources = (flags & 0x20) ? 3 : 1;
    c.nak_ncf_retries = (flags & 0x40) ? 3 : 1;
    c.nak_data_retries = c.nak_ncf_retries;
    c.nak_rpt_ivl = std::chrono::milliseconds(200);
    c.nak_rdata_ivl = std::chrono::milliseconds(500);
    c.fin_linger = std::chrono::seconds(3);
    c.peer_expiry = std::chrono::seconds(20);
    c.seed = 1 + (flags >> 7);
    Harness h(c);
    h.run(r, data_base, spm_base);
    return 0;
}
