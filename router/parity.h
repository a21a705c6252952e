// DOC: Parity repair at the network element (RFC 3208 §11.6, checklist C27; N-NAK-17, N-NN-5,
// N-NCF-7, N-RD-6, N-RD-8; decisions.md D9), sans-I/O.
//
// A parity NAK names transmission groups (TG) and how many parity packets each wants (the
// low bits of its sequences, protocol/parity_sqn.h). Its repair state is keyed by TSI + TG
// (RepairKey::parity) and goes through the same state machine as a selective one
// (router/repair.h); beside it the RepairStore keeps the ParityCounts: the count each
// interface wants and the largest known. This component turns parity NAKs, NNAKs, NCFs and
// RDATA into state machine events and counts:
// - on_nak: a NAK is eliminated only while NAK_ELIM_IVL runs and it wants no more than the
//   largest known count, else it goes upstream asking for that count; its NCF confirms what
//   its interface now wants (ncf_sqns, forward_sqns: the sequences the router writes into
//   the NCF and the forwarded NAK).
// - on_ncf: a parity NCF confirms only when it covers the largest known count and raises it.
// - on_rdata: a parity RDATA serves every interface of its TG's entry and brings each one's
//   count down by one; interfaces that want no more leave the entry. Never held (D9).
// - on_curr_tgsize: an SPM's OPT_CURR_TGSIZE shortens the TG SPM_LEAD ends (N-SPM-8).
// The router core sends what it decides (NCF, NAK upstream, RDATA copies); this component
// reaches the core through router/services.h and the RepairStore it is given.
// Life cycle: owned by the Router, as long as it; its state is in the RepairStore.
#pragma once

#include <cstdint>
#include <vector>

#include "protocol/io.h"
#include "protocol/packet.h"
#include "router/redirect.h"
#include "router/repair_store.h"
#include "router/services.h"
#include "router/session.h"

namespace pgm::router {

class ParityRepair {
  public:
    ParityRepair(RouterServices& router, RepairStore& repairs)
        : router_(router), repairs_(repairs) {}

    struct NakOutcome {
        bool forward = false;     // some TG's state machine sends the NAK upstream
        bool eliminated = false;  // some TG's eliminated it
    };
    // A parity NAK or NNAK from the subtree, of a session whose TG size is known (Session::tgs),
    // through the state machine TG by TG (`target`, `on_dlr_interface`: NAK redirection as
    // decided for it, router/redirect.h). Fills ncf_sqns() and forward_sqns().
    NakOutcome on_nak(const Arrival& a, const PacketView& nak, Session& s, RedirectTarget target,
                      bool on_dlr_interface, Time now, Output& out);
    // Per sequence of the last NAK: what its NCF confirms and what goes upstream.
    const std::vector<Sqn>& ncf_sqns() const { return ncf_; }
    const std::vector<Sqn>& forward_sqns() const { return forward_; }

    // A parity NCF from upstream.
    void on_ncf(const Arrival& a, const PacketView& ncf, Session& s, Time now);
    // A parity RDATA to go on from `a` (the interfaces in `exclude` not sent it): the
    // interfaces of the repair state it serves; 0 (counted) when none.
    InterfaceSlots on_rdata(const Arrival& a, const PacketView& rdata, Session& s,
                            InterfaceSlots exclude, Time now, Output& out);
    // An SPM of `tsi` whose lead `lead` ends a TG that OPT_CURR_TGSIZE `size` shortened.
    void on_curr_tgsize(const Tsi& tsi, Session& s, Sqn lead, std::uint32_t size);

  private:
    // The counts of a parity entry, made with the session's TG-size offset when new.
    ParityCounts& counts(const RepairKey& key, const Session& s);

    RouterServices& router_;
    RepairStore& repairs_;
    std::vector<Sqn> ncf_, forward_;  // reused per NAK
};

}  // namespace pgm::router
