// DOC: The PGM source (RFC 3208 §5, 9.2-9.8, 13.4; checklist §2 S1-S21), sans-I/O.
//
// Owns one transport session (one TSI): the backlog of APDUs the application handed in and
// that are not yet on the wire, the transmit window (the ODATA kept for repair, at most
// TXW_SQNS packets and TXW_SECS old), the send queues (NCF > SPM > RDATA > ODATA), the
// token bucket that paces all of them (TXW_MAX_RTE), the ambient and heartbeat SPM timers,
// and the counters (modelled on Microsoft's RM_SENDER_STATS).
//
// Life cycle: construct with a configuration and the current time; the first SPM is due at
// once. The application queues APDUs with send(), which never sends anything itself: the
// caller then calls on_timer() whenever next_deadline() is due (send(), close() and reset()
// make it due at once), hands every received PGM packet addressed to the session to
// on_packet(), and sends what either appended to the Output. close() ends the session
// gracefully, reset() after an unrecoverable error; finished() turns true TXW_SECS later,
// after which the source is silent and may be destroyed.
//
// State machine (SourceState):
//
//   Open ──close()──► Draining ──last ODATA sent (it carries OPT_FIN)──► Closing
//     │                                                                  ▲   │
//     └──close() with nothing queued─────────────────────────────────────┘   │ TXW_SECS
//                                                                            ▼
//   Open, Draining, Closing ──reset()──► Reset ──────────TXW_SECS────────► Finished
//
// Open and Draining send ODATA; Closing sends SPMs with OPT_FIN, Reset SPMs with OPT_RST.
// Back-pressure (issue 14): in Open and Draining, new ODATA waits while the window is full
// and its oldest packet may not leave yet (txw_min_age, a queued RDATA, nak_hold): the
// source slows down rather than drop data receivers still NAK (window_stalls counts it).
// Every state but Finished answers NAKs (Reset only when reset() was told NAKs can still be
// served) and SPMRs. Memory is bounded by the configuration: the window by txw_sqns
// packets, the backlog by max_backlog_apdus and max_backlog_bytes, the NCF queue by
// max_pending_ncfs, the repair queue by 2 x txw_sqns (selective and parity repairs).
//
// FEC (fec_k != 0, RFC 3208 §11, D32): the window's groups of fec_k packets are the
// transmission groups. A full group gets fec_proactive parity ODATA right after its last
// data packet; a parity NAK for a full group in the window gets a parity NCF and parity
// RDATA with parity indices the group has not had (counted in the group's first slot).
// Parity is encoded from the window's copies when it is sent (protocol/fec.h).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "protocol/fec.h"
#include "protocol/io.h"
#include "protocol/packet.h"
#include "protocol/packet_arena.h"
#include "protocol/seq.h"

namespace pgm {

struct SourceConfig {
    Nla address;  // the source's unicast NLA: IP source, SPM_PATH, the NAK_SRC it accepts
    Nla group;    // the multicast group (same family as `address`)
    IfIndex ifindex = 0;
    std::uint16_t data_destination_port = 7500;
    // Data-source port; drawn from a PRNG seeded with `seed` when absent. Uniqueness within
    // the host (S1) is the caller's: it alone knows the other sessions.
    std::optional<std::uint16_t> source_port;
    Gsi gsi;
    // Largest IP packet the source sends (the link MTU): IP header, Router Alert, UDP
    // header (with Encapsulation::Udp) and PGM packet together. APDUs that do not fit one
    // packet are fragmented (OPT_FRAGMENT).
    std::size_t max_tpdu = 1500;

    // Transmit window: at most txw_sqns packets (TXW_SQNS, 1 .. 2^31-1), none older than
    // txw_secs (TXW_SECS). The first ODATA gets initial_sqn.
    std::uint32_t txw_sqns = 1024;
    Duration txw_secs = std::chrono::seconds(30);
    std::uint32_t initial_sqn = 0;

    // Back-pressure of the transmit window (issue 14). With txw_sqns packets in the window,
    // the next ODATA would push the oldest one out. It waits instead while that packet
    //  - is younger than txw_min_age: receivers need a NAK back-off and a round trip to ask
    //    for a loss, so a window that covers less time than that loses data at any rate it
    //    cannot hold; the rate is thus bounded by txw_sqns / txw_min_age;
    //  - has its RDATA still queued: a repair promised by an NCF is never dropped for new data;
    //  - was NAKed less than nak_hold ago: a receiver whose RDATA was lost repeats its NAK
    //    after NAK_RDATA_IVL (plus back-off and round trip) and must still find the packet.
    // A rate the window cannot serve thus slows the source instead of losing data. TXW_SECS
    // still advances the trail regardless, which bounds a stall: a receiver that NAKs one
    // packet forever holds the source at most txw_secs. Both zero: the window advances by
    // count alone, as RFC 3208 §3.1 describes, with the repair-queued hold only.
    Duration txw_min_age = Duration::zero();
    Duration nak_hold = Duration::zero();

