// DOC: Counters of the network-element core, named after the PGM-MIB
// (draft-petrova-pgmmib-01: pgmNeIfPerformanceTable, pgmNeTsiPerformanceTable) so that
// operators find the names they know; the few that the MIB lacks say so. One list below
// defines the enum and the names, so a counter cannot be added without its name.
// A `CounterSet` is a plain array: kept per interface and per session, summed for totals,
// cleared by `pgmctl clear counters`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace pgm::router {

#define PGMD_ROUTER_COUNTERS(X)                                                             \
    X(InSpms)                                                                               \
    X(OutSpms)                                                                              \
    X(InOdata)        /* not in the MIB: ODATA switched */                                  \
    X(OutOdata)       /* not in the MIB */                                                  \
    X(OdataNoMembers) /* not in the MIB: ODATA from upstream with no member interface */    \
    X(OdataRpfErrors) /* not in the MIB: ODATA not from the session's upstream interface */ \
    X(InRdata)                                                                              \
    X(OutRdata)                                                                             \
    X(InParityRdata)                                                                        \
    X(OutParityRdata)                                                                       \
    X(InNaks)                                                                               \
    X(OutNaks)                                                                              \
    X(UniqueNaks)                                                                           \
    X(InParityNaks)                                                                         \
    X(OutParityNaks)                                                                        \
    X(InNnaks)                                                                              \
    X(OutNnaks)                                                                             \
    X(InNcfs)                                                                               \
    X(OutNcfs)                                                                              \
    X(InParityNcfs)                                                                         \
    X(OutParityNcfs)                                                                        \
    X(InPolls)                                                                              \
    X(InPolrs)                                                                              \
    X(PollRandomIgnore)  /* POLL_RAND did not match our RAND_NODE_ID under the mask */      \
    X(PollTsiStateError) /* POLL for a TSI with no path state */                            \
    X(PollParentError)   /* POLL not from the upstream interface */                         \
    X(PollTypeError)     /* sub-type we do not answer (unknown, or DLR: we are none) */     \
    X(PollError)         /* round > 0 without round 0 of its POLL_SQN */                    \
    X(PollSuccess)       /* POLL that scheduled a POLR */                                   \
    X(PolrOriginated)    /* POLRs sent */                                                   \
    X(InSpmrs)           /* not in the MIB: routed as plain unicast by the dataplane */     \
    X(Malformed)                                                                            \
    X(PollOriginated)     /* POLLs sent: PGM_POLL_DLR discovery (D28) */                    \
    X(PolrSuccess)        /* redirecting POLR that recorded a DLR (D28) */                  \
    X(PolrNoState)        /* POLR for no session, or answering no POLL of ours */           \
    X(PolrError)          /* redirecting POLR failing the checks of D28 */                  \
    X(NakForwardedDLR)    /* NAKs sent to a DLR instead of the upstream neighbour */        \
    X(NakRetryExpiredDLR) /* unconfirmed by the DLR: sent upstream (N-DLR-6) */             \
    X(InRedirectNcfs)     /* unicast NCFs from an off-tree DLR, terminated (N-NCF-10) */    \
    X(DlrNakFallback)     /* not in the MIB: N-DLR-5, N-DLR-7, the SQN sent upstream */     \
    X(DlrRdataRewritten)  /* not in the MIB: off-tree DLR RDATA sent as the source's */     \
    X(DlrNnaksForwarded)  /* not in the MIB: off-tree DLR NNAKs sent upstream */            \
    X(InRdataNoSessionErrors)                                                               \
    X(InNakNoSessionErrors)                                                                 \
    X(InNnakNoSessionErrors)                                                                \
    X(InNcfNoSessionErrors)                                                                 \
    X(SpmBadSqn)                                                                            \
    X(SpmRpfErrors) /* not in the MIB: SPM not from the interface towards the source */     \
    X(NakEliminated)                                                                        \
    X(NakError)            /* NAK_GRP is not the session group */                           \
    X(InNakSeqErrors)      /* NAK for a sequence beyond any the session has sent (D14.4) */ \
    X(NakMulticastIgnored) /* not in the MIB: multicast (TTL-1) NAK or NNAK, D14.3 */       \
    X(RdataRpfErrors)      /* not in the MIB: RDATA not from upstream, D14.6 */             \
    X(OutSpmrs)            /* not in the MIB: SPMR/ACK to us, sent upstream, D14.5 */       \
    X(NNakEliminated)                                                                       \
    X(NakCrOverride) /* not in the MIB: NAK sent on for its changed OPT_CR, §12.6.1 */     \
    X(NakRetransmitted)                                                                     \
    X(NakRetryExpired)                                                                      \
    X(NcfReceived)                                                                          \
    X(NcfAnticipated)                                                                       \
    X(NcfError)                                                                             \
    X(RdataEliminatedOIF)                                                                   \
    X(RdataEliminatedSqn)                                                                   \
    X(RdataFromHold) /* not in the MIB: late NAK answered with the held RDATA, D27 */       \
    X(ReXmitStates)                                                                         \
    X(ReXmitTimedOut)                                                                       \
    X(TtlExpired)        /* not in the MIB */                                               \
    X(OptionDiscards)    /* not in the MIB: unknown option with OPX = discard */            \
    X(OptionInvalidated) /* not in the MIB: unknown option rewritten to OPT_INVALID */      \
    X(ShedNakRate)       /* not in the MIB: NAKs over the per-interface rate cap */         \
    X(ShedRepairCap)     /* not in the MIB: repair states refused at the cap */             \
    X(ShedSessionCap)    /* not in the MIB: sessions refused at the cap */                  \
    X(NcfRateLimited)    /* not in the MIB: identical NCF within its interval, D33 */       \
    /* App. E failure containment (§15.3, D34, D35); none is in the MIB */                 \
    X(DupNakMaxReached)   /* interface assumed unreachable: DUP_NAK_MAX duplicates */       \
    X(OutNbrUnreachNcfs)  /* unicast NCFs with OPT_NBR_UNREACH + OPT_PATH_NLA sent */       \
    X(NbrUnreachReceived) /* OPT_NBR_UNREACH NCF or SPM from the upstream neighbour */      \
    X(NbrUnreachIgnored)  /* OPT_NBR_UNREACH NCF or SPM from anyone else */                 \
    X(OutNbrUnreachSpms)  /* special SPMs with OPT_NBR_UNREACH sent */                      \
    X(NakNbrUnreachHeld)  /* NAKs and NNAKs not sent upstream: upstream unreachable */      \
    X(ShedNakNeighbour)   /* not in the MIB: NAKs over one NAK source's rate cap, D36 */    \
    X(NakNeighboursFull)  /* not in the MIB: NAKs charged to the shared bucket, D36 */      \
    X(AssistOffNaks)      /* not in the MIB: NAKs to us where router assist is off, D38 */  \
    /* Designated Local Repairer (router/dlr.h); pgmDlr* names where the MIB has one */     \
    X(DlrCacheHits)           /* NAKed sequences the cache held */                          \
    X(DlrCacheMisses)         /* NAKed sequences it lacked (sent upstream) */               \
    X(DlrNaksAnsweredLocally) /* NAKs answered from the cache */                            \
    X(DlrRdataMsgsSent)       /* pgmDlrSourceRdataMsgsSent: RDATA from the cache */         \
    X(DlrNNaksSent)           /* pgmDlrSourceNNaksSent */                                   \
    X(DlrNaksIgnored)         /* held, but sent to that interface within ELIM_IVL */        \
    X(DlrCacheEvictions)      /* cached packets dropped (trail, bounds) */                  \
    X(DlrGapNaks)             /* own NAKs for data it missed upstream */                    \
    X(DlrRedirectingPolrs)    /* POLRs with OPT_REDIRECT sent */

enum class Counter : std::uint8_t {
#define PGMD_X(name) name,
    PGMD_ROUTER_COUNTERS(PGMD_X)
#undef PGMD_X
        Count
};

inline constexpr std::size_t kCounterCount = static_cast<std::size_t>(Counter::Count);

inline constexpr std::array<const char*, kCounterCount> kCounterNames = {
#define PGMD_X(name) #name,
    PGMD_ROUTER_COUNTERS(PGMD_X)
#undef PGMD_X
};

inline const char* name(Counter c) {
    return kCounterNames[static_cast<std::size_t>(c)];
}

struct CounterSet {
    std::array<std::uint64_t, kCounterCount> values{};

    std::uint64_t& operator[](Counter c) { return values[static_cast<std::size_t>(c)]; }
    std::uint64_t operator[](Counter c) const { return values[static_cast<std::size_t>(c)]; }
    CounterSet& operator+=(const CounterSet& o) {
        for (std::size_t i = 0; i < kCounterCount; ++i)
            values[i] += o.values[i];
        return *this;
    }
    void clear() { values.fill(0); }
};

}  // namespace pgm::router
