// DOC: Repair state of the network element (RFC 3208 §7.2-7.8, 9.5.3.2): one entry per
// (TSI, sequence number) that some NAK, NNAK or NCF mentioned, holding the interfaces that
// are owed the RDATA and the phase of NAK elimination.
//
// The phases are an explicit state machine. `transition()` is the whole of it: the router
// feeds it events and performs the actions it returns; nothing else changes a phase.
//
//                 NAK (forward)                  NCF from upstream
//   (none) ──────────────────────► PENDING ─────────────────────────► OUTSTANDING
//     │  NCF from upstream           │ repeat timer: re-send NAK          │   ▲
//     │                              │ NAK_RPT_IVL: delete (retry expired) │   │ NCF
//     ▼                              ▼                                    │   │
//   ANTICIPATED ── NAK_ELIM_IVL ──► ELIM_SUSPENDED ◄── NAK_ELIM_IVL ──────┘   │
//     ▲                             │  NAK (forward) ──► PENDING              │
//     │                             └── NCF from upstream ────────────────────┘
//     └───────── NCF from upstream ────┐
//   (none) ── NNAK (forward) ──► NULL_NAK ── NAK (forward) ──► PENDING
//                                   └── NAK_ELIM_IVL: delete
//   OUTSTANDING, ANTICIPATED ── NCF from upstream: both deadlines restarted (§7.4)
//   PENDING, OUTSTANDING, ANTICIPATED ── NAK or NNAK: eliminated (not forwarded)
//   ELIM_SUSPENDED, NULL_NAK ── NNAK: eliminated
//   any phase ── RDATA: forward on the interfaces, then REPAIRED (holding a copy of the
//                RDATA) when the hold is enabled and within its byte budget, else delete
//   REPAIRED ── NAK or REDIRECT_FALLBACK: NCF, the held RDATA sent back on its interface
//               (at most once per interface and NAK_ELIM_IVL), not forwarded
//            ── NNAK: eliminated; NCF, RDATA: nothing
//            ── RDATA_HOLD over: delete
//   OUTSTANDING, ANTICIPATED, ELIM_SUSPENDED ── NAK_RDATA_IVL: delete (timed out)
//   any phase but REPAIRED ── REDIRECT_FALLBACK: forward the NAK upstream, PENDING (the DLR it
//                went to did not confirm, or lacks the data: router/redirect.h)
//
// What the deadlines of an entry mean in each phase (RepairEntry::short_deadline,
// long_deadline), which event a due timer is (`due_event`) and how the actions set them
// (`set_deadlines`) are in the functions below; pgmctl shows them by `deadline_names`.
//
// Parity repairs (§11.6, checklist C27, decisions.md D9) use the same entries, keyed by
// TSI + TG_SQN with RepairKey::parity set, and three more events the router derives from
// the per-interface packet counts it keeps beside the entry (ParityCounts):
//   NAK_MORE     a parity NAK asking for more packets than the largest known count: forwarded
//                (with the new largest count) and repeated like a first NAK, in every phase
//                and from (none)
//   NCF_SHORT    a parity NCF with a count below the largest known: no effect, so a pending
//                NAK keeps being repeated (N-NCF-7)
//   NNAK_MORE    a parity NNAK whose count is not below the largest known: forwarded, the
//                phase unchanged (N-NN-5); from (none) as an NNAK (NULL_NAK)
//   RDATA_PARTIAL a parity RDATA after which some interface still wants packets: forwarded,
//                PENDING becomes OUTSTANDING (the RDATA confirms the NAK), other phases stay
// A parity RDATA that leaves no interface wanting is the plain RDATA event; parity entries
// are never held (no REPAIRED phase): the entry is deleted instead.
//
// REPAIRED is pgmd's extension (decisions.md D27): RFC 3208 §7.8 deletes the state once the
// RDATA has passed, so a receiver whose back-off made it NAK a few milliseconds later starts
// a second repair from the source. Holding the RDATA answers it locally; with
// RouterConfig::rdata_hold = 0 the router behaves as the RFC says to the letter.
//
// NAKs always add their arrival interface and are always answered with an NCF, whatever
// the phase (§7.2); "eliminate" means only that the NAK is not forwarded. NNAKs never add an
// interface and are never confirmed (§9.5.3.2).
#pragma once

#include <cstdint>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "protocol/io.h"
#include "protocol/packet.h"
#include "protocol/seq.h"
#include "router/config.h"
#include "router/redirect.h"