    // Rate control over every byte sent (IP headers included): a token bucket filled at
    // txw_max_rte bytes/s (TXW_MAX_RTE) holding at most max(rate_burst, max_tpdu) bytes, and
    // no two packets closer than min_packet_interval (0: the token bucket alone).
    std::uint64_t txw_max_rte = 1'250'000;
    std::size_t rate_burst = 6000;
    Duration min_packet_interval = Duration::zero();

    // SPMs: at least one every ambient_spm; after data, heartbeats at ihb_min, doubling up
    // to ihb_max (IHB_MIN, IHB_MAX). SPMRs are answered at most once per ihb_min.
    Duration ambient_spm = std::chrono::seconds(30);
    Duration ihb_min = std::chrono::milliseconds(100);
    Duration ihb_max = std::chrono::seconds(30);

    // RDATA waits this long after the NAK that asked for it, to collect more NAKs (S13).
    Duration rdata_delay = Duration::zero();

    // Bounds of what the source holds for the application and for NAKs.
    std::size_t max_backlog_apdus = 1024;
    std::size_t max_backlog_bytes = 4 * 1024 * 1024;
    std::size_t max_pending_ncfs = 64;

    // Network header of everything sent (the caller's socket does the encapsulation).
    Encapsulation encapsulation = Encapsulation::Native;
    std::uint16_t udp_port = kDefaultUdpEncapsulationPort;
    bool router_alert = true;  // on SPM, NCF and RDATA (S10); never on ODATA
    std::uint8_t ttl = 16;

    std::uint64_t seed = 0;  // PRNG seed for the data-source port

    // FEC (RFC 3208 §11, docs/decisions.md D32): Reed-Solomon parity over transmission
    // groups (TGs) of fec_k consecutive sequence numbers starting at multiples of fec_k.
    // 0: off. Otherwise a power of two 2..128, fec_k < fec_n <= 255 (fec_n - fec_k parity
    // packets per group exist), and txw_sqns >= fec_k. SPMs then carry OPT_PARITY_PRM.
    //  - fec_proactive (h <= fec_n - fec_k): parity ODATA sent after each full group, parity
    //    indices 0..h-1.
    //  - fec_ondemand: advertised in OPT_PARITY_PRM. Parity NAKs are answered whenever FEC is
    //    on (OpenPGM reads the P/O bits the other way round, D3, D32): for a parity NAK asking
    //    for c packets of a full group in the window, a parity NCF and c parity RDATA with
    //    parity indices not sent before for that group (wrapping after fec_n - fec_k).
    // APDUs are cut 30 bytes shorter than without FEC so that a parity packet (the longest
    // TSDU + 2-byte length, OPT_FRAGMENT, OPT_PARITY_GRP) fits max_tpdu.
    std::uint32_t fec_k = 0;
    std::uint32_t fec_n = 0;
    std::uint32_t fec_proactive = 0;
    bool fec_ondemand = false;

    bool valid() const;
};

enum class SourceState : std::uint8_t { Open, Draining, Closing, Reset, Finished };
const char* to_string(SourceState state);

// Counters, named after RM_SENDER_STATS where it has one.
struct SourceStats {
    std::uint64_t data_bytes_sent = 0;      // DataBytesSent: APDU bytes in ODATA
    std::uint64_t total_bytes_sent = 0;     // TotalBytesSent: PGM bytes of SPM/ODATA/RDATA/NCF
    std::uint64_t odata_packets_sent = 0;   // TotalODataPacketsSent
    std::uint64_t repair_packets_sent = 0;  // RepairPacketsSent (RDATA)
    std::uint64_t spms_sent = 0;
    std::uint64_t ncfs_sent = 0;
    // NaksReceived: requested sequence numbers (NAK_SQN and each OPT_NAK_LIST entry) in
    // NAKs for this session, so that the counters below are parts of it.
    std::uint64_t naks_received = 0;
    // NaksReceivedTooLate: outside the transmit window (behind the trail, or ahead of the
    // lead: never sent). Neither confirmed nor repaired.
    std::uint64_t naks_too_late = 0;
    std::uint64_t naks_duplicate = 0;   // its RDATA was already queued: NCF only
    std::uint64_t naks_shed = 0;        // NCF queue full: not answered at all
    std::uint64_t naks_unanswered = 0;  // after reset() with no_naks
    // NAK packets dropped whole: another group or NAK_SRC, parity NAK (no FEC).
    std::uint64_t naks_ignored = 0;
    // FEC: parity requests (NAK_SQN and list entries of parity NAKs: one per group), those
    // for a group not wholly in the window (not confirmed), parity packets sent.
    std::uint64_t parity_naks_received = 0;
    std::uint64_t parity_naks_too_late = 0;
    std::uint64_t parity_odata_sent = 0;  // proactive
    std::uint64_t parity_rdata_sent = 0;  // on demand
    std::uint64_t nnaks_received = 0;     // no DLR support: counted only
    std::uint64_t spmrs_received = 0;
    std::uint64_t spmrs_suppressed = 0;   // within ihb_min of the last answered SPMR
    std::uint64_t packets_malformed = 0;  // failed to parse
    std::uint64_t packets_ignored = 0;    // another TSI, or a type a source does not take
    std::uint64_t apdus_discarded = 0;    // backlog dropped by reset()
    // Back-pressure: times new ODATA waited because the oldest packet could not yet leave the
    // full window (txw_min_age, a queued repair, nak_hold), and queued repairs dropped because
    // their packet left the window anyway (TXW_SECS) before they could be sent.
    std::uint64_t window_stalls = 0;
    std::uint64_t repairs_expired = 0;
    Sqn trailing_edge;  // TrailingEdgeSeqId (TXW_TRAIL)
    Sqn leading_edge;   // LeadingEdgeSeqId (TXW_LEAD)
    // RateKBitsPerSecLast, in bytes/s as counted by the rate control (IP headers
    // included), over the last whole second since construction; updated on activity.
    std::uint64_t rate_bytes_per_sec = 0;
};

class Source {
  public:
    Source(const SourceConfig& config, Time now);

