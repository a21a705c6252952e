// The network-element side of DLR redirection (RFC 3208 §9.5.3): the Redirector the hooks in
// router.cc call. The design, and the decisions on what the RFC leaves open, are in
// router/redirect.h and docs/decisions.md D28.
#include "router/redirect.h"

#include <algorithm>

#include "protocol/parity_sqn.h"
#include "protocol/write_packet.h"
#include "protocol/writer.h"
#include "router/services.h"
#include "router/transmit.h"

namespace pgm::router {

namespace {

// POLL: header, POLL_SQN, ROUND, S_TYPE, NLA (IPv6 at most), BO_IVL, RAND, MASK.
constexpr std::size_t kMaxPollSize = kHeaderSize + 8 + 20 + 12;

InterfaceSlots bit(std::size_t slot) {
    return InterfaceSlots{1} << slot;
}

// The repair key a NAK's sequence number belongs to: the sequence, or for a parity NAK its
// transmission group (§11.3; router.cc decodes the counts).
RepairKey key_of(const Tsi& tsi, Sqn sqn, bool parity, std::uint32_t tgs) {
    if (!parity) return RepairKey{tsi, sqn};
    return RepairKey{tsi, tg_of(tgs, sqn), true};
}

}  // namespace

// --- Learning DLRs from redirecting POLRs (§9.5.2, 9.5.3.2) ----------------------------------

void Redirector::on_polr(const Arrival& a, const PacketView& v, Time now) {
    const auto redirect = v.redirect();
    if (!redirect) return;  // an ordinary POLR: we send no general POLLs, it answers nothing
    Session* found = router_.session(v.header.tsi());
    if (!found) {
        router_.count(a.ifindex, nullptr, Counter::PolrNoState);
        return;
    }
    Session& s = *found;
    RedirectState& r = s.redirect;
    const DlrRecord record{redirect->dlr, a.ifindex, v.header.parity(), now};
    // A DLR's NLA must be reached through the interface its POLR came in on: it sits on the
    // upstream segment, or below that downstream interface.
    const bool routed_here = env_.route_interface(record.nla) == a.ifindex;
    if (a.ifindex == s.upstream_interface) {
        // Upstream DLR (§9.5.2.1): multicast to the group, from the data source, with Router
        // Alert. Anything else on the upstream interface (unicast, or another IP source) is
        // no DLR announcement we know of (D28).
        const bool valid = a.ip.destination == s.group && a.ip.source == s.source &&
                           a.ip.router_alert && routed_here;
        if (!valid) {
            router_.count(a.ifindex, &s, Counter::PolrError);
            return;
        }
        r.upstream = record;
    } else {
        // Off-tree DLR (§9.5.2.2): only as the answer to the POLL_DLR round we sent out of
        // this interface, unicast to us from the DLR's own address. Unsolicited ones would
        // let any host on a downstream LAN take the session's NAKs (§10, N-DLR-10).
        const auto& f = *v.get<PolrFields>();
        const bool polled = r.poll_sqn && f.sqn == *r.poll_sqn && f.round == 0 &&
                            now <= r.answers_until &&
                            (r.polled_slots & bit(router_.interface_slot(a.ifindex)));
        if (!polled) {
            router_.count(a.ifindex, &s, Counter::PolrNoState);
            return;
        }
        const bool valid = !a.ip.destination.is_multicast() && router_.addressed_to_us(a) &&
                           a.ip.source == record.nla && routed_here;
        if (!valid) {
            router_.count(a.ifindex, &s, Counter::PolrError);
            return;
        }
        r.off_tree = record;
    }
    r.used = true;
    router_.count(a.ifindex, &s, Counter::PolrSuccess);
}

// --- Choosing where a NAK goes (N-DLR-2, -3, -5) -----------------------------------------------

const DlrRecord* Redirector::usable_dlr(const Session& s, RedirectTarget target,
                                        bool parity) const {
    const std::optional<DlrRecord>* record = nullptr;
    if (target == RedirectTarget::UpstreamDlr) record = &s.redirect.upstream;
    if (target == RedirectTarget::OffTreeDlr) record = &s.redirect.off_tree;
    if (!record || !*record) return nullptr;
    const DlrRecord& d = **record;
    if (parity && !d.parity) return nullptr;  // N-DLR-2
    // After a route change the record may sit on the wrong side of the tree: not used.
    const bool upstream_side = d.ifindex == s.upstream_interface;
    if (upstream_side != (target == RedirectTarget::UpstreamDlr)) return nullptr;
    return &d;
}

RedirectTarget Redirector::choose(const Arrival& a, const PacketView& v, const Session& s) {
    if (!s.redirect.used) return RedirectTarget::None;
    const bool parity = v.header.parity();
    if (usable_dlr(s, RedirectTarget::UpstreamDlr, parity)) return RedirectTarget::UpstreamDlr;
    const DlrRecord* d = usable_dlr(s, RedirectTarget::OffTreeDlr, parity);
    if (!d || a.ifindex == d->ifindex) return RedirectTarget::None;
    // N-DLR-5: a NAK for one of its sequences was seen on the DLR's interface, so the DLR
    // most likely lost it too: this NAK goes upstream, whole (one NAK, one destination).
    const InterfaceSlots dlr_slot = bit(router_.interface_slot(d->ifindex));
    const Tsi tsi = v.header.tsi();
    bool seen = false;
    auto check = [&](Sqn sqn) {
        const RepairEntry* e = router_.repair(key_of(tsi, sqn, parity, s.tgs));
        seen |= e && (e->interfaces & dlr_slot);
    };
    check(v.get<NakFields>()->sqn);
    if (auto list = v.nak_list())
        for (std::size_t i = 0; i < list->size(); ++i)
            check((*list)[i]);
    return seen ? RedirectTarget::None : RedirectTarget::OffTreeDlr;
}

void Redirector::mark(const RepairKey& key, RedirectTarget target) {
    if (RepairEntry* e = router_.repair(key)) e->redirect = target;
}

RedirectTarget Redirector::repeat_target(const RepairKey& key, Session& s) {
    RepairEntry* found = router_.repair(key);
    if (!found) return RedirectTarget::None;
    RepairEntry& e = *found;
    const DlrRecord* d = usable_dlr(s, e.redirect, key.parity);
    const bool seen_there = d && e.redirect == RedirectTarget::OffTreeDlr &&
                            (e.interfaces & bit(router_.interface_slot(d->ifindex)));  // N-DLR-5
    if (!d || seen_there) e.redirect = RedirectTarget::None;
    return e.redirect;
}

std::optional<Transmit> Redirector::nak_transmit(const Session& s, RedirectTarget target) const {
    const DlrRecord* d = target == RedirectTarget::None ? nullptr : usable_dlr(s, target, false);
    if (!d) return router_.upstream_transmit(s, s.upstream_neighbour);
    // To the DLR's NLA out of the interface it was heard on, from our address there.
    auto own = env_.interface_address(d->ifindex, d->nla.family());
    if (!own) return router_.upstream_transmit(s, s.upstream_neighbour);
    Transmit t;
    t.ifindex = d->ifindex;
    t.ip_source = *own;
    t.ip_destination = d->nla;
    t.encapsulation = s.encapsulation;
    t.udp_port = s.udp_port;
    return t;
}

// --- Traffic from the off-tree DLR (§9.5.3.2: N-NCF-10, N-RD-7, N-NN-1) ------------------------

bool Redirector::from_off_tree_dlr(const Arrival& a, const Session& s) const {
    const auto& d = s.redirect.off_tree;
    return d && a.ifindex == d->ifindex && a.ip.source == d->nla &&
           !a.ip.destination.is_multicast();
}

bool Redirector::on_off_tree_dlr_interface(const Arrival& a, const Session& s) const {
    return s.redirect.off_tree && a.ifindex == s.redirect.off_tree->ifindex;
}

bool Redirector::falls_back(const Arrival& a, const RepairKey& key, Session& s) {
    RepairEntry* e = router_.repair(key);
    if (!e || e->redirect != RedirectTarget::OffTreeDlr || e->phase == RepairPhase::Repaired)
        return false;
    e->redirect = RedirectTarget::None;
    // Counted per sequence: the DLR's own NAK (it lacks the data, N-DLR-7) or another host's
    // on its LAN (N-DLR-5).
    router_.count(a.ifindex, &s, Counter::DlrNakFallback);
    return true;
}

bool Redirector::on_dlr_ncf(const Arrival& a, const PacketView& v, Session& s, Time now) {
    router_.count(a.ifindex, &s, Counter::InRedirectNcfs);
    if (v.header.parity()) return false;  // parity counts as from the parent (N-NCF-7)
    const Tsi tsi = v.header.tsi();
    auto confirm = [&](Sqn sqn) {
        const RepairKey key{tsi, sqn};
        const RepairEntry* e = router_.repair(key);
        // Only what we asked it for: the DLR's NCF anticipates nothing.
        if (!e || e->redirect != RedirectTarget::OffTreeDlr) return;
        if (router_.apply(key, RepairEvent::NcfFromUpstream, 0, now, &s, nullptr) & kStartConfirmed)
            router_.count(a.ifindex, &s, Counter::NcfReceived);
    };
    confirm(v.get<NakFields>()->sqn);
    if (auto list = v.nak_list())
        for (std::size_t i = 0; i < list->size(); ++i)
            confirm((*list)[i]);
    return true;
}

std::optional<Arrival> Redirector::rdata_arrival(const Arrival& a, Session& s) {
    if (!from_off_tree_dlr(a, s)) return std::nullopt;
    router_.count(a.ifindex, &s, Counter::DlrRdataRewritten);
    // N-RD-7: forwarded as the source's multicast with Router Alert, as far as our SPMs go
    // (the TTL they came with, as for NCFs, D12), encapsulated as the session.
    Arrival r = a;
    r.ip.source = s.source;
    r.ip.destination = s.group;
    r.ip.router_alert = true;
    r.ip.ttl = s.last_ttl;
    r.ip.encapsulation = s.encapsulation;
    r.ip.udp_destination_port = s.udp_port;
    return r;
}

void Redirector::expired(RepairEntry& e, Session& s) {
    // N-DLR-6: the DLR did not confirm within NAK_RPT_IVL: the record goes for the whole
    // session, and the caller sends this NAK upstream, repeated as a first NAK.
    if (e.redirect == RedirectTarget::UpstreamDlr) s.redirect.upstream.reset();
    if (e.redirect == RedirectTarget::OffTreeDlr) s.redirect.off_tree.reset();
    e.redirect = RedirectTarget::None;
    router_.count(s.upstream_interface, &s, Counter::NakRetryExpiredDLR);
}

// --- Discovery: POLL with PGM_POLL_DLR as a parent (§9.5.3.1, §14.4) ---------------------------

void Redirector::poll_for_dlrs(const Tsi& tsi, Session& s, Time now, Output& out) {
    RedirectState& r = s.redirect;
    if (r.any() || now < r.next_poll) return;
    r.next_poll = now + config_.dlr_poll_interval;
    // A random first POLL_SQN: an off-path host cannot guess what to answer.
    r.poll_sqn =
        r.poll_sqn ? *r.poll_sqn + 1 : Sqn(static_cast<std::uint32_t>(router_.next_random()));
    r.answers_until = now + config_.dlr_poll_backoff + config_.nak_rpt_ivl;
    r.polled_slots = 0;
    const auto backoff_us = static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(config_.dlr_poll_backoff).count());
    env_.group_members(s.source, s.group, members_);
    for (IfIndex i : members_) {
        if (i == s.upstream_interface) continue;  // DLRs upstream announce themselves
        // D38: a plain router there; a DLR found there would get the assisted NAKs.
        if (!router_.assists(i)) continue;
        auto path = env_.interface_address(i, s.source.family());
        if (!path) continue;
        // §14.4: from the data source, with Router Alert, as far as our SPMs (D12).
        const auto written =
            write_packet(out, kMaxPollSize, as_source_transmit(s, i), [&](PacketWriter& w) {
                // Downstream port orientation (§8.3). POLL_MASK 0: every DLR answers (§14.4); a
                // fresh POLL_RAND per interface.
                w.begin(PacketType::Poll, tsi.source_port, s.data_destination_port, tsi.gsi);
                w.poll(PollFields{*r.poll_sqn, 0, kPollDlr, *path, backoff_us,
                                  static_cast<std::uint32_t>(router_.next_random()), 0});
            });
        if (!written) continue;
        r.polled_slots |= bit(router_.interface_slot(i));
        router_.count(i, &s, Counter::PollOriginated);
    }
}

void Redirector::interface_down(Session& s, IfIndex ifindex, std::uint64_t slot) {
    if (s.redirect.off_tree && s.redirect.off_tree->ifindex == ifindex) s.redirect.off_tree.reset();
    s.redirect.polled_slots &= ~slot;
}

}  // namespace pgm::router
