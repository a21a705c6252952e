#include "protocol/options.h"

#include <array>

namespace pgm {

std::optional<OptionView> OptionIterator::next() {
    if (pos_ + kOptionHeaderSize > end_ || pos_ + kOptionHeaderSize > packet_.size())
        return std::nullopt;
    const std::uint8_t* p = packet_.data() + pos_;
    OptionView o;
    o.type = p[0] & kOptTypeMask;
    o.end = (p[0] & kOptEnd) != 0;
    o.length = p[1];
    o.byte2 = p[2];
    o.byte3 = p[3];
    o.offset = pos_;
    if (o.length < kOptionHeaderSize || pos_ + o.length > end_ ||
        pos_ + o.length > packet_.size()) {
        return std::nullopt;
    }
    o.value = packet_.subspan(pos_ + kOptionHeaderSize, o.length - kOptionHeaderSize);
    pos_ = o.end ? end_ : pos_ + o.length;
    return o;
}

namespace {

// NLA with AFI + reserved at `p`, of `size` bytes already checked to match the AFI.
Nla read_nla(const std::uint8_t* p) {
    std::uint16_t afi = load16(p);
    if (afi == kAfiIpv4) return Nla::ipv4({p[4], p[5], p[6], p[7]});
    std::array<std::uint8_t, 16> a{};
    for (std::size_t i = 0; i < 16; ++i)
        a[i] = p[4 + i];
    return Nla::ipv6(a);
}

}  // namespace

OptFragment decode_fragment(const OptionView& o) {
    const std::uint8_t* v = o.value.data();
    return {Sqn(load32(v)), load32(v + 4), load32(v + 8)};
}

NakListView decode_nak_list(const OptionView& o) {
    return NakListView(o.value);
}

OptJoin decode_join(const OptionView& o) {
    return {Sqn(load32(o.value.data()))};
}

OptNakBoIvl decode_nak_bo_ivl(const OptionView& o) {
    return {load32(o.value.data()), Sqn(load32(o.value.data() + 4))};
}

OptNakBoRng decode_nak_bo_rng(const OptionView& o) {
    return {load32(o.value.data()), load32(o.value.data() + 4)};
}

OptRedirect decode_redirect(const OptionView& o) {
    return {read_nla(o.value.data())};
}

OptParityPrm decode_parity_prm(const OptionView& o) {
    return {(o.byte3 & kParityPrmProactive) != 0, (o.byte3 & kParityPrmOnDemand) != 0,
            load32(o.value.data())};
}

OptParityGrp decode_parity_grp(const OptionView& o) {
    return {load32(o.value.data())};
}

OptCurrTgsize decode_curr_tgsize(const OptionView& o) {
    return {load32(o.value.data())};
}

OptPathNla decode_path_nla(const OptionView& o) {
    const std::uint8_t* v = o.value.data();
    if (o.value.size() == 4) return {Nla::ipv4({v[0], v[1], v[2], v[3]})};
    std::array<std::uint8_t, 16> a{};
    for (std::size_t i = 0; i < 16; ++i)
        a[i] = v[i];
    return {Nla::ipv6(a)};
}

OptRst decode_rst(const OptionView& o) {
    return {(o.byte3 & kRstNoNaks) != 0, static_cast<std::uint8_t>(o.byte3 & kRstErrorMask)};
}

OptCr decode_cr(const OptionView& o) {
    const std::uint8_t* v = o.value.data();
    OptCr cr{};
    cr.ne_worst_link = (o.byte3 & kCrNeWorstLink) != 0;
    cr.ne_worst_path = (o.byte3 & kCrNeWorstPath) != 0;
    cr.rx_worst_path = (o.byte3 & kCrRxWorstPath) != 0;
    cr.lead = Sqn(load32(v));
    cr.ne_wl = load16(v + 4);
    cr.ne_wp = load16(v + 6);
    cr.rx_wp = load16(v + 8);
    cr.receiver = read_nla(v + 12);  // after 2 reserved bytes
    return cr;
}

OptCrqst decode_crqst(const OptionView& o) {
    return {(o.byte3 & kCrNeWorstLink) != 0, (o.byte3 & kCrNeWorstPath) != 0,
            (o.byte3 & kCrRxWorstPath) != 0};
}

bool option_allowed(std::uint8_t option_type, PacketType t) {
    using P = PacketType;
    auto any = [t](std::initializer_list<P> types) {
        for (P p : types)
            if (p == t) return true;
        return false;
    };
    switch (static_cast<OptionType>(option_type)) {
        case OptionType::Fragment:
        case OptionType::Syn:
        case OptionType::ParityGrp:
            return any({P::Odata, P::Rdata});
        case OptionType::NakList:
            return any({P::Nak, P::Nnak, P::Ncf});
        case OptionType::Join:
        case OptionType::CurrTgsize:
        case OptionType::Fin:
            return any({P::Odata, P::Rdata, P::Spm});
        case OptionType::NakBoIvl:
            return any({P::Ncf, P::Spm, P::Poll});
        case OptionType::NakBoRng:
        case OptionType::ParityPrm:
        case OptionType::Rst:
        case OptionType::Crqst:
            return t == P::Spm;
        case OptionType::Redirect:
            return any({P::Polr, P::Ncf});
        case OptionType::NbrUnreach:
            return any({P::Spm, P::Ncf});
        case OptionType::PathNla:
            return t == P::Ncf;
        case OptionType::Cr:
            return t == P::Nak;  // checklist §1.4: NAK only
        case OptionType::Length:
            return false;  // only as the first option, handled by parse()
        case OptionType::Invalid:
        case OptionType::PgmccData:
        case OptionType::PgmccFeedback:
            return true;
    }
    return true;  // unknown types are not ours to place
}

}  // namespace pgm
