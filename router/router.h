// DOC: The PGM network element core (RFC 3208 §7, checklist §4 and C1-C29), sans-I/O.
//
// router.cc is the §7 network element: SPM path state and forwarding, ODATA switching, NAKs
// classified and dispatched, NCFs sent and taken, RDATA forwarded where it was asked for, the
// repair state machine (router/repair.h) applied, and the timers that drive it. The rest are
// components with their own state and files, called from a few hooks:
//   SessionTable   router/sessions.h     the sessions, their expiry and events
//   InterfaceTable router/interfaces.h   interface slots, counters, NAK caps, settings (D38)
//   RepairStore    router/repair_store.h repair and parity tables, held RDATA, timer heap
//   ParityRepair   router/parity.h       parity NAKs, NCFs and RDATA (§11.6)
//   NakContainment router/containment.h  identical-NCF limit (D33), App. E (D34, D35)
//   PollResponder  router/poll.h         POLLs answered as a child (§14.5)
//   Redirector     router/redirect.h     NAK redirection to DLRs (D28)
//   DlrRepairer    router/dlr.h          pgmd as a DLR, per session (Session::dlr)
//   CongestionReports (in each Session)  OPT_CR aggregation (App. B, D37)
// The roles ask the core only what router/services.h offers, through an adapter
// (Router::Services, router.cc); none is a friend of the Router.
//
// The caller (the daemon, or the simulator) hands in each PGM packet with its arrival
// interface and IP header fields and the current time, calls on_timer() when
// next_deadline() is due, and sends what the core appended to the Output. Interfaces, routes
// and group membership are asked of an `Environment`.
//
// Life cycle: construct with a configuration and an environment; feed packets and timer
// ticks; reconfigure() on reload; interface_down() when a link goes away; with a kernel
// fast path, note_kernel_odata() and add_interface_counts() for the ODATA it forwarded.
// Nothing here blocks, reads a clock or allocates per packet once tables and the Output have
// grown.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "protocol/io.h"
#include "protocol/packet.h"
#include "router/config.h"
#include "router/containment.h"
#include "router/counters.h"
#include "router/dlr.h"
#include "router/environment.h"
#include "router/interfaces.h"
#include "router/parity.h"
#include "router/poll.h"
#include "router/redirect.h"
#include "router/repair.h"
#include "router/repair_store.h"
#include "router/session.h"
#include "router/sessions.h"

namespace pgm::router {

// What a scoped `clear repair` removes: every field given must match. Empty: everything.
struct RepairScope {
    std::optional<Nla> group;
    std::optional<Tsi> tsi;
};

class Router {
  public:
    Router(const RouterConfig& config, const Environment& environment);
    // Neither copyable nor movable: the session cache points into sessions_, and redirect_,
    // dlr_ and services_ hold references into this Router.
    Router(const Router&) = delete;
    Router& operator=(const Router&) = delete;
    ~Router();

    void on_packet(const Arrival& arrival, Bytes pgm, Time now, Output& out);
    void on_timer(Time now, Output& out);
    Time next_deadline() const;

    void reconfigure(const RouterConfig& config);
    // Per-interface settings (D38: timers, NAK caps, router assist), applied at once; kept
    // across reconfigure(), which resolves them against the new global values. False (and
    // nothing changed) when `ifindex` has no slot of its own: kMaxInterfaces interfaces are
    // served and none went down, so it shares the last slot with a live interface whose
    // settings these would overwrite.
    bool set_interface_settings(IfIndex ifindex, const InterfaceSettings& settings);

    // The kernel fast path (dataplane/bpf/fastpath_abi.h) forwards some sessions' ODATA
    // without the core seeing it; the daemon reports what it did so that path state and
    // counters stay as if the core had. `lead`: the highest sequence the kernel forwarded
    // for `tsi` (advances lead_seen, never moves it back, so that NAKs for that data are
    // not taken for NAKs beyond the lead, D14.4); `packets` ODATA received and `copies_out`
    // sent are added to the session's InOdata and OutOdata. Interface counters are not
    // touched: the kernel counts per interface, reported by add_interface_counts(). An
    // unknown TSI (the session expired meanwhile) is ignored.
    void note_kernel_odata(const Tsi& tsi, Sqn lead, std::uint64_t packets,
                           std::uint64_t copies_out);
    // Adds `n` to counter `c` of interface `ifindex` (the kernel's per-interface counts,
    // e.g. InOdata on the arrival interface, OutOdata on the egress, TtlExpired).
    void add_interface_counts(IfIndex ifindex, Counter c, std::uint64_t n);
    // The same for counter `c` of session `tsi` (ignored when it is gone), e.g.
    // OdataNoMembers for the ODATA the kernel had nowhere to send.
    void add_session_counts(const Tsi& tsi, Counter c, std::uint64_t n);

