// DOC: What each router counter (router/counters.h) counts and in what unit, for operators:
// `pgmctl show counters` prints the description beside the value, `pgmctl describe` lists
// them all, and any exporter can use them as help text. One entry per counter, in enum
// order; the static_assert catches a counter added without its description.
// Life cycle: constant data.
#pragma once

#include <array>
#include <string_view>

#include "router/counters.h"

namespace pgm::router {

struct CounterInfo {
    std::string_view unit;         // "packets", "NAKs", "states", "sessions"
    std::string_view description;  // one line, no trailing period
};

inline constexpr std::array<CounterInfo, kCounterCount> kCounterInfo = {{
    {"packets", "SPMs received"},
    {"packets", "SPMs sent (one per downstream interface with members)"},
    {"packets", "ODATA received, before the RPF and member checks (kernel fast path included)"},
    {"packets", "ODATA copies sent (one per member interface; kernel fast path included)"},
    {"packets", "ODATA from upstream not sent on: no member interface for its group"},
    {"packets", "ODATA dropped: not from the session's upstream interface (RPF)"},
    {"packets", "RDATA received"},
    {"packets",
     "RDATA copies sent (where a NAK asked for it; with router assist off, by membership)"},
    {"packets", "parity RDATA received"},
    {"packets", "parity RDATA copies sent"},
    {"packets", "NAKs received"},
    {"packets", "NAKs sent upstream"},
    {"NAKs", "NAKs that created repair state (sent upstream, not eliminated)"},
    {"packets", "parity NAKs received"},
    {"packets", "parity NAKs sent upstream"},
    {"packets", "NNAKs received"},
    {"packets", "NNAKs sent upstream"},
    {"packets", "NCFs received"},
    {"packets",
     "NCFs sent (confirming NAKs downstream; with router assist off, the upstream NCFs by "
     "membership)"},
    {"packets", "parity NCFs received"},
    {"packets", "parity NCFs sent"},
    {"packets", "POLLs received"},
    {"packets", "POLRs received"},
    {"packets", "POLLs ignored: POLL_RAND did not select this node"},
    {"packets", "POLLs for a TSI with no path state"},
    {"packets", "POLLs not from the upstream interface"},
    {"packets", "POLLs of a sub-type pgmd does not answer"},
    {"packets", "POLLs of a round > 0 without its round 0"},
    {"packets", "POLLs that scheduled a POLR"},
    {"packets", "POLRs sent"},
    {"packets", "SPMRs seen (routed as plain unicast)"},
    {"packets", "packets that failed to parse (by reason below)"},
    {"packets", "POLLs sent for DLR discovery"},
    {"packets", "redirecting POLRs that recorded a DLR"},
    {"packets", "POLRs for no session or no POLL of ours"},
    {"packets", "redirecting POLRs failing the DLR checks"},
    {"NAKs", "NAKs sent to a DLR instead of upstream"},
    {"NAKs", "NAKs the DLR did not confirm, sent upstream"},
    {"packets", "unicast NCFs from an off-tree DLR, terminated"},
    {"NAKs", "sequences sent upstream after a DLR failed (N-DLR-5/7)"},
    {"packets", "off-tree DLR RDATA sent on as the source's"},
    {"packets", "off-tree DLR NNAKs sent upstream"},
    {"packets", "RDATA for no known session (dropped)"},
    {"packets", "NAKs for no known session (dropped)"},
    {"packets", "NNAKs for no known session (dropped)"},
    {"packets", "NCFs for no known session (dropped)"},
    {"packets", "SPMs out of sequence or from another source (dropped)"},
    {"packets", "SPMs not from the interface towards the source or not multicast"},
    {"NAKs", "NAKs eliminated: a NAK for that data is already outstanding"},
    {"packets", "NAKs whose group is not the session's (dropped)"},
    {"packets", "NAKs for data the source has not sent yet (dropped)"},
    {"packets", "multicast NAKs or NNAKs ignored"},
    {"packets", "RDATA not from upstream (dropped)"},
    {"packets", "SPMRs and ACKs to pgmd sent upstream"},
    {"NNAKs", "NNAKs eliminated"},
    {"NAKs", "duplicate NAKs sent upstream anyway: their OPT_CR report moved by more than 5 %"},
    {"NAKs", "NAKs repeated upstream (no NCF in time)"},
    {"states", "repair states given up: no NCF after NAK_NCF_RETRIES"},
    {"packets", "NCFs that confirmed an outstanding NAK"},
    {"packets", "NCFs that anticipated a NAK not yet seen"},
    {"packets", "NCFs not from upstream, or parity NCFs without the group size"},
    {"packets", "RDATA not sent on: no interface asked for it (any more)"},
    {"packets",
     "RDATA for no repair state, or undecodable parity (dropped, but for copies by membership "
     "where router assist is off)"},
    {"packets", "late NAKs answered with held RDATA"},
    {"states", "repair states created (per session)"},
    {"states", "repair states ended: no RDATA within NAK_RDATA_IVL"},
    {"packets", "packets not forwarded: IP TTL 1 or less"},
    {"packets", "packets dropped for an unknown option with OPX discard"},
    {"packets", "unknown options rewritten to OPT_INVALID"},
    {"NAKs", "NAKs dropped over the per-interface rate cap"},
    {"states", "repair states refused at the cap"},
    {"sessions", "sessions refused at the cap"},
    {"NAKs", "NCFs not sent: an identical one went out there within ncf-repeat-interval"},
    {"events", "App. E: interfaces assumed unreachable after dup-nak-max duplicate NAKs"},
    {"packets", "App. E: unicast NCFs with OPT_NBR_UNREACH and OPT_PATH_NLA sent"},
    {"packets", "App. E: OPT_NBR_UNREACH NCFs or SPMs from the upstream neighbour"},
    {"packets", "App. E: OPT_NBR_UNREACH NCFs or SPMs not from the upstream neighbour (ignored)"},
    {"packets", "App. E: special SPMs with OPT_NBR_UNREACH sent (also in OutSpms)"},
    {"NAKs", "App. E: NAKs and NNAKs not sent upstream: OPT_NBR_UNREACH from there"},
    {"NAKs", "NAKs dropped over the per-neighbour rate cap (one NAK source's share)"},
    {"NAKs", "NAKs from sources the full neighbour table had no room for (one shared bucket)"},
    {"packets",
     "NAKs and NNAKs to pgmd where router assist is off: relayed upstream, no NCF, no state"},
    {"NAKs", "DLR: NAKed sequences the cache held"},
    {"NAKs", "DLR: NAKed sequences the cache lacked (sent upstream)"},
    {"NAKs", "DLR: NAKs answered from the cache"},
    {"packets", "DLR: RDATA sent from the cache"},
    {"packets", "DLR: NNAKs sent"},
    {"NAKs", "DLR: NAKs ignored (held, answered within NAK_ELIM_IVL)"},
    {"packets", "DLR: cached packets dropped (trail, bounds)"},
    {"NAKs", "DLR: own NAKs for data missed upstream"},
    {"packets", "DLR: POLRs with OPT_REDIRECT sent"},
}};

consteval bool every_counter_described() {
    for (const CounterInfo& i : kCounterInfo)
        if (i.unit.empty() || i.description.empty()) return false;
    return true;
}
static_assert(every_counter_described(), "a counter was added: describe it in kCounterInfo");

// The daemon's capture counters, shown and exported beside the router's (per interface).
struct NamedCounterInfo {
    std::string_view name;
    CounterInfo info;
};
inline constexpr std::array<NamedCounterInfo, 2> kCaptureCounterInfo = {{
    {"CaptureDrops",
     {"packets", "packets for pgmd dropped by the kernel: the capture ring was full"}},
    {"CaptureIfDrops",
     {"packets", "packets dropped by the interface or driver (libpcap ps_ifdrop)"}},
}};

inline const CounterInfo& info(Counter c) {
    return kCounterInfo[static_cast<std::size_t>(c)];
}

}  // namespace pgm::router