    // Queues one APDU. False when it is not taken: the backlog is full (retry after the
    // source has sent some; next_deadline() tells when), the APDU is longer than
    // max_apdu(), or the session is no longer Open. Nothing taken is ever dropped, except
    // by reset().
    bool send(Bytes apdu, Time now);
    // Graceful end (S16): the queued APDUs are still sent, the last ODATA with OPT_FIN,
    // then SPMs with OPT_FIN for TXW_SECS. Only from Open.
    void close(Time now);
    // Unrecoverable error (S17): queued APDUs are discarded and SPMs carry OPT_RST (error
    // code: 6 bits, 0 = unknown) for TXW_SECS. With no_naks, NAKs are no longer answered.
    void reset(std::uint8_t error_code, bool no_naks, Time now);

    // A PGM packet for this session (NAK, NNAK, SPMR; anything else is counted, ignored).
    void on_packet(const Arrival& arrival, Bytes pgm, Time now, Output& out);
    void on_timer(Time now, Output& out);
    // When on_timer() is next needed; kNever once finished.
    Time next_deadline() const;

    bool finished() const { return state_ == SourceState::Finished; }
    SourceState state() const { return state_; }
    const SourceStats& stats() const { return stats_; }
    Tsi tsi() const { return tsi_; }
    SqnWindow window() const { return SqnWindow{trail_, trail_ + count_ - 1}; }
    // Largest APDU send() takes: it must fit the window (txw_sqns fragments) and the backlog.
    std::size_t max_apdu() const;
    std::size_t backlog_apdus() const { return backlog_.size(); }
    const SourceConfig& config() const { return config_; }

  private:
    // Parity: proactive parity ODATA (FEC).
    enum class Kind : std::uint8_t { Ncf, Spm, Rdata, Parity, Odata };

    // One ODATA kept for repair.
    struct TxPacket {
        Sqn sqn;
        Time sent{};
        // The TSDU, in a buffer from arena_ (released when the packet leaves the window).
        PacketArena::Buffer storage;
        std::uint32_t tsdu_size = 0;
        Bytes tsdu() const { return Bytes(storage.data, tsdu_size); }
        std::optional<OptFragment> fragment;
        bool syn = false;
        bool fin = false;
        bool repair_queued = false;  // an RDATA for it is queued (NAK duplicate suppression)
        Time nak_at = kNever;        // last NAK for it (nak_hold); kNever: never NAKed
        // FEC, kept in the first packet of a group: parity RDATA queued for the group, and
        // the parity index the next parity packet of the group gets.
        std::uint32_t parity_queued = 0;
        std::uint32_t parity_next = 0;
    };
    // What a data packet carries besides its sequence numbers.
    struct DataDesc {
        Bytes tsdu;
        std::optional<OptFragment> fragment;
        bool syn = false;
        bool fin = false;
        bool last_of_apdu = true;
    };
    struct PendingNcf {
        Sqn sqn;
        std::array<Sqn, kMaxNakList> list{};
        std::uint8_t list_size = 0;
        bool parity = false;  // confirms a parity NAK (OPT_PARITY, TG_SQN | PKT_CNT)
        bool operator==(const PendingNcf& o) const;
    };
    struct PendingRepair {
        Sqn sqn;  // parity: the group's first sequence number
        Time due{};
        bool parity = false;
    };
    // Token bucket in nano-bytes (bytes x 1e9), so that refills are exact integers.
    class TokenBucket {
      public:
        void configure(std::uint64_t bytes_per_sec, std::size_t depth_bytes, Time now);
        bool take(std::size_t bytes, Time now);
        Time ready_at(std::size_t bytes) const;

