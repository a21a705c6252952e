#include "router/repair.h"

namespace pgm::router {

namespace {
constexpr RepairTransition to(RepairPhase next, std::uint16_t actions) {
    return {true, next, actions};
}
constexpr RepairTransition stay(RepairPhase p, std::uint16_t actions) {
    return {true, p, actions};
}
constexpr RepairTransition ignored() {
    return {};
}
constexpr RepairTransition remove(std::uint16_t actions = kNoAction) {
    return {true, RepairPhase::Pending, static_cast<std::uint16_t>(actions | kDelete)};
}
}  // namespace

RepairTransition transition_from_none(RepairEvent e) {
    switch (e) {
        case RepairEvent::Nak:
        case RepairEvent::NakMore:
            return to(RepairPhase::Pending, kForwardNak | kStartRepeat);
        case RepairEvent::Nnak:
        case RepairEvent::NnakMore:
            return to(RepairPhase::NullNak, kForwardNak | kStartNullNak);
        case RepairEvent::NcfFromUpstream:
            return to(RepairPhase::Anticipated, kStartConfirmed);
        default:
            return ignored();
    }
}

RepairTransition transition(RepairPhase p, RepairEvent e) {
    using P = RepairPhase;
    using E = RepairEvent;
    if (p == P::Repaired) {
        switch (e) {
            case E::Nak:
                return stay(p, kEliminated | kResendHeld);
            case E::Nnak:
                return stay(p, kEliminated);
            case E::NcfFromUpstream:
            case E::Rdata:
                return stay(p, kNoAction);  // already repaired: nothing to do
            case E::HoldExpired:
                return remove();
            case E::RedirectFallback:  // repaired meanwhile: a NAK like any other
                return stay(p, kEliminated | kResendHeld);
            default:
                return ignored();  // parity events: parity entries are never REPAIRED
        }
    }
    // §9.5.3.2 (N-DLR-6, N-DLR-7): the NAK the DLR did not answer goes upstream, repeated
    // as a first NAK.
    if (e == E::RedirectFallback) return to(P::Pending, kForwardNak | kStartRepeat);
    // §7.3, 7.8: RDATA ends the repair in every phase; pgmd then holds it (D27).
    if (e == E::Rdata) return to(P::Repaired, kForwardRdata | kHoldRdata);
    // §11.6, parity: the same in every phase but REPAIRED.
    switch (e) {
        case E::NakMore:  // more packets wanted than asked for upstream: ask again
            return to(P::Pending, kForwardNak | kStartRepeat);
        case E::NcfShort:
            return stay(p, kNoAction);  // N-NCF-7: does not cancel the repetition
        case E::NnakMore:
            return stay(p, kForwardNak);  // N-NN-5
        case E::RdataPartial:
            return p == P::Pending ? to(P::Outstanding, kForwardRdata | kStartConfirmed)
                                   : stay(p, kForwardRdata);
        default:
            break;
    }
    switch (p) {
        case P::Pending:
            switch (e) {
                case E::Nak:
                case E::Nnak:
                    return stay(p, kEliminated);  // §7.4: duplicates of pending
                case E::NcfFromUpstream:
                    return to(P::Outstanding, kStartConfirmed);
                case E::RepeatDue:
                    return stay(p, kRepeatNak);
                case E::RptIvlExpired:
                    return remove();
                default:
                    return ignored();
            }
        case P::Outstanding:
        case P::Anticipated:
            switch (e) {
                case E::Nak:
                case E::Nnak:
                    return stay(p, kEliminated);
                case E::NcfFromUpstream:
                    return stay(p, kStartConfirmed);  // §7.4: restart both
                case E::ElimExpired:
                    return to(P::ElimSuspended, kNoAction);
                case E::RdataIvlExpired:
                    return remove();
                default:
                    return ignored();
            }
        case P::ElimSuspended:
            switch (e) {
                case E::Nak:
                    return to(P::Pending, kForwardNak | kStartRepeat);  // first duplicate
                case E::Nnak:
                    return stay(p, kEliminated);  // state exists: not forwarded
                case E::NcfFromUpstream:
                    return to(P::Outstanding, kStartConfirmed);
                case E::RdataIvlExpired:
                    return remove();
                default:
                    return ignored();
            }
        case P::NullNak:
            switch (e) {
                case E::Nak:
                    return to(P::Pending, kForwardNak | kStartRepeat);  // §9.5.3.2
                case E::Nnak:
                    return stay(p, kEliminated);
                case E::NcfFromUpstream:
                    return to(P::Anticipated, kStartConfirmed);
                case E::ElimExpired:
                    return remove();
                default:
                    return ignored();
            }
        case P::Repaired:
            break;  // handled above
    }
    return ignored();
}

RepairEvent due_event(const RepairEntry& e, Time now, bool has_session) {
    const bool long_due = e.long_deadline <= now;
    switch (e.phase) {
        case RepairPhase::Pending:
            return long_due || !has_session ? RepairEvent::RptIvlExpired : RepairEvent::RepeatDue;
        case RepairPhase::NullNak:
            return RepairEvent::ElimExpired;
        case RepairPhase::Repaired:
            return RepairEvent::HoldExpired;
        case RepairPhase::Outstanding:
        case RepairPhase::Anticipated:
        case RepairPhase::ElimSuspended:
            break;
    }
    return long_due ? RepairEvent::RdataIvlExpired : RepairEvent::ElimExpired;
}

std::uint16_t resend_rule(RepairEntry& e, std::uint16_t actions, InterfaceSlots add, Time now,
                          const RouterConfig& config) {
    return resend_rule(e, actions, add, now, config.nak_elim_ivl);
}

std::uint16_t resend_rule(RepairEntry& e, std::uint16_t actions, InterfaceSlots add, Time now,
                          Duration elim_ivl) {
    if (e.phase != RepairPhase::Repaired || !(actions & kResendHeld)) return actions;
    if (now >= e.resend_epoch_end) {
        e.interfaces = 0;
        e.resend_epoch_end = now + elim_ivl;
    }
    if (e.interfaces & add) return static_cast<std::uint16_t>(actions & ~kResendHeld);
    return actions;
}

bool can_hold(const RepairKey& key, std::size_t bytes, std::size_t held_bytes,
              const RouterConfig& config) {
    return !key.parity && config.rdata_hold > Duration::zero() &&
           held_bytes + bytes <= config.max_rdata_hold_bytes;
}

std::uint16_t hold_rule(std::uint16_t actions, bool can_hold) {
    if (!(actions & kHoldRdata) || can_hold) return actions;
    return static_cast<std::uint16_t>((actions & ~kHoldRdata) | kDelete);
}

void set_deadlines(RepairEntry& e, RepairPhase next, std::uint16_t actions, Time now,
                   const RouterConfig& config) {
    set_deadlines(e, next, actions, now, config.nak_timers(), config.rdata_hold);
}

void set_deadlines(RepairEntry& e, RepairPhase next, std::uint16_t actions, Time now,
                   const NakTimers& timers, Duration rdata_hold) {
    if (actions & kHoldRdata) {  // the repair set just got the RDATA: served
        e.resend_epoch_end = now + timers.elim_ivl;
        e.short_deadline = now + rdata_hold;
        e.long_deadline = kNever;
    }
    if (actions & kStartRepeat) {
        e.short_deadline = now + timers.repeat_period;
        e.long_deadline = now + timers.rpt_ivl;
    }
    if (actions & kStartConfirmed) {
        e.short_deadline = now + timers.elim_ivl;
        e.long_deadline = now + timers.rdata_ivl;
    }
    if (actions & kStartNullNak) {
        e.short_deadline = now + timers.elim_ivl;
        e.long_deadline = kNever;
    }
    if (next == RepairPhase::ElimSuspended) e.short_deadline = kNever;
    if (actions & kRepeatNak) e.short_deadline = now + timers.repeat_period;
}

DeadlineNames deadline_names(RepairPhase phase) {
    switch (phase) {
        case RepairPhase::Pending:
            return {"nak_repeat", "nak_rpt_ivl"};
        case RepairPhase::Outstanding:
        case RepairPhase::Anticipated:
            return {"nak_elim_ivl", "nak_rdata_ivl"};
        case RepairPhase::ElimSuspended:
            return {nullptr, "nak_rdata_ivl"};
        case RepairPhase::NullNak:
            return {"nak_elim_ivl", nullptr};
        case RepairPhase::Repaired:
            return {"rdata_hold", nullptr};  // pgmd's hold of the RDATA (decisions.md D27)
    }
    return {nullptr, nullptr};
}

const char* to_string(RepairPhase phase) {
    switch (phase) {
        case RepairPhase::Pending:
            return "pending";
        case RepairPhase::Outstanding:
            return "outstanding";
        case RepairPhase::Anticipated:
            return "anticipated";
        case RepairPhase::ElimSuspended:
            return "elimination-suspended";
        case RepairPhase::NullNak:
            return "null-nak";
        case RepairPhase::Repaired:
            return "repaired";
    }
    return "unknown";
}

}  // namespace pgm::router
