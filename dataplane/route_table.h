// DOC: The unicast routing table as pgmd sees it, and the longest-prefix match over it: the
// RPF check of SPMs and the egress of NAKs forwarded upstream (router::Environment).
//
// A plain snapshot: the netlink module rebuilds it from the kernel's route cache on every
// route change (dataplane/netlink.h); lookups read it while a packet is processed. Pure:
// no netlink here, so the matching rules are unit-tested on tables the tests write.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "protocol/io.h"

namespace pgm::dataplane {

struct RouteEntry {
    std::uint32_t prefix = 0;  // host byte order, bits past `length` ignored
    std::uint8_t length = 0;   // 0..32; 0 is the default route
    std::uint32_t metric = 0;  // the kernel's priority: lower wins among equal prefixes
    IfIndex ifindex = 0;       // the first next hop's interface
};

// The interface of the most specific route containing `address` (host byte order); among
// routes of the same length, the lowest metric; among those, the first in the table.
std::optional<IfIndex> longest_prefix_match(std::span<const RouteEntry> table,
                                            std::uint32_t address);

}  // namespace pgm::dataplane