    // The link is gone: it leaves every repair interface set, sessions whose upstream it
    // was are removed, and its counters are kept until a new interface needs its slot (all
    // kMaxInterfaces taken, InterfaceState::released). An interface never seen takes no slot;
    // one sharing the last slot leaves the repair sets only with the last interface on that
    // slot still up (D40).
    void interface_down(IfIndex ifindex);

    // Inspection.
    const std::unordered_map<Tsi, Session>& sessions() const { return sessions_.all(); }
    const RepairTable& repairs() const { return repairs_.table(); }
    // Packet counts of the parity entries (keys with `parity` set), §11.6.
    const std::unordered_map<RepairKey, ParityCounts>& parity_counts() const {
        return repairs_.parity_counts();
    }
    const std::vector<InterfaceState>& interfaces() const { return interfaces_.all(); }
    CounterSet totals() const;
    // Interfaces in a repair entry's slot set.
    std::vector<IfIndex> interfaces_of(InterfaceSlots slots) const;
    const std::array<std::uint64_t, 32>& malformed_by_reason() const {
        return malformed_by_reason_;
    }
    void clear_counters();
    // Zeroes the counters of one interface (IOS `clear ip pgm router traffic IF`); session
    // counters and the other interfaces' stay. False when the core has no such interface.
    bool clear_interface_counters(IfIndex ifindex);
    // Zeroes one session's counters; false when there is no such session.
    bool clear_session_counters(const Tsi& tsi);
    void clear_repairs();
    // Removes the repair state (entries, parity counts, held RDATA) of the sessions in
    // `scope` (IOS `clear ip pgm router rtx-state [group]`); returns the entries removed.
    std::size_t clear_repairs(const RepairScope& scope);
    // Session table changes since the last call (oldest first), and how many were not kept.
    std::vector<SessionEvent> take_session_events();
    std::uint64_t session_events_lost() const { return sessions_.events_lost(); }
    const RouterConfig& config() const { return config_; }
    std::size_t held_rdata_bytes() const { return repairs_.held_bytes(); }
    std::uint32_t rand_node_id() const { return poll_.rand_node_id(); }
    // Sessions pgmd repairs as a DLR (router/dlr.h), with their caches.
    const std::unordered_map<Tsi, DlrSession>& dlr_sessions() const { return dlr_.sessions(); }

  private:
    void count(IfIndex ifindex, Session* s, Counter c, std::uint64_t n = 1);

    // Per type.
    void on_spm(const Arrival& a, const PacketView& v, Bytes pgm, Time now, Output& out);
    // Copies of the SPM `v` on the member interfaces, SPM_PATH rewritten (§7.1, N-SPM-3).
    void forward_spm(const Arrival& a, const PacketView& v, Bytes pgm, Session& s, Output& out);
    // `v`: the parsed packet when it has options (they may need rewriting), else null.
    void on_odata(const Arrival& a, const Tsi& tsi, Sqn sqn, const PacketView* v, Bytes pgm,
                  Time now, Output& out);
    void on_rdata(const Arrival& a, const PacketView& v, Bytes pgm, Time now, Output& out);
    // NAKs and NNAKs: classified (checks and their counters), then dispatched by role.
    void on_nak_like(const Arrival& a, const PacketView& v, Bytes pgm, Time now, Output& out);
    enum class NakRole : std::uint8_t {
        Dropped,           // transit, multicast, over the rate cap, no session, not ours, beyond
                           // the lead (D14): counted, nothing else
        ToUsAsOffTreeDlr,  // our parent redirecting a NAK to us, its off-tree DLR (§9.5.2.2)
        OffTreeDlrNnak,    // our off-tree DLR's NNAK: always upstream (N-NN-1)
        AssistOffRelay,    // to us on an interface with router assist off: relayed upstream
                           // without NCF or repair state (D38)
        Parity,            // a parity NAK or NNAK from the subtree (§11.6)
        Selective,         // a NAK or NNAK from the subtree, or to us as upstream DLR (N-DLR-4)
    };
    struct NakClass {
        NakRole role;
        Session* s = nullptr;
        bool to_us_as_upstream_dlr = false;
    };
    NakClass classify_nak(const Arrival& a, const PacketView& v, Time now);
    // A NAK or NNAK from the subtree (or to us as upstream DLR): NCF, state machine (parity
    // ones through parity_), then forward_or_eliminate.
    void on_subtree_nak_like(const Arrival& a, const PacketView& v, Bytes pgm, Session& s,
                             bool to_us_as_upstream_dlr, Time now, Output& out);
    void forward_or_eliminate(const Arrival& a, const PacketView& v, Bytes pgm, Session& s,
                              bool forward, bool eliminated, const std::vector<Sqn>& parity_sqns,
                              RedirectTarget target, Time now, Output& out);
    void on_ncf(const Arrival& a, const PacketView& v, Time now, Output& out);
    // `exclude`: interfaces not sent the RDATA (the one it came from). Parity RDATA (§11.6)
    // through parity_, selective through repair_rdata: the interfaces to send it to.
    void forward_rdata(const Arrival& a, const PacketView& v, Bytes pgm, Session& s,
                       InterfaceSlots exclude, Time now, Output& out);
    InterfaceSlots repair_rdata(const Arrival& a, const PacketView& v, Bytes pgm, Session& s,
                                InterfaceSlots exclude, Time now, Output& out);
    void on_upstream_unicast(const Arrival& a, const PacketView& v, Bytes pgm, Output& out);

