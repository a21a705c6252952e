// DOC: Parsing PGM packets (RFC 3208 §8, 13.6, 14.7): strict validation, views over the
// caller's bytes, no allocation.
//
// parse() takes the bytes of one PGM packet (the first byte after the IP or UDP header, up
// to the end of the IP payload) and either returns a `PacketView` or a `ParseError` naming
// the first thing wrong and where. It never reads outside the span. The view refers to the
// caller's bytes and is valid while they are. Building packets is in protocol/writer.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <variant>

#include "protocol/nla.h"
#include "protocol/options.h"
#include "protocol/seq.h"
#include "protocol/wire.h"

namespace pgm {

enum class ParseError : std::uint8_t {
    Ok = 0,
    Truncated,           // shorter than the header or the type-specific fields
    BadVersion,          // version bits of the type byte not 0
    ReservedBitsSet,     // reserved bits of the type byte or an NLA's reserved field
    UnknownType,         // type code not defined
    UnknownOptionFlags,  // undefined bits in the options byte
    BadChecksum,
    MissingChecksum,     // checksum 0 on ODATA/RDATA
    TsduLengthMismatch,  // TSDU length disagrees with the bytes after the options
    UnknownAfi,
    OptionsPresentMismatch,  // OPT_PRESENT flag disagrees with the presence of options
    OptLengthMissing,        // options present but the first one is not OPT_LENGTH
    OptLengthBad,            // OPT_LENGTH with a length byte other than 4
    OptionsTotalMismatch,    // OPT_LENGTH total disagrees with the options up to OPT_END
    OptionTruncated,         // an option runs past the packet or the OPT_LENGTH total
    OptionLengthBad,         // option length < 4, or wrong for a known option
    OptionEndMissing,        // no option with the E bit before the options end
    TooManyOptions,          // more than 16 options after OPT_LENGTH
    DuplicateOption,         // a known option appears twice
    OptionNotAllowed,        // a known option on a packet type it is not defined for
    NakListBad,              // OPT_NAK_LIST empty or longer than 62
    NetworkFlagMismatch,  // OPT_NETWORK set with no network-significant option, or clear with one
};

const char* to_string(ParseError e);

struct Gsi {
    std::array<std::uint8_t, 6> bytes{};
    friend bool operator==(const Gsi&, const Gsi&) = default;
};

// Transport session identifier: GSI + data-source port (§3.1).
struct Tsi {
    Gsi gsi;
    std::uint16_t source_port = 0;
    // One 8-byte compare (the defaulted operator calls memcmp for the GSI): every packet the
    // router handles compares TSIs in its session and repair lookups.
    friend bool operator==(const Tsi& a, const Tsi& b) {
        std::uint64_t x, y;
        static_assert(sizeof(Tsi) == sizeof x);
        std::memcpy(&x, &a, sizeof x);
        std::memcpy(&y, &b, sizeof y);
        return x == y;
    }
};

struct Header {
    std::uint16_t source_port = 0;
    std::uint16_t destination_port = 0;
    PacketType type = PacketType::Spm;
    std::uint8_t option_flags = 0;
    std::uint16_t checksum = 0;
    Gsi gsi;
    std::uint16_t tsdu_length = 0;

