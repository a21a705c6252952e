// DOC: `PacketSpec`, an owning value description of one PGM packet.
//
// For tests, tools and anything off the fast path: a spec can be compared, printed, built
// into bytes (through PacketWriter) and recovered from a parsed view, so a round trip is
// `from_view(parse(build(spec))) == spec`. The fast paths use PacketView and PacketWriter
// directly.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "protocol/options.h"
#include "protocol/packet.h"

namespace pgm {

struct OptNakList {
    std::vector<Sqn> sqns;
    friend bool operator==(const OptNakList&, const OptNakList&) = default;
};
struct OptNbrUnreach {
    friend bool operator==(const OptNbrUnreach&, const OptNbrUnreach&) = default;
};
struct OptSyn {
    friend bool operator==(const OptSyn&, const OptSyn&) = default;
};
struct OptFin {
    friend bool operator==(const OptFin&, const OptFin&) = default;
};
// An option kept byte for byte: unknown types, OPT_INVALID.
struct OptRaw {
    std::uint8_t type = 0;
    std::uint8_t byte2 = 0;
    std::uint8_t byte3 = 0;
    std::vector<std::uint8_t> value;
    friend bool operator==(const OptRaw&, const OptRaw&) = default;
};

using OptionSpec =
    std::variant<OptFragment, OptNakList, OptJoin, OptNakBoIvl, OptNakBoRng, OptRedirect,
                 OptParityPrm, OptParityGrp, OptCurrTgsize, OptNbrUnreach, OptPathNla, OptSyn,
                 OptFin, OptRst, OptCr, OptCrqst, OptRaw>;

struct PacketSpec {
    PacketType type = PacketType::Spm;
    std::uint16_t source_port = 0;       // as on the wire
    std::uint16_t destination_port = 0;  // as on the wire
    Gsi gsi;
    std::uint8_t extra_flags = 0;  // kOptParity, kOptVarPktlen
    Fields fields;
    std::vector<OptionSpec> options;  // in wire order, OPT_LENGTH excluded
    std::vector<std::uint8_t> payload;

    friend bool operator==(const PacketSpec&, const PacketSpec&) = default;
};

// Builds the spec; nullopt if it does not fit `max_size` bytes.
std::optional<std::vector<std::uint8_t>> build(const PacketSpec& spec, bool checksum = true,
                                               std::size_t max_size = 65535);
PacketSpec from_view(const PacketView& view);

}  // namespace pgm
