// DOC: pgmd as a Designated Local Repairer (RFC 3208 §9.5, checklist N-DLR-11): the state
// the network element keeps for the sessions it repairs itself, sans-I/O like the rest of
// router/.
//
// `DlrRepairer` is the role, one per Router: it owns the DLR sessions (a TSI whose source
// and group match RouterConfig::dlr.scopes), their caches and the bytes they hold together,
// and the protocol behaviour (local answers to NAKs, NNAKs upstream, our own NAKs for holes,
// the redirecting POLR of an upstream DLR). The router decides per session (on its SPMs and on
// reload, not per packet) whether it is a DLR session (Session::dlr, set by on_spm() and
// reconfigure()) and calls the hooks below only for those; what the role needs of the core goes
// through router/services.h, and where its NAKs go through the Redirector (router/redirect.h).
//
// Per DLR session a `DlrCache` keeps that session's data: every ODATA and RDATA the router
// accepts from upstream is stored as a ready-to-send RDATA (type rewritten, options
// invalidated as when forwarded, checksum recomputed). The cache is a window [first, first +
// span) of sequence slots; a missing slot is a hole that the router NAKs upstream itself (a
// DLR MUST receive the session). It never holds more than `cache_packets_per_session` slots
// nor more than `cache_bytes_per_session` bytes: it evicts from the trail side (oldest
// sequence first), and everything behind the trail the source advertises in SPMs and ODATA.
//
// Life cycle: a DlrSession is created by the first ODATA of a DLR session the router has path
// state for, and removed with that session (forget(): expiry, interface down) or when an SPM
// or a reload takes the session out of scope.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include "protocol/io.h"
#include "protocol/packet.h"
#include "protocol/seq.h"
#include "router/config.h"
#include "router/environment.h"
#include "router/redirect.h"
#include "router/repair.h"
#include "router/session.h"

namespace pgm::router {

class DlrCache {
  public:
    struct Slot {
        std::vector<std::uint8_t> rdata;  // empty: a hole
        // Interfaces sent this RDATA since served_until - NAK_ELIM_IVL: each gets it at most
        // once per NAK_ELIM_IVL, as for the held RDATA of decisions.md D27.
        InterfaceSlots served = 0;
        Time served_until{};
    };

    // Stores `pgm` (an ODATA or RDATA of sequence `sqn`) as an RDATA. Evicts from the trail
    // side until both bounds hold with it; a packet alone larger than `max_bytes`, or older
    // than the cache can hold, is not stored. Returns the number of packets evicted.
    std::size_t insert(Sqn sqn, Bytes pgm, std::size_t max_bytes, std::size_t max_packets);
    // Drops every slot before `trail` (the source can no longer repair them either).
    std::size_t evict_before(Sqn trail);
    // Drops slots from the front until both bounds hold (after a reload lowered them).
    std::size_t enforce(std::size_t max_bytes, std::size_t max_packets);

    Slot* find(Sqn sqn);
    bool holds(Sqn sqn) const;
    // The interfaces in `slots` left: their NAK_ELIM_IVL marks go (a slot reused by another
    // interface starts clean).
    void forget_served(InterfaceSlots slots);
    std::size_t bytes() const { return bytes_; }
    std::size_t packets() const { return packets_; }
    std::size_t span() const { return slots_.size(); }
    std::optional<Sqn> first() const {
        return slots_.empty() ? std::nullopt : std::optional<Sqn>(first_);
    }
    // Missing sequences between the first and the newest cached, oldest first.
    const std::deque<Sqn>& holes() const { return holes_; }

  private:
    std::size_t pop_front();

    Sqn first_;
    std::deque<Slot> slots_;
    std::deque<Sqn> holes_;
    std::size_t bytes_ = 0;
    std::size_t packets_ = 0;
};

struct DlrSession {
    DlrCache cache;
    // Upstream-DLR announcement (§9.5.2.1): when the last redirecting POLR went out.
    std::optional<Time> last_polr;
    std::uint32_t polr_sqn = 0;
};

class RouterServices;

class DlrRepairer {
  public:
    DlrRepairer(const RouterConfig& config, const Environment& env, RouterServices& router,
                Redirector& redirect)
        : config_(config), env_(env), router_(router), redirect_(redirect) {}

