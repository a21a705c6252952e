#include "protocol/packet.h"

#include "protocol/checksum.h"

namespace pgm {

const char* to_string(ParseError e) {
    switch (e) {
        case ParseError::Ok:
            return "ok";
        case ParseError::Truncated:
            return "truncated";
        case ParseError::BadVersion:
            return "bad version";
        case ParseError::ReservedBitsSet:
            return "reserved bits set";
        case ParseError::UnknownType:
            return "unknown packet type";
        case ParseError::UnknownOptionFlags:
            return "unknown bits in options byte";
        case ParseError::BadChecksum:
            return "bad checksum";
        case ParseError::MissingChecksum:
            return "missing checksum on data";
        case ParseError::TsduLengthMismatch:
            return "TSDU length mismatch";
        case ParseError::UnknownAfi:
            return "unknown NLA AFI";
        case ParseError::OptionsPresentMismatch:
            return "OPT_PRESENT flag mismatch";
        case ParseError::OptLengthMissing:
            return "OPT_LENGTH missing";
        case ParseError::OptLengthBad:
            return "OPT_LENGTH malformed";
        case ParseError::OptionsTotalMismatch:
            return "options total length mismatch";
        case ParseError::OptionTruncated:
            return "option truncated";
        case ParseError::OptionLengthBad:
            return "option length wrong";
        case ParseError::OptionEndMissing:
            return "OPT_END missing";
        case ParseError::TooManyOptions:
            return "more than 16 options";
        case ParseError::DuplicateOption:
            return "duplicate option";
        case ParseError::OptionNotAllowed:
            return "option not allowed on this packet type";
        case ParseError::NakListBad:
            return "OPT_NAK_LIST empty or longer than 62";
        case ParseError::NetworkFlagMismatch:
            return "OPT_NETWORK flag disagrees with the options";
    }
    return "unknown error";
}

bool is_network_significant(std::uint8_t option_type, PacketType packet_type) {
    switch (static_cast<OptionType>(option_type)) {
        case OptionType::NakList:
        case OptionType::NakBoIvl:
        case OptionType::NakBoRng:
        case OptionType::Redirect:
        case OptionType::ParityPrm:
        case OptionType::NbrUnreach:
        case OptionType::PathNla:
        case OptionType::Cr:
        case OptionType::Crqst:
            return true;
        case OptionType::CurrTgsize:
            return packet_type != PacketType::Odata;
        default:
            return false;
    }
}

namespace {

class Parser {
  public:
    Parser(Bytes p, const ParseOptions& o) : p_(p), opts_(o) { r_.view.packet = p; }

    ParseResult run() {
        if (!header() || !checksum() || !fields() || !options() || !tsdu()) return r_;
        return r_;
    }

  private:
    bool fail(ParseError e, std::size_t offset) {
        r_.error = e;
        r_.error_offset = offset;
        return false;
    }
    bool need(std::size_t end) {
        return end <= p_.size() || fail(ParseError::Truncated, p_.size());
    }
    std::uint32_t u32(std::size_t at) const { return load32(p_.data() + at); }
    std::uint16_t u16(std::size_t at) const { return load16(p_.data() + at); }

    bool header() {
        if (!need(kHeaderSize)) return false;
        Header& h = r_.view.header;
        std::uint8_t type = p_[kOffsetType];
        if (type & kTypeVersionMask) return fail(ParseError::BadVersion, kOffsetType);
        if (type & kTypeReservedMask) return fail(ParseError::ReservedBitsSet, kOffsetType);
        if (!is_known_packet_type(type & kTypeCodeMask))
            return fail(ParseError::UnknownType, kOffsetType);
        h.type = static_cast<PacketType>(type & kTypeCodeMask);
        h.option_flags = p_[kOffsetOptions];
        if (h.option_flags & ~kOptFlagsKnown)
            return fail(ParseError::UnknownOptionFlags, kOffsetOptions);
        if ((h.option_flags & kOptNetwork) && !(h.option_flags & kOptPresent)) {
            return fail(ParseError::OptionsPresentMismatch, kOffsetOptions);
        }
        h.source_port = u16(kOffsetSport);
        h.destination_port = u16(kOffsetDport);
        h.checksum = u16(kOffsetChecksum);
        for (std::size_t i = 0; i < 6; ++i)
            h.gsi.bytes[i] = p_[kOffsetGsi + i];
        h.tsdu_length = u16(kOffsetTsduLength);
        return true;
    }

