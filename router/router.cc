#include "router/router.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "protocol/checksum.h"
#include "protocol/parity_sqn.h"
#include "protocol/random.h"
#include "protocol/write_packet.h"
#include "protocol/writer.h"
#include "router/nak_sqns.h"
#include "router/opx.h"
#include "router/services.h"
#include "router/transmit.h"

namespace pgm::router {

// What the components (redirect.cc, dlr.cc, parity.cc, containment.cc, poll.cc) may ask of the core
// (router/services.h).
class Router::Services final : public RouterServices {
  public:
    Services(Router& r, std::uint64_t seed) : r_(r), random_state_(seed) {}
    using RouterServices::count;
    void count(IfIndex ifindex, Session* s, Counter c, std::uint64_t n) override {
        r_.count(ifindex, s, c, n);
    }
    std::size_t interface_slot(IfIndex ifindex) override { return r_.interfaces_.slot(ifindex); }
    bool assists(IfIndex ifindex) override { return r_.interfaces_.assists(ifindex); }
    Session* session(const Tsi& tsi) override { return r_.sessions_.find(tsi); }
    RepairEntry* repair(const RepairKey& key) override {
        auto it = r_.repairs_.find(key);
        return it == r_.repairs_.end() ? nullptr : &it->second;
    }
    std::uint16_t apply(const RepairKey& key, RepairEvent event, InterfaceSlots add, Time now,
                        Session* s, Output* out) override {
        return r_.apply(key, event, add, now, s, out);
    }
    std::uint16_t apply_nak(const Arrival& a, const RepairKey& key, RepairEvent event,
                            InterfaceSlots arrival, bool on_dlr_interface, RedirectTarget target,
                            Time now, Session& s, Output& out) override {
        return r_.apply_nak(a, key, event, arrival, on_dlr_interface, target, now, s, out);
    }
    std::optional<Transmit> upstream_transmit(const Session& s, const Nla& to) const override {
        return router::upstream_transmit(r_.env_, s, to);
    }
    void invalidate_options(const PacketView& v, MutableBytes copy) override {
        invalidate_opx(v, copy);
    }
    bool addressed_to_us(const Arrival& a) const override {
        return router::addressed_to_us(r_.env_, a);
    }
    // The same numbers everywhere for a seed (tests, simulator).
    std::uint64_t next_random() override { return splitmix64(random_state_); }

