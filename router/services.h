// DOC: What the router core's role components (the DLR role, router/dlr.h; NAK redirection,
// router/redirect.h; parity repair, router/parity.h; NAK containment, router/containment.h;
// POLL answering, router/poll.h) may ask of the core, and nothing more.
//
// The components keep their own state and are called by the Router through a few hooks;
// what they need of the core's state (counters, interface slots, the repair state machine,
// the network header of packets sent to the PGM parent) goes through this interface, so that
// none of them reaches into the Router's tables. The Router implements it (router.cc); the
// configuration, the Environment and the RepairStore are handed to the components as
// references of their own.
//
// Calls are made on the NAK, NCF, POLL and parity paths and for DLR sessions, never per
// ODATA of a session that is no DLR session.
// Life cycle: the implementation lives as long as the Router that owns the components.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "protocol/io.h"
#include "protocol/packet.h"
#include "router/counters.h"
#include "router/repair.h"
#include "router/session.h"

namespace pgm::router {

class RouterServices {
  public:
    // Adds `n` to counter `c` of interface `ifindex`, and of session `s` when given.
    virtual void count(IfIndex ifindex, Session* s, Counter c, std::uint64_t n) = 0;
    void count(IfIndex ifindex, Session* s, Counter c) { count(ifindex, s, c, 1); }
    // The interface's slot, its bit in InterfaceSlots (made when new).
    virtual std::size_t interface_slot(IfIndex ifindex) = 0;
    // Router assist is on on the interface (D38); off: pgmd is a plain multicast router there.
    virtual bool assists(IfIndex ifindex) = 0;
    virtual Session* session(const Tsi& tsi) = 0;
    // The repair entry of `key`, or null.
    virtual RepairEntry* repair(const RepairKey& key) = 0;
    // The repair state machine: `event` applied to `key` (Router::apply, router.h).
    virtual std::uint16_t apply(const RepairKey& key, RepairEvent event, InterfaceSlots add,
                                Time now, Session* s, Output* out) = 0;
    // One sequence of a NAK from the subtree through the state machine, with the redirect
    // fallback, mark and held RDATA of the usual NAK path (Router::apply_nak).
    virtual std::uint16_t apply_nak(const Arrival& a, const RepairKey& key, RepairEvent event,
                                    InterfaceSlots arrival, bool on_dlr_interface,
                                    RedirectTarget target, Time now, Session& s, Output& out) = 0;
    // The network header of a packet to `to` on the session's upstream interface, from our
    // address there; nullopt without one.
    virtual std::optional<Transmit> upstream_transmit(const Session& s, const Nla& to) const = 0;
    // Unknown options with OPX = 01 invalidated in `copy` of `v` (uncounted).
    virtual void invalidate_options(const PacketView& v, MutableBytes copy) = 0;
    // The packet is unicast to one of our addresses on its arrival interface.
    virtual bool addressed_to_us(const Arrival& a) const = 0;
    virtual std::uint64_t next_random() = 0;

  protected:
    ~RouterServices() = default;
};

}  // namespace pgm::router