    // Checked before the structure, so that a corrupted packet is reported as such.
    bool checksum() {
        if (!opts_.verify_checksum) return true;
        const Header& h = r_.view.header;
        if (h.checksum == 0) {
            bool data = h.type == PacketType::Odata || h.type == PacketType::Rdata;
            return !data || fail(ParseError::MissingChecksum, kOffsetChecksum);
        }
        return checksum_field_valid(p_) || fail(ParseError::BadChecksum, kOffsetChecksum);
    }

    bool nla(std::size_t at, Nla& out) {
        if (!need(at + 4)) return false;
        std::size_t size = nla_wire_size(u16(at));
        if (size == 0) return fail(ParseError::UnknownAfi, at);
        if (u16(at + 2) != 0) return fail(ParseError::ReservedBitsSet, at + 2);
        if (!need(at + size)) return false;
        const std::uint8_t* a = p_.data() + at + 4;
        if (size == 8) {
            out = Nla::ipv4({a[0], a[1], a[2], a[3]});
        } else {
            std::array<std::uint8_t, 16> b{};
            for (std::size_t i = 0; i < 16; ++i)
                b[i] = a[i];
            out = Nla::ipv6(b);
        }
        pos_ = at + size;
        return true;
    }

    bool fields() {
        pos_ = kHeaderSize;
        switch (r_.view.header.type) {
            case PacketType::Spm: {
                SpmFields f;
                if (!need(28)) return false;
                f.sqn = Sqn(u32(16));
                f.trail = Sqn(u32(20));
                f.lead = Sqn(u32(24));
                f.path_offset = 28;
                if (!nla(28, f.path)) return false;
                r_.view.fields = f;
                return true;
            }
            case PacketType::Poll: {
                PollFields f;
                if (!need(24)) return false;
                f.sqn = Sqn(u32(16));
                f.round = u16(20);
                f.subtype = u16(22);
                if (!nla(24, f.path) || !need(pos_ + 12)) return false;
                f.backoff_ivl_us = u32(pos_);
                f.rand = u32(pos_ + 4);
                f.mask = u32(pos_ + 8);
                pos_ += 12;
                r_.view.fields = f;
                return true;
            }
            case PacketType::Polr: {
                if (!need(24)) return false;
                if (u16(22) != 0) return fail(ParseError::ReservedBitsSet, 22);
                r_.view.fields = PolrFields{Sqn(u32(16)), u16(20)};
                pos_ = 24;
                return true;
            }
            case PacketType::Odata:
            case PacketType::Rdata: {
                if (!need(24)) return false;
                r_.view.fields = DataFields{Sqn(u32(16)), Sqn(u32(20))};
                pos_ = 24;
                return true;
            }
            case PacketType::Nak:
            case PacketType::Nnak:
            case PacketType::Ncf: {
                NakFields f;
                if (!need(20)) return false;
                f.sqn = Sqn(u32(16));
                if (!nla(20, f.source) || !nla(pos_, f.group)) return false;
                r_.view.fields = f;
                return true;
            }
            case PacketType::Spmr:
                r_.view.fields = SpmrFields{};
                return true;
            case PacketType::Ack: {
                if (!need(24)) return false;
                r_.view.fields = AckFields{Sqn(u32(16)), u32(20)};
                pos_ = 24;
                return true;
            }
        }
        return fail(ParseError::UnknownType, kOffsetType);
    }