    // Data-source port: SPORT on downstream packets, DPORT on upstream ones (§8.3).
    std::uint16_t data_source_port() const {
        return is_upstream(type) ? destination_port : source_port;
    }
    std::uint16_t data_destination_port() const {
        return is_upstream(type) ? source_port : destination_port;
    }
    Tsi tsi() const { return Tsi{gsi, data_source_port()}; }
    bool parity() const { return (option_flags & kOptParity) != 0; }
    bool var_pktlen() const { return (option_flags & kOptVarPktlen) != 0; }
};

struct SpmFields {
    Sqn sqn;
    Sqn trail;
    Sqn lead;
    Nla path;
    std::size_t path_offset = 0;  // where the path NLA (AFI first) starts in the packet
    friend bool operator==(const SpmFields& a, const SpmFields& b) {
        return a.sqn == b.sqn && a.trail == b.trail && a.lead == b.lead && a.path == b.path;
    }
};
struct PollFields {
    Sqn sqn;
    std::uint16_t round = 0;
    std::uint16_t subtype = kPollGeneral;
    Nla path;
    std::uint32_t backoff_ivl_us = 0;
    std::uint32_t rand = 0;
    std::uint32_t mask = 0;
    friend bool operator==(const PollFields&, const PollFields&) = default;
};
struct PolrFields {
    Sqn sqn;
    std::uint16_t round = 0;
    friend bool operator==(const PolrFields&, const PolrFields&) = default;
};
// ODATA and RDATA.
struct DataFields {
    Sqn sqn;
    Sqn trail;
    friend bool operator==(const DataFields&, const DataFields&) = default;
};
// NAK, NNAK and NCF share one layout.
struct NakFields {
    Sqn sqn;
    Nla source;
    Nla group;
    friend bool operator==(const NakFields&, const NakFields&) = default;
};
// SPMR has no type-specific fields.
struct SpmrFields {
    friend bool operator==(const SpmrFields&, const SpmrFields&) = default;
};
// PGMCC ACK (type 0x0D, de-facto): RX_MAX and a 32-bit receive bitmap.
struct AckFields {
    Sqn rx_max;
    std::uint32_t bitmap = 0;
    friend bool operator==(const AckFields&, const AckFields&) = default;
};

using Fields =
    std::variant<SpmFields, PollFields, PolrFields, DataFields, NakFields, SpmrFields, AckFields>;

// Where each known option sits in the packet (0 = absent). Filled while validating.
struct KnownOptionOffsets {
    std::array<std::uint16_t, 0x12> at{};  // indexed by option type 0x00..0x11
};

class PacketView {
  public:
    Header header;
    Fields fields;
    Bytes packet;                    // the whole PGM packet
    std::size_t options_offset = 0;  // start of OPT_LENGTH, or == payload_offset when none
    std::size_t payload_offset = 0;  // start of the TSDU
    std::uint8_t option_count = 0;   // options after OPT_LENGTH
    bool has_unknown_options = false;
    KnownOptionOffsets known;

    bool has_options() const { return payload_offset > options_offset; }
    Bytes payload() const { return packet.subspan(payload_offset); }
    // Options after OPT_LENGTH, in order, unknown ones included.
    OptionIterator options() const;

    template <class T>
    const T* get() const {
        return std::get_if<T>(&fields);
    }

    // The option of this type, if present (known types only).
    std::optional<OptionView> find(OptionType type) const;

    std::optional<OptFragment> fragment() const;
    std::optional<NakListView> nak_list() const;
    std::optional<OptJoin> join() const;
    std::optional<OptNakBoIvl> nak_bo_ivl() const;
    std::optional<OptNakBoRng> nak_bo_rng() const;
    std::optional<OptRedirect> redirect() const;
    std::optional<OptParityPrm> parity_prm() const;
    std::optional<OptParityGrp> parity_grp() const;
    std::optional<OptCurrTgsize> curr_tgsize() const;
    bool nbr_unreach() const { return has(OptionType::NbrUnreach); }
    std::optional<OptPathNla> path_nla() const;
    bool syn() const { return has(OptionType::Syn); }
    bool fin() const { return has(OptionType::Fin); }
    std::optional<OptRst> rst() const;
    std::optional<OptCr> cr() const;
    std::optional<OptCrqst> crqst() const;

    bool has(OptionType type) const;
};

struct ParseOptions {
    // Verify the checksum. Off where the caller has already done so or does not need it
    // (a network element switching ODATA need not).
    bool verify_checksum = true;
};

struct ParseResult {
    ParseError error = ParseError::Ok;
    std::size_t error_offset = 0;  // byte in the packet where the problem was found
    PacketView view;

    explicit operator bool() const { return error == ParseError::Ok; }
};

ParseResult parse(Bytes packet, const ParseOptions& options = {});

// True for options that a network element must understand or act on (§9: they make the
// NETWORK flag necessary), given the packet type (OPT_CURR_TGSIZE is not in ODATA).
bool is_network_significant(std::uint8_t option_type, PacketType packet_type);

}  // namespace pgm

// Inline: every packet the router handles looks its session up by TSI.
template <>
struct std::hash<pgm::Tsi> {
    std::size_t operator()(const pgm::Tsi& t) const noexcept {
        std::uint64_t v = t.source_port;
        for (std::uint8_t b : t.gsi.bytes)
            v = (v << 8) | b;
        v ^= v >> 33;
        v *= 0xff51afd7ed558ccdull;
        v ^= v >> 33;
        return static_cast<std::size_t>(v);
    }
};
