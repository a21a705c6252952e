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
