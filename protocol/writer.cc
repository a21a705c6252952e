#include "protocol/writer.h"

#include <cstring>

#include "protocol/checksum.h"

namespace pgm {

std::uint8_t* PacketWriter::reserve(std::size_t n) {
    if (overflow_ || pos_ + n > buf_.size()) {
        overflow_ = true;
        return nullptr;
    }
    std::uint8_t* p = buf_.data() + pos_;
    std::memset(p, 0, n);
    pos_ += n;
    return p;
}

PacketWriter& PacketWriter::begin(PacketType type, std::uint16_t source_port,
                                  std::uint16_t destination_port, const Gsi& gsi) {
    pos_ = 0;
    options_start_ = last_option_ = payload_start_ = 0;
    overflow_ = false;
    flags_ = 0;
    type_ = type;
    if (std::uint8_t* p = reserve(kHeaderSize)) {
        store16(p + kOffsetSport, source_port);
        store16(p + kOffsetDport, destination_port);
        p[kOffsetType] = static_cast<std::uint8_t>(type);
        std::memcpy(p + kOffsetGsi, gsi.bytes.data(), gsi.bytes.size());
    }
    return *this;
}

PacketWriter& PacketWriter::flags(std::uint8_t extra) {
    flags_ |= extra & (kOptParity | kOptVarPktlen);
    return *this;
}

void PacketWriter::write_nla(std::uint8_t* p, const Nla& nla) {
    store16(p, nla.afi());
    std::memcpy(p + 4, nla.address().data(), nla.address_size());
}

PacketWriter& PacketWriter::spm(const SpmFields& f) {
    if (std::uint8_t* p = reserve(12 + f.path.wire_size())) {
        store32(p, f.sqn.value());
        store32(p + 4, f.trail.value());
        store32(p + 8, f.lead.value());
        write_nla(p + 12, f.path);
    }
    return *this;
}

PacketWriter& PacketWriter::poll(const PollFields& f) {
    if (std::uint8_t* p = reserve(8 + f.path.wire_size() + 12)) {
        store32(p, f.sqn.value());
        store16(p + 4, f.round);
        store16(p + 6, f.subtype);
        write_nla(p + 8, f.path);
        std::uint8_t* q = p + 8 + f.path.wire_size();
        store32(q, f.backoff_ivl_us);
        store32(q + 4, f.rand);
        store32(q + 8, f.mask);
    }
    return *this;
}

PacketWriter& PacketWriter::polr(const PolrFields& f) {
    if (std::uint8_t* p = reserve(8)) {
        store32(p, f.sqn.value());
        store16(p + 4, f.round);
    }
    return *this;
}

PacketWriter& PacketWriter::data(const DataFields& f) {
    if (std::uint8_t* p = reserve(8)) {
        store32(p, f.sqn.value());
        store32(p + 4, f.trail.value());
    }
    return *this;
}

PacketWriter& PacketWriter::nak(const NakFields& f) {
    if (std::uint8_t* p = reserve(4 + f.source.wire_size() + f.group.wire_size())) {
        store32(p, f.sqn.value());
        write_nla(p + 4, f.source);
        write_nla(p + 4 + f.source.wire_size(), f.group);
    }
    return *this;
}

PacketWriter& PacketWriter::ack(const AckFields& f) {
    if (std::uint8_t* p = reserve(8)) {
        store32(p, f.rx_max.value());
        store32(p + 4, f.bitmap);
    }
    return *this;
}

PacketWriter& PacketWriter::fields(const Fields& f) {
    struct Visitor {
        PacketWriter& w;
        void operator()(const SpmFields& x) { w.spm(x); }
        void operator()(const PollFields& x) { w.poll(x); }
        void operator()(const PolrFields& x) { w.polr(x); }
        void operator()(const DataFields& x) { w.data(x); }
        void operator()(const NakFields& x) { w.nak(x); }
        void operator()(const SpmrFields&) {}
        void operator()(const AckFields& x) { w.ack(x); }
    };
    std::visit(Visitor{*this}, f);
    return *this;
}

std::uint8_t* PacketWriter::begin_option(OptionType type, std::size_t length, std::uint8_t byte3) {
    auto t = static_cast<std::uint8_t>(type);
    if (options_start_ == 0) {
        options_start_ = pos_;
        if (std::uint8_t* l = reserve(kOptLengthSize)) l[1] = kOptLengthSize;
    }
    if (is_network_significant(t, type_)) flags_ |= kOptNetwork;
    last_option_ = pos_;
    std::uint8_t* p = reserve(length);
    if (p) {
        p[0] = t;
        p[1] = static_cast<std::uint8_t>(length);
        p[3] = byte3;
    }
    return p;
}

PacketWriter& PacketWriter::fragment(const OptFragment& o) {
    if (std::uint8_t* p = begin_option(OptionType::Fragment, kOptFragmentSize)) {
        store32(p + 4, o.first_sqn.value());
        store32(p + 8, o.offset);
        store32(p + 12, o.apdu_length);
    }
    return *this;
}

PacketWriter& PacketWriter::nak_list(std::span<const Sqn> sqns) {
    if (std::uint8_t* p = begin_option(OptionType::NakList, kOptionHeaderSize + 4 * sqns.size())) {
        for (std::size_t i = 0; i < sqns.size(); ++i)
            store32(p + 4 + 4 * i, sqns[i].value());
    }
    return *this;
}

PacketWriter& PacketWriter::nak_list(const NakListView& sqns) {
    if (std::uint8_t* p =
            begin_option(OptionType::NakList, kOptionHeaderSize + sqns.raw().size())) {
        if (!sqns.empty()) std::memcpy(p + 4, sqns.raw().data(), sqns.raw().size());
    }
    return *this;
}

PacketWriter& PacketWriter::join(const OptJoin& o) {
    if (std::uint8_t* p = begin_option(OptionType::Join, kOptJoinSize))
        store32(p + 4, o.min_sqn.value());
    return *this;
}

PacketWriter& PacketWriter::nak_bo_ivl(const OptNakBoIvl& o) {
    if (std::uint8_t* p = begin_option(OptionType::NakBoIvl, kOptNakBoIvlSize)) {
        store32(p + 4, o.interval_us);
        store32(p + 8, o.poll_sqn.value());
    }
    return *this;
}

PacketWriter& PacketWriter::nak_bo_rng(const OptNakBoRng& o) {
    if (std::uint8_t* p = begin_option(OptionType::NakBoRng, kOptNakBoRngSize)) {
        store32(p + 4, o.max_us);
        store32(p + 8, o.min_us);
    }
    return *this;
}

PacketWriter& PacketWriter::redirect(const OptRedirect& o) {
    if (std::uint8_t* p = begin_option(OptionType::Redirect, 4 + o.dlr.wire_size()))
        write_nla(p + 4, o.dlr);
    return *this;
}

PacketWriter& PacketWriter::parity_prm(const OptParityPrm& o) {
    std::uint8_t bits =
        (o.proactive ? kParityPrmProactive : 0) | (o.on_demand ? kParityPrmOnDemand : 0);
    if (std::uint8_t* p = begin_option(OptionType::ParityPrm, kOptParityPrmSize, bits)) {
        store32(p + 4, o.tg_size);
    }
    return *this;
}

PacketWriter& PacketWriter::parity_grp(const OptParityGrp& o) {
    if (std::uint8_t* p = begin_option(OptionType::ParityGrp, kOptParityGrpSize))
        store32(p + 4, o.group);
    return *this;
}

PacketWriter& PacketWriter::curr_tgsize(const OptCurrTgsize& o) {
    if (std::uint8_t* p = begin_option(OptionType::CurrTgsize, kOptCurrTgsizeSize))
        store32(p + 4, o.size);
    return *this;
}

PacketWriter& PacketWriter::nbr_unreach() {
    begin_option(OptionType::NbrUnreach, kOptFlagOnlySize);
    return *this;
}

PacketWriter& PacketWriter::path_nla(const OptPathNla& o) {
    if (std::uint8_t* p = begin_option(OptionType::PathNla, 4 + o.path.address_size())) {
        std::memcpy(p + 4, o.path.address().data(), o.path.address_size());
    }
    return *this;
}

PacketWriter& PacketWriter::syn() {
    begin_option(OptionType::Syn, kOptFlagOnlySize);
    return *this;
}

PacketWriter& PacketWriter::fin() {
    begin_option(OptionType::Fin, kOptFlagOnlySize);
    return *this;
}

PacketWriter& PacketWriter::rst(const OptRst& o) {
    std::uint8_t bits =
        static_cast<std::uint8_t>((o.no_naks ? kRstNoNaks : 0) | (o.error_code & kRstErrorMask));
    begin_option(OptionType::Rst, kOptFlagOnlySize, bits);
    return *this;
}

static std::uint8_t cr_bits(bool l, bool p, bool r) {
    return static_cast<std::uint8_t>((l ? kCrNeWorstLink : 0) | (p ? kCrNeWorstPath : 0) |
                                     (r ? kCrRxWorstPath : 0));
}

PacketWriter& PacketWriter::cr(const OptCr& o) {
    std::uint8_t bits = cr_bits(o.ne_worst_link, o.ne_worst_path, o.rx_worst_path);
    if (std::uint8_t* p = begin_option(OptionType::Cr, 16 + o.receiver.wire_size(), bits)) {
        store32(p + 4, o.lead.value());
        store16(p + 8, o.ne_wl);
        store16(p + 10, o.ne_wp);
        store16(p + 12, o.rx_wp);
        write_nla(p + 16, o.receiver);
    }
    return *this;
}

PacketWriter& PacketWriter::crqst(const OptCrqst& o) {
    begin_option(OptionType::Crqst, kOptFlagOnlySize,
                 cr_bits(o.ne_worst_link, o.ne_worst_path, o.rx_worst_path));
    return *this;
}

PacketWriter& PacketWriter::raw_option(std::uint8_t type, std::uint8_t byte2, std::uint8_t byte3,
                                       Bytes value, bool network_significant) {
    std::size_t length = kOptionHeaderSize + value.size();
    if (length > 0xFF) {
        overflow_ = true;
        return *this;
    }
    if (std::uint8_t* p =
            begin_option(static_cast<OptionType>(type & kOptTypeMask), length, byte3)) {
        p[2] = byte2;
        if (!value.empty()) std::memcpy(p + 4, value.data(), value.size());
        if (network_significant) flags_ |= kOptNetwork;
    }
    return *this;
}

PacketWriter& PacketWriter::payload(Bytes data) {
    payload_start_ = pos_;
    // An empty span may have a null data pointer, which memcpy must not get even for 0 bytes.
    std::uint8_t* p = reserve(data.size());
    if (p && !data.empty()) std::memcpy(p, data.data(), data.size());
    return *this;
}

std::optional<std::size_t> PacketWriter::finish(bool checksum) {
    if (payload_start_ == 0) payload_start_ = pos_;
    if (overflow_ || pos_ < kHeaderSize) return std::nullopt;
    std::uint8_t* p = buf_.data();
    if (options_start_ != 0) {
        std::size_t total = payload_start_ - options_start_;
        if (total > 0xFFFF) return std::nullopt;
        store16(p + options_start_ + 2, static_cast<std::uint16_t>(total));
        p[last_option_] |= kOptEnd;
        flags_ |= kOptPresent;
    }
    std::size_t tsdu = pos_ - payload_start_;
    if (tsdu > 0xFFFF) return std::nullopt;
    p[kOffsetOptions] = flags_;
    store16(p + kOffsetTsduLength, static_cast<std::uint16_t>(tsdu));
    store16(p + kOffsetChecksum, 0);
    if (checksum) write_checksum(buf_.first(pos_));
    return pos_;
}

}  // namespace pgm
