// DOC: A node of the virtual network: anything that follows the sans-I/O contract of
// protocol/io.h (the router core, the source and receiver stacks, scripted test hosts).
// The simulator owns the clock; a node only reacts to packets and timer ticks and
// appends what it sends to the Output.
#pragma once

#include "protocol/io.h"

namespace pgm::sim {

class Node {
  public:
    virtual ~Node() = default;
    virtual void on_packet(const Arrival& arrival, Bytes pgm, Time now, Output& out) = 0;
    virtual void on_timer(Time now, Output& out) = 0;
    virtual Time next_deadline() const = 0;
};

}  // namespace pgm::sim