  private:
    Router& r_;
    std::uint64_t random_state_;
};

Router::Router(const RouterConfig& config, const Environment& environment)
    : config_(config),
      env_(environment),
      services_(std::make_unique<Services>(*this, config.random_seed)),
      sessions_(config_),
      redirect_(config_, env_, *services_),
      dlr_(config_, env_, *services_, redirect_),
      parity_(*services_, repairs_),
      containment_(config_, env_, *services_, repairs_),
      poll_(*services_, static_cast<std::uint32_t>(services_->next_random())),
      interfaces_(config_) {}

Router::~Router() = default;

void Router::reconfigure(const RouterConfig& config) {
    config_ = config;
    interfaces_.reconfigure();
    // Session::dlr anew; bounds apply at the next SPM (dlr.cc).
    dlr_.reconfigure(sessions_.all_sessions());
}

// --- Per-interface settings (decisions.md D38) ----------------------------------------------

bool Router::set_interface_settings(IfIndex ifindex, const InterfaceSettings& settings) {
    const InterfaceTable::SettingsApplied r = interfaces_.set_settings(ifindex, settings);
    // Router assist turned off: the interface (with any sharing its slot) leaves the router's
    // per-interface PGM state, as when it goes down, so that RDATA reaches it by membership
    // only (forward_plain), never by repair state too.
    if (r.assist_turned_off) {
        std::vector<IfIndex> gone = interfaces_of(r.assist_turned_off);
        if (std::find(gone.begin(), gone.end(), ifindex) == gone.end()) gone.push_back(ifindex);
        interface_leaves(gone, r.assist_turned_off);
    }
    return r.applied;
}

void Router::forward_plain(const Arrival& a, Bytes pgm, Session& s, InterfaceSlots exclude,
                           Counter c, Counter c2, Output& out) {
    if (!interfaces_.any_assist_off() || a.ip.ttl <= 1) return;
    env_.group_members(s.source, s.group, members_);
    Transmit t = downstream_transmit(s, a, a.ip.router_alert);
    t.ip_source = a.ip.source;
    for (IfIndex i : members_) {
        if (i == a.ifindex || i == s.upstream_interface || interfaces_.assists(i) ||
            (exclude & interfaces_.bit(i)))
            continue;
        t.ifindex = i;
        out.add_reference(t, pgm);
        count(i, &s, c);
        if (c2 != Counter::Count) count(i, &s, c2);
    }
}

void Router::count(IfIndex ifindex, Session* s, Counter c, std::uint64_t n) {
    interfaces_.counters(ifindex)[c] += n;
    if (s) s->counters[c] += n;
}

std::vector<IfIndex> Router::interfaces_of(InterfaceSlots slots) const {
    return interfaces_.interfaces_of(slots);
}

CounterSet Router::totals() const {
    return interfaces_.totals();
}

void Router::clear_counters() {
    interfaces_.clear_counters();
    for (auto& [tsi, s] : sessions_.all_sessions())
        s.counters.clear();
    malformed_by_reason_.fill(0);
}

void Router::note_kernel_odata(const Tsi& tsi, Sqn lead, std::uint64_t packets,
                               std::uint64_t copies_out) {
    Session* s = sessions_.find(tsi);
    if (!s) return;  // expired or removed since the kernel forwarded it: nothing to keep
    note_lead(*s, lead);
    s->counters[Counter::InOdata] += packets;
    s->counters[Counter::OutOdata] += copies_out;
}

void Router::add_session_counts(const Tsi& tsi, Counter c, std::uint64_t n) {
    Session* s = n != 0 ? sessions_.find(tsi) : nullptr;
    if (s) s->counters[c] += n;
}

void Router::add_interface_counts(IfIndex ifindex, Counter c, std::uint64_t n) {
    if (n != 0)
        interfaces_.counters(ifindex)[c] += n;  // no slot made for an interface with nothing
}

void Router::clear_repairs() {
    repairs_.clear();
}

bool Router::clear_interface_counters(IfIndex ifindex) {
    return interfaces_.clear_counters(ifindex);
}

bool Router::clear_session_counters(const Tsi& tsi) {
    Session* s = sessions_.find(tsi);
    if (!s) return false;
    s->counters.clear();
    return true;
}

std::size_t Router::clear_repairs(const RepairScope& scope) {
    auto in_scope = [&](const RepairKey& key) {
        if (scope.tsi && !(*scope.tsi == key.tsi)) return false;
        if (!scope.group) return true;
        const Session* s = sessions_.find(key.tsi);
        return s && s->group == *scope.group;
    };
    std::size_t removed = 0;
    repairs_.erase_if([&](const RepairKey& key, const RepairEntry&) {
        const bool hit = in_scope(key);
        removed += hit;
        return hit;
    });
    return removed;
}  // stale timer items are skipped when due

std::vector<SessionEvent> Router::take_session_events() {
    return sessions_.take_events();
}

void Router::on_packet(const Arrival& a, Bytes pgm, Time now, Output& out) {
    // The bulk of the traffic: ODATA without options. Its header is all the router reads, so
    // it is decoded here without building a PacketView. Anything the full parser would
    // reject (or that has options) takes the full path below, which counts it.
    constexpr std::size_t kOdataHeaderEnd = kHeaderSize + 8;
    if (pgm.size() >= kOdataHeaderEnd &&
        pgm[kOffsetType] == static_cast<std::uint8_t>(PacketType::Odata) &&
        pgm[kOffsetOptions] == 0 &&
        load16(pgm.data() + kOffsetTsduLength) == pgm.size() - kOdataHeaderEnd) {
        Tsi tsi;
        std::copy_n(pgm.data() + kOffsetGsi, tsi.gsi.bytes.size(), tsi.gsi.bytes.begin());
        tsi.source_port = load16(pgm.data() + kOffsetSport);
        on_odata(a, tsi, Sqn(load32(pgm.data() + kHeaderSize)), nullptr, pgm, now, out);
        if (now >= sessions_.next_sweep()) expire_sessions(now);
        return;
    }
    // ODATA is switched without transport processing (§2.3): its checksum is the receivers'.
    ParseOptions opts;
    opts.verify_checksum =
        pgm.size() <= kOffsetType ||
        (pgm[kOffsetType] & kTypeCodeMask) != static_cast<std::uint8_t>(PacketType::Odata);
    ParseResult r = parse(pgm, opts);
    if (!r) {
        interfaces_.counters(a.ifindex)[Counter::Malformed]++;
        malformed_by_reason_[static_cast<std::size_t>(r.error) % malformed_by_reason_.size()]++;
        return;
    }
    const PacketView& v = r.view;
    if (opx_discards(v)) {
        interfaces_.counters(a.ifindex)[Counter::OptionDiscards]++;
        return;
    }
    switch (v.header.type) {
        case PacketType::Spm:
            on_spm(a, v, pgm, now, out);
            break;
        case PacketType::Odata:
            on_odata(a, v.header.tsi(), v.get<DataFields>()->sqn, &v, pgm, now, out);
            break;
        case PacketType::Rdata:
            on_rdata(a, v, pgm, now, out);
            break;
        case PacketType::Nak:
        case PacketType::Nnak:
            on_nak_like(a, v, pgm, now, out);
            break;
        case PacketType::Ncf:
            on_ncf(a, v, now, out);
            break;
        case PacketType::Poll:
            interfaces_.counters(a.ifindex)[Counter::InPolls]++;
            poll_.on_poll(a, v, now);  // answered, never forwarded (§14.1; poll.cc)
            break;
        case PacketType::Polr:
            interfaces_.counters(a.ifindex)[Counter::InPolrs]++;
            redirect_.on_polr(a, v, now);  // redirecting POLRs record DLRs (redirect.cc)
            break;
        case PacketType::Spmr:
            interfaces_.counters(a.ifindex)[Counter::InSpmrs]++;
            on_upstream_unicast(a, v, pgm, out);
            break;
        case PacketType::Ack:  // PGMCC (D17)
            on_upstream_unicast(a, v, pgm, out);
            break;
    }
    if (now >= sessions_.next_sweep()) expire_sessions(now);
}

// --- SPM: path state (§7.1, checklist N-SPM-*) -------------------------------------------

void Router::on_spm(const Arrival& a, const PacketView& v, Bytes pgm, Time now, Output& out) {
    const SpmFields& f = *v.get<SpmFields>();
    const Tsi tsi = v.header.tsi();
    interfaces_.counters(a.ifindex)[Counter::InSpms]++;
    // RPF: an SPM must come from the interface of the route towards its source.
    // And it is multicast to its group (§8.1): the IP destination becomes the session's group,
    // where NCFs go; a unicast one is not on the tree either (found by router_fuzz).
    if (env_.route_interface(a.ip.source) != a.ifindex || !a.ip.destination.is_multicast()) {
        interfaces_.counters(a.ifindex)[Counter::SpmRpfErrors]++;
        return;
    }
    Session* s = sessions_.find(tsi);
    const bool created = s == nullptr;
    if (created) {
        s = sessions_.create(tsi, now);
        if (!s) {
            interfaces_.counters(a.ifindex)[Counter::ShedSessionCap]++;
            return;
        }
        s->created = now;
        s->last_spm_sqn = f.sqn - 1;
    } else {
        // App. E (§15.3.2, N-SPM-6, D11): OPT_NBR_UNREACH counts only from the upstream
        // neighbour; its special SPM repeats the last SPM_SQN and changes no path state.
        if (config_.nbr_unreach && v.nbr_unreach()) {
            if (f.path != s->upstream_neighbour || s->source != a.ip.source) {
                count(a.ifindex, s, Counter::NbrUnreachIgnored);
                return;
            }
            if (f.sqn == s->last_spm_sqn || f.sqn > s->last_spm_sqn) {  // else: bad sequence
                count(a.ifindex, s, Counter::NbrUnreachReceived);
                s->nbr_unreach_upstream = true;
            }
            if (f.sqn == s->last_spm_sqn) {
                s->counters[Counter::InSpms]++;
                forward_spm(a, v, pgm, *s, out);
                return;
            }
        }
        // In sequence: newer than the last, within half the space (§6.2, 7.1).
        if (!(f.sqn > s->last_spm_sqn) || s->source != a.ip.source) {
            interfaces_.counters(a.ifindex)[Counter::SpmBadSqn]++;
            s->counters[Counter::SpmBadSqn]++;
            return;
        }
    }
    s->counters[Counter::InSpms]++;
    s->source = a.ip.source;
    s->group = a.ip.destination;
    s->data_destination_port = v.header.data_destination_port();
    s->upstream_neighbour = f.path;
    s->upstream_interface = a.ifindex;
    s->last_spm_sqn = f.sqn;
    s->encapsulation = a.ip.encapsulation;
    s->udp_port = a.ip.udp_destination_port;
    s->last_ttl = a.ip.ttl;
    s->last_spm = now;
    if (!v.nbr_unreach()) {  // a regular SPM ends App. E containment (N-SPM-7, N-NAK-20)
        s->nbr_unreach_upstream = false;
        s->nbr_unreach_interfaces = 0;
    }
    if (created) sessions_.note_event(SessionEvent::Kind::Created, tsi, *s);
    if (v.fin() && !s->fin) sessions_.note_event(SessionEvent::Kind::Fin, tsi, *s);
    s->fin = v.fin();  // as of the last in-sequence SPM
    if (auto prm = v.parity_prm(); prm && valid_tgs(prm->tg_size)) s->tgs = prm->tg_size;
    const bool no_window = f.trail.value() == kNoWindowTrail && f.lead.value() == kNoWindowLead;
    if (!no_window && !v.nbr_unreach()) {
        s->window = SqnWindow{f.trail, f.lead};
        if (!s->window.empty()) note_lead(*s, f.lead);
        if (auto cur = v.curr_tgsize()) parity_.on_curr_tgsize(tsi, *s, f.lead, cur->size);
    }
    if (config_.dlr.enabled()) dlr_.on_spm(tsi, *s, now, out);  // Session::dlr, trail, holes
    forward_spm(a, v, pgm, *s, out);
}

void Router::forward_spm(const Arrival& a, const PacketView& v, Bytes pgm, Session& s,
                         Output& out) {
    const SpmFields& f = *v.get<SpmFields>();
    if (a.ip.ttl <= 1) {
        interfaces_.counters(a.ifindex)[Counter::TtlExpired]++;
        return;
    }
    env_.group_members(s.source, s.group, members_);
    Transmit t = downstream_transmit(s, a, true);
    for (IfIndex i : members_) {
        if (i == a.ifindex) continue;
        if (!interfaces_.assists(i)) {
            // D38: as a plain multicast router, unchanged: receivers there keep the previous
            // PGM hop's SPM_PATH and NAK it directly.
            Transmit plain = t;
            plain.ifindex = i;
            plain.router_alert = a.ip.router_alert;
            out.add_reference(plain, pgm);
            count(i, &s, Counter::OutSpms);
            continue;
        }
        auto address = env_.interface_address(i, f.path.family());
        if (!address) continue;  // no address of the SPM's family there: cannot be its PGM hop
        t.ifindex = i;
        out.add(t, pgm);
        MutableBytes copy = out.mutable_bytes(out.transmits().back());
        // SPM_PATH := the outgoing interface (§7.1); checksum fixed incrementally.
        rewrite_in_place(copy, f.path_offset + 4, address->address());
        if (auto bo = v.find(OptionType::NakBoIvl)) {
            // §15.2.1: remove or overwrite; the router does not tune NAK_BO_IVL, so it
            // invalidates the option, which receivers skip (decisions.md D8).
            std::uint8_t b = static_cast<std::uint8_t>(
                (copy[bo->offset] & kOptEnd) | static_cast<std::uint8_t>(OptionType::Invalid));
            rewrite_in_place(copy, bo->offset, Bytes(&b, 1));
        }
        interfaces_.counters(i)[Counter::OptionInvalidated] += invalidate_opx(v, copy);
        count(i, &s, Counter::OutSpms);
    }
}

// --- ODATA: switched to the members (§2.3) --------------------------------------------------

void Router::on_odata(const Arrival& a, const Tsi& tsi, Sqn sqn, const PacketView* v, Bytes pgm,
                      Time now, Output& out) {
    interfaces_.counters(a.ifindex)[Counter::InOdata]++;
    Session* s = sessions_.find(tsi);
    if (s) {
        s->counters[Counter::InOdata]++;
        note_lead(*s, sqn);
    }
    // RPF: from the session's upstream interface, or the route towards the source.
    IfIndex upstream =
        s ? s->upstream_interface : env_.route_interface(a.ip.source).value_or(a.ifindex + 1);
    if (upstream != a.ifindex) {
        count(a.ifindex, s, Counter::OdataRpfErrors);
        return;
    }
    if (s && s->dlr) {  // the DLR caches it (dlr.cc)
        if (v) {
            dlr_.on_data(tsi, *s, *v, pgm, now, out);
        } else {
            ParseOptions opts;  // the fast path skipped the view; on_data checks the sum
            opts.verify_checksum = false;
            if (ParseResult r = parse(pgm, opts)) dlr_.on_data(tsi, *s, r.view, pgm, now, out);
        }
    }
    if (a.ip.ttl <= 1) {
        interfaces_.counters(a.ifindex)[Counter::TtlExpired]++;
        return;
    }
    env_.group_members(a.ip.source, a.ip.destination, members_);
    Transmit t;
    t.ip_source = a.ip.source;
    t.ip_destination = a.ip.destination;
    t.ttl = static_cast<std::uint8_t>(a.ip.ttl - 1);
    t.encapsulation = a.ip.encapsulation;
    t.udp_port = a.ip.udp_destination_port;
    // Switched unchanged (§2.3), so sent without a copy, unless an option must be invalidated.
    const bool rewrite = v && v->has_unknown_options && (v->header.option_flags & kOptNetwork);
    if (std::none_of(members_.begin(), members_.end(), [&](IfIndex i) { return i != a.ifindex; }))
        count(a.ifindex, s, Counter::OdataNoMembers);
    for (IfIndex i : members_) {
        if (i == a.ifindex) continue;
        t.ifindex = i;
        if (rewrite) {
            out.add(t, pgm);
            interfaces_.counters(i)[Counter::OptionInvalidated] +=
                invalidate_opx(*v, out.mutable_bytes(out.transmits().back()));
        } else {
            out.add_reference(t, pgm);
        }
        count(i, s, Counter::OutOdata);
    }
}

// --- RDATA: only where it was asked for (§7.8) ------------------------------------------------

void Router::on_rdata(const Arrival& a, const PacketView& v, Bytes pgm, Time now, Output& out) {
    const Tsi tsi = v.header.tsi();
    Session* sp = sessions_.find(tsi);
    if (!sp) {
        count(a.ifindex, nullptr, Counter::InRdata);
        interfaces_.counters(a.ifindex)[Counter::InRdataNoSessionErrors]++;
        if (v.header.parity()) count(a.ifindex, nullptr, Counter::InParityRdata);
        return;
    }
    Session& s = *sp;
    count(a.ifindex, &s, Counter::InRdata);
    if (v.header.parity()) count(a.ifindex, &s, Counter::InParityRdata);
    // N-RD-7: the off-tree DLR's unicast RDATA goes on as the source's (redirect.cc).
    if (auto as_source = redirect_.rdata_arrival(a, s)) {
        forward_rdata(*as_source, v, pgm, s, 0, now, out);
        return;
    }
    if (a.ifindex != s.upstream_interface || !a.ip.destination.is_multicast()) {
        count(a.ifindex, &s, Counter::RdataRpfErrors);  // D14.6
        return;
    }
    if (s.dlr) dlr_.on_data(tsi, s, v, pgm, now, out);  // the DLR caches it (dlr.cc)
    forward_rdata(a, v, pgm, s, interfaces_.bit(a.ifindex), now, out);
}

void Router::forward_rdata(const Arrival& a, const PacketView& v, Bytes pgm, Session& s,
                           InterfaceSlots exclude, Time now, Output& out) {
    if (a.ip.ttl <= 1) {  // cannot go further: the repair state waits for a usable copy
        interfaces_.counters(a.ifindex)[Counter::TtlExpired]++;
        return;
    }
    const bool parity = v.header.parity();
    // D38: where router assist is off, RDATA goes out by membership, as multicast does; the
    // repair state below serves only the interfaces that assist.
    forward_plain(a, pgm, s, exclude, Counter::OutRdata,
                  parity ? Counter::OutParityRdata : Counter::Count, out);
    const InterfaceSlots slots = parity ? parity_.on_rdata(a, v, s, exclude, now, out)
                                        : repair_rdata(a, v, pgm, s, exclude, now, out);
    Transmit t = downstream_transmit(s, a, true);
    t.ip_source = a.ip.source;  // the source, or an upstream DLR sending as the source (§9.5.2.1)
    for (IfIndex i : interfaces_.interfaces_of(slots)) {
        t.ifindex = i;
        out.add(t, pgm);
        interfaces_.counters(i)[Counter::OptionInvalidated] +=
            invalidate_opx(v, out.mutable_bytes(out.transmits().back()));
        count(i, &s, Counter::OutRdata);
        if (parity) count(i, &s, Counter::OutParityRdata);
    }
}

// A selective RDATA through its repair state: held for the NAKs still on their way (D27);
// the interfaces to send it to (0, counted, when none).
InterfaceSlots Router::repair_rdata(const Arrival& a, const PacketView& v, Bytes pgm, Session& s,
                                    InterfaceSlots exclude, Time now, Output& out) {
    const RepairKey key{v.header.tsi(), v.get<DataFields>()->sqn};
    note_lead(s, key.sqn);
    auto e = repairs_.find(key);
    if (e == repairs_.end()) {
        count(a.ifindex, &s, Counter::RdataEliminatedSqn);  // §7.8: no state, dropped
        return 0;
    }
    const InterfaceSlots slots = e->second.interfaces & ~exclude;
    const std::uint16_t actions = apply(key, RepairEvent::Rdata, 0, now, &s, &out, pgm.size());
    if (actions & kHoldRdata) {  // D27: kept for the NAKs that are still on their way
        Transmit t = downstream_transmit(s, a, true);
        t.ip_source = a.ip.source;
        invalidate_opx(v, repairs_.hold(key, pgm, t).pgm);
    }
    if (!(actions & kForwardRdata) || slots == 0) {
        count(a.ifindex, &s, Counter::RdataEliminatedOIF);
        return 0;
    }
    return slots;
}

void Router::resend_held(const RepairKey& key, IfIndex ifindex, Session& s, Output& out) {
    const RepairStore::HeldRdata* held = repairs_.held(key);
    if (!held) return;
    Transmit t = held->transmit;
    t.ifindex = ifindex;
    out.add(t, held->pgm);
    count(ifindex, &s, Counter::OutRdata);
    count(ifindex, &s, Counter::RdataFromHold);
}

// --- NAK: confirm, eliminate, forward (§7.2-7.4, 9.3.3) ------------------------------------

void Router::send_ncf(const Arrival& a, const PacketView& nak, const Session& s, Output& out,
                      const std::vector<Sqn>& parity_sqns) {
    const NakFields& f = *nak.get<NakFields>();
    // §7.2: the NCF comes "from" the source, as far as our SPMs (D12).
    write_packet(out, kMaxNakSize, as_source_answer(s, a), [&](PacketWriter& w) {
        // Downstream port orientation (§8.3, decisions.md D12): SPORT = data-source port.
        w.begin(PacketType::Ncf, nak.header.destination_port, nak.header.source_port,
                nak.header.gsi);
        w.flags(nak.header.option_flags & kOptParity);
        w.nak(NakFields{parity_sqns.empty() ? f.sqn : parity_sqns[0], s.source, s.group});
        if (auto list = nak.nak_list()) {
            if (parity_sqns.size() > 1) {  // parity: the counts confirmed (N-NAK-17, C27)
                std::array<std::uint8_t, 4 * kMaxNakList> raw{};
                const std::size_t n = std::min(parity_sqns.size() - 1, kMaxNakList);
                for (std::size_t i = 0; i < n; ++i)
                    store32(raw.data() + 4 * i, parity_sqns[i + 1].value());
                w.nak_list(NakListView(Bytes(raw.data(), 4 * n)));
            } else {
                w.nak_list(*list);  // echoed unchanged (§9.3.3)
            }
        }
    });
}

bool Router::forward_upstream(const PacketView& v, Bytes pgm, Session& s, Output& out,
                              const std::vector<Sqn>& parity_sqns, RedirectTarget target) {
    if (s.nbr_unreach_upstream) {  // App. E (§15.3.2, N-NAK-19, D35)
        count(s.upstream_interface, &s, Counter::NakNbrUnreachHeld);
        return false;
    }
    // Redirected NAKs only through the Redirector: the usual NAK stays off the services.
    const auto t = target == RedirectTarget::None ? upstream_transmit(env_, s, s.upstream_neighbour)
                                                  : redirect_.nak_transmit(s, target);
    if (!t) return false;
    out.add(*t, pgm);
    MutableBytes copy = out.mutable_bytes(out.transmits().back());
    // NAK_SRC must be the real source: OpenPGM receivers put the router's address there.
    const NakFields& f = *v.get<NakFields>();
    if (f.source != s.source && f.source.family() == s.source.family()) {
        rewrite_in_place(copy, kHeaderSize + 4 + 4, s.source.address());
    }
    // Parity: NAK_PKT_CNT := the largest known count, for each TG (N-NAK-17).
    auto set_sqn = [&](std::size_t offset, Sqn sqn) {
        std::array<std::uint8_t, 4> b{};
        store32(b.data(), sqn.value());
        if (load32(copy.data() + offset) != sqn.value()) rewrite_in_place(copy, offset, b);
    };
    if (!parity_sqns.empty()) {
        set_sqn(kHeaderSize, parity_sqns[0]);
        if (auto list = v.nak_list()) {
            const auto base = static_cast<std::size_t>(list->raw().data() - pgm.data());
            for (std::size_t i = 0; i < list->size() && i + 1 < parity_sqns.size(); ++i)
                set_sqn(base + 4 * i, parity_sqns[i + 1]);
        }
    }
    s.congestion.rewrite(v, copy);  // N-NAK-18 (congestion.cc)
    interfaces_.counters(t->ifindex)[Counter::OptionInvalidated] += invalidate_opx(v, copy);
    count(t->ifindex, &s, v.header.type == PacketType::Nnak ? Counter::OutNnaks : Counter::OutNaks);
    if (target != RedirectTarget::None) count(t->ifindex, &s, Counter::NakForwardedDLR);
    return true;
}

void Router::repeat_nak(const RepairKey& key, Session& s, Output& out) {
    if (s.nbr_unreach_upstream) {  // App. E (§15.3.2, N-NAK-19, D35)
        count(s.upstream_interface, &s, Counter::NakNbrUnreachHeld);
        return;
    }
    const RedirectTarget target =
        s.redirect.used ? redirect_.repeat_target(key, s) : RedirectTarget::None;  // redirect.cc
    const auto t = target == RedirectTarget::None ? upstream_transmit(env_, s, s.upstream_neighbour)
                                                  : redirect_.nak_transmit(s, target);
    if (!t) return;
    Sqn sqn = key.sqn;
    if (key.parity) {  // the largest count still wanted (N-NAK-17)
        const ParityCounts* p = repairs_.find_parity(key);
        sqn = encode_parity_sqn(key.sqn, !p || p->largest == 0 ? 1 : p->largest);
    }
    const auto written = write_packet(out, 128, *t, [&](PacketWriter& w) {
        w.begin(PacketType::Nak, s.data_destination_port, key.tsi.source_port, key.tsi.gsi);
        if (key.parity) w.flags(kOptParity);
        w.nak(NakFields{sqn, s.source, s.group});
    });
    if (!written) return;
    count(t->ifindex, &s, Counter::OutNaks);
    if (key.parity) count(t->ifindex, &s, Counter::OutParityNaks);
    count(t->ifindex, &s, Counter::NakRetransmitted);
    if (target != RedirectTarget::None) count(t->ifindex, &s, Counter::NakForwardedDLR);
}

// D14.4: a NAK for data the source has not sent yet is broken or forged; its NCF would
// make receivers believe the window moved (OpenPGM does), so it is neither confirmed nor
// forwarded. Parity NAKs are judged by their TG.
namespace {
bool beyond_lead(const PacketView& v, const Session& s, bool parity) {
    bool beyond = !s.lead_seen.has_value();
    for_each_nak_sqn(v, [&](Sqn sqn) {
        const Sqn judged = parity ? decode_parity_sqn(s.tgs, sqn).tg : sqn;
        beyond |= s.lead_seen && judged > *s.lead_seen;
    });
    return beyond;
}
}  // namespace

// What a NAK or NNAK is to this network element (§7.2, 9.5.2, 11.6, D14): the checks, in
// order, and the counters of what they drop. Nothing is sent or changed here but counters.
Router::NakClass Router::classify_nak(const Arrival& a, const PacketView& v, Time now) {
    const bool null_nak = v.header.type == PacketType::Nnak;
    if (!a.ip.destination.is_multicast() && !addressed_to_us(env_, a))
        return {NakRole::Dropped};  // transit: the kernel's
    count(a.ifindex, nullptr, null_nak ? Counter::InNnaks : Counter::InNaks);
    const bool parity = v.header.parity();
    if (parity && !null_nak) count(a.ifindex, nullptr, Counter::InParityNaks);
    if (a.ip.destination.is_multicast()) {
        interfaces_.counters(a.ifindex)[Counter::NakMulticastIgnored]++;  // D14.3
        return {NakRole::Dropped};
    }
    if (!interfaces_.admit_naks(a.ifindex, a.ip.source, nak_count(v), now))
        return {NakRole::Dropped};
    Session* sp = sessions_.find(v.header.tsi());
    if (!sp) {
        // D14.2: no path state, no NCF, no state; receivers repeat after the next SPM.
        interfaces_.counters(
            a.ifindex)[null_nak ? Counter::InNnakNoSessionErrors : Counter::InNakNoSessionErrors]++;
        return {NakRole::Dropped};
    }
    Session& s = *sp;
    s.counters[null_nak ? Counter::InNnaks : Counter::InNaks]++;
    if (parity && !null_nak) s.counters[Counter::InParityNaks]++;
    // Our parent redirecting a NAK to us, its off-tree DLR (§9.5.2.2, dlr.cc).
    if (a.ifindex == s.upstream_interface && a.ip.source == s.upstream_neighbour &&
        v.get<NakFields>()->group == s.group && s.dlr)
        return {NakRole::ToUsAsOffTreeDlr, &s};
    // An NE on our upstream segment redirecting its NAK to us, its upstream DLR (§9.5.2.1,
    // N-DLR-4): answered like the source would (NCF and RDATA on that segment, NNAK); what
    // the cache lacks goes to our parent, never to another DLR.
    const bool to_us_as_upstream_dlr =
        a.ifindex == s.upstream_interface && !null_nak && !parity && s.dlr;
    // A NAK from upstream is not ours to confirm or forward (D14.6).
    if (v.get<NakFields>()->group != s.group ||
        (a.ifindex == s.upstream_interface && !to_us_as_upstream_dlr)) {
        count(a.ifindex, &s, Counter::NakError);
        return {NakRole::Dropped};
    }
    // D38: router assist is off on the arrival interface: no NCF, no repair state; relayed
    // once the checks below (D14.4 above all) passed, as they protect the source.
    const bool relay = !interfaces_.assists(a.ifindex);
    // N-NN-1: the off-tree DLR's NNAKs always go upstream (redirect.cc).
    if (!relay && null_nak && redirect_.from_off_tree_dlr(a, s))
        return {NakRole::OffTreeDlrNnak, &s};
    if (parity && s.tgs == 0) {  // no OPT_PARITY_PRM seen: the counts cannot be read
        count(a.ifindex, &s, Counter::NakError);
        return {NakRole::Dropped};
    }
    if (beyond_lead(v, s, parity)) {
        count(a.ifindex, &s, Counter::InNakSeqErrors);
        return {NakRole::Dropped};
    }
    if (relay) return {NakRole::AssistOffRelay, &s};
    return {parity ? NakRole::Parity : NakRole::Selective, &s, to_us_as_upstream_dlr};
}

void Router::on_nak_like(const Arrival& a, const PacketView& v, Bytes pgm, Time now, Output& out) {
    const NakClass c = classify_nak(a, v, now);
    switch (c.role) {
        case NakRole::Dropped:
            return;
        case NakRole::ToUsAsOffTreeDlr:
            dlr_.on_parent_nak(a, v, v.header.tsi(), *c.s, now, out);
            return;
        case NakRole::OffTreeDlrNnak:
            // N-NN-1: always upstream, no state: it tells the source the DLR repaired, and
            // must arrive before that RDATA does.
            forward_upstream(v, pgm, *c.s, out);
            count(a.ifindex, c.s, Counter::DlrNnaksForwarded);
            return;
        case NakRole::AssistOffRelay:  // D38: upstream as it came (NAK_SRC repaired)
            count(a.ifindex, c.s, Counter::AssistOffNaks);
            // Its OPT_CR is a report of the subtree as any NAK's: merged first, so that the
            // copy carries the aggregate it includes (N-NAK-18, D37).
            c.s->congestion.merge_nak(v, now, config_.congestion_report_age);
            forward_upstream(v, pgm, *c.s, out);
            return;
        case NakRole::Parity:
        case NakRole::Selective:
            c.s->congestion.merge_nak(v, now, config_.congestion_report_age);  // N-NAK-18
            on_subtree_nak_like(a, v, pgm, *c.s, c.to_us_as_upstream_dlr, now, out);
            return;
    }
}

// NAKs and NNAKs share everything but the NCF, the arrival interface joining the repair
// set, and their counters (§9.5.3.2: NNAKs are never confirmed and add no interface).
// Parity ones (§11.6) go through the state machine TG by TG (parity.cc) and are confirmed
// and forwarded with the counts the router knows.
void Router::on_subtree_nak_like(const Arrival& a, const PacketView& v, Bytes pgm, Session& s,
                                 bool to_us_as_upstream_dlr, Time now, Output& out) {
    const bool null_nak = v.header.type == PacketType::Nnak;
    // DLR redirection (redirect.cc): NNAKs always go upstream.
    auto redirect_target = [&] {
        return null_nak || to_us_as_upstream_dlr ? RedirectTarget::None : redirect_.choose(a, v, s);
    };
    if (v.header.parity()) {
        const RedirectTarget target = redirect_target();
        const bool on_dlr_interface = !null_nak && redirect_.on_off_tree_dlr_interface(a, s);
        const ParityRepair::NakOutcome o =
            parity_.on_nak(a, v, s, target, on_dlr_interface, now, out);
        if (!null_nak) {
            send_ncf(a, v, s, out, parity_.ncf_sqns());
            count(a.ifindex, &s, Counter::OutNcfs);
            count(a.ifindex, &s, Counter::OutParityNcfs);
        }
        forward_or_eliminate(a, v, pgm, s, o.forward, o.eliminated, parity_.forward_sqns(), target,
                             now, out);
        return;
    }
    const Tsi tsi = v.header.tsi();
    InterfaceSlots arrival = 0;
    // App. E (§15.3, N-NAK-20, D34): the interface's subtree is assumed unreachable.
    const bool unreachable = !null_nak && containment_.unreachable(a, s);
    const bool ncf_limited = !null_nak && !unreachable && containment_.ncf_is_repeat(a, v, now);
    if (!null_nak) {
        if (unreachable) {
            containment_.send_nbr_unreach_ncf(a, v, s, out);
        } else if (ncf_limited) {
            count(a.ifindex, &s, Counter::NcfRateLimited);  // D33
        } else {
            send_ncf(a, v, s, out);
            count(a.ifindex, &s, Counter::OutNcfs);
        }
        // RDATA never goes back out of the upstream interface: no repair interface there.
        arrival = to_us_as_upstream_dlr ? 0 : interfaces_.bit(a.ifindex);
        // As a DLR: what the cache holds is answered here (dlr.cc).
        if (s.dlr && dlr_.on_nak(a, v, tsi, s, now, out)) return;
    }
    const RepairEvent event = null_nak ? RepairEvent::Nnak : RepairEvent::Nak;
    const RedirectTarget target = redirect_target();
    const bool on_dlr_interface = !null_nak && redirect_.on_off_tree_dlr_interface(a, s);
    bool forward = false;
    bool eliminated = false;
    for_each_nak_sqn(v, [&](Sqn sqn) {
        const RepairKey key{tsi, sqn};
        const bool duplicate = containment_.is_duplicate_nak(key, arrival);
        const std::uint16_t actions =
            apply_nak(a, key, event, arrival, on_dlr_interface, target, now, s, out);
        // A NAK within ncf-repeat-interval of the NCF on its interface crossed that NCF in
        // flight: not a sign of an unreachable subtree (D34).
        if (duplicate && !ncf_limited) containment_.note_duplicate_nak(a, key, s);
        forward |= (actions & kForwardNak) != 0;
        eliminated |= (actions & kEliminated) != 0;
    });
    // The unicast NBR_UNREACH NCF is no NCF the LAN heard (D33).
    if (!null_nak && !ncf_limited && !unreachable) containment_.note_ncf_sent(a, v, now);
    // Intact, list and all (§9.3.3).
    forward_or_eliminate(a, v, pgm, s, forward, eliminated, {}, target, now, out);
    if (!null_nak && !to_us_as_upstream_dlr && config_.discover_dlrs)
        redirect_.poll_for_dlrs(tsi, s, now, out);  // N-DLR-1
}

// A NAK from the subtree after the state machine: upstream when a sequence asked for it, or
// when it was eliminated but its congestion report moved (§12.6.1, congestion.h); else
// counted as eliminated, per packet like InNaks, so that the counters match the links
// (N-NAK-16). `parity_sqns`: as forward_upstream's.
void Router::forward_or_eliminate(const Arrival& a, const PacketView& v, Bytes pgm, Session& s,
                                  bool forward, bool eliminated,
                                  const std::vector<Sqn>& parity_sqns, RedirectTarget target,
                                  Time now, Output& out) {
    const bool null_nak = v.header.type == PacketType::Nnak;
    const bool cr_override = !forward && eliminated &&
                             s.congestion.overrides(v, now, interfaces_.nak_timers(&s).elim_ivl);
    if (forward || cr_override) {
        // Counted only when it went out (not held by OPT_NBR_UNREACH, D35).
        if (!forward_upstream(v, pgm, s, out, parity_sqns, target)) return;
        if (cr_override) {
            count(a.ifindex, &s, Counter::NakCrOverride);
            s.congestion.note_override(now);
        }
        if (v.header.parity() && !null_nak) count(s.upstream_interface, &s, Counter::OutParityNaks);
    } else if (eliminated) {
        count(a.ifindex, &s, null_nak ? Counter::NNakEliminated : Counter::NakEliminated);
    }
}

// --- NCF: confirmation and anticipation (§7.3, 7.5) ----------------------------------------

void Router::on_ncf(const Arrival& a, const PacketView& v, Time now, Output& out) {
    count(a.ifindex, nullptr, Counter::InNcfs);
    const Tsi tsi = v.header.tsi();
    Session* sp = sessions_.find(tsi);
    if (!sp) {
        interfaces_.counters(a.ifindex)[Counter::InNcfNoSessionErrors]++;
        if (v.header.parity()) interfaces_.counters(a.ifindex)[Counter::InParityNcfs]++;
        return;
    }
    Session& s = *sp;
    s.counters[Counter::InNcfs]++;
    if (v.header.parity()) count(a.ifindex, &s, Counter::InParityNcfs);
    if (redirect_.from_off_tree_dlr(a, s)) {  // N-NCF-10: confirms, and ends here (redirect.cc)
        if (!redirect_.on_dlr_ncf(a, v, s, now)) parity_.on_ncf(a, v, s, now);
        return;
    }
    // App. E (§15.3.2, N-NCF-8, D35): our parent cannot reach us by multicast; taken (then it
    // confirms as any other NCF) or ignored (containment.cc).
    if (config_.nbr_unreach && v.nbr_unreach() &&
        !containment_.on_nbr_unreach_ncf(a, v, tsi, s, out))
        return;
    if (a.ifindex != s.upstream_interface) {
        count(a.ifindex, &s, Counter::NcfError);  // §7.5: from elsewhere, no state
        return;
    }
    // D38: receivers where router assist is off NAK our parent directly; its NCFs reach them
    // as multicast through a plain router would.
    if (a.ip.destination.is_multicast())
        forward_plain(a, v.packet, s, 0, Counter::OutNcfs,
                      v.header.parity() ? Counter::OutParityNcfs : Counter::Count, out);
    if (s.dlr) dlr_.on_parent_ncf(v, tsi, s, now, out);  // §9.5.2.1
    if (v.header.parity()) {
        parity_.on_ncf(a, v, s, now);
        return;
    }
    for_each_nak_sqn(v, [&](Sqn sqn) {
        const RepairKey key{tsi, sqn};
        const bool existed = repairs_.contains(key);
        const std::uint16_t actions = apply(key, RepairEvent::NcfFromUpstream, 0, now, &s, nullptr);
        if (actions & kStartConfirmed)
            count(a.ifindex, &s, existed ? Counter::NcfReceived : Counter::NcfAnticipated);
    });
}

// --- SPMR and PGMCC ACK addressed to us: on towards the source (D14.5) ---------------------

void Router::on_upstream_unicast(const Arrival& a, const PacketView& v, Bytes pgm, Output& out) {
    if (a.ip.destination.is_multicast() || !addressed_to_us(env_, a))
        return;  // routed by the kernel
    Session* sp = sessions_.find(v.header.tsi());
    if (!sp || a.ifindex == sp->upstream_interface) return;
    Session& s = *sp;
    const auto t = upstream_transmit(env_, s, s.upstream_neighbour);
    if (!t) return;
    out.add(*t, pgm);
    count(s.upstream_interface, &s, Counter::OutSpmrs);
}

// One sequence of a NAK or NNAK from the subtree: the redirect fallback when it arrived on
// the off-tree DLR's interface (N-DLR-5, -7), the state machine, the redirect mark of what
// is forwarded (D28) and the held RDATA resent (D27). Returns the actions taken.
std::uint16_t Router::apply_nak(const Arrival& a, const RepairKey& key, RepairEvent event,
                                InterfaceSlots arrival, bool on_dlr_interface,
                                RedirectTarget target, Time now, Session& s, Output& out) {
    if (on_dlr_interface && redirect_.falls_back(a, key, s)) event = RepairEvent::RedirectFallback;
    const std::uint16_t actions = apply(key, event, arrival, now, &s, nullptr);
    if ((actions & kForwardNak) && s.redirect.used) redirect_.mark(key, target);
    if (actions & kResendHeld) resend_held(key, a.ifindex, s, out);
    return actions;
}

// --- The state machine applied -----------------------------------------------------------

std::uint16_t Router::apply(const RepairKey& key, RepairEvent event, InterfaceSlots add, Time now,
                            Session* s, Output* out, std::size_t hold_bytes) {
    // One hash lookup: events that may create an entry insert it at once (below the cap).
    RepairTransition tr = transition_from_none(event);
    bool created = false;
    auto it = repairs_.end();
    if (tr.legal && repairs_.size() < config_.max_repair_states) {
        std::tie(it, created) = repairs_.try_emplace(key);
    } else {
        it = repairs_.find(key);
    }
    if (!created && it == repairs_.end()) {
        if (!tr.legal) return kNoAction;
        if (s) count(s->upstream_interface, s, Counter::ShedRepairCap);
        return kNoAction;
    }
    if (created) {
        if (s) {
            s->counters[Counter::ReXmitStates]++;
            if (event == RepairEvent::Nak || event == RepairEvent::NakMore)
                count(s->upstream_interface, s, Counter::UniqueNaks);
        }
    } else {
        tr = transition(it->second.phase, event);
        if (!tr.legal) return kNoAction;
    }
    RepairEntry& e = it->second;
    const NakTimers& timers = interfaces_.nak_timers(s);  // its upstream interface's (D38)
    if (!created) tr.actions = resend_rule(e, tr.actions, add, now, timers.elim_ivl);
    e.interfaces |= add;
    // A NAK going out now goes upstream unless the caller marks it redirected (Redirector::mark):
    // the DLR paths (dlr.cc) send theirs to the parent, and a stale target would send the
    // repeats to a DLR and blame it at NAK_RPT_IVL (N-DLR-6).
    if (tr.actions & kForwardNak) e.redirect = RedirectTarget::None;
    if (tr.actions & kHoldRdata)
        tr.actions =
            hold_rule(tr.actions, can_hold(key, hold_bytes, repairs_.held_bytes(), config_));
    if (tr.actions & kDelete) {
        repairs_.erase(it);
        return tr.actions;
    }
    e.phase = tr.next;
    set_deadlines(e, tr.next, tr.actions, now, timers, config_.rdata_hold);
    if ((tr.actions & kRepeatNak) && s && out) repeat_nak(key, *s, *out);
    repairs_.arm(key, e);
    return tr.actions;
}

Time Router::next_deadline() const {
    Time t = sessions_.next_sweep();
    t = std::min(t, poll_.next_deadline());
    t = std::min(t, repairs_.next_deadline());
    return t;
}

void Router::on_timer(Time now, Output& out) {
    for (auto it = repairs_.pop_due(now); it != repairs_.end(); it = repairs_.pop_due(now)) {
        const RepairKey key = it->first;
        RepairEntry& e = it->second;
        Session* s = sessions_.find(key.tsi);
        const RepairEvent event = due_event(e, now, s != nullptr);
        if (s && event == RepairEvent::RptIvlExpired && e.redirect != RedirectTarget::None) {
            redirect_.expired(e, *s);  // N-DLR-6: the record goes, the NAK goes upstream now
            if (apply(key, RepairEvent::RedirectFallback, 0, now, s, &out) & kForwardNak)
                repeat_nak(key, *s, out);
            continue;
        }
        if (s && event == RepairEvent::RptIvlExpired)
            count(s->upstream_interface, s, Counter::NakRetryExpired);
        if (s && event == RepairEvent::RdataIvlExpired)
            count(s->upstream_interface, s, Counter::ReXmitTimedOut);
        apply(key, event, 0, now, s, &out);
    }
    poll_.on_timer(now, out);  // due POLRs (poll.cc)
    if (now >= sessions_.next_sweep()) expire_sessions(now);
}

void Router::expire_sessions(Time now) {
    sessions_.expire(now, [&](const Tsi& tsi) { dlr_.forget(tsi); });
}

// Shared by interface_down and a reload turning router assist off (D38).
void Router::interface_leaves(const std::vector<IfIndex>& gone, InterfaceSlots bit) {
    repairs_.interface_down(bit);  // repair sets, NCF periods, duplicate-NAK and parity counts
    dlr_.interface_down(bit);      // DLR cache NAK_ELIM_IVL marks
    for (auto& [tsi, s] : sessions_.all_sessions()) {
        // An off-tree DLR behind it is out of reach, a discovery answer from it no longer
        // taken (redirect.h); an App. E verdict on its subtree (D34) does not outlive it.
        for (IfIndex i : gone)
            Redirector::interface_down(s, i, bit);
        s.nbr_unreach_interfaces &= ~bit;
    }
}

void Router::interface_down(IfIndex ifindex) {
    // 0 when there is no bit to clear (D40): an interface never seen, or one sharing the last
    // slot with an interface still up, for which the bit stands (a copy of RDATA for the gone
    // one then fails at send). Its sessions and an off-tree DLR behind it, kept by interface
    // index, go all the same.
    const InterfaceSlots bit = interfaces_.interface_down(ifindex);
    sessions_.remove_upstream(ifindex, [&](const Tsi& tsi) { dlr_.forget(tsi); });
    interface_leaves({ifindex}, bit);
    repairs_.erase_if([&](const RepairKey& key, const RepairEntry&) {
        return !sessions_.all().contains(key.tsi);  // with its parity counts and held RDATA
    });
}

}  // namespace pgm::router
