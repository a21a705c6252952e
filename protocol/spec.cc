#include "protocol/spec.h"

#include "protocol/writer.h"

namespace pgm {

std::optional<std::vector<std::uint8_t>> build(const PacketSpec& spec, bool checksum,
                                               std::size_t max_size) {
    std::vector<std::uint8_t> out(max_size);
    PacketWriter w(out);
    w.begin(spec.type, spec.source_port, spec.destination_port, spec.gsi).flags(spec.extra_flags);
    w.fields(spec.fields);
    struct Visitor {
        PacketWriter& w;
        void operator()(const OptFragment& o) { w.fragment(o); }
        void operator()(const OptNakList& o) { w.nak_list(std::span<const Sqn>(o.sqns)); }
        void operator()(const OptJoin& o) { w.join(o); }
        void operator()(const OptNakBoIvl& o) { w.nak_bo_ivl(o); }
        void operator()(const OptNakBoRng& o) { w.nak_bo_rng(o); }
        void operator()(const OptRedirect& o) { w.redirect(o); }
        void operator()(const OptParityPrm& o) { w.parity_prm(o); }
        void operator()(const OptParityGrp& o) { w.parity_grp(o); }
        void operator()(const OptCurrTgsize& o) { w.curr_tgsize(o); }
        void operator()(const OptNbrUnreach&) { w.nbr_unreach(); }
        void operator()(const OptPathNla& o) { w.path_nla(o); }
        void operator()(const OptSyn&) { w.syn(); }
        void operator()(const OptFin&) { w.fin(); }
        void operator()(const OptRst& o) { w.rst(o); }
        void operator()(const OptCr& o) { w.cr(o); }
        void operator()(const OptCrqst& o) { w.crqst(o); }
        void operator()(const OptRaw& o) { w.raw_option(o.type, o.byte2, o.byte3, o.value); }
    };
    for (const OptionSpec& o : spec.options)
        std::visit(Visitor{w}, o);
    w.payload(spec.payload);
    auto size = w.finish(checksum);
    if (!size) return std::nullopt;
    out.resize(*size);
    return out;
}

static OptionSpec option_spec(const OptionView& o) {
    switch (static_cast<OptionType>(o.type)) {
        case OptionType::Fragment:
            return decode_fragment(o);
        case OptionType::NakList: {
            NakListView l = decode_nak_list(o);
            OptNakList s;
            for (std::size_t i = 0; i < l.size(); ++i)
                s.sqns.push_back(l[i]);
            return s;
        }
        case OptionType::Join:
            return decode_join(o);
        case OptionType::NakBoIvl:
            return decode_nak_bo_ivl(o);
        case OptionType::NakBoRng:
            return decode_nak_bo_rng(o);
        case OptionType::Redirect:
            return decode_redirect(o);
        case OptionType::ParityPrm:
            return decode_parity_prm(o);
        case OptionType::ParityGrp:
            return decode_parity_grp(o);
        case OptionType::CurrTgsize:
            return decode_curr_tgsize(o);
        case OptionType::NbrUnreach:
            return OptNbrUnreach{};
        case OptionType::PathNla:
            return decode_path_nla(o);
        case OptionType::Syn:
            return OptSyn{};
        case OptionType::Fin:
            return OptFin{};
        case OptionType::Rst:
            return decode_rst(o);
        case OptionType::Cr:
            return decode_cr(o);
        case OptionType::Crqst:
            return decode_crqst(o);
        default:
            return OptRaw{o.type, o.byte2, o.byte3, {o.value.begin(), o.value.end()}};
    }
}

PacketSpec from_view(const PacketView& view) {
    PacketSpec s;
    s.type = view.header.type;
    s.source_port = view.header.source_port;
    s.destination_port = view.header.destination_port;
    s.gsi = view.header.gsi;
    s.extra_flags = view.header.option_flags & (kOptParity | kOptVarPktlen);
    s.fields = view.fields;
    OptionIterator it = view.options();
    while (auto o = it.next())
        s.options.push_back(option_spec(*o));
    Bytes payload = view.payload();
    s.payload.assign(payload.begin(), payload.end());
    return s;
}

}  // namespace pgm
