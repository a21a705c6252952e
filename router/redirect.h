// DOC: Redirection of NAKs to designated local repairers, the network-element side of
// RFC 3208 §9.5.3 (checklist §4.7 N-DLR-1..10, C22-C24, N-NCF-10, N-RD-7, N-NN-1;
// docs/decisions.md D28).
//
// `RedirectState` holds the DLR records of one session and the state of the DLR discovery
// polls the router sends for it as a POLL parent; it is a member of `Session`, so it lives
// and dies with the session's path state. `Redirector` is the procedure, one per Router: the
// router calls it from small hooks in router.cc (a POLR; where a NAK goes and whether it
// falls back; the off-tree DLR's NCF, NNAK and RDATA; a redirected NAK's NAK_RPT_IVL over;
// an interface gone), and it asks the router only what router/services.h offers:
//
//   learning    a redirecting POLR (one carrying OPT_REDIRECT) records a DLR:
//               - upstream DLR: multicast to the group on the session's upstream interface,
//                 IP source = the data source, Router Alert (§9.5.2.1);
//               - off-tree DLR: unicast to us on a downstream interface, from the DLR's own
//                 address, answering the POLL with sub-type PGM_POLL_DLR we sent there
//                 (§9.5.2.2). Unsolicited ones are ignored (§10, N-DLR-10).
//               A redirecting POLR is never an NCF (N-NCF-9).
//   forwarding  a NAK that must go upstream goes to the DLR instead (upstream DLR preferred,
//               N-DLR-3; parity NAKs only to a DLR with OPT_PARITY, N-DLR-2; never to an
//               off-tree DLR when a NAK for one of its SQNs was seen on the DLR's interface,
//               N-DLR-5). The repair entry remembers where its NAK went (RepairEntry::
//               redirect), so repeats follow it and the DLR's answers can be matched.
//   fallback    no NCF within NAK_RPT_IVL: the record is discarded and the NAK goes to the
//               upstream neighbour (N-DLR-6); a NAK for a redirected SQN arriving on the
//               off-tree DLR's interface (the DLR lacks the data, N-DLR-7, or another host
//               there lost it too, N-DLR-5): that SQN goes upstream.
//   off-tree    the DLR's unicast NCF confirms and is terminated (N-NCF-10); its unicast
//   traffic     RDATA is rewritten to source -> group with Router Alert and forwarded on the
//               repair interfaces through the normal repair path (N-RD-7); its NNAKs are
//               always forwarded upstream (N-NN-1).
//   discovery   opt-in (RouterConfig::discover_dlrs): a NAK for a session with no DLR makes
//               the router POLL its downstream interfaces with PGM_POLL_DLR, at most once per
//               `dlr_poll_interval` (N-DLR-1, §14.4).
//
// Life cycle: a Redirector is made with its Router and reads the configuration the Router
// holds (so a reload applies at once); its only state of its own is scratch space.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "protocol/io.h"
#include "protocol/nla.h"
#include "protocol/packet.h"
#include "protocol/seq.h"
#include "router/config.h"
#include "router/environment.h"

namespace pgm::router {

class RouterServices;
struct RepairEntry;
struct RepairKey;
struct Session;

// Where a repair entry's NAK was last sent. Lives in RepairEntry (one byte).
enum class RedirectTarget : std::uint8_t {
    None,         // the upstream neighbour from SPM_PATH
    UpstreamDlr,  // a DLR on the upstream segment
    OffTreeDlr,   // a DLR below a downstream interface
};

struct DlrRecord {
    Nla nla;              // the DLR's address (OPT_REDIRECT)
    IfIndex ifindex = 0;  // where it was heard: the upstream interface, or the off-tree DLR's
    bool parity = false;  // OPT_PARITY in its POLR: it can answer parity NAKs (§11.7)
    Time learnt{};
};

struct RedirectState {
    std::optional<DlrRecord> upstream;
    std::optional<DlrRecord> off_tree;
    // Set once a DLR was recorded: until then the session's NAK paths skip every redirect
    // lookup.
    bool used = false;

    // Discovery as a POLL parent (§14.4): the POLL_SQN of the last POLL_DLR round, the
    // interfaces it went out on (bit set over interface slots) and until when answers to it
    // are accepted; no new round before `next_poll`.
    std::optional<Sqn> poll_sqn;
    std::uint64_t polled_slots = 0;
    Time answers_until{};
    Time next_poll{};

    bool any() const { return upstream.has_value() || off_tree.has_value(); }
};

class Redirector {
  public:
    Redirector(const RouterConfig& config, const Environment& env, RouterServices& router)
        : config_(config), env_(env), router_(router) {}

    // Learning: a POLR (counted InPolrs by the router); a redirecting one records a DLR.
    void on_polr(const Arrival& a, const PacketView& v, Time now);

    // Forwarding. Where a NAK arriving as `a` goes when it must go upstream (N-DLR-2, -3, -5).
    RedirectTarget choose(const Arrival& a, const PacketView& v, const Session& s);
    // The NAK of `key` went out towards `target`: its repair entry remembers it.
    void mark(const RepairKey& key, RedirectTarget target);
    // Where the repeat of `key`'s NAK goes: where the last one went while that DLR is usable.
    RedirectTarget repeat_target(const RepairKey& key, Session& s);
    // The network header of a NAK to `target`; the upstream neighbour's when it is None or
    // no longer usable.
    std::optional<Transmit> nak_transmit(const Session& s, RedirectTarget target) const;

    // Fallback. The NAK came in on the off-tree DLR's interface.
    bool on_off_tree_dlr_interface(const Arrival& a, const Session& s) const;
    // A NAK for `key` seen on the off-tree DLR's interface: true when its NAK had gone to
    // that DLR, which it no longer does (N-DLR-5, N-DLR-7); counted.
    bool falls_back(const Arrival& a, const RepairKey& key, Session& s);
    // NAK_RPT_IVL over for the NAK of entry `e`, sent to a DLR (N-DLR-6): the record goes for
    // the whole session and the entry's NAK goes upstream (the caller applies the fallback).
    void expired(RepairEntry& e, Session& s);

    // Off-tree traffic. Unicast from the off-tree DLR on its interface.
    bool from_off_tree_dlr(const Arrival& a, const Session& s) const;
    // Its NCF confirms what we asked it for (N-NCF-10); false for a parity NCF, which the
    // caller applies as one from the parent (N-NCF-7).
    bool on_dlr_ncf(const Arrival& a, const PacketView& v, Session& s, Time now);
    // Its unicast RDATA as the source's multicast (N-RD-7), else nullopt.
    std::optional<Arrival> rdata_arrival(const Arrival& a, Session& s);

    // Discovery: a NAK found no DLR; POLL_DLR on the downstream interfaces (N-DLR-1).
    void poll_for_dlrs(const Tsi& tsi, Session& s, Time now, Output& out);

    // The interface `ifindex` (slot bit `slot`) left the router's PGM service, down or its
    // router assist off (D38): an off-tree DLR behind it is out of reach, and an answer to a
    // discovery POLL sent out of it is no longer taken.
    static void interface_down(Session& s, IfIndex ifindex, std::uint64_t slot);

  private:
    // The DLR record `target` names, if the session has it and it may take this NAK.
    const DlrRecord* usable_dlr(const Session& s, RedirectTarget target, bool parity) const;

    const RouterConfig& config_;
    const Environment& env_;
    RouterServices& router_;
    std::vector<IfIndex> members_;  // scratch, reused per discovery poll
};

}  // namespace pgm::router
