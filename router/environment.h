// DOC: What the router core asks of the world around it, and nothing more.
//
// The core is sans-I/O: it does not know Linux interfaces, routes or IGMP. The daemon
// implements `Environment` from netlink caches, IGMP state and static configuration; the
// simulator and the tests implement it directly. Calls are cheap lookups made while a
// packet is processed; they must not call back into the core.
#pragma once

#include <optional>
#include <vector>

#include "protocol/io.h"
#include "protocol/nla.h"

namespace pgm::router {

class Environment {
  public:
    virtual ~Environment() = default;

    // This node's address on `ifindex` in the given family: SPM_PATH and POLL_PATH written
    // onto that interface, the IP source of NAKs sent out of it. nullopt if it has none.
    virtual std::optional<Nla> interface_address(IfIndex ifindex, Nla::Family family) const = 0;

    // The interface of the unicast route towards `address` (the RPF check for SPMs and
    // ODATA, and the egress of NAKs forwarded upstream). nullopt when unreachable.
    virtual std::optional<IfIndex> route_interface(const Nla& address) const = 0;

    // Interfaces with members of `group` (IGMP or static), for traffic from `source`. The
    // core removes the upstream interface itself. Replaces the contents of `out`.
    virtual void group_members(const Nla& source, const Nla& group,
                               std::vector<IfIndex>& out) const = 0;
};

}  // namespace pgm::router
