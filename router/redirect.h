// DOC: Redirection of NAKs to designated local repairers, the network-element side of
// RFC 3208 §9.5.3 (checklist §4.7 N-DLR-1..10, C22-C24, N-NCF-10, N-RD-7, N-NN-1;
// docs/decisions.md D28).
//
// Owns the DLR records of one session (`RedirectState`, a member of `Session`, so it lives
// and dies with the session's path state) and the state of the DLR discovery polls the
// router sends as a POLL parent. The procedures themselves are `Router` member functions
// defined in router/redirect.cc, called from small hooks in router.cc:
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
#pragma once

#include <cstdint>
#include <optional>

#include "protocol/io.h"
#include "protocol/nla.h"
#include "protocol/seq.h"

namespace pgm::router {

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

}  // namespace pgm::router
