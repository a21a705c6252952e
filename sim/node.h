// DOC: A node of the virtual network: anything that follows the sans-I/O contract of
// protocol/io.h (the router core, the source and receiver stacks, scripted test hosts).
// The simulator owns the clock; a node only reacts to packets and timer ticks and
// appends what it sends to the Output.
//
// Deferred delivery (Network::set_defers): a node may let the network hold a packet and hand
// it over later, with its arrival time, before anything else reaches the node (its timer,
// another packet, the end of a run). A node says yes in defers() only for packets whose
// handling sends nothing and cannot bring its next_deadline() earlier; then the later call
// leaves the node as the call on time would have. The network checks both when it hands the
// packets over and counts any breach (Network::deferral_breaches()).
#pragma once

#include "protocol/io.h"

namespace pgm::sim {

class Node {
  public:
    virtual ~Node() = default;
    virtual void on_packet(const Arrival& arrival, Bytes pgm, Time now, Output& out) = 0;
    virtual void on_timer(Time now, Output& out) = 0;
    virtual Time next_deadline() const = 0;
    // Whether this packet may be held (see above). Asked only of nodes set to defer, once
    // per delivery, in delivery order; a yes is final (the packet will be handed over).
    virtual bool defers(const Arrival&, Bytes) { return false; }
};

}  // namespace pgm::sim