    // Whether pgmd repairs the session (its source and group in a DLR scope); false without
    // scopes. Asked per session on its SPMs and on reload, never per packet; the answer is
    // Session::dlr.
    bool serves(const Session& s) const;

    // The hooks. While DLR scopes exist, every in-sequence SPM: Session::dlr decided (a
    // session moved out of scope loses its cache); bounds applied, trail evicted, lapsed
    // holes NAKed again.
    void on_spm(const Tsi& tsi, Session& s, Time now, Output& out);
    // The rest only for sessions with Session::dlr. ODATA or RDATA accepted from upstream:
    // cached, trail applied, holes NAKed.
    void on_data(const Tsi& tsi, Session& s, const PacketView& v, Bytes pgm, Time now, Output& out);
    // A NAK from the subtree, after its NCF: true when the cache answered (part of) it and
    // the rest went upstream; false: nothing held, the router processes it as usual.
    bool on_nak(const Arrival& a, const PacketView& v, const Tsi& tsi, Session& s, Time now,
                Output& out);
    // A NAK unicast to us by our PGM parent (we are its off-tree DLR, §9.5.2.2).
    void on_parent_nak(const Arrival& a, const PacketView& v, const Tsi& tsi, Session& s, Time now,
                       Output& out);
    // An NCF from the parent, before it is applied: the upstream-DLR POLR (§9.5.2.1).
    void on_parent_ncf(const PacketView& v, const Tsi& tsi, Session& s, Time now, Output& out);
    // A reload: Session::dlr decided anew for every session; caches out of scope dropped
    // (the new bounds apply at each session's next SPM).
    void reconfigure(std::unordered_map<Tsi, Session>& sessions);
    // The session is gone (or out of scope): its cache goes.
    void forget(const Tsi& tsi);
    // The interfaces in `slots` left (down, or router assist off): every cache forgets them.
    void interface_down(InterfaceSlots slots);

    const std::unordered_map<Tsi, DlrSession>& sessions() const { return sessions_; }

  private:
    // NAKs (type Nak) or NNAKs for `sqns` to `to`, from our address on the upstream
    // interface, as many packets as OPT_NAK_LIST needs.
    void send_upstream(PacketType type, const Tsi& tsi, Session& s, const std::vector<Sqn>& sqns,
                       const Nla& to, Output& out);
    // The same with the network header chosen by the caller (a DLR, after redirection).
    void send_upstream(PacketType type, const Tsi& tsi, Session& s, const std::vector<Sqn>& sqns,
                       const std::optional<Transmit>& t, Output& out);
    // Our own NAK for sequences we lack, through the repair state machine (no interface).
    void nak_missing(const Tsi& tsi, Session& s, const std::deque<Sqn>& holes, Time now,
                     Output& out);
    // Whether `slot` may go to `ifindex` now: each interface gets a cached RDATA at most once
    // per NAK_ELIM_IVL (counted DlrNaksIgnored when not); noted as sent when it may.
    bool may_serve(DlrCache::Slot& slot, IfIndex ifindex, Session& s, Time now);
    // Sends the cached RDATA in `slot` onto `ifindex` unless may_serve() says no; true when
    // sent.
    bool send_cached(DlrCache::Slot& slot, IfIndex ifindex, Transmit t, Session& s, Time now,
                     Output& out);

    const RouterConfig& config_;
    const Environment& env_;
    RouterServices& router_;
    Redirector& redirect_;
    std::unordered_map<Tsi, DlrSession> sessions_;
    // The sum of the caches' bytes(), against cache_bytes_total.
    std::size_t bytes_ = 0;
    std::vector<Sqn> hits_, misses_, send_;  // scratch, reused per packet
};

}  // namespace pgm::router