namespace pgm::router {

enum class RepairPhase : std::uint8_t {
    Pending,        // NAK forwarded upstream, no NCF yet: repeating it
    Outstanding,    // NCF received: eliminating duplicates, waiting for RDATA
    Anticipated,    // created by an unsolicited NCF from upstream: as Outstanding
    ElimSuspended,  // NAK_ELIM_IVL over: the next NAK is forwarded again
    NullNak,        // created by an NNAK: lives NAK_ELIM_IVL, eliminates no real NAK
    Repaired,       // RDATA forwarded, a copy held: later NAKs are answered from it (D27)
};

enum class RepairEvent : std::uint8_t {
    Nak,              // a NAK (or a NAK-list entry) for this sequence
    Nnak,             // an NNAK for this sequence
    NcfFromUpstream,  // matching NCF on the upstream interface
    Rdata,            // matching RDATA
    RepeatDue,        // time to repeat the pending NAK
    RptIvlExpired,    // NAK_RPT_IVL passed without NCF
    ElimExpired,      // NAK_ELIM_IVL passed
    RdataIvlExpired,  // NAK_RDATA_IVL passed without RDATA
    HoldExpired,      // the RDATA hold is over
    // Parity only (§11.6): see above.
    NakMore,       // parity NAK with a count above the largest known
    NcfShort,      // parity NCF from upstream with a count below the largest known
    NnakMore,      // parity NNAK with a count not below the largest known
    RdataPartial,  // parity RDATA after which interfaces still want packets
    // DLR redirection (router/redirect.h): the NAK sent to a DLR must now go upstream (no
    // NCF from the DLR within NAK_RPT_IVL, or a NAK for it on the off-tree DLR's interface).
    RedirectFallback,
};

// What the router does after a transition (bit set).
enum RepairAction : std::uint16_t {
    kNoAction = 0,
    kForwardNak = 1 << 0,      // forward this NAK (or NNAK) upstream
    kEliminated = 1 << 1,      // not forwarded: counted as eliminated
    kStartRepeat = 1 << 2,     // arm the repeat timer and NAK_RPT_IVL
    kStartConfirmed = 1 << 3,  // (re)arm NAK_ELIM_IVL and NAK_RDATA_IVL
    kStartNullNak = 1 << 4,    // arm NAK_ELIM_IVL as the lifetime
    kRepeatNak = 1 << 5,       // re-send the NAK upstream
    kForwardRdata = 1 << 6,    // send the RDATA on the repair interfaces
    kDelete = 1 << 7,          // remove the entry
    kHoldRdata = 1 << 8,       // keep a copy of the RDATA and become REPAIRED; when the hold is
                               // off or its byte budget is spent, the router deletes instead
    kResendHeld = 1 << 9,      // send the held RDATA on the NAK's arrival interface
};

struct RepairTransition {
    bool legal = false;  // false: the event does not apply in this phase (ignored)
    RepairPhase next = RepairPhase::Pending;
    std::uint16_t actions = kNoAction;
};

// The state machine. For a sequence with no entry, use `transition_from_none`.
RepairTransition transition(RepairPhase phase, RepairEvent event);
RepairTransition transition_from_none(RepairEvent event);

const char* to_string(RepairPhase phase);

// Interfaces are held as a bit set over the router's interface slots (at most 64).
using InterfaceSlots = std::uint64_t;

struct RepairKey {
    Tsi tsi;
    Sqn sqn;  // selective: the sequence; parity: TG_SQN (low log2(TGS) bits clear)
    bool parity = false;
    friend bool operator==(const RepairKey&, const RepairKey&) = default;
};

struct RepairEntry {
    RepairPhase phase = RepairPhase::Pending;
    RedirectTarget redirect = RedirectTarget::None;  // where the last NAK for it went
    InterfaceSlots interfaces = 0;
    // Pending: next repeat / NAK_RPT_IVL end. Outstanding, Anticipated: NAK_ELIM_IVL end /
    // NAK_RDATA_IVL end. ElimSuspended: unused / NAK_RDATA_IVL end. NullNak: lifetime / unused.
    Time short_deadline = kNever;
    Time long_deadline = kNever;
    Time scheduled = kNever;  // time of this entry's live item in the timer heap
    // REPAIRED only: `interfaces` holds those sent the held RDATA since this time - NAK_ELIM_IVL;
    // each gets it at most once per NAK_ELIM_IVL (a NAK flood must not become an RDATA flood).
    Time resend_epoch_end{};
    // N-NAK-4 (D33): the interfaces sent an NCF for this sequence since this time -
    // ncf_repeat_interval; each gets at most one NCF per such period.
    InterfaceSlots ncf_sent = 0;
    Time ncf_epoch_end{};
    std::uint32_t generation = 0;  // matches the live heap item

