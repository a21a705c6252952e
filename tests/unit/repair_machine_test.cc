// DOC: The network element's repair state machine (router/repair.h) on its own: the
// transition table (every phase x event), the timer events, the D27 hold and resend rules,
// the deadlines the actions set and their names. No router, no packets.
#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "router/repair.h"

namespace pgm::router {
namespace {

using namespace std::chrono_literals;
using P = RepairPhase;
using E = RepairEvent;

constexpr E kEvents[] = {
    E::Nak,           E::Nnak,        E::NcfFromUpstream, E::Rdata,           E::RepeatDue,
    E::RptIvlExpired, E::ElimExpired, E::RdataIvlExpired, E::HoldExpired,     E::NakMore,
    E::NcfShort,      E::NnakMore,    E::RdataPartial,    E::RedirectFallback};
constexpr P kPhases[] = {P::Pending,       P::Outstanding, P::Anticipated,
                         P::ElimSuspended, P::NullNak,     P::Repaired};

std::string where(std::optional<P> from, E e) {
    return std::string(from ? to_string(*from) : "(none)") + " event " +
           std::to_string(static_cast<int>(e));
}

struct Row {
    std::optional<P> from;  // nullopt: no entry yet
    E event;
    P to;  // ignored when the actions delete the entry
    std::uint16_t actions;
};

constexpr std::uint16_t operator|(RepairAction a, RepairAction b) {
    return static_cast<std::uint16_t>(static_cast<std::uint16_t>(a) | b);
}

TEST(RepairMachine, TransitionTable) {
    const std::uint16_t first_nak = kForwardNak | kStartRepeat;
    const std::uint16_t held = kForwardRdata | kHoldRdata;
    const Row rows[] = {
        // No entry: NAKs and NNAKs create one and go upstream, an NCF anticipates (§7.5).
        {std::nullopt, E::Nak, P::Pending, first_nak},
        {std::nullopt, E::NakMore, P::Pending, first_nak},
        {std::nullopt, E::Nnak, P::NullNak, kForwardNak | kStartNullNak},
        {std::nullopt, E::NnakMore, P::NullNak, kForwardNak | kStartNullNak},
        {std::nullopt, E::NcfFromUpstream, P::Anticipated, kStartConfirmed},

        {P::Pending, E::Nak, P::Pending, kEliminated},
        {P::Pending, E::Nnak, P::Pending, kEliminated},
        {P::Pending, E::NcfFromUpstream, P::Outstanding, kStartConfirmed},
        {P::Pending, E::Rdata, P::Repaired, held},
        {P::Pending, E::RepeatDue, P::Pending, kRepeatNak},
        {P::Pending, E::RptIvlExpired, P::Pending, kDelete},
        {P::Pending, E::NakMore, P::Pending, first_nak},
        {P::Pending, E::NcfShort, P::Pending, kNoAction},
        {P::Pending, E::NnakMore, P::Pending, kForwardNak},
        {P::Pending, E::RdataPartial, P::Outstanding, kForwardRdata | kStartConfirmed},
        {P::Pending, E::RedirectFallback, P::Pending, first_nak},

        {P::Outstanding, E::Nak, P::Outstanding, kEliminated},
        {P::Outstanding, E::Nnak, P::Outstanding, kEliminated},
        {P::Outstanding, E::NcfFromUpstream, P::Outstanding, kStartConfirmed},
        {P::Outstanding, E::Rdata, P::Repaired, held},
        {P::Outstanding, E::ElimExpired, P::ElimSuspended, kNoAction},
        {P::Outstanding, E::RdataIvlExpired, P::Pending, kDelete},
        {P::Outstanding, E::NakMore, P::Pending, first_nak},
        {P::Outstanding, E::NcfShort, P::Outstanding, kNoAction},
        {P::Outstanding, E::NnakMore, P::Outstanding, kForwardNak},
        {P::Outstanding, E::RdataPartial, P::Outstanding, kForwardRdata},
        {P::Outstanding, E::RedirectFallback, P::Pending, first_nak},

        {P::Anticipated, E::Nak, P::Anticipated, kEliminated},
        {P::Anticipated, E::Nnak, P::Anticipated, kEliminated},
        {P::Anticipated, E::NcfFromUpstream, P::Anticipated, kStartConfirmed},
        {P::Anticipated, E::Rdata, P::Repaired, held},
        {P::Anticipated, E::ElimExpired, P::ElimSuspended, kNoAction},
        {P::Anticipated, E::RdataIvlExpired, P::Pending, kDelete},
        {P::Anticipated, E::NakMore, P::Pending, first_nak},
        {P::Anticipated, E::NcfShort, P::Anticipated, kNoAction},
        {P::Anticipated, E::NnakMore, P::Anticipated, kForwardNak},
        {P::Anticipated, E::RdataPartial, P::Anticipated, kForwardRdata},
        {P::Anticipated, E::RedirectFallback, P::Pending, first_nak},

        {P::ElimSuspended, E::Nak, P::Pending, first_nak},
        {P::ElimSuspended, E::Nnak, P::ElimSuspended, kEliminated},
        {P::ElimSuspended, E::NcfFromUpstream, P::Outstanding, kStartConfirmed},
        {P::ElimSuspended, E::Rdata, P::Repaired, held},
        {P::ElimSuspended, E::RdataIvlExpired, P::Pending, kDelete},
        {P::ElimSuspended, E::NakMore, P::Pending, first_nak},
        {P::ElimSuspended, E::NcfShort, P::ElimSuspended, kNoAction},
        {P::ElimSuspended, E::NnakMore, P::ElimSuspended, kForwardNak},
        {P::ElimSuspended, E::RdataPartial, P::ElimSuspended, kForwardRdata},
        {P::ElimSuspended, E::RedirectFallback, P::Pending, first_nak},

        {P::NullNak, E::Nak, P::Pending, first_nak},
        {P::NullNak, E::Nnak, P::NullNak, kEliminated},
        {P::NullNak, E::NcfFromUpstream, P::Anticipated, kStartConfirmed},  // the diagram's edge
        {P::NullNak, E::Rdata, P::Repaired, held},
        {P::NullNak, E::ElimExpired, P::Pending, kDelete},
        {P::NullNak, E::NakMore, P::Pending, first_nak},
        {P::NullNak, E::NcfShort, P::NullNak, kNoAction},
        {P::NullNak, E::NnakMore, P::NullNak, kForwardNak},
        {P::NullNak, E::RdataPartial, P::NullNak, kForwardRdata},
        {P::NullNak, E::RedirectFallback, P::Pending, first_nak},

        // D27: answered from the held RDATA, never forwarded; parity events do not apply.
        {P::Repaired, E::Nak, P::Repaired, kEliminated | kResendHeld},
        {P::Repaired, E::Nnak, P::Repaired, kEliminated},
        {P::Repaired, E::NcfFromUpstream, P::Repaired, kNoAction},
        {P::Repaired, E::Rdata, P::Repaired, kNoAction},
        {P::Repaired, E::HoldExpired, P::Pending, kDelete},
        {P::Repaired, E::RedirectFallback, P::Repaired, kEliminated | kResendHeld},
    };
    std::set<std::pair<int, int>> listed;
    for (const Row& r : rows) {
        const RepairTransition t =
            r.from ? transition(*r.from, r.event) : transition_from_none(r.event);
        EXPECT_TRUE(t.legal) << where(r.from, r.event);
        EXPECT_EQ(t.actions, r.actions) << where(r.from, r.event);
        if (!(r.actions & kDelete)) {
            EXPECT_EQ(t.next, r.to) << where(r.from, r.event);
        }
        listed.emplace(r.from ? static_cast<int>(*r.from) : -1, static_cast<int>(r.event));
    }
    // Every pair the table does not list is ignored.
    for (E e : kEvents) {
        if (!listed.contains({-1, static_cast<int>(e)})) {
            EXPECT_FALSE(transition_from_none(e).legal) << where(std::nullopt, e);
        }
        for (P p : kPhases) {
            if (!listed.contains({static_cast<int>(p), static_cast<int>(e)})) {
                EXPECT_FALSE(transition(p, e).legal) << where(p, e);
            }
        }
    }
}

RepairEntry entry(P phase, Time short_deadline, Time long_deadline) {
    RepairEntry e;
    e.phase = phase;
    e.short_deadline = short_deadline;
    e.long_deadline = long_deadline;
    return e;
}

TEST(RepairMachine, DueTimerEvents) {
    const Time t0 = Time{} + 10s;
    const RepairEntry pending = entry(P::Pending, t0, t0 + 1s);
    EXPECT_EQ(due_event(pending, t0, true), E::RepeatDue);
    EXPECT_EQ(due_event(pending, t0 + 1s, true), E::RptIvlExpired);
    EXPECT_EQ(due_event(pending, t0, false), E::RptIvlExpired);  // no session: cannot repeat
    for (P p : {P::Outstanding, P::Anticipated, P::ElimSuspended}) {
        const RepairEntry e = entry(p, t0, t0 + 9s);
        EXPECT_EQ(due_event(e, t0, true), E::ElimExpired) << to_string(p);
        EXPECT_EQ(due_event(e, t0 + 9s, true), E::RdataIvlExpired) << to_string(p);
    }
    EXPECT_EQ(due_event(entry(P::NullNak, t0, kNever), t0, true), E::ElimExpired);
    EXPECT_EQ(due_event(entry(P::Repaired, t0, kNever), t0, false), E::HoldExpired);
}

TEST(RepairMachine, DeadlinesSetByActions) {
    RouterConfig c;
    c.nak_repeat_period = 100ms;
    c.nak_rpt_ivl = 1s;
    c.nak_elim_ivl = 2s;
    c.nak_rdata_ivl = 10s;
    c.rdata_hold = 5s;
    const Time now = Time{} + 100s;
    RepairEntry e;
    set_deadlines(e, P::Pending, kForwardNak | kStartRepeat, now, c);
    EXPECT_EQ(e.short_deadline, now + 100ms);
    EXPECT_EQ(e.long_deadline, now + 1s);
    set_deadlines(e, P::Pending, kRepeatNak, now + 100ms, c);
    EXPECT_EQ(e.short_deadline, now + 200ms);
    EXPECT_EQ(e.long_deadline, now + 1s);  // NAK_RPT_IVL is not restarted by a repeat
    set_deadlines(e, P::Outstanding, kStartConfirmed, now, c);
    EXPECT_EQ(e.short_deadline, now + 2s);
    EXPECT_EQ(e.long_deadline, now + 10s);
    set_deadlines(e, P::ElimSuspended, kNoAction, now + 2s, c);
    EXPECT_EQ(e.short_deadline, kNever);  // NAK_ELIM_IVL is over, NAK_RDATA_IVL runs on
    EXPECT_EQ(e.long_deadline, now + 10s);
    set_deadlines(e, P::NullNak, kForwardNak | kStartNullNak, now, c);
    EXPECT_EQ(e.short_deadline, now + 2s);
    EXPECT_EQ(e.long_deadline, kNever);
    set_deadlines(e, P::Repaired, kForwardRdata | kHoldRdata, now, c);
    EXPECT_EQ(e.short_deadline, now + 5s);
    EXPECT_EQ(e.long_deadline, kNever);
    EXPECT_EQ(e.resend_epoch_end, now + 2s);
}

TEST(RepairMachine, HoldRule) {
    RouterConfig c;
    c.rdata_hold = 5s;
    c.max_rdata_hold_bytes = 1000;
    const RepairKey selective{Tsi{}, Sqn(7)};
    const RepairKey parity{Tsi{}, Sqn(8), true};
    EXPECT_TRUE(can_hold(selective, 400, 600, c));
    EXPECT_FALSE(can_hold(selective, 401, 600, c));  // over the byte budget
    EXPECT_FALSE(can_hold(parity, 1, 0, c));         // parity entries are never held (D9)
    c.rdata_hold = Duration::zero();
    EXPECT_FALSE(can_hold(selective, 1, 0, c));  // hold off: RFC 3208 §7.8 to the letter

    const std::uint16_t rdata = kForwardRdata | kHoldRdata;
    EXPECT_EQ(hold_rule(rdata, true), rdata);
    EXPECT_EQ(hold_rule(rdata, false), kForwardRdata | kDelete);
    EXPECT_EQ(hold_rule(kEliminated, false), kEliminated);  // nothing to hold
}

TEST(RepairMachine, ResendRuleOncePerInterfaceAndElimIvl) {
    RouterConfig c;
    c.nak_elim_ivl = 2s;
    const Time now = Time{} + 100s;
    RepairEntry e = entry(P::Repaired, now + 5s, kNever);
    e.resend_epoch_end = now + 2s;
    e.interfaces = 0b01;  // the interfaces the RDATA went to
    const std::uint16_t nak = kEliminated | kResendHeld;
    EXPECT_EQ(resend_rule(e, nak, 0b01, now, c), kEliminated);  // had it in this epoch
    EXPECT_EQ(resend_rule(e, nak, 0b10, now, c), nak);          // another interface: resent
    e.interfaces |= 0b10;
    EXPECT_EQ(resend_rule(e, nak, 0b01, now + 2s, c), nak);  // a new epoch: resent again
    EXPECT_EQ(e.interfaces, 0u);                             // the epoch starts empty
    EXPECT_EQ(e.resend_epoch_end, now + 4s);
    e.phase = P::Outstanding;  // only REPAIRED resends
    EXPECT_EQ(resend_rule(e, kEliminated, 0b01, now, c), kEliminated);
}

TEST(RepairMachine, DeadlineNamesPerPhase) {
    auto names = [](P p) {
        const DeadlineNames n = deadline_names(p);
        return std::make_pair(std::string(n.short_name ? n.short_name : "-"),
                              std::string(n.long_name ? n.long_name : "-"));
    };
    using N = std::pair<std::string, std::string>;
    EXPECT_EQ(names(P::Pending), N("nak_repeat", "nak_rpt_ivl"));
    EXPECT_EQ(names(P::Outstanding), N("nak_elim_ivl", "nak_rdata_ivl"));
    EXPECT_EQ(names(P::Anticipated), N("nak_elim_ivl", "nak_rdata_ivl"));
    EXPECT_EQ(names(P::ElimSuspended), N("-", "nak_rdata_ivl"));
    EXPECT_EQ(names(P::NullNak), N("nak_elim_ivl", "-"));
    EXPECT_EQ(names(P::Repaired), N("rdata_hold", "-"));
}

}  // namespace
}  // namespace pgm::router
