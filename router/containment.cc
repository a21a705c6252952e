#include "router/containment.h"

#include "protocol/write_packet.h"
#include "protocol/writer.h"
#include "router/nak_sqns.h"
#include "router/transmit.h"

namespace pgm::router {

namespace {

// An NCF with OPT_NBR_UNREACH and OPT_PATH_NLA (IPv6), and the special SPM.
constexpr std::size_t kMaxNbrUnreachNcfSize =
    kMaxNakSize + kOptFlagOnlySize + kOptionHeaderSize + 16;
constexpr std::size_t kMaxSpecialSpmSize =
    kHeaderSize + 12 + 20 + kOptLengthSize + kOptFlagOnlySize;

InterfaceSlots bit(std::size_t slot) {
    return InterfaceSlots{1} << slot;
}

}  // namespace

// N-NAK-4 (decisions.md D33): identical NCFs are rate limited. A NAK is answered unless every
// sequence it names (header and OPT_NAK_LIST) has repair state that sent an NCF on the NAK's
// interface in its current ncf_repeat_interval period: the NCF it would get is identical to
// one its LAN heard moments ago. Suppression is not lost: the NAK is processed as before
// (interface added, eliminated or forwarded), only its NCF is not repeated.
bool NakContainment::ncf_is_repeat(const Arrival& a, const PacketView& nak, Time now) {
    if (config_.ncf_repeat_interval <= Duration::zero()) return false;
    const InterfaceSlots slot = bit(router_.interface_slot(a.ifindex));
    bool repeat = true;
    for_each_nak_sqn(nak, [&](Sqn sqn) {
        if (!repeat) return;
        auto e = repairs_.find(RepairKey{nak.header.tsi(), sqn});
        repeat = e != repairs_.end() && now < e->second.ncf_epoch_end &&
                 (e->second.ncf_sent & slot) != 0;
    });
    return repeat;
}

// The NCF for `nak` went out on its interface: each sequence's entry notes it, in a new period
// when the last one is over (entries refused at the cap note nothing: their NAKs get NCFs).
void NakContainment::note_ncf_sent(const Arrival& a, const PacketView& nak, Time now) {
    if (config_.ncf_repeat_interval <= Duration::zero()) return;
    const InterfaceSlots slot = bit(router_.interface_slot(a.ifindex));
    for_each_nak_sqn(nak, [&](Sqn sqn) {
        auto e = repairs_.find(RepairKey{nak.header.tsi(), sqn});
        if (e == repairs_.end()) return;
        if (now >= e->second.ncf_epoch_end) {
            e->second.ncf_sent = 0;
            e->second.ncf_epoch_end = now + config_.ncf_repeat_interval;
        }
        e->second.ncf_sent |= slot;
    });
}

bool NakContainment::unreachable(const Arrival& a, const Session& s) {
    return s.nbr_unreach_interfaces != 0 &&
           (s.nbr_unreach_interfaces & bit(router_.interface_slot(a.ifindex))) != 0;
}

// App. E (§15.3, N-NAK-20, D34).
bool NakContainment::is_duplicate_nak(const RepairKey& key, InterfaceSlots arrival) {
    if (arrival == 0 || config_.dup_nak_max == 0) return false;
    auto e = repairs_.find(key);
    return e != repairs_.end() && (e->second.interfaces & arrival) != 0;
}

// The interface reached DUP_NAK_MAX duplicates for `key` (still held): its subtree is assumed
// unreachable until a regular SPM.
void NakContainment::note_duplicate_nak(const Arrival& a, const RepairKey& key, Session& s) {
    if (!repairs_.contains(key)) return;
    const std::size_t i = router_.interface_slot(a.ifindex);
    if (repairs_.add_duplicate_nak(key, i) < config_.dup_nak_max ||
        (s.nbr_unreach_interfaces & bit(i)) != 0)
        return;
    s.nbr_unreach_interfaces |= bit(i);
    router_.count(a.ifindex, &s, Counter::DupNakMaxReached);
}

// App. E (§15.3.2, D34): the NCF for a NAK from a subtree assumed unreachable, unicast to the
// NAK's sender from our address on its interface (no Router Alert: it is addressed to its
// PGM hop), carrying OPT_NBR_UNREACH and OPT_PATH_NLA = that address, which is the SPM_PATH
// our SPMs gave the subtree. Fields and list as the multicast NCF (D12); not rate limited.
void NakContainment::send_nbr_unreach_ncf(const Arrival& a, const PacketView& nak, Session& s,
                                          Output& out) {
    const auto own = env_.interface_address(a.ifindex, a.ip.source.family());
    const auto path = env_.interface_address(a.ifindex, s.upstream_neighbour.family());
    if (!own || !path) return;
    Transmit t;
    t.ifindex = a.ifindex;
    t.ip_source = *own;
    t.ip_destination = a.ip.source;
    t.ttl = kForwardTtl;
    t.encapsulation = a.ip.encapsulation;
    t.udp_port = a.ip.encapsulation == Encapsulation::Udp ? a.ip.udp_destination_port : s.udp_port;
    const NakFields& f = *nak.get<NakFields>();
    const auto written = write_packet(out, kMaxNbrUnreachNcfSize, t, [&](PacketWriter& w) {
        w.begin(PacketType::Ncf, nak.header.destination_port, nak.header.source_port,
                nak.header.gsi);
        w.nak(NakFields{f.sqn, s.source, s.group});
        if (auto list = nak.nak_list()) w.nak_list(*list);
        w.nbr_unreach();
        w.path_nla(OptPathNla{*path});
    });
    if (!written) return;
    router_.count(a.ifindex, &s, Counter::OutNcfs);
    router_.count(a.ifindex, &s, Counter::OutNbrUnreachNcfs);
}

// App. E (§15.3.2, N-NCF-8, D35): our parent cannot reach us by multicast. Ignored unless it
// comes from our upstream neighbour and OPT_PATH_NLA names it; then no NAK goes upstream until
// a regular SPM, and the subtree is told by a special SPM.
bool NakContainment::on_nbr_unreach_ncf(const Arrival& a, const PacketView& ncf, const Tsi& tsi,
                                        Session& s, Output& out) {
    const auto path = ncf.path_nla();
    if (a.ifindex != s.upstream_interface || !path || path->path != s.upstream_neighbour ||
        a.ip.source != s.upstream_neighbour) {
        router_.count(a.ifindex, &s, Counter::NbrUnreachIgnored);
        return false;
    }
    router_.count(a.ifindex, &s, Counter::NbrUnreachReceived);
    if (!s.nbr_unreach_upstream) {
        s.nbr_unreach_upstream = true;
        send_nbr_unreach_spm(tsi, s, out);
    }
    return true;
}

// App. E (§15.3.2, N-NCF-8, D11): the special SPM: SPM_SQN the last regular one, no window
// (trail 0, lead 0x80000000), OPT_NBR_UNREACH, SPM_PATH our address on each member interface,
// as the source sends SPMs.
void NakContainment::send_nbr_unreach_spm(const Tsi& tsi, Session& s, Output& out) {
    if (s.last_ttl <= 1) return;
    env_.group_members(s.source, s.group, members_);
    for (IfIndex i : members_) {
        if (i == s.upstream_interface || !router_.assists(i)) continue;  // D38: not its hop
        auto address = env_.interface_address(i, s.upstream_neighbour.family());
        if (!address) continue;
        const auto written =
            write_packet(out, kMaxSpecialSpmSize, as_source_transmit(s, i), [&](PacketWriter& w) {
                w.begin(PacketType::Spm, tsi.source_port, s.data_destination_port, tsi.gsi);
                w.spm(SpmFields{s.last_spm_sqn, Sqn(kNoWindowTrail), Sqn(kNoWindowLead), *address});
                w.nbr_unreach();
            });
        if (!written) continue;
        router_.count(i, &s, Counter::OutSpms);
        router_.count(i, &s, Counter::OutNbrUnreachSpms);
    }
}

}  // namespace pgm::router