    Time next_deadline() const {
        return short_deadline < long_deadline ? short_deadline : long_deadline;
    }
};

// --- The machine around `transition()`: pure functions the router calls -----------------

// The event a timer due at `now` means for `e`: which deadline passed in its phase. Without
// the session (`has_session` false) a pending NAK cannot be repeated: its retry expires.
RepairEvent due_event(const RepairEntry& e, Time now, bool has_session);

// D27, before a transition of an existing entry is applied: in REPAIRED, each interface is
// sent the held RDATA at most once per NAK_ELIM_IVL (a NAK flood must not become an RDATA
// flood). Starts a new epoch in `e` when the last one is over and drops kResendHeld when
// `add` (the NAK's interface) already had it in this one. Returns the actions to perform.
std::uint16_t resend_rule(RepairEntry& e, std::uint16_t actions, InterfaceSlots add, Time now,
                          const RouterConfig& config);
// The same with the NAK_ELIM_IVL of the entry's session (its upstream interface's, D38).
std::uint16_t resend_rule(RepairEntry& e, std::uint16_t actions, InterfaceSlots add, Time now,
                          Duration elim_ivl);

// Whether an RDATA of `bytes` can be held (D27): a selective entry, the hold on, and
// `held_bytes` + `bytes` within its byte budget (parity entries are never held, D9).
bool can_hold(const RepairKey& key, std::size_t bytes, std::size_t held_bytes,
              const RouterConfig& config);
// kHoldRdata becomes kDelete when the RDATA cannot be held.
std::uint16_t hold_rule(std::uint16_t actions, bool can_hold);

// Sets the deadlines of `e` for a transition to `next` with `actions` at `now`:
//   PENDING         short: next repeat of the NAK          long: NAK_RPT_IVL end
//   OUTSTANDING,    short: NAK_ELIM_IVL end                 long: NAK_RDATA_IVL end
//   ANTICIPATED
//   ELIM_SUSPENDED  short: unused                           long: NAK_RDATA_IVL end (kept)
//   NULL_NAK        short: lifetime (NAK_ELIM_IVL)          long: unused
//   REPAIRED        short: end of the RDATA hold            long: unused
// Also starts the resend epoch of a new hold (kHoldRdata).
void set_deadlines(RepairEntry& e, RepairPhase next, std::uint16_t actions, Time now,
                   const RouterConfig& config);
// The same with the NAK timers of the entry's session (its upstream interface's, D38).
void set_deadlines(RepairEntry& e, RepairPhase next, std::uint16_t actions, Time now,
                   const NakTimers& timers, Duration rdata_hold);

// The names of the short and long deadline in `phase` (null: unused), as pgmctl shows them.
struct DeadlineNames {
    const char* short_name;
    const char* long_name;
};
DeadlineNames deadline_names(RepairPhase phase);

// Packet counts of a parity entry (§11.6), kept beside the RepairEntry (which stays small)
// and only for parity entries. Counts are "wanted" = PKT_CNT + 1 (D9), 1..TGS.
struct ParityCounts {
    struct Slot {
        std::uint8_t slot = 0;  // interface slot, as in RepairEntry::interfaces
        std::uint16_t wanted = 0;
    };
    std::uint16_t largest = 0;  // largest known count (NAKs, NCFs), decremented by RDATA
    std::uint16_t offset = 0;   // TG-size offset, TGS - OPT_CURR_TGSIZE (N-RD-8)
    std::vector<Slot> interfaces;

    std::uint16_t wanted(std::size_t slot) const {
        for (const Slot& s : interfaces)
            if (s.slot == slot) return s.wanted;
        return 0;
    }
    void raise(std::size_t slot, std::uint16_t wanted) {
        for (Slot& s : interfaces)
            if (s.slot == slot) {
                if (wanted > s.wanted) s.wanted = wanted;
                return;
            }
        interfaces.push_back(Slot{static_cast<std::uint8_t>(slot), wanted});
    }
};

}  // namespace pgm::router

template <>
struct std::hash<pgm::router::RepairKey> {
    std::size_t operator()(const pgm::router::RepairKey& k) const noexcept {
        return std::hash<pgm::Tsi>{}(k.tsi) ^
               ((std::size_t{k.sqn.value()} * 2 + k.parity) * 0x9E3779B97F4A7C15ull);
    }
};

namespace pgm::router {
// The repair state of every NAKed sequence: open addressing, entries stored in place (no
// allocation per entry, one probe sequence per lookup; decisions.md D30). Inserting may move
// entries: hold no reference to an entry across an insertion.
using RepairTable = absl::flat_hash_map<RepairKey, RepairEntry, std::hash<RepairKey>>;
}  // namespace pgm::router
