#include "router/congestion.h"

#include <algorithm>
#include <cstdlib>

#include "protocol/checksum.h"
#include "protocol/wire.h"

namespace pgm::router {

namespace {

// The fields an OPT_CR carries, by its L, P and R bits, with their values.
struct Carried {
    bool present;
    std::uint16_t value;
};
std::array<Carried, 3> carried(const OptCr& cr) {
    return {
        {{cr.ne_worst_link, cr.ne_wl}, {cr.ne_worst_path, cr.ne_wp}, {cr.rx_worst_path, cr.rx_wp}}};
}

}  // namespace

void CongestionReports::merge(const OptCr& report, Time now, Duration age) {
    const auto fields = carried(report);
    for (std::size_t f = 0; f < fields.size(); ++f) {
        if (!fields[f].present) continue;
        Worst& w = worst_[f];
        const bool stale = w.held && now - w.at >= age;
        // RX_WP names its receiver: that receiver's newer report replaces its older one.
        const bool same_receiver =
            w.held && f == RxWp && w.receiver == report.receiver && !(report.lead < w.lead);
        if (w.held && !stale && !same_receiver && fields[f].value < w.value) continue;
        w = Worst{true, fields[f].value, report.lead, report.receiver, now};
    }
}

OptCr CongestionReports::outgoing(const OptCr& in) const {
    OptCr out = in;
    if (in.ne_worst_link && worst_[NeWl].held) out.ne_wl = worst_[NeWl].value;
    if (in.ne_worst_path && worst_[NeWp].held) out.ne_wp = worst_[NeWp].value;
    const Worst& rx = worst_[RxWp];
    if (in.rx_worst_path && rx.held && rx.receiver.family() == in.receiver.family()) {
        out.rx_wp = rx.value;
        out.receiver = rx.receiver;
        out.lead = rx.lead;
    }
    return out;
}

bool CongestionReports::changed(const OptCr& out) const {
    const auto fields = carried(out);
    for (std::size_t f = 0; f < fields.size(); ++f) {
        if (!fields[f].present) continue;
        if (!sent_[f]) return true;
        if (std::abs(int{fields[f].value} - int{*sent_[f]}) >= kCongestionOverrideDelta)
            return true;
    }
    return false;
}

void CongestionReports::note_sent(const OptCr& out) {
    const auto fields = carried(out);
    for (std::size_t f = 0; f < fields.size(); ++f)
        if (fields[f].present) sent_[f] = fields[f].value;
}

void CongestionReports::merge_nak(const PacketView& nak, Time now, Duration age) {
    if (auto cr = nak.cr()) merge(*cr, now, age);
}

bool CongestionReports::overrides(const PacketView& nak, Time now, Duration elim_ivl) const {
    auto cr = nak.cr();
    if (!cr || (override_at_ && now - *override_at_ < elim_ivl)) return false;
    return changed(outgoing(*cr));  // §12.6.1
}

void CongestionReports::rewrite(const PacketView& nak, MutableBytes copy) {
    const auto o = nak.find(OptionType::Cr);
    if (!o) return;
    const OptCr in = decode_cr(*o);
    const OptCr out = outgoing(in);
    // OPT_CR_LEAD, NE_WL, NE_WP, RX_WP at option offset 4; the NLA's address at 20.
    std::array<std::uint8_t, 10> reports{};
    store32(reports.data(), out.lead.value());
    store16(reports.data() + 4, out.ne_wl);
    store16(reports.data() + 6, out.ne_wp);
    store16(reports.data() + 8, out.rx_wp);
    if (!std::equal(reports.begin(), reports.end(), copy.data() + o->offset + 4))
        rewrite_in_place(copy, o->offset + 4, reports);
    if (out.receiver != in.receiver)  // same family: same size (outgoing)
        rewrite_in_place(copy, o->offset + 20, out.receiver.address());
    note_sent(out);
}

}  // namespace pgm::router
