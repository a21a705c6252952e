// DOC: Source path state of the network element (RFC 3208 §7.1): one `Session` per TSI,
// created by the first SPM that passes the RPF check, refreshed by in-sequence SPMs, and
// removed after `session_lifetime` without SPM or when its upstream interface goes away.
#pragma once

#include <cstdint>
#include <optional>

#include "protocol/io.h"
#include "protocol/nla.h"
#include "protocol/seq.h"
#include "router/counters.h"

namespace pgm::router {

struct Session {
    Nla source;  // the data source (IP source of its SPMs)
    Nla group;   // the multicast group (IP destination of its SPMs)
    std::uint16_t data_destination_port = 0;
    Nla upstream_neighbour;  // SPM_PATH of the last in-sequence SPM (§7.1)
    IfIndex upstream_interface = 0;
    Sqn last_spm_sqn;
    SqnWindow window{Sqn(1), Sqn(0)};  // trail/lead of the last SPM with window information
    Encapsulation encapsulation = Encapsulation::Native;
    std::uint16_t udp_port = 0;
    std::uint8_t last_ttl = 0;
    Time created{};
    Time last_spm{};
    CounterSet counters;
};

}  // namespace pgm::router