      private:
        void refill(Time now);
        std::int64_t rate_ = 1;
        std::int64_t depth_ = 0;
        std::int64_t tokens_ = 0;
        Time at_{};
    };

    // Clock-driven changes: window advance by time, SPM timers, end of Closing/Reset.
    void advance(Time now);
    // Sends what the queues hold, by priority, while the rate control allows.
    // Sends what is due, in S5's order; without new_data it stops before the first ODATA or
    // pro-active parity (a received packet is answered at once, new data waits for the timer).
    void pump(Time now, Output& out, bool new_data = true);
    std::optional<Kind> head_of_line(Time now);
    std::optional<std::size_t> write(Kind kind, MutableBytes buf) const;
    std::optional<std::size_t> write_data(MutableBytes buf, PacketType type, Sqn sqn, Sqn trail,
                                          const DataDesc& d) const;
    void sent(Kind kind, std::size_t size, std::size_t wire_size, Time now);
    Transmit transmit(Kind kind) const;
    std::size_t ip_overhead(bool router_alert) const;

    void on_nak(const PacketView& v, Time now);
    void on_parity_nak(const PacketView& v, Time now);
    // Writes parity packet `index` of the group starting at `tg` (ODATA or RDATA).
    std::optional<std::size_t> write_parity(MutableBytes buf, PacketType type, Sqn tg,
                                            std::uint32_t index) const;
    bool group_in_window(Sqn tg) const;
    bool repair_in_window(const PendingRepair& r) const;
    void on_spmr(Time now);
    bool queue_repair(Sqn sqn, Time now);  // false: outside the window

    // The next ODATA cut from the head of the backlog.
    DataDesc next_odata() const;
    Sqn next_odata_trail() const;
    // When the oldest packet of a full window may be pushed out by new ODATA (back-pressure);
    // kNever while its repair is queued (sending the RDATA releases it).
    Time trail_release_at() const;
    // Whether new ODATA may go now as far as the window is concerned.
    bool window_admits(Time now) const;
    void push_window(const DataDesc& d, Time now);
    void pop_window();
    std::size_t slot(Sqn sqn) const;  // ring index of an in-window sequence
    void update_edges();
    void clear_repairs();
    void discard_head(Kind kind);
    void reset_heartbeat(Time now);
    void enter_closing(Time now);
    void finish();
    void count_rate(std::size_t wire_size, Time now);

    SourceConfig config_;
    Tsi tsi_;
    SourceState state_ = SourceState::Open;
    SourceStats stats_;
    Time now_{};
    Time created_{};

    // Sizes derived from the configuration.
    std::size_t buffer_size_ = 0;    // largest PGM packet
    std::size_t single_tsdu_ = 0;    // largest APDU sent in one ODATA
    std::size_t fragment_tsdu_ = 0;  // payload of one fragment

    // Backlog: APDUs not yet fully sent; the head one from apdu_offset_ on.
    std::deque<std::vector<std::uint8_t>> backlog_;
    std::size_t backlog_bytes_ = 0;
    std::size_t apdu_offset_ = 0;
    Sqn apdu_first_sqn_;
    bool syn_sent_ = false;

    // Transmit window: a ring of slots, grown up to txw_sqns; count_ packets from trail_.
    std::vector<TxPacket> ring_;
    PacketArena arena_;     // the window's TSDUs
    std::size_t head_ = 0;  // slot of trail_
    std::uint32_t count_ = 0;
    Sqn trail_;

    // Send queues.
    std::deque<PendingNcf> ncfs_;
    bool spm_pending_ = false;
    std::deque<PendingRepair> repairs_;
    std::deque<Sqn> proactive_;  // proactive parity ODATA to send: one entry per packet

    // FEC (fec_k != 0).
    std::optional<FecCodec> fec_;

    // Rate control.
    TokenBucket bucket_;
    Time next_packet_at_{};         // inter-packet bound
    std::size_t blocked_size_ = 0;  // wire size of the packet the bucket held back; 0: none
    bool window_stalled_ = false;   // ODATA is held by the window (counted once per stall)

    // SPM state.
    Sqn spm_sqn_;
    Time next_ambient_ = kNever;
    Time next_heartbeat_ = kNever;
    Duration ihb_{};
    Time last_spmr_answer_ = kNever;
    Time end_at_ = kNever;  // end of Closing or Reset
    OptRst rst_{false, 0};

    // Rate statistic: bytes in the current whole second since construction.
    std::int64_t rate_second_ = 0;
    std::uint64_t rate_bytes_ = 0;
};

}  // namespace pgm
