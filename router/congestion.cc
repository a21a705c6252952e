#include "router/congestion.h"

#include <cstdlib>

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

}  // namespace pgm::router
