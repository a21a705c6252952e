// DOC: Configuration of the network-element core: timers (RFC 3208 §7) and resource caps.
//
// A plain value; the daemon fills it from its configuration file and may replace it on
// reload (Router::reconfigure). Defaults follow the PGM-MIB (draft-petrova-pgmmib-01)
// where it has one; docs/decisions.md D4 gives the reasons for the others.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "protocol/io.h"
#include "protocol/nla.h"

namespace pgm::router {

using namespace std::chrono_literals;

// Interfaces one router serves at most: repair state holds its interface set as 64 bits.
inline constexpr std::size_t kMaxInterfaces = 64;

// Which sessions pgmd serves as a Designated Local Repairer (RFC 3208 §9.5, router/dlr.h):
// those whose group lies in `group`/`prefix_length` and, when `source` is set, whose data
// source is that address.
struct DlrScope {
    Nla group;
    std::uint8_t prefix_length = 32;  // bits of `group` that must match (IPv6: up to 128)
    std::optional<Nla> source;
    bool matches(const Nla& session_source, const Nla& session_group) const;
};

struct DlrConfig {
    // Empty: pgmd is no DLR (the default).
    std::vector<DlrScope> scopes;
    // The ODATA/RDATA cache of one session never holds more than these.
    std::size_t cache_bytes_per_session = 4u << 20;
    std::size_t cache_packets_per_session = 4096;
    // All sessions' caches together: without it the bound is max_sessions times the above
    // (10000 x 4 MiB by default), and any source in scope can open sessions.
    std::size_t cache_bytes_total = 256u << 20;
    bool enabled() const { return !scopes.empty(); }
};

// The NAK timers of one repair state (RFC 3208 §7.3, 7.4; RouterConfig has their meaning).
// The PGM-MIB keeps them per interface (pgmNeIfNakRptInterval, pgmNeIfNakRptRate,
// pgmNeIfNakRdataInterval, pgmNeIfNakEliminateInterval): a repair state follows those of
// its session's upstream interface, the one its NAKs go out of (decisions.md D38).
struct NakTimers {
    Duration repeat_period{};  // nak_repeat_period
    Duration rpt_ivl{};        // NAK_RPT_IVL
    Duration rdata_ivl{};      // NAK_RDATA_IVL
    Duration elim_ivl{};       // NAK_ELIM_IVL
    bool valid() const { return elim_ivl < rdata_ivl && repeat_period > Duration::zero(); }
    friend bool operator==(const NakTimers&, const NakTimers&) = default;
};

// What `[interface NAME]` may set for one interface (decisions.md D38); unset: the global
// value of RouterConfig. The router core holds them per interface (Router::
// set_interface_settings) and resolves them once, not per packet.
struct InterfaceSettings {
    std::optional<Duration> nak_repeat_period;
    std::optional<Duration> nak_rpt_ivl;
    std::optional<Duration> nak_rdata_ivl;
    std::optional<Duration> nak_elim_ivl;
    // The interface's NAK rate cap (RouterConfig::max_naks_per_second_per_interface) and its
    // per-source cap (max_naks_per_second_per_neighbour); 0 = unlimited / no such cap.
    std::optional<std::uint32_t> max_naks_per_second;
    std::optional<std::uint32_t> max_naks_per_second_per_neighbour;
    // Off: pgmd is a plain multicast router on this interface (PGM-MIB pgmNeIfPgmEnable,
    // IOS `no ip pgm router`): SPM, RDATA and upstream NCFs go out unchanged by membership,
    // SPM_PATH not rewritten, no NCF of its own, NAKs to it relayed upstream without state.
    bool router_assist = true;
    friend bool operator==(const InterfaceSettings&, const InterfaceSettings&) = default;
};

// InterfaceSettings resolved against a RouterConfig: the values in force on an interface.
struct EffectiveInterfaceSettings {
    NakTimers timers;
    std::uint32_t max_naks_per_second = 0;
    std::uint32_t max_naks_per_second_per_neighbour = 0;
    bool router_assist = true;
    friend bool operator==(const EffectiveInterfaceSettings&,
                           const EffectiveInterfaceSettings&) = default;
};

struct RouterConfig {
    // How often a forwarded, unconfirmed NAK is repeated (NAK_RPT_RTE as a period, 10/s;
    // decisions.md D4).
    Duration nak_repeat_period = 100ms;
    // How long an unconfirmed NAK is repeated before its state is dropped (NAK_RPT_IVL).
    // Shorter than the usual receiver NAK_RPT_IVL (OpenPGM: 2 s), so that a receiver's
    // repeat after the router gave up finds no pending state and is forwarded afresh.
    Duration nak_rpt_ivl = 1s;
    // Lifetime of confirmed repair state waiting for RDATA (NAK_RDATA_IVL, PGM-MIB 10 s).
    Duration nak_rdata_ivl = 10s;
    // Duplicate NAKs of an outstanding NAK are eliminated this long (NAK_ELIM_IVL). The
    // PGM-MIB says 5 s; 1 s lets receivers' re-NAKs (OpenPGM: every 2 s) through when an
    // RDATA was lost upstream (decisions.md D4). Must be shorter than nak_rdata_ivl.
    Duration nak_elim_ivl = 1s;
    // After forwarding RDATA the router keeps a copy this long and answers later NAKs for it
    // on any interface itself (NCF + the held RDATA) instead of starting a second repair
    // from the source (decisions.md D27). 0 = delete the state at once, as RFC 3208 §7.8.
    Duration rdata_hold = 5s;
    // Bytes of held RDATA at most; past it the state is deleted as with rdata_hold = 0.
    std::size_t max_rdata_hold_bytes = 16u << 20;
    // Identical NCFs are rate limited (N-NAK-4, decisions.md D33): a NAK whose sequences
    // (header and OPT_NAK_LIST) were all confirmed on its arrival interface within this long
    // gets no NCF of its own; the one sent is what its receivers heard. Shorter than the
    // NAK repeat period of the NEs below (nak_repeat_period: 100 ms) and far shorter than
    // receivers' NAK_RPT_IVL, so a NAK whose NCF was lost is answered at its repeat.
    // 0 = an NCF for every NAK.
    Duration ncf_repeat_interval = 50ms;
    // RFC 3208 App. E failure containment (§15.3, N-NAK-20, decisions.md D34): once an
    // interface has sent this many duplicate NAKs for one sequence, its subtree is assumed
    // unreachable and its NAKs are answered with unicast NCFs carrying OPT_NBR_UNREACH and
    // OPT_PATH_NLA until a regular SPM. 0 = off (the default: App. E is opt-in, D11).
    std::uint32_t dup_nak_max = 0;
    // App. E (§15.3.2, N-NCF-8, N-SPM-6, D11, D35): honour OPT_NBR_UNREACH from the upstream
    // neighbour: forward no NAK of the session until a regular SPM, and send the special SPM
    // downstream. Off by default: the special SPM's no-window marker is taken as a window by
    // receivers that do not know the option (OpenPGM, D11).
    bool nbr_unreach = false;
    // Path state of a session that sent no SPM for this long is removed (PGM-MIB 300 s).
    Duration session_lifetime = 300s;

