#include "router/parity.h"

#include "protocol/parity_sqn.h"
#include "router/nak_sqns.h"

namespace pgm::router {

ParityCounts& ParityRepair::counts(const RepairKey& key, const Session& s) {
    const bool shortened = s.shortened_tg && s.shortened_tg->tg == key.sqn;
    return repairs_.parity(key, shortened ? s.shortened_tg->offset : 0);
}

// N-NAK-17, N-NN-5: state per TSI + TG_SQN with the count each interface wants. Its NCF
// confirms what its interface now wants, max(NAK count, known count).
ParityRepair::NakOutcome ParityRepair::on_nak(const Arrival& a, const PacketView& nak, Session& s,
                                              RedirectTarget target, bool on_dlr_interface,
                                              Time now, Output& out) {
    const bool null_nak = nak.header.type == PacketType::Nnak;
    const std::size_t arrival_slot = router_.interface_slot(a.ifindex);
    const InterfaceSlots arrival = null_nak ? 0 : InterfaceSlots{1} << arrival_slot;
    ncf_.clear();
    forward_.clear();
    NakOutcome o;
    for_each_nak_sqn(nak, [&](Sqn sqn) {
        const ParitySqn p = decode_parity_sqn(s.tgs, sqn);
        const RepairKey key{nak.header.tsi(), p.tg, true};
        const ParityCounts* known = repairs_.find_parity(key);
        const std::uint16_t largest = known ? known->largest : 0;
        RepairEvent event;
        if (null_nak)  // N-NN-5: eliminated only by a NAK state wanting more
            event = known && largest > p.wanted ? RepairEvent::Nnak : RepairEvent::NnakMore;
        else
            event = known && p.wanted <= largest ? RepairEvent::Nak : RepairEvent::NakMore;
        // Parity entries hold no RDATA (D9): nothing to resend.
        const std::uint16_t actions =
            router_.apply_nak(a, key, event, arrival, on_dlr_interface, target, now, s, out);
        std::uint16_t confirm = p.wanted;
        std::uint16_t ask = p.wanted;
        if (!null_nak && repairs_.contains(key)) {
            ParityCounts& pc = counts(key, s);
            pc.raise(arrival_slot, p.wanted);
            if (p.wanted > pc.largest) pc.largest = p.wanted;
            confirm = pc.wanted(arrival_slot);
            ask = pc.largest;
        } else if (null_nak && repairs_.contains(key)) {
            counts(key, s);  // a NULL_NAK parity entry: no counts yet
        }
        ncf_.push_back(encode_parity_sqn(p.tg, confirm));
        forward_.push_back(encode_parity_sqn(p.tg, ask));
        o.forward |= (actions & kForwardNak) != 0;
        o.eliminated |= (actions & kEliminated) != 0;
    });
    return o;
}

// N-NCF-7: a parity NCF confirms (stops the NAK's repetition) only when it covers the
// largest known count; it raises that count when larger (partial anticipation).
void ParityRepair::on_ncf(const Arrival& a, const PacketView& ncf, Session& s, Time now) {
    if (s.tgs == 0) {
        router_.count(a.ifindex, &s, Counter::NcfError);
        return;
    }
    for_each_nak_sqn(ncf, [&](Sqn sqn) {
        const ParitySqn p = decode_parity_sqn(s.tgs, sqn);
        const RepairKey key{ncf.header.tsi(), p.tg, true};
        const ParityCounts* known = repairs_.find_parity(key);
        const bool existed = known != nullptr;
        const RepairEvent event = !existed || p.wanted >= known->largest
                                      ? RepairEvent::NcfFromUpstream
                                      : RepairEvent::NcfShort;
        const std::uint16_t actions = router_.apply(key, event, 0, now, &s, nullptr);
        if (repairs_.contains(key)) {
            ParityCounts& pc = counts(key, s);
            if (p.wanted > pc.largest) pc.largest = p.wanted;
        }
        if (actions & kStartConfirmed)
            router_.count(a.ifindex, &s, existed ? Counter::NcfReceived : Counter::NcfAnticipated);
    });
}

// N-RD-6, N-RD-8: a parity RDATA serves every interface of its TG's entry and brings each
// one's count (and the largest) down by one; interfaces that want no more leave the entry,
// which is deleted when none is left.
InterfaceSlots ParityRepair::on_rdata(const Arrival& a, const PacketView& rdata, Session& s,
                                      InterfaceSlots exclude, Time now, Output& out) {
    if (s.tgs == 0) {  // no OPT_PARITY_PRM seen: the TG cannot be told
        router_.count(a.ifindex, &s, Counter::RdataEliminatedSqn);
        return 0;
    }
    const ParitySqn p = decode_parity_sqn(s.tgs, rdata.get<DataFields>()->sqn);
    const RepairKey key{rdata.header.tsi(), p.tg, true};
    note_lead(s, p.tg);
    RepairEntry* e = router_.repair(key);
    if (!e) {
        router_.count(a.ifindex, &s, Counter::RdataEliminatedSqn);
        return 0;
    }
    ParityCounts& pc = counts(key, s);
    if (auto cur = rdata.curr_tgsize(); cur && cur->size < s.tgs)
        pc.offset = static_cast<std::uint16_t>(s.tgs - cur->size);
    const InterfaceSlots slots = e->interfaces & ~exclude;
    if (pc.largest > 0) --pc.largest;
    InterfaceSlots remaining = 0;
    std::erase_if(pc.interfaces, [&](ParityCounts::Slot& i) {
        const InterfaceSlots bit = InterfaceSlots{1} << i.slot;
        if (i.wanted > 0) --i.wanted;
        const bool gone = i.wanted <= pc.offset || !(e->interfaces & bit);
        if (!gone) remaining |= bit;
        return gone;
    });
    e->interfaces = remaining;
    // `pc` and `e` are gone when this deletes the entry.
    const std::uint16_t actions = router_.apply(
        key, remaining ? RepairEvent::RdataPartial : RepairEvent::Rdata, 0, now, &s, &out);
    if (!(actions & kForwardRdata) || slots == 0) {
        router_.count(a.ifindex, &s, Counter::RdataEliminatedOIF);
        return 0;
    }
    return slots;
}

// OPT_CURR_TGSIZE in an SPM shortens the TG that SPM_LEAD ends (§11.4): its parity repairs
// stop sending an interface RDATA once only the offset is left (N-RD-6).
void ParityRepair::on_curr_tgsize(const Tsi& tsi, Session& s, Sqn lead, std::uint32_t size) {
    if (s.tgs == 0 || size < 1 || size >= s.tgs) return;
    const Session::ShortenedTg st{decode_parity_sqn(s.tgs, lead).tg,
                                  static_cast<std::uint16_t>(s.tgs - size)};
    s.shortened_tg = st;
    if (ParityCounts* pc = repairs_.find_parity(RepairKey{tsi, st.tg, true}))
        pc->offset = st.offset;
}

}  // namespace pgm::router
