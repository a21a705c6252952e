// pgmd as a Designated Local Repairer (RFC 3208 §9.5.2, checklist N-DLR-11): the session
// cache and the DlrRepairer that acts on it (router/dlr.h). The hooks in router/router.cc
// call it only for sessions with Session::dlr set.
#include "router/dlr.h"

#include <algorithm>

#include "protocol/checksum.h"
#include "protocol/parity_sqn.h"
#include "protocol/write_packet.h"
#include "protocol/writer.h"
#include "router/services.h"
#include "router/transmit.h"

namespace pgm::router {

namespace {

// Our own NAKs for holes, at most this many packets per event (each with a full list), so
// that a jump in the sequence space becomes a paced series, not a burst.
constexpr std::size_t kMaxGapNakPacketsPerEvent = 4;

bool prefix_matches(const Nla& a, const Nla& b, std::uint8_t bits) {
    if (a.family() != b.family()) return false;
    const Bytes x = a.address(), y = b.address();
    const std::size_t total = std::min<std::size_t>(bits, 8 * x.size());
    for (std::size_t i = 0; i < total / 8; ++i)
        if (x[i] != y[i]) return false;
    if (const std::size_t rest = total % 8; rest != 0) {
        const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
        if ((x[total / 8] & mask) != (y[total / 8] & mask)) return false;
    }
    return true;
}

}  // namespace

bool DlrScope::matches(const Nla& session_source, const Nla& session_group) const {
    if (source && *source != session_source) return false;
    return prefix_matches(group, session_group, prefix_length);
}

// --- The cache ------------------------------------------------------------------------------

std::size_t DlrCache::pop_front() {
    Slot& s = slots_.front();
    std::size_t evicted = 0;
    if (!s.rdata.empty()) {
        bytes_ -= s.rdata.size();
        --packets_;
        evicted = 1;
    } else if (!holes_.empty() && holes_.front() == first_) {
        holes_.pop_front();
    }
    slots_.pop_front();
    first_ = first_ + 1;
    return evicted;
}

std::size_t DlrCache::insert(Sqn sqn, Bytes pgm, std::size_t max_bytes, std::size_t max_packets) {
    if (max_packets == 0 || pgm.size() > max_bytes || pgm.size() <= kOffsetType) return 0;
    if (slots_.empty()) first_ = sqn;
    if (sqn < first_) return 0;  // behind the cache: evicted or older than its start
    std::size_t evicted = 0;
    auto offset = static_cast<std::size_t>(sqn.distance_from(first_));
    if (offset >= slots_.size()) {
        // Newer: open slots up to it (the ones skipped are holes), dropping from the trail
        // side what the span cannot hold.
        if (offset >= max_packets) {
            const std::size_t drop = offset - max_packets + 1;
            for (std::size_t i = 0; i < drop && !slots_.empty(); ++i)
                evicted += pop_front();
            if (slots_.empty()) first_ = sqn - static_cast<std::uint32_t>(max_packets - 1);
            offset = static_cast<std::size_t>(sqn.distance_from(first_));
        }
        while (slots_.size() < offset) {
            holes_.push_back(first_ + static_cast<std::uint32_t>(slots_.size()));
            slots_.emplace_back();
        }
        slots_.emplace_back();
        // A fresh cache after a jump: the slots opened before the packet are not holes we
        // saw go by; only the packet is stored.
        if (packets_ == 0) {
            while (slots_.size() > 1) {
                slots_.pop_front();
                first_ = first_ + 1;
            }
            holes_.clear();
            offset = 0;
        }
    }
    Slot& slot = slots_[offset];
    if (!slot.rdata.empty()) return evicted;  // a duplicate: the first copy stays
    if (auto h = std::find(holes_.begin(), holes_.end(), sqn); h != holes_.end()) holes_.erase(h);
    // The byte bound: evict older packets (never the new one) until it fits.
    while (bytes_ + pgm.size() > max_bytes && slots_.size() > 1 && first_ != sqn)
        evicted += pop_front();
    if (bytes_ + pgm.size() > max_bytes) return evicted;
    Slot& stored = slots_[static_cast<std::size_t>(sqn.distance_from(first_))];
    stored.rdata.assign(pgm.begin(), pgm.end());
    // Ready to send as a repair: RDATA type (same layout as ODATA, §8.2), checksum anew.
    stored.rdata[kOffsetType] =
        static_cast<std::uint8_t>((stored.rdata[kOffsetType] & ~kTypeCodeMask) |
                                  static_cast<std::uint8_t>(PacketType::Rdata));
    write_checksum(stored.rdata);
    bytes_ += stored.rdata.size();
    ++packets_;
    return evicted;
}

std::size_t DlrCache::evict_before(Sqn trail) {
    std::size_t evicted = 0;
    while (!slots_.empty() && first_ < trail)
        evicted += pop_front();
    return evicted;
}

std::size_t DlrCache::enforce(std::size_t max_bytes, std::size_t max_packets) {
    std::size_t evicted = 0;
    while (!slots_.empty() && (bytes_ > max_bytes || slots_.size() > max_packets))
        evicted += pop_front();
    return evicted;
}

void DlrCache::forget_served(InterfaceSlots slots) {
    for (Slot& s : slots_)
        s.served &= ~slots;
}

DlrCache::Slot* DlrCache::find(Sqn sqn) {
    if (slots_.empty() || sqn < first_) return nullptr;
    const auto offset = static_cast<std::size_t>(sqn.distance_from(first_));
    if (offset >= slots_.size() || slots_[offset].rdata.empty()) return nullptr;
    return &slots_[offset];
}

bool DlrCache::holds(Sqn sqn) const {
    if (slots_.empty() || sqn < first_) return false;
    const auto offset = static_cast<std::size_t>(sqn.distance_from(first_));
    return offset < slots_.size() && !slots_[offset].rdata.empty();
}

// --- The router as a DLR ------------------------------------------------------------------

// False without DLR scopes (config_.dlr.enabled()): callers need not test both.
bool DlrRepairer::serves(const Session& s) const {
    for (const DlrScope& scope : config_.dlr.scopes)
        if (scope.matches(s.source, s.group)) return true;
    return false;
}

void DlrRepairer::forget(const Tsi& tsi) {
    auto it = sessions_.find(tsi);
    if (it == sessions_.end()) return;
    bytes_ -= it->second.cache.bytes();
    sessions_.erase(it);
}

void DlrRepairer::interface_down(InterfaceSlots slots) {
    if (slots == 0) return;
    for (auto& [tsi, d] : sessions_)
        d.cache.forget_served(slots);
}

void DlrRepairer::reconfigure(std::unordered_map<Tsi, Session>& sessions) {
    for (auto& [tsi, s] : sessions) {
        s.dlr = serves(s);
        if (!s.dlr) forget(tsi);
    }
}

void DlrRepairer::on_data(const Tsi& tsi, Session& s, const PacketView& v, Bytes pgm, Time now,
                          Output& out) {
    if (v.header.parity()) return;  // parity repairs are not cached (the DLR offers no FEC)
    // The router switches ODATA without checking its checksum; the cache recomputes it, so
    // it must not bless a corrupted packet.
    if (v.header.type == PacketType::Odata && !checksum_field_valid(pgm)) return;
    auto it = sessions_.find(tsi);
    if (it == sessions_.end()) {
        // The cache starts with ODATA, like a receive window (R1): an old repair going by
        // first would make everything between it and the stream look missing.
        if (v.header.type != PacketType::Odata) return;
        it = sessions_.try_emplace(tsi).first;
    }
    DlrCache& cache = it->second.cache;
    const std::size_t before = cache.bytes();
    const DataFields& f = *v.get<DataFields>();
    std::size_t evicted = cache.evict_before(f.trail);
    // The session may grow only into what the other caches leave of the total.
    const std::size_t others = bytes_ - before;
    const std::size_t max_bytes =
        std::min(config_.dlr.cache_bytes_per_session,
                 config_.dlr.cache_bytes_total - std::min(config_.dlr.cache_bytes_total, others));
    // The copy is the packet as forwarded: unknown options with OPX = 01 invalidated. As an
    // RDATA, an ODATA's OPT_CURR_TGSIZE is network-significant (§11.4): OPT_NETWORK is set,
    // as the source would in its RDATA, or the repair would not parse (found by router_fuzz).
    const bool invalidate = v.has_unknown_options && (v.header.option_flags & kOptNetwork);
    const bool mark_network = v.header.type == PacketType::Odata && v.curr_tgsize() &&
                              !(v.header.option_flags & kOptNetwork);
    if (invalidate || mark_network) {
        std::vector<std::uint8_t> copy(pgm.begin(), pgm.end());
        if (invalidate) router_.invalidate_options(v, copy);
        if (mark_network) copy[kOffsetOptions] |= kOptNetwork;
        evicted += cache.insert(f.sqn, copy, max_bytes, config_.dlr.cache_packets_per_session);
    } else {
        evicted += cache.insert(f.sqn, pgm, max_bytes, config_.dlr.cache_packets_per_session);
    }
    bytes_ = others + cache.bytes();
    if (evicted) router_.count(s.upstream_interface, &s, Counter::DlrCacheEvictions, evicted);
    if (!cache.holes().empty()) nak_missing(tsi, s, cache.holes(), now, out);
}

void DlrRepairer::on_spm(const Tsi& tsi, Session& s, Time now, Output& out) {
    s.dlr = serves(s);
    if (!s.dlr) {  // the SPM may have moved the session to a group out of our scopes
        forget(tsi);
        return;
    }
    auto it = sessions_.find(tsi);
    if (it == sessions_.end()) return;
    DlrCache& cache = it->second.cache;
    const std::size_t before = cache.bytes();
    std::size_t evicted =
        cache.enforce(config_.dlr.cache_bytes_per_session, config_.dlr.cache_packets_per_session);
    if (!s.window.empty()) evicted += cache.evict_before(s.window.trail);
    bytes_ = bytes_ - before + cache.bytes();
    if (evicted) router_.count(s.upstream_interface, &s, Counter::DlrCacheEvictions, evicted);
    // The SPM is the heartbeat that retries holes whose repair state has lapsed.
    if (!cache.holes().empty()) nak_missing(tsi, s, cache.holes(), now, out);
}

void DlrRepairer::nak_missing(const Tsi& tsi, Session& s, const std::deque<Sqn>& holes, Time now,
                              Output& out) {
    std::vector<Sqn>& send = send_;
    send.clear();
    // Holes still pending or confirmed are skipped without counting towards the limit: the
    // walk itself is bounded too, so that thousands of holes after an outage do not cost
    // thousands of lookups on every data packet.
    std::size_t examined = 0;
    for (Sqn sqn : holes) {
        if (send.size() >= kMaxGapNakPacketsPerEvent * (1 + kMaxNakList)) break;
        if (++examined > 4 * kMaxGapNakPacketsPerEvent * (1 + kMaxNakList)) break;
        // The state machine decides: a new or lapsed repair (no entry, elimination over) is
        // NAKed; a pending or confirmed one waits for its NCF or RDATA.
        const RepairEntry* e = router_.repair(RepairKey{tsi, sqn});
        if (e && e->phase != RepairPhase::ElimSuspended && e->phase != RepairPhase::NullNak)
            continue;
        const std::uint16_t actions =
            router_.apply(RepairKey{tsi, sqn}, RepairEvent::Nak, 0, now, &s, nullptr);
        if (actions & kForwardNak) send.push_back(sqn);
    }
    if (send.empty()) return;
    send_upstream(PacketType::Nak, tsi, s, send, s.upstream_neighbour, out);
    router_.count(s.upstream_interface, &s, Counter::DlrGapNaks, send.size());
}

void DlrRepairer::send_upstream(PacketType type, const Tsi& tsi, Session& s,
                                const std::vector<Sqn>& sqns, const Nla& to, Output& out) {
    send_upstream(type, tsi, s, sqns, router_.upstream_transmit(s, to), out);
}

void DlrRepairer::send_upstream(PacketType type, const Tsi& tsi, Session& s,
                                const std::vector<Sqn>& sqns, const std::optional<Transmit>& t,
                                Output& out) {
    if (!t) return;
    for (std::size_t at = 0; at < sqns.size(); at += 1 + kMaxNakList) {
        const std::size_t n = std::min(sqns.size() - at, 1 + kMaxNakList);
        const auto written = write_packet(out, kMaxNakSize, *t, [&](PacketWriter& w) {
            // Upstream port orientation (§8.3): SPORT = data-destination port.
            w.begin(type, s.data_destination_port, tsi.source_port, tsi.gsi);
            w.nak(NakFields{sqns[at], s.source, s.group});
            if (n > 1) w.nak_list(std::span<const Sqn>(sqns.data() + at + 1, n - 1));
        });
        if (!written) return;
        if (type == PacketType::Nnak) {
            router_.count(s.upstream_interface, &s, Counter::OutNnaks);
            router_.count(s.upstream_interface, &s, Counter::DlrNNaksSent);
        } else {
            router_.count(s.upstream_interface, &s, Counter::OutNaks);
        }
    }
}

bool DlrRepairer::may_serve(DlrCache::Slot& slot, IfIndex ifindex, Session& s, Time now) {
    const InterfaceSlots bit = InterfaceSlots{1} << router_.interface_slot(ifindex);
    if (now >= slot.served_until) {
        slot.served = 0;
        slot.served_until = now + config_.nak_elim_ivl;
    }
    if (slot.served & bit) {
        router_.count(ifindex, &s, Counter::DlrNaksIgnored);
        return false;
    }
    slot.served |= bit;
    return true;
}

bool DlrRepairer::send_cached(DlrCache::Slot& slot, IfIndex ifindex, Transmit t, Session& s,
                              Time now, Output& out) {
    if (!may_serve(slot, ifindex, s, now)) return false;
    t.ifindex = ifindex;
    out.add(t, slot.rdata);
    router_.count(ifindex, &s, Counter::OutRdata);
    router_.count(ifindex, &s, Counter::DlrRdataMsgsSent);
    return true;
}

// N-DLR-11, upstream DLR: answer like a source (NCF, already sent by the caller, then RDATA
// with the ODATA source's address and Router Alert) onto the interface that asked, and an
// NNAK upstream for what was repaired; the sequences not held go upstream as usual.
bool DlrRepairer::on_nak(const Arrival& a, const PacketView& v, const Tsi& tsi, Session& s,
                         Time now, Output& out) {
    if (v.header.type != PacketType::Nak) return false;
    auto it = sessions_.find(tsi);
    if (it == sessions_.end()) return false;
    DlrCache& cache = it->second.cache;
    hits_.clear();
    misses_.clear();
    const NakFields& f = *v.get<NakFields>();
    auto classify = [&](Sqn sqn) { (cache.holds(sqn) ? hits_ : misses_).push_back(sqn); };
    classify(f.sqn);
    if (auto list = v.nak_list())
        for (std::size_t i = 0; i < list->size(); ++i)
            classify((*list)[i]);
    if (hits_.empty()) {
        router_.count(a.ifindex, &s, Counter::DlrCacheMisses, misses_.size());
        return false;  // nothing held: the usual path forwards it intact
    }
    router_.count(a.ifindex, &s, Counter::DlrNaksAnsweredLocally);
    router_.count(a.ifindex, &s, Counter::DlrCacheHits, hits_.size());
    if (!misses_.empty()) router_.count(a.ifindex, &s, Counter::DlrCacheMisses, misses_.size());

    // RDATA from the cache, as the source would send it (D13): source address, group, RA.
    const Transmit t = as_source_answer(s, a);
    std::vector<Sqn>& repaired = send_;
    repaired.clear();
    for (Sqn sqn : hits_)
        if (send_cached(*cache.find(sqn), a.ifindex, t, s, now, out)) repaired.push_back(sqn);
    // §9.5.2.1: "sends an NNAK when it has the RDATA", so that the source sees the loss
    // (flow control) without repairing it.
    if (!repaired.empty())
        send_upstream(PacketType::Nnak, tsi, s, repaired, s.upstream_neighbour, out);

    // The rest is a NAK of the subtree like any other: state machine, redirection (D28),
    // then upstream or to the DLR. A NAK redirected to us on the upstream segment has no
    // repair interface and its misses go to our parent, never to another DLR.
    const bool from_upstream = a.ifindex == s.upstream_interface;
    const InterfaceSlots arrival =
        from_upstream ? 0 : InterfaceSlots{1} << router_.interface_slot(a.ifindex);
    const RedirectTarget target = from_upstream ? RedirectTarget::None : redirect_.choose(a, v, s);
    const bool on_dlr_interface = !from_upstream && redirect_.on_off_tree_dlr_interface(a, s);
    bool forward = false, eliminated = false;
    for (Sqn sqn : misses_) {
        const std::uint16_t actions =
            router_.apply_nak(a, RepairKey{tsi, sqn}, RepairEvent::Nak, arrival, on_dlr_interface,
                              target, now, s, out);
        forward |= (actions & kForwardNak) != 0;
        eliminated |= (actions & kEliminated) != 0;
    }
    if (forward) {
        send_upstream(PacketType::Nak, tsi, s, misses_, redirect_.nak_transmit(s, target), out);
    } else if (eliminated) {
        router_.count(a.ifindex, &s, Counter::NakEliminated);
    }
    if (!from_upstream && !misses_.empty() && config_.discover_dlrs)
        redirect_.poll_for_dlrs(tsi, s, now, out);  // N-DLR-1
    return true;
}

// N-DLR-11, off-tree DLR (§9.5.2.2): our parent redirected a NAK to us. A unicast NCF back;
// for what we hold an NNAK upstream BEFORE the unicast RDATA; for what we lack a NAK to the
// parent (which then forwards it towards the source, N-DLR-7), and the RDATA it brings down
// fills our cache.
void DlrRepairer::on_parent_nak(const Arrival& a, const PacketView& v, const Tsi& tsi, Session& s,
                                Time now, Output& out) {
    if (v.header.type != PacketType::Nak || v.header.parity()) {
        router_.count(a.ifindex, &s, Counter::NakError);
        return;
    }
    const NakFields& f = *v.get<NakFields>();
    // The unicast NCF: from our address to the parent, without Router Alert (9.5.2.2).
    if (auto own = router_.upstream_transmit(s, a.ip.source)) {
        own->ifindex = a.ifindex;
        const auto written = write_packet(out, kMaxNakSize, *own, [&](PacketWriter& w) {
            w.begin(PacketType::Ncf, v.header.destination_port, v.header.source_port, v.header.gsi);
            w.nak(NakFields{f.sqn, s.source, s.group});
            if (auto list = v.nak_list()) w.nak_list(*list);
        });
        if (written) router_.count(a.ifindex, &s, Counter::OutNcfs);
    }
    auto it = sessions_.find(tsi);
    hits_.clear();
    misses_.clear();
    auto classify = [&](Sqn sqn) {
        const bool held = it != sessions_.end() && it->second.cache.holds(sqn);
        (held ? hits_ : misses_).push_back(sqn);
    };
    classify(f.sqn);
    if (auto list = v.nak_list())
        for (std::size_t i = 0; i < list->size(); ++i)
            classify((*list)[i]);
    if (!hits_.empty()) {
        router_.count(a.ifindex, &s, Counter::DlrNaksAnsweredLocally);
        router_.count(a.ifindex, &s, Counter::DlrCacheHits, hits_.size());
        auto t = router_.upstream_transmit(s, a.ip.source);  // unicast RDATA to the parent, no RA
        std::vector<Sqn> repaired;
        std::vector<DlrCache::Slot*> slots;
        for (Sqn sqn : hits_) {
            DlrCache::Slot* slot = it->second.cache.find(sqn);
            if (!may_serve(*slot, a.ifindex, s, now)) continue;
            repaired.push_back(sqn);
            slots.push_back(slot);
        }
        if (!repaired.empty() && t) {
            send_upstream(PacketType::Nnak, tsi, s, repaired, a.ip.source, out);
            for (DlrCache::Slot* slot : slots) {
                out.add(*t, slot->rdata);
                router_.count(a.ifindex, &s, Counter::OutRdata);
                router_.count(a.ifindex, &s, Counter::DlrRdataMsgsSent);
            }
        }
    }
    if (!misses_.empty()) {
        router_.count(a.ifindex, &s, Counter::DlrCacheMisses, misses_.size());
        const std::vector<Sqn>& misses = misses_;
        // Always answered with a NAK (it tells the parent to go upstream for these, N-DLR-7);
        // the state machine also keeps our own repair of them going until it is confirmed.
        for (Sqn sqn : misses)
            router_.apply(RepairKey{tsi, sqn}, RepairEvent::Nak, 0, now, &s, nullptr);
        send_upstream(PacketType::Nak, tsi, s, misses, a.ip.source, out);
    }
}

// §9.5.2.1: an upstream DLR that hears an NCF from its parent which does not complete a NAK
// of its own announces itself with a multicast redirecting POLR (IP source = the data
// source, Router Alert), so that the NE that NAKed redirects its next NAKs to us. At most one
// per NAK_RPT_IVL per session.
void DlrRepairer::on_parent_ncf(const PacketView& v, const Tsi& tsi, Session& s, Time now,
                                Output& out) {
    auto it = sessions_.find(tsi);
    if (it == sessions_.end()) return;
    DlrSession& d = it->second;
    bool ours = false;
    auto check = [&](Sqn sqn) {
        // Parity state is keyed by the TG (§11.3): the NCF's low bits are its PKT_CNT.
        const bool parity = v.header.parity() && s.tgs != 0;
        const RepairKey key{tsi, parity ? tg_of(s.tgs, sqn) : sqn, parity};
        const RepairEntry* e = router_.repair(key);
        ours |= e && e->phase == RepairPhase::Pending;
    };
    check(v.get<NakFields>()->sqn);
    if (auto list = v.nak_list())
        for (std::size_t i = 0; i < list->size(); ++i)
            check((*list)[i]);
    if (ours) return;  // it completes our own NAK: MUST NOT redirect (§9.5.2.1)
    if (d.last_polr && now - *d.last_polr < config_.nak_rpt_ivl) return;
    const auto own = env_.interface_address(s.upstream_interface, s.source.family());
    if (!own) return;
    Transmit t = as_source_transmit(s, s.upstream_interface);
    t.ttl = 1;  // for the parent's segment only
    const auto written = write_packet(out, kMaxPolrSize, t, [&](PacketWriter& w) {
        w.begin(PacketType::Polr, s.data_destination_port, tsi.source_port, tsi.gsi);
        w.polr(PolrFields{Sqn(d.polr_sqn++), 0});
        w.redirect(OptRedirect{*own});
    });
    if (!written) return;
    d.last_polr = now;
    router_.count(s.upstream_interface, &s, Counter::PolrOriginated);
    router_.count(s.upstream_interface, &s, Counter::DlrRedirectingPolrs);
}

}  // namespace pgm::router