    // Length and content rules of the options the codec knows (checklist §1.4, D2).
    bool check_known_option(const OptionView& o) {
        auto len_is = [&](std::size_t n) {
            return o.length == n || fail(ParseError::OptionLengthBad, o.offset + 1);
        };
        auto nla_len = [&](std::size_t afi_at, std::size_t fixed) {
            if (o.length < afi_at + 2) return fail(ParseError::OptionLengthBad, o.offset + 1);
            std::size_t size = nla_wire_size(load16(p_.data() + o.offset + afi_at));
            if (size == 0) return fail(ParseError::UnknownAfi, o.offset + afi_at);
            return len_is(fixed + size);
        };
        switch (static_cast<OptionType>(o.type)) {
            case OptionType::Fragment:
                return len_is(kOptFragmentSize);
            case OptionType::NakList: {
                std::size_t n = (o.length - kOptionHeaderSize) / 4;
                if ((o.length - kOptionHeaderSize) % 4 != 0)
                    return fail(ParseError::OptionLengthBad, o.offset + 1);
                return (n >= 1 && n <= kMaxNakList) || fail(ParseError::NakListBad, o.offset + 1);
            }
            case OptionType::Join:
                return len_is(kOptJoinSize);
            case OptionType::NakBoIvl:
                return len_is(kOptNakBoIvlSize);
            case OptionType::NakBoRng:
                return len_is(kOptNakBoRngSize);
            case OptionType::Redirect:
                return nla_len(4, 4);
            case OptionType::ParityPrm:
                return len_is(kOptParityPrmSize);
            case OptionType::ParityGrp:
                return len_is(kOptParityGrpSize);
            case OptionType::CurrTgsize:
                return len_is(kOptCurrTgsizeSize);
            case OptionType::PathNla:
                return o.length == 8 || o.length == 20 ||
                       fail(ParseError::OptionLengthBad, o.offset + 1);
            case OptionType::NbrUnreach:
            case OptionType::Syn:
            case OptionType::Fin:
            case OptionType::Rst:
            case OptionType::Crqst:
                return len_is(kOptFlagOnlySize);
            case OptionType::Cr:
                return nla_len(16, 16);
            default:
                return true;
        }
    }

    bool options() {
        PacketView& v = r_.view;
        v.options_offset = pos_;
        v.payload_offset = pos_;
        if (!(v.header.option_flags & kOptPresent)) return true;
        const std::size_t start = pos_;
        if (!need(start + kOptLengthSize)) return false;
        if ((p_[start] & kOptTypeMask) != static_cast<std::uint8_t>(OptionType::Length)) {
            return fail(ParseError::OptLengthMissing, start);
        }
        if (p_[start + 1] != kOptLengthSize) return fail(ParseError::OptLengthBad, start + 1);
        const std::size_t end = start + u16(start + 2);
        if (end > p_.size()) return fail(ParseError::OptionTruncated, start + 2);
        bool network_significant = false;
        bool opaque = false;  // an option whose network significance the codec cannot tell
        std::size_t at = start + kOptLengthSize;
        for (;;) {
            if (at + kOptionHeaderSize > end) {
                return fail(at == end ? ParseError::OptionEndMissing : ParseError::OptionTruncated,
                            at);
            }
            OptionView o;
            o.type = p_[at] & kOptTypeMask;
            o.end = (p_[at] & kOptEnd) != 0;
            o.length = p_[at + 1];
            o.offset = at;
            if (o.length < kOptionHeaderSize) return fail(ParseError::OptionLengthBad, at + 1);
            if (at + o.length > end) return fail(ParseError::OptionTruncated, at + 1);
            if (++v.option_count > kMaxOptions) return fail(ParseError::TooManyOptions, at);
            if (o.type == static_cast<std::uint8_t>(OptionType::Length)) {
                return fail(ParseError::DuplicateOption, at);
            }
            if (o.known() && o.type < v.known.at.size()) {
                if (v.known.at[o.type] != 0) return fail(ParseError::DuplicateOption, at);
                if (!option_allowed(o.type, v.header.type))
                    return fail(ParseError::OptionNotAllowed, at);
                if (!check_known_option(o)) return false;
                v.known.at[o.type] = static_cast<std::uint16_t>(at);
                network_significant |= is_network_significant(o.type, v.header.type);
            } else {
                opaque = true;  // unknown, OPT_INVALID, PGMCC
                if (!o.known()) v.has_unknown_options = true;
            }
            at += o.length;
            if (o.end) break;
        }
        if (at != end) return fail(ParseError::OptionsTotalMismatch, start + 2);
        const bool network_flag = (v.header.option_flags & kOptNetwork) != 0;
        if (network_significant != network_flag && (network_significant || !opaque)) {
            return fail(ParseError::NetworkFlagMismatch, kOffsetOptions);
        }
        v.payload_offset = end;
        return true;
    }

