// DOC: Decoding captured frames down to PGM and describing them, for pgmdump and for anything
// that must use the same field names (pgmctl, tests).
//
// Owns the JSON vocabulary of a decoded PGM packet (the key names documented in
// docs/pgmdump.md) and the one-line text form, which is rendered from the JSON so the two
// never disagree. decode_frame() runs the link, IP and PGM decoders and keeps the first error
// with its layer and offset; it never throws on bad input. spec_json() describes a
// PacketSpec with the same keys, so a test can compare what it built with what pgmdump saw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "dataplane/linklayer.h"
#include "protocol/ip.h"
#include "protocol/packet.h"
#include "protocol/spec.h"

namespace pgm::cli {

using Json = nlohmann::ordered_json;

struct DecodeSettings {
    int dlt = 0;                               // pcap_datalink() of the capture
    std::span<const std::uint16_t> udp_ports;  // UDP encapsulation ports
    bool verify_checksum = true;  // the PGM checksum, and the UDP one of encapsulated PGM
};

// One captured frame; `data` is the captured bytes (caplen of them).
struct Frame {
    std::uint64_t number = 0;  // 1-based position in the capture
    std::int64_t ts_sec = 0;
    std::int32_t ts_usec = 0;
    std::uint32_t wire_length = 0;
    Bytes data;
};

enum class Layer : std::uint8_t { None, Link, Ip, Pgm };
const char* to_string(Layer layer);

enum class ChecksumStatus : std::uint8_t {
    Good,        // field matches the packet
    Bad,         // field does not match (reported as an error too)
    None,        // field is 0: no checksum
    Unverified,  // --no-checksum, or the packet did not get that far
};
const char* to_string(ChecksumStatus status);

// A frame decoded as far as it goes. Spans point into the frame's bytes.
struct Decoded {
    Frame frame;
    LinkResult link;
    LocatedPgm located;
    ParseResult parsed;
    ChecksumStatus checksum = ChecksumStatus::Unverified;
    Layer error_layer = Layer::None;
    const char* error = nullptr;    // to_string() of the first error; nullptr when none
    bool error_has_offset = false;  // IP errors carry no offset
    std::size_t error_offset = 0;   // from the start of the frame (link) or PGM packet (pgm)

    // Not a PGM packet at all (not IP, or IP carrying something else): tools skip these.
    bool not_pgm() const;
    // The PGM packet parsed (a bad checksum still counts: every field is known).
    bool pgm_decoded() const {
        return (error_layer == Layer::None || error_layer == Layer::Pgm) &&
               parsed.error == ParseError::Ok;
    }
};

Decoded decode_frame(const Frame& frame, const DecodeSettings& settings);

// The whole description of a decoded frame (keys in docs/pgmdump.md).
Json to_json(const Decoded& d);
// One line, no newline: every JSON field, in the same order.
std::string to_text(const Json& packet);

// The same keys for a packet the caller built: type, type_code, sport, dport, gsi, tsi,
// tsdu_length, the type-specific fields and the option values.
Json spec_json(const PacketSpec& spec);

// Pieces shared by both descriptions.
void add_fields(Json& out, const Fields& fields);
Json option_json(const OptionSpec& option);

std::string hex(Bytes bytes);
std::string format_time(std::int64_t sec, std::int32_t usec);

}  // namespace pgm::cli
