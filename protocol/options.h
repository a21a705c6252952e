// DOC: PGM options (RFC 3208 §9, 11.8, 12.7, 15.4): views over the option area of a parsed
// packet, and typed decodings of every option RFC 3208 defines.
//
// An `OptionView` points into the caller's bytes; it is valid as long as they are. Unknown
// options are kept byte for byte, with their OPX bits exposed, so a network element can
// ignore, invalidate (type 0x7F) or discard the packet. For the options the codec knows,
// OPX and the reserved bits are not looked at: OpenPGM leaves them uninitialised
// (docs/decisions.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "protocol/nla.h"
#include "protocol/seq.h"
#include "protocol/wire.h"

namespace pgm {

struct OptionView {
    std::uint8_t type = 0;    // without the E bit
    bool end = false;         // E: last option
    std::uint8_t length = 0;  // whole option, header included
    std::uint8_t byte2 = 0;   // F + OPX (+ reserved)
    std::uint8_t byte3 = 0;   // U + option-specific bits
    std::size_t offset = 0;   // from the start of the PGM packet
    Bytes value;              // bytes after the 4-byte header

    Opx opx() const { return static_cast<Opx>(byte2 & kOpxMask); }
    bool encoded() const { return (byte2 & kOptEncoded) != 0; }
    bool encoded_null() const { return (byte3 & kOptEncodedNull) != 0; }
    bool known() const { return option_name(type) != nullptr; }
};

// Walks the option area (OPT_LENGTH excluded) of a packet that has been validated by
// parse(); on unvalidated bytes it stops at the first malformed option.
class OptionIterator {
  public:
    OptionIterator() = default;
    OptionIterator(Bytes packet, std::size_t first, std::size_t end)
        : packet_(packet), pos_(first), end_(end) {}
    // Next option, or nullopt after the one with the E bit.
    std::optional<OptionView> next();

  private:
    Bytes packet_;
    std::size_t pos_ = 0;
    std::size_t end_ = 0;
};

// Typed values of the options RFC 3208 defines.
struct OptFragment {
    Sqn first_sqn;              // first sequence number of the APDU
    std::uint32_t offset;       // OPT_FRAG_OFF: offset of this fragment in the APDU
    std::uint32_t apdu_length;  // OPT_FRAG_LEN
    friend bool operator==(const OptFragment&, const OptFragment&) = default;
};

// Up to 62 sequence numbers, read from the packet bytes (no copy).
class NakListView {
  public:
    NakListView() = default;
    explicit NakListView(Bytes raw) : raw_(raw) {}
    std::size_t size() const { return raw_.size() / 4; }
    bool empty() const { return raw_.empty(); }
    Sqn operator[](std::size_t i) const { return Sqn(load32(raw_.data() + 4 * i)); }
    Bytes raw() const { return raw_; }

  private:
    Bytes raw_;
};

struct OptJoin {
    Sqn min_sqn;
    friend bool operator==(const OptJoin&, const OptJoin&) = default;
};
struct OptNakBoIvl {
    std::uint32_t interval_us;
    Sqn poll_sqn;  // NAK_BO_IVL_SQN; 0 means "use at once"
    friend bool operator==(const OptNakBoIvl&, const OptNakBoIvl&) = default;
};
struct OptNakBoRng {
    std::uint32_t max_us;
    std::uint32_t min_us;
    friend bool operator==(const OptNakBoRng&, const OptNakBoRng&) = default;
};
struct OptRedirect {
    Nla dlr;
    friend bool operator==(const OptRedirect&, const OptRedirect&) = default;
};
struct OptParityPrm {
    bool proactive;
    bool on_demand;
    std::uint32_t tg_size;
    friend bool operator==(const OptParityPrm&, const OptParityPrm&) = default;
};
struct OptParityGrp {
    std::uint32_t group;
    friend bool operator==(const OptParityGrp&, const OptParityGrp&) = default;
};
struct OptCurrTgsize {
    std::uint32_t size;
    friend bool operator==(const OptCurrTgsize&, const OptCurrTgsize&) = default;
};
struct OptPathNla {
    Nla path;
    friend bool operator==(const OptPathNla&, const OptPathNla&) = default;
};
struct OptRst {
    bool no_naks;             // N: NAKs will go unanswered
    std::uint8_t error_code;  // 6 bits, 0 = unknown
    friend bool operator==(const OptRst&, const OptRst&) = default;
};
struct OptCr {
    bool ne_worst_link;  // L
    bool ne_worst_path;  // P
    bool rx_worst_path;  // R
    Sqn lead;
    std::uint16_t ne_wl;
    std::uint16_t ne_wp;
    std::uint16_t rx_wp;
    Nla receiver;
    friend bool operator==(const OptCr&, const OptCr&) = default;
};
struct OptCrqst {
    bool ne_worst_link;
    bool ne_worst_path;
    bool rx_worst_path;
    friend bool operator==(const OptCrqst&, const OptCrqst&) = default;
};

// Decoders for an option already validated by parse() (lengths checked there).
OptFragment decode_fragment(const OptionView& o);
NakListView decode_nak_list(const OptionView& o);
OptJoin decode_join(const OptionView& o);
OptNakBoIvl decode_nak_bo_ivl(const OptionView& o);
OptNakBoRng decode_nak_bo_rng(const OptionView& o);
OptRedirect decode_redirect(const OptionView& o);
OptParityPrm decode_parity_prm(const OptionView& o);
OptParityGrp decode_parity_grp(const OptionView& o);
OptCurrTgsize decode_curr_tgsize(const OptionView& o);
// OPT_PATH_NLA carries no AFI (§15.4.4): the family follows from its length (8 or 20).
OptPathNla decode_path_nla(const OptionView& o);
OptRst decode_rst(const OptionView& o);
OptCr decode_cr(const OptionView& o);
OptCrqst decode_crqst(const OptionView& o);

// True when an option of this type is defined for this packet type (checklist §1.4).
bool option_allowed(std::uint8_t option_type, PacketType packet_type);

}  // namespace pgm
