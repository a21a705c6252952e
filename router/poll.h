// DOC: POLL answering as a child of the PGM parent (RFC 3208 §14.5, checklist C25), sans-I/O.
//
// Our RAND_NODE_ID is drawn once. A POLL from a session's upstream interface is matched
// against it (POLL_RAND under POLL_MASK), its round and sub-type checked (GENERAL; DLR only
// when we repair the session as a DLR, §9.5.2.2), and its POLR scheduled after a random
// back-off within POLL_BO_IVL (Session::polr). A new POLL_SQN cancels the POLR still waiting
// for the previous one (Session::polr_generation: a stale timer item is skipped). Due POLRs go
// unicast to POLL_PATH from on_timer(). POLLs are never forwarded (§14.1).
// Reaches the core through router/services.h. Life cycle: owned by the Router, as long as it.
#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <vector>

#include "protocol/io.h"
#include "protocol/packet.h"
#include "router/services.h"
#include "router/session.h"

namespace pgm::router {

class PollResponder {
  public:
    PollResponder(RouterServices& router, std::uint32_t rand_node_id)
        : router_(router), rand_node_id_(rand_node_id) {}

    void on_poll(const Arrival& a, const PacketView& poll, Time now);
    // Sends the POLRs due by `now`.
    void on_timer(Time now, Output& out);
    Time next_deadline() const { return timers_.empty() ? kNever : timers_.top().at; }
    std::uint32_t rand_node_id() const { return rand_node_id_; }

  private:
    void send_polr(const Tsi& tsi, Session& s, Output& out);

    RouterServices& router_;
    std::uint32_t rand_node_id_;
    struct PolrTimer {
        Time at;
        Tsi tsi;
        std::uint32_t generation;
        bool operator>(const PolrTimer& o) const { return at > o.at; }
    };
    std::priority_queue<PolrTimer, std::vector<PolrTimer>, std::greater<>> timers_;
};

}  // namespace pgm::router