    // Repair state.
    // Applies `event` to (tsi, sqn); returns the actions taken (kDelete when removed).
    // `hold_bytes`: size of the RDATA an Rdata event would hold (D27).
    std::uint16_t apply(const RepairKey& key, RepairEvent event, InterfaceSlots add, Time now,
                        Session* s, Output* out, std::size_t hold_bytes = 0);
    std::uint16_t apply_nak(const Arrival& a, const RepairKey& key, RepairEvent event,
                            InterfaceSlots arrival, bool on_dlr_interface, RedirectTarget target,
                            Time now, Session& s, Output& out);
    void resend_held(const RepairKey& key, IfIndex ifindex, Session& s, Output& out);
    // `parity_sqns`: for a parity NAK, the sequences to put in the NCF (header, then the
    // list), with the packet counts the router confirms; empty: echoed unchanged.
    void send_ncf(const Arrival& a, const PacketView& nak, const Session& s, Output& out,
                  const std::vector<Sqn>& parity_sqns = {});
    // `parity_sqns`: for a parity NAK, the sequences rewritten in the copy (header, list).
    // `target`: the upstream neighbour, or a DLR the NAK is redirected to (redirect.cc).
    // True when the NAK went out (not held by OPT_NBR_UNREACH, a route to send it on).
    bool forward_upstream(const PacketView& v, Bytes pgm, Session& s, Output& out,
                          const std::vector<Sqn>& parity_sqns = {},
                          RedirectTarget target = RedirectTarget::None);
    void repeat_nak(const RepairKey& key, Session& s, Output& out);

    void expire_sessions(Time now);

    // The interfaces `gone` (slot bit `bit`) no longer take part in PGM repair (down, or
    // router assist off by a reload, D38): they leave the repair store, the DLR caches'
    // marks, and every session's off-tree DLR, discovery and App. E state.
    void interface_leaves(const std::vector<IfIndex>& gone, InterfaceSlots bit);

    // As a plain multicast router: `pgm` unchanged (TTL - 1, the arrival's Router Alert) onto
    // the member interfaces of `s` with router assist off but the arrival's and `exclude`;
    // counted as `c` and `c2` (Counter::Count: none).
    void forward_plain(const Arrival& a, Bytes pgm, Session& s, InterfaceSlots exclude, Counter c,
                       Counter c2, Output& out);

    RouterConfig config_;
    const Environment& env_;
    // What the components below may ask of the core (router/services.h; router.cc), and the
    // PRNG seeded with RouterConfig::random_seed (the same numbers for a seed).
    class Services;
    std::unique_ptr<Services> services_;
    SessionTable sessions_;  // path state, its expiry and events (router/sessions.h)
    RepairStore repairs_;    // repair and parity tables, held RDATA, their timers
    // The roles beside the network element, each with its own state (hooks in router.cc).
    Redirector redirect_;         // NAK redirection to DLRs (router/redirect.h)
    DlrRepairer dlr_;             // pgmd as a DLR (router/dlr.h), for sessions with Session::dlr
    ParityRepair parity_;         // parity NAKs, NCFs and RDATA (router/parity.h)
    NakContainment containment_;  // NCF rate limit, App. E (router/containment.h)
    PollResponder poll_;          // POLLs answered as a child (router/poll.h)
    InterfaceTable interfaces_;   // slots, counters, NAK caps, settings (router/interfaces.h)
    std::array<std::uint64_t, 32> malformed_by_reason_{};
    std::vector<IfIndex> members_;  // scratch, reused to avoid allocating per packet
};

}  // namespace pgm::router