    // Caps: nothing any input does makes state grow past these.
    std::size_t max_sessions = 10000;
    std::size_t max_repair_states = 100000;
    // NAKs (NAK, NNAK, each list entry counted) accepted per interface per second; the rest
    // are shed and counted. 0 = unlimited.
    std::uint32_t max_naks_per_second_per_interface = 50000;
    // NAKs (counted the same way) accepted per second from one NAK source, an IP source
    // address on one interface, within the interface's cap: a host flooding NAKs is shed at
    // this rate (ShedNakNeighbour) and leaves the rest of the interface's budget to the
    // other receivers there (decisions.md D36). 0 = no per-source cap.
    std::uint32_t max_naks_per_second_per_neighbour = 10000;
    // NAK sources kept per interface for that cap (least recently seen first out, and only
    // once silent for a second); sources beyond share one bucket (NakNeighboursFull).
    std::size_t max_nak_neighbours_per_interface = 1024;

    // Seeds RAND_NODE_ID (§14.5) and the POLR back-off. The daemon draws it at start-up;
    // tests fix it.
    std::uint64_t random_seed = 0x5eed;

    // DLR discovery (RFC 3208 §9.5.3.1, N-DLR-1; decisions.md D28): a NAK for a session with
    // no known DLR makes the router POLL its downstream interfaces with PGM_POLL_DLR. Off by
    // default: redirects are then learnt only from upstream DLRs' multicast POLRs.
    bool discover_dlrs = false;
    // At most one discovery round per session this often.
    Duration dlr_poll_interval = 30s;
    // POLL_BO_IVL of the discovery POLLs: DLRs answer within it (§14.5). Answers are accepted
    // until POLL_BO_IVL + NAK_RPT_IVL after the POLL (the round trip on top of the back-off).
    Duration dlr_poll_backoff = 100ms;

    // Designated Local Repairer (§9.5): off unless scopes are configured.
    DlrConfig dlr;

    // Congestion reports (App. B, N-NAK-18, decisions.md D37): the worst report of the
    // subtree stands this long against better ones, then the next report replaces it.
    Duration congestion_report_age = 2s;

    NakTimers nak_timers() const {
        return NakTimers{nak_repeat_period, nak_rpt_ivl, nak_rdata_ivl, nak_elim_ivl};
    }
    EffectiveInterfaceSettings effective(const InterfaceSettings& i) const {
        return EffectiveInterfaceSettings{
            NakTimers{i.nak_repeat_period.value_or(nak_repeat_period),
                      i.nak_rpt_ivl.value_or(nak_rpt_ivl), i.nak_rdata_ivl.value_or(nak_rdata_ivl),
                      i.nak_elim_ivl.value_or(nak_elim_ivl)},
            i.max_naks_per_second.value_or(max_naks_per_second_per_interface),
            i.max_naks_per_second_per_neighbour.value_or(max_naks_per_second_per_neighbour),
            i.router_assist};
    }

    bool valid() const { return nak_timers().valid(); }
};

}  // namespace pgm::router
