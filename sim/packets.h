// DOC: Ready-made PacketSpecs for one PGM session, for scripted hosts and tests: the TSI,
// ports, source and group are given once and every packet comes out with the right port
// orientation (§8.3: upstream packets carry the data-source port in DPORT). Stateless
// value type.
#pragma once

#include <cstdint>
#include <vector>

#include "protocol/spec.h"

namespace pgm::sim {

struct SessionPackets {
    Gsi gsi;
    std::uint16_t source_port = 0;       // data-source port
    std::uint16_t destination_port = 0;  // data-destination port
    Nla source;
    Nla group;

    Tsi tsi() const { return Tsi{gsi, source_port}; }

    PacketSpec spm(Sqn sqn, Sqn trail, Sqn lead, const Nla& path) const;
    PacketSpec odata(Sqn sqn, Sqn trail, std::vector<std::uint8_t> payload = {}) const;
    PacketSpec rdata(Sqn sqn, Sqn trail, std::vector<std::uint8_t> payload = {}) const;
    // NAK, NNAK (upstream) and NCF (downstream); `list`: OPT_NAK_LIST when not empty.
    PacketSpec nak(Sqn sqn, const std::vector<Sqn>& list = {}) const;
    PacketSpec nnak(Sqn sqn, const std::vector<Sqn>& list = {}) const;
    PacketSpec ncf(Sqn sqn, const std::vector<Sqn>& list = {}) const;

  private:
    PacketSpec downstream(PacketType type, Fields fields) const;
    PacketSpec nak_like(PacketType type, Sqn sqn, const std::vector<Sqn>& list) const;
};

}  // namespace pgm::sim
