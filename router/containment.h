// DOC: NAK storm containment at the network element, sans-I/O: identical NCFs rate limited
// (N-NAK-4, decisions.md D33) and the failure containment of RFC 3208 Appendix E (§15.3,
// N-NAK-19, N-NAK-20, N-NCF-8; D34, D35).
//
// - D33: a NAK is answered unless every sequence it names has repair state that sent an NCF
//   on the NAK's interface in its current ncf_repeat_interval period (ncf_is_repeat); the
//   router notes each NCF it sends (note_ncf_sent) in the repair entries' ncf_sent/epoch.
// - D34: DUP_NAK_MAX duplicate NAKs from an interface already in a sequence's repair set
//   (is_duplicate_nak, note_duplicate_nak) mark its subtree unreachable
//   (Session::nbr_unreach_interfaces); its NAKs then get unicast NCFs with OPT_NBR_UNREACH
//   (send_nbr_unreach_ncf) until a regular SPM.
// - D35: such an NCF from our upstream neighbour (on_nbr_unreach_ncf) holds our NAKs
//   (Session::nbr_unreach_upstream) and tells the subtree by a special SPM.
//
// The state lives in the repair entries and the sessions; this component keeps only scratch.
// It reaches the core through router/services.h and the RepairStore it is given.
// Life cycle: owned by the Router, as long as it.
#pragma once

#include <vector>

#include "protocol/io.h"
#include "protocol/packet.h"
#include "router/config.h"
#include "router/environment.h"
#include "router/repair_store.h"
#include "router/services.h"
#include "router/session.h"

namespace pgm::router {

class NakContainment {
  public:
    NakContainment(const RouterConfig& config, const Environment& env, RouterServices& router,
                   RepairStore& repairs)
        : config_(config), env_(env), router_(router), repairs_(repairs) {}

    // D33: true when the NCF for `nak` would repeat one sent on its interface within
    // ncf_repeat_interval; note_ncf_sent() records one sent.
    bool ncf_is_repeat(const Arrival& a, const PacketView& nak, Time now);
    void note_ncf_sent(const Arrival& a, const PacketView& nak, Time now);

    // D34: the NAK's interface has its subtree assumed unreachable.
    bool unreachable(const Arrival& a, const Session& s);
    // A NAK for `key` from an interface already in its repair set (`arrival`: its slot bit;
    // 0, NNAKs and NAKs to us as upstream DLR, never a duplicate).
    bool is_duplicate_nak(const RepairKey& key, InterfaceSlots arrival);
    // Counts the duplicate; at DUP_NAK_MAX the interface's subtree is assumed unreachable.
    void note_duplicate_nak(const Arrival& a, const RepairKey& key, Session& s);
    void send_nbr_unreach_ncf(const Arrival& a, const PacketView& nak, Session& s, Output& out);

    // D35: an NCF with OPT_NBR_UNREACH (nbr_unreach enabled). False when it is ignored (not
    // from our upstream neighbour naming it); true when taken: no NAK goes upstream until a
    // regular SPM, and the subtree hears a special SPM once.
    bool on_nbr_unreach_ncf(const Arrival& a, const PacketView& ncf, const Tsi& tsi, Session& s,
                            Output& out);

  private:
    void send_nbr_unreach_spm(const Tsi& tsi, Session& s, Output& out);

    const RouterConfig& config_;
    const Environment& env_;
    RouterServices& router_;
    RepairStore& repairs_;
    std::vector<IfIndex> members_;  // scratch
};

}  // namespace pgm::router