    // Only ODATA and RDATA carry data (§8): every other type has an empty TSDU.
    bool tsdu() {
        const PacketType t = r_.view.header.type;
        const std::size_t remaining = p_.size() - r_.view.payload_offset;
        const bool data = t == PacketType::Odata || t == PacketType::Rdata;
        if (!data && remaining != 0) return fail(ParseError::TsduLengthMismatch, kOffsetTsduLength);
        return remaining == r_.view.header.tsdu_length ||
               fail(ParseError::TsduLengthMismatch, kOffsetTsduLength);
    }

    Bytes p_;
    const ParseOptions& opts_;
    ParseResult r_;
    std::size_t pos_ = 0;
};

}  // namespace

ParseResult parse(Bytes packet, const ParseOptions& options) {
    return Parser(packet, options).run();
}

OptionIterator PacketView::options() const {
    if (!has_options()) return OptionIterator(packet, payload_offset, payload_offset);
    return OptionIterator(packet, options_offset + kOptLengthSize, payload_offset);
}

bool PacketView::has(OptionType type) const {
    auto t = static_cast<std::size_t>(type);
    return t < known.at.size() && known.at[t] != 0;
}

std::optional<OptionView> PacketView::find(OptionType type) const {
    if (!has(type)) return std::nullopt;
    std::size_t at = known.at[static_cast<std::size_t>(type)];
    OptionIterator it(packet, at, payload_offset);
    return it.next();
}

namespace {
template <class T, T (*Decode)(const OptionView&)>
std::optional<T> decoded(const PacketView& v, OptionType type) {
    auto o = v.find(type);
    if (!o) return std::nullopt;
    return Decode(*o);
}
}  // namespace

std::optional<OptFragment> PacketView::fragment() const {
    return decoded<OptFragment, decode_fragment>(*this, OptionType::Fragment);
}
std::optional<NakListView> PacketView::nak_list() const {
    return decoded<NakListView, decode_nak_list>(*this, OptionType::NakList);
}
std::optional<OptJoin> PacketView::join() const {
    return decoded<OptJoin, decode_join>(*this, OptionType::Join);
}
std::optional<OptNakBoIvl> PacketView::nak_bo_ivl() const {
    return decoded<OptNakBoIvl, decode_nak_bo_ivl>(*this, OptionType::NakBoIvl);
}
std::optional<OptNakBoRng> PacketView::nak_bo_rng() const {
    return decoded<OptNakBoRng, decode_nak_bo_rng>(*this, OptionType::NakBoRng);
}
std::optional<OptRedirect> PacketView::redirect() const {
    return decoded<OptRedirect, decode_redirect>(*this, OptionType::Redirect);
}
std::optional<OptParityPrm> PacketView::parity_prm() const {
    return decoded<OptParityPrm, decode_parity_prm>(*this, OptionType::ParityPrm);
}
std::optional<OptParityGrp> PacketView::parity_grp() const {
    return decoded<OptParityGrp, decode_parity_grp>(*this, OptionType::ParityGrp);
}
std::optional<OptCurrTgsize> PacketView::curr_tgsize() const {
    return decoded<OptCurrTgsize, decode_curr_tgsize>(*this, OptionType::CurrTgsize);
}
std::optional<OptPathNla> PacketView::path_nla() const {
    return decoded<OptPathNla, decode_path_nla>(*this, OptionType::PathNla);
}
std::optional<OptRst> PacketView::rst() const {
    return decoded<OptRst, decode_rst>(*this, OptionType::Rst);
}
std::optional<OptCr> PacketView::cr() const {
    return decoded<OptCr, decode_cr>(*this, OptionType::Cr);
}
std::optional<OptCrqst> PacketView::crqst() const {
    return decoded<OptCrqst, decode_crqst>(*this, OptionType::Crqst);
}

}  // namespace pgm
