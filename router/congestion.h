// DOC: Congestion reports at the network element (RFC 3208 Appendix B §12.6, N-NAK-18, C31;
// decisions.md D37), sans-I/O.
//
// One `CongestionReports` per session (Session::congestion): for each of the three reports
// of OPT_CR (NE_WL, NE_WP, RX_WP) the worst value heard in NAKs from the subtree, with the
// OPT_CR_LEAD, the receiver NLA and the time of the report that set it, and the values last
// sent upstream. The router core merges the OPT_CR of each NAK from the subtree on arrival
// (merge_nak), rewrites the OPT_CR of each NAK it forwards upstream to the aggregate
// (rewrite: outgoing, then note_sent), and forwards a NAK it would eliminate when the
// aggregate moved by more than 5 % since it was last sent (overrides: changed, §12.6.1), at
// most once per NAK_ELIM_IVL (note_override).
//
// Aging: a held worst value stands against better reports for `age`; after that the next
// report replaces it, whatever it says. A report from the receiver that set the held RX_WP
// replaces it at once (that receiver's newer view). pgmd measures neither link load nor path
// loss itself, so NE_WL and NE_WP are the worst the subtree reported (D37).
//
// Life cycle: a value inside its Session, created empty with it, gone with it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "protocol/io.h"
#include "protocol/nla.h"
#include "protocol/options.h"
#include "protocol/packet.h"
#include "protocol/seq.h"

namespace pgm::router {

// §12.6.1: a change of more than 5 % of the full scale (0xFFFF = 100 %) overrides NAK
// suppression: 0xFFFF * 5 / 100 = 3276.75, so a change of 3277 or more.
inline constexpr std::uint16_t kCongestionOverrideDelta = 3277;

class CongestionReports {
  public:
    enum Field : std::uint8_t { NeWl = 0, NeWp = 1, RxWp = 2 };
    struct Worst {
        bool held = false;
        std::uint16_t value = 0;
        Sqn lead;
        Nla receiver;
        Time at{};
    };

    // Takes in the OPT_CR of a NAK from the subtree, received at `now`.
    void merge(const OptCr& report, Time now, Duration age);
    // The OPT_CR to send upstream in place of `in` (the forwarded NAK's own, already
    // merged): the fields `in` carries, each the worst held; OPT_CR_RCVR and OPT_CR_LEAD
    // those of the worst RX_WP when `in` carries RX_WP and the NLA families agree (the
    // option cannot change size in place), else `in`'s.
    OptCr outgoing(const OptCr& in) const;
    // True when a field `out` carries differs from what was last sent upstream by
    // kCongestionOverrideDelta or more, or was never sent (§12.6.1).
    bool changed(const OptCr& out) const;
    void note_sent(const OptCr& out);

    // The hooks the router core calls with a NAK from the subtree (`nak`; none of them does
    // anything when it carries no OPT_CR).
    // Its OPT_CR merged, received at `now`.
    void merge_nak(const PacketView& nak, Time now, Duration age);
    // The aggregate it would carry upstream moved (changed) and no override went upstream
    // within `elim_ivl`: a NAK the state machine eliminates goes upstream after all.
    bool overrides(const PacketView& nak, Time now, Duration elim_ivl) const;
    void note_override(Time now) { override_at_ = now; }
    // `copy` (the NAK going upstream) carries the aggregate, which is noted as sent.
    void rewrite(const PacketView& nak, MutableBytes copy);

    const Worst& worst(Field f) const { return worst_[f]; }
    std::optional<std::uint16_t> sent(Field f) const { return sent_[f]; }

  private:
    std::array<Worst, 3> worst_{};
    std::array<std::optional<std::uint16_t>, 3> sent_{};
    // When a duplicate NAK last went upstream because its report moved (§12.6.1): at most
    // one such override per NAK_ELIM_IVL, so that NAKs whose OPT_CR flip between extremes
    // (any NAK may carry one, and its receiver NLA is just a field) do not undo the
    // one-NAK-per-sequence-per-NAK_ELIM_IVL bound (D37).
    std::optional<Time> override_at_;
};

}  // namespace pgm::router
