// DOC: PGM wire constants and byte-order helpers.
//
// Owns every number that appears on the wire (packet types, option types, flag bits, option
// lengths) so that no other file spells a magic value. Values follow the de-facto encoding
// used by Wireshark, tcpdump and OpenPGM where it differs from the RFC 3208 text; each such
// place is recorded in docs/decisions.md. Stateless; nothing to initialise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace pgm {

using Bytes = std::span<const std::uint8_t>;
using MutableBytes = std::span<std::uint8_t>;

inline constexpr std::uint8_t kIpProtocolPgm = 113;
inline constexpr std::uint16_t kDefaultUdpEncapsulationPort = 3055;

// Common header: 16 bytes (RFC 3208 §8).
inline constexpr std::size_t kHeaderSize = 16;
inline constexpr std::size_t kOffsetSport = 0;
inline constexpr std::size_t kOffsetDport = 2;
inline constexpr std::size_t kOffsetType = 4;
inline constexpr std::size_t kOffsetOptions = 5;
inline constexpr std::size_t kOffsetChecksum = 6;
inline constexpr std::size_t kOffsetGsi = 8;
inline constexpr std::size_t kOffsetTsduLength = 14;

inline constexpr std::uint8_t kTypeVersionMask = 0xC0;   // must be 0 (version 0)
inline constexpr std::uint8_t kTypeReservedMask = 0x30;  // must be 0
inline constexpr std::uint8_t kTypeCodeMask = 0x0F;

enum class PacketType : std::uint8_t {
    Spm = 0x00,
    Poll = 0x01,
    Polr = 0x02,
    Odata = 0x04,
    Rdata = 0x05,
    Nak = 0x08,
    Nnak = 0x09,
    Ncf = 0x0A,
    Spmr = 0x0C,
    Ack = 0x0D,  // PGMCC, not RFC 3208; de-facto code (Wireshark, OpenPGM).
};

// Options byte (offset 5), de-facto bit values (decisions.md D1).
inline constexpr std::uint8_t kOptPresent = 0x01;
inline constexpr std::uint8_t kOptNetwork = 0x02;
inline constexpr std::uint8_t kOptVarPktlen = 0x40;
inline constexpr std::uint8_t kOptParity = 0x80;
inline constexpr std::uint8_t kOptFlagsKnown =
    kOptPresent | kOptNetwork | kOptVarPktlen | kOptParity;

enum class OptionType : std::uint8_t {
    Length = 0x00,
    Fragment = 0x01,
    NakList = 0x02,
    Join = 0x03,
    NakBoIvl = 0x04,
    NakBoRng = 0x05,
    Redirect = 0x07,
    ParityPrm = 0x08,
    ParityGrp = 0x09,
    CurrTgsize = 0x0A,
    NbrUnreach = 0x0B,
    PathNla = 0x0C,
    Syn = 0x0D,
    Fin = 0x0E,
    Rst = 0x0F,
    Cr = 0x10,
    Crqst = 0x11,
    PgmccData = 0x12,      // PGMCC, de-facto, not RFC 3208: carried as an unknown option
    PgmccFeedback = 0x13,  // PGMCC, de-facto, not RFC 3208: carried as an unknown option
    Invalid = 0x7F,
};

// Option header: byte 0 = E bit + type, byte 1 = length, byte 2 = F + OPX, byte 3 = U + bits.
inline constexpr std::size_t kOptionHeaderSize = 4;
inline constexpr std::uint8_t kOptEnd = 0x80;
inline constexpr std::uint8_t kOptTypeMask = 0x7F;
inline constexpr std::uint8_t kOptEncoded = 0x04;  // F, RFC diagram (OpenPGM: 0x08), D3
inline constexpr std::uint8_t kOpxMask = 0x03;
inline constexpr std::uint8_t kOptEncodedNull = 0x80;  // U, byte 3

// OPX: what a network element does with an option it does not understand (§9).
enum class Opx : std::uint8_t { Ignore = 0, Invalidate = 1, Discard = 2, Reserved = 3 };

inline constexpr std::size_t kMaxOptions = 16;  // not counting OPT_LENGTH, D10
inline constexpr std::size_t kMaxNakList = 62;  // sequence numbers in OPT_NAK_LIST
inline constexpr std::size_t kOptLengthSize = 4;

// Fixed option lengths including the 4-byte header (de-facto, decisions.md D2).
inline constexpr std::size_t kOptFragmentSize = 16;
inline constexpr std::size_t kOptJoinSize = 8;
inline constexpr std::size_t kOptNakBoIvlSize = 12;
inline constexpr std::size_t kOptNakBoRngSize = 12;
inline constexpr std::size_t kOptParityPrmSize = 8;
inline constexpr std::size_t kOptParityGrpSize = 8;
inline constexpr std::size_t kOptCurrTgsizeSize = 8;
inline constexpr std::size_t kOptFlagOnlySize = 4;  // NBR_UNREACH, SYN, FIN, RST, CRQST

// Option-specific bits in byte 3.
inline constexpr std::uint8_t kParityPrmProactive = 0x02;  // P, RFC diagram + Wireshark, D3
inline constexpr std::uint8_t kParityPrmOnDemand = 0x01;   // O
inline constexpr std::uint8_t kRstNoNaks = 0x40;           // N
inline constexpr std::uint8_t kRstErrorMask = 0x3F;
inline constexpr std::uint8_t kCrNeWorstLink = 0x04;  // L
inline constexpr std::uint8_t kCrNeWorstPath = 0x02;  // P
inline constexpr std::uint8_t kCrRxWorstPath = 0x01;  // R
// OPT_CR loads and loss rates are linear: 0 = 0 %, 0xFFFF = 100 % (§12.7.1).
inline constexpr std::uint16_t kCongestionFull = 0xFFFF;

// NLA address family identifiers (RFC 1700).
inline constexpr std::uint16_t kAfiIpv4 = 1;
inline constexpr std::uint16_t kAfiIpv6 = 2;

inline constexpr std::uint16_t kPollGeneral = 0;
inline constexpr std::uint16_t kPollDlr = 1;

// SPM without window information (§8.1).
inline constexpr std::uint32_t kNoWindowTrail = 0;
inline constexpr std::uint32_t kNoWindowLead = 0x80000000u;

// Big-endian loads and stores. Callers have checked the bounds.
inline std::uint16_t load16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t load32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}
inline void store16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
inline void store32(std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
}

const char* to_string(PacketType type);
// Name of an option type, or nullptr for a type RFC 3208 does not define.
const char* option_name(std::uint8_t type);
// Types defined by RFC 3208 plus the de-facto ACK: a bit per code, so the per-packet check
// is one shift and one test.
inline constexpr std::uint16_t kKnownPacketTypes =
    (1u << 0x00) | (1u << 0x01) | (1u << 0x02) | (1u << 0x04) | (1u << 0x05) | (1u << 0x08) |
    (1u << 0x09) | (1u << 0x0A) | (1u << 0x0C) | (1u << 0x0D);
inline bool is_known_packet_type(std::uint8_t code) {
    return code < 16 && ((kKnownPacketTypes >> code) & 1u) != 0;
}

// Upstream packets (NAK, NNAK, SPMR, POLR, ACK) carry the data-source port in DPORT (§8.3).
inline bool is_upstream(PacketType type) {
    return type == PacketType::Nak || type == PacketType::Nnak || type == PacketType::Spmr ||
           type == PacketType::Polr || type == PacketType::Ack;
}

}  // namespace pgm
