// DOC: Source path state of the network element (RFC 3208 §7.1): one `Session` per TSI,
// created by the first SPM that passes the RPF check, refreshed by in-sequence SPMs, and
// removed after `session_lifetime` without SPM or when its upstream interface goes away.
#pragma once

#include <cstdint>
#include <optional>

#include "protocol/io.h"
#include "protocol/nla.h"
#include "protocol/seq.h"
#include "router/congestion.h"
#include "router/counters.h"
#include "router/redirect.h"

namespace pgm::router {

struct Session {
    Nla source;  // the data source (IP source of its SPMs)
    Nla group;   // the multicast group (IP destination of its SPMs)
    std::uint16_t data_destination_port = 0;
    Nla upstream_neighbour;  // SPM_PATH of the last in-sequence SPM (§7.1)
    IfIndex upstream_interface = 0;
    Sqn last_spm_sqn;
    SqnWindow window{Sqn(1), Sqn(0)};  // trail/lead of the last SPM with window information
    // The newest sequence the source is known to have sent (SPM lead, ODATA, RDATA): NAKs
    // beyond it ask for data that does not exist yet (D14.4).
    std::optional<Sqn> lead_seen;
    // PARITY_PRM_TGS of the last SPM with OPT_PARITY_PRM (§11.6, C27); 0: none seen, so
    // parity NAKs, NCFs and RDATA cannot be decoded and are dropped.
    std::uint32_t tgs = 0;
    // The transmission group the source shortened, from OPT_CURR_TGSIZE in an SPM whose lead
    // is that TG's last sequence (§11.4, §11.6, N-SPM-8), and its TG-size offset
    // (TGS - the actual size). Applied to that TG's parity repair state, now or when made.
    struct ShortenedTg {
        Sqn tg;
        std::uint16_t offset = 0;
    };
    std::optional<ShortenedTg> shortened_tg;
    Encapsulation encapsulation = Encapsulation::Native;
    std::uint16_t udp_port = 0;
    std::uint8_t last_ttl = 0;
    Time created{};
    Time last_spm{};
    // The last in-sequence SPM carried OPT_FIN (§9.4): the source has ended the session,
    // which stays (for late repairs) until session_lifetime without SPM removes it. A later
    // SPM without it (the source went on after all) clears it.
    bool fin = false;
    CounterSet counters;

    // POLL handling as a child (§14.5): the parent's current POLL_SQN, whether its round 0
    // was seen, and the POLR waiting for its random back-off to end.
    struct PendingPolr {
        Sqn sqn;
        std::uint16_t round = 0;
        Nla to;  // POLL_PATH
        Time at{};
        bool redirect = false;  // a PGM_POLL_DLR answered by us as a DLR: OPT_REDIRECT
    };
    std::optional<Sqn> poll_sqn;
    bool poll_round0_seen = false;
    std::optional<PendingPolr> polr;
    std::uint32_t polr_generation = 0;

    // App. E (§15.3, decisions.md D34, D35); a regular SPM (without OPT_NBR_UNREACH) ends both.
    // Interface slots (as RepairEntry::interfaces) whose subtree is assumed unreachable after
    // dup_nak_max duplicate NAKs: their NAKs get unicast NCFs with OPT_NBR_UNREACH.
    std::uint64_t nbr_unreach_interfaces = 0;
    // Our upstream neighbour reported us unreachable (OPT_NBR_UNREACH): no NAK goes upstream.
    bool nbr_unreach_upstream = false;

    // DLRs NAKs are redirected to, and DLR discovery as a POLL parent (router/redirect.h).
    RedirectState redirect;
    // pgmd repairs this session as a DLR (router/dlr.h): decided by DlrRepairer::on_spm()
    // and reconfigure(), so that the per-packet paths test this flag, not the scopes.
    bool dlr = false;

    // The subtree's worst congestion reports and what went upstream (App. B, N-NAK-18).
    CongestionReports congestion;
};

// The newest sequence the source is known to have sent moves to `sqn` if later (D14.4).
inline void note_lead(Session& s, Sqn sqn) {
    if (!s.lead_seen || sqn > *s.lead_seen) s.lead_seen = sqn;
}

}  // namespace pgm::router
