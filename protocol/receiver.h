// DOC: The PGM receiver (RFC 3208 §6, checklist §3 R1-R21), sans-I/O (protocol/io.h).
//
// Owns one `Peer` per transport session (TSI) heard on the configured group and
// data-destination port, at most `max_sources` of them. A peer holds its receive window:
// one slot per sequence number in [next, lead] that is not yet delivered or reported lost,
// with the data (an owned copy) or the repair state of a missing sequence; the last SPM's
// path (the NAK destination) and the source's address; SPMR and session-end timers.
// Nothing else: no sockets, no clock, no threads.
//
// Life cycle. Construct with a ReceiverConfig. Hand every PGM packet to on_packet(), call
// on_timer() whenever `now >= next_deadline()`; after each call send the Output's transmits
// and drain events() (Data, Loss, SessionEnd). A peer is created by its first SPM, ODATA or
// RDATA; its window starts at the first data packet (RXW_TRAIL_INIT, or OPT_JOIN_MIN, R1);
// it ends on OPT_FIN after `fin_linger`, on OPT_RST (at once if N is set), or after
// `peer_expiry` of silence. An ended peer stays as a tombstone without buffers for
// `peer_expiry`, so that the closing SPMs of its source do not start it again.
//
// Memory. Per peer at most `max_window_sqns` slots and `max_window_bytes` of buffered
// payload (held between calls; inside one call a single TSDU more). When a packet would
// exceed either, `window_full` decides: EvictOldest gives up the oldest sequences (reported
// as Loss (WindowBound) and freed); RefuseNewest does not store the new packet, which is
// NAKed later like a loss, so that a bound never loses data the source can still repair. Loss is
// never silent: every sequence number from RXW_TRAIL_INIT on is either delivered (in an APDU) or
// covered by a Loss event.
// FEC state (parity packets kept and copies of delivered packets of a group parity may still
// rebuild) counts against `max_window_bytes` too, with the window's payload: over it, parity
// is ignored and no copy is kept, and those losses are repaired selectively.
//
// FEC (R19, decisions.md D32). A peer whose SPMs carry OPT_PARITY_PRM also holds, per
// transmission group in its window, the parity packets received (at most k) and, for the
// group at the head of the window, copies of its packets already delivered; a group is
// rebuilt (protocol/fec.h) as soon as k of its packets are there, the rebuilt packets
// entering the state machine as Data. Parity NAKs replace selective ones for full groups
// when on-demand parity is advertised.
//
// Congestion reports (App. B, R21, decisions.md D37). After an SPM with OPT_CRQST every NAK
// of that peer carries OPT_CR with the fields asked for: RX_WP is the peer's loss rate (a
// moving average over the sequences entering the window), NE_WL and NE_WP stay 0 for the
// network elements to fill, OPT_CR_LEAD is RXW_LEAD and the receiver NLA our own address.
//
// The NAK state machine of one sequence number. sqn_transition() is the whole of it: the
// receiver feeds it events and performs the actions it returns; nothing else changes a state.
//
//                +----------------- NAK_RPT_IVL expired (ncf retry) -----------------+
//                v                                                                   |
//   (none) --> BACK_OFF ------------- NAK_RB_IVL expired: send NAK --------------> WAIT_NCF
//                ^    \                                                              |
//                |     +-- NCF or NAK heard (R8) --> WAIT_DATA <----- NCF heard -----+
//                |                                    |     ^
//                +--- NAK_RDATA_IVL expired (data ----+     +--- NCF or NAK heard: restart
//                     retry)                                     NAK_RDATA_IVL (R7)
//
//   event                                          from                       to
//   gap in data SQNs, or SPM_LEAD ahead (R6)       (none)                     BACK_OFF
//     (NAK_RB_IVL drawn uniformly over [0, NAK_BO_IVL], once per detection; the deadline is
//      held while no SPM was seen for the TSI (R4) and starts with the first SPM)
//   NAK_RB_IVL expired: NAK (batched, R10, R13)    BACK_OFF                   WAIT_NCF
//   NCF or multicast NAK heard: suppressed (R8)    BACK_OFF                   WAIT_DATA
//   NCF heard                                      WAIT_NCF                   WAIT_DATA
//   NCF or multicast NAK heard: restart timer      WAIT_DATA                  WAIT_DATA
//   NAK_RPT_IVL expired, NAK_NCF_RETRIES left      WAIT_NCF                   BACK_OFF
//   NAK_RDATA_IVL expired, NAK_DATA_RETRIES left   WAIT_DATA                  BACK_OFF
//   either timer expired, no retries left (R7)     WAIT_NCF, WAIT_DATA        LOST
//   ODATA or RDATA                                 (none), any waiting state  RECEIVED
//   trail advanced past it (R5, R7), window        any waiting state          LOST
//     bound, session end
//   evicted while its APDU cannot complete         RECEIVED                   LOST
//   (LOST is reported as a LossEvent when in-order delivery reaches it; RECEIVED is
//    delivered as part of a whole APDU. Both then leave the window.)
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/fec.h"
#include "protocol/io.h"
#include "protocol/packet.h"
#include "protocol/seq.h"

namespace pgm {

// --- The NAK state machine (one per sequence number in the receive window) ----------------

enum class SqnState : std::uint8_t {
    BackOff,   // missing: waiting NAK_RB_IVL before NAKing (deadline kNever while held)
    WaitNcf,   // NAK sent: waiting NAK_RPT_IVL for a matching NCF
    WaitData,  // confirmed (or suppressed): waiting NAK_RDATA_IVL for the data
    Received,  // data stored, waiting for in-order delivery
    Lost,      // given up: reported when delivery reaches it
};

enum class SqnEvent : std::uint8_t {
    Detected,        // the sequence is known to exist and is missing
    NakingEnabled,   // the first SPM arrived: a held back-off starts
    BackoffExpired,  // NAK_RB_IVL over
    NcfTimeout,      // NAK_RPT_IVL over without NCF
    DataTimeout,     // NAK_RDATA_IVL over without data
    NcfHeard,        // matching NCF (header or OPT_NAK_LIST, R13)
    NakHeard,        // matching multicast NAK of another receiver
    Data,            // ODATA or RDATA with this sequence number
    TrailPassed,     // the source's trail advanced past it (R5, R7)
    Evicted,         // window bound or session end: give it up now
};

// What the receiver does after a transition (bit set).
enum SqnAction : std::uint16_t {
    kSqnNoAction = 0,
    kArmBackoff = 1 << 0,      // deadline := now + NAK_RB_IVL (kNever while NAKing is held)
    kSendNak = 1 << 1,         // put the sequence in this tick's NAK batch
    kArmRptIvl = 1 << 2,       // deadline := now + NAK_RPT_IVL
    kArmRdataIvl = 1 << 3,     // deadline := now + NAK_RDATA_IVL
    kCountNcfRetry = 1 << 4,   // one more NAK_NCF_RETRIES used
    kCountDataRetry = 1 << 5,  // one more NAK_DATA_RETRIES used
    kSuppressed = 1 << 6,      // our NAK was suppressed by someone else's (R8)
    kStoreData = 1 << 7,       // keep the packet's data
    kDeclareLost = 1 << 8,     // unrecoverable: counted, reported in order (R7)
    kDiscardData = 1 << 9,     // stored data dropped (its APDU cannot complete)
    kDuplicate = 1 << 10,      // data already held (R2)
};

struct SqnTransition {
    bool legal = false;  // false: the event does not apply in this state (ignored)
    SqnState next = SqnState::BackOff;
    std::uint16_t actions = kSqnNoAction;
};

// `retries_exhausted`: for NcfTimeout / DataTimeout, whether the retry budget is used up.
SqnTransition sqn_transition(SqnState state, SqnEvent event, bool retries_exhausted = false);
// For a sequence number that has no slot yet.
SqnTransition sqn_transition_from_none(SqnEvent event);
bool is_waiting(SqnState state);  // BackOff, WaitNcf, WaitData
const char* to_string(SqnState state);

// --- Configuration, events, counters -----------------------------------------------------

// What a peer does when a data packet would take it past max_window_sqns / max_window_bytes.
enum class WindowFull : std::uint8_t {
    // The oldest sequences are given up (Loss WindowBound), even those still repairable.
    EvictOldest,
    // The new packet is not stored (counted in window_refused) and nothing is given up: the
    // sequences beyond the bound are detected again later (by newer data or SPM_LEAD) and
    // NAKed like any loss once the window has moved, while the source still holds them (its
    // back-pressure keeps NAKed packets). A bound then costs repairs, not data. New data may
    // use the byte bound only up to what the waiting sequences' repairs will need (each at
    // most the largest payload seen), so a repair is never given up for newer data.
    RefuseNewest,
};

struct ReceiverConfig {
    Nla address;                              // own unicast address: IP source of NAKs and SPMRs
    Nla group;                                // the group listened to; None = any destination
    IfIndex ifindex = 0;                      // where NAKs and SPMRs are sent
    std::uint16_t data_destination_port = 0;  // 0 = any
    // NAK timers and retries (RFC 3208 §6.3; defaults: OpenPGM examples, checklist §4.11).
    Duration nak_bo_ivl = std::chrono::milliseconds(50);
    Duration nak_rpt_ivl = std::chrono::seconds(2);
    Duration nak_rdata_ivl = std::chrono::seconds(2);
    std::uint32_t nak_ncf_retries = 50;
    std::uint32_t nak_data_retries = 50;
    // SPMR (App. C): back-off before the first, and the wait before repeating one.
    Duration spmr_bo_ivl = std::chrono::milliseconds(250);
    Duration spmr_repeat_ivl = std::chrono::seconds(1);
    // OPT_FIN / OPT_RST without N: how long the session lingers (TXW_SECS-like, R18).
    Duration fin_linger = std::chrono::seconds(35);
    // A peer that sent nothing this long ends (SessionEnd Expired); tombstone lifetime too.
    Duration peer_expiry = std::chrono::seconds(300);
    // Bounds per TSI (clamped to at least 1 and at most 2^31 - 1 sequences).
    std::size_t max_window_sqns = 4096;
    std::size_t max_window_bytes = 8 * 1024 * 1024;
    WindowFull window_full = WindowFull::EvictOldest;
    std::size_t max_sources = 64;
    std::uint8_t nak_ttl = 255;  // unicast NAKs and SPMRs (the multicast SPMR copy uses 1)
    Encapsulation encapsulation = Encapsulation::Native;
    std::uint16_t udp_port = kDefaultUdpEncapsulationPort;
    std::uint64_t seed = 1;  // back-off draws: a seeded PRNG, deterministic per seed
    // FEC (RFC 3208 §11, R19, D32): parity ODATA/RDATA of a source whose SPMs carry
    // OPT_PARITY_PRM are kept per transmission group and rebuild its missing data packets
    // once k packets of the group are there. Off: parity is ignored.
    bool fec = true;
    // With on-demand parity advertised (the O bit), NAK the missing packets of a full group
    // with one parity NAK (their count) instead of selective NAKs (R19).
    bool parity_naks = true;
};

enum class LossReason : std::uint8_t {
    TrailAdvanced,     // the source's window moved past it (R5, R7)
    RetriesExhausted,  // NAK_NCF_RETRIES or NAK_DATA_RETRIES used up (R7)
    WindowBound,       // max_window_sqns / max_window_bytes reached
    IncompleteApdu,    // fragments of an APDU that can no longer complete, or inconsistent
    SessionEnded,      // still missing when the session ended (FIN linger, RST, expiry)
};
const char* to_string(LossReason reason);

enum class EndReason : std::uint8_t { Fin, Reset, Expired };
const char* to_string(EndReason reason);

// A whole APDU, in order: `first_sqn` is its first (or only) sequence number.
struct DataEvent {
    Tsi tsi;
    Sqn first_sqn;
    std::vector<std::uint8_t> apdu;
};
// Sequence numbers [first_sqn, first_sqn + count) whose data will never be delivered: the
// missing ones and any fragments received of APDUs that lost a part.
struct LossEvent {
    Tsi tsi;
    Sqn first_sqn;
    std::uint32_t count = 0;
    LossReason reason = LossReason::TrailAdvanced;
};
struct SessionEndEvent {
    Tsi tsi;
    EndReason reason = EndReason::Fin;
};
using ReceiverEvent = std::variant<DataEvent, LossEvent, SessionEndEvent>;

struct ReceiverStats {
    std::uint64_t packets = 0;
    std::uint64_t malformed = 0;
    std::uint64_t ignored = 0;  // other group or port, a type a receiver does not use
    std::uint64_t spms = 0;
    std::uint64_t spms_out_of_sequence = 0;  // discarded (R4)
    std::uint64_t odata = 0;
    std::uint64_t rdata = 0;
    std::uint64_t duplicates = 0;     // data already held or delivered (R2)
    std::uint64_t out_of_window = 0;  // data before the window (R2)
    std::uint64_t malformed_fragments = 0;
    std::uint64_t delivered_apdus = 0;
    std::uint64_t delivered_bytes = 0;
    std::uint64_t naks_sent = 0;      // NAK packets
    std::uint64_t nak_sqns_sent = 0;  // sequence numbers in them (header + list; parity: groups)
    std::uint64_t naks_suppressed = 0;
    std::uint64_t ncfs_received = 0;
    std::uint64_t naks_heard = 0;           // multicast NAKs of other receivers
    std::uint64_t ignored_nak_sqns = 0;     // NCF/NAK entries outside the window or held (R12)
    std::uint64_t unrecoverable = 0;        // sequence numbers declared lost
    std::uint64_t discarded_fragments = 0;  // received fragments of APDUs that cannot complete
    std::uint64_t spmrs_sent = 0;           // SPMR packets (multicast and unicast copies)
    std::uint64_t spmrs_suppressed = 0;     // by a multicast SPMR heard (R16)
    std::uint64_t sources = 0;              // peers created
    std::uint64_t sources_refused = 0;      // max_sources reached
    std::uint64_t sessions_ended = 0;
    std::uint64_t window_refused = 0;  // data not stored at a bound (WindowFull::RefuseNewest)
    // FEC: parity packets received and kept, ignored (no OPT_PARITY_PRM seen, FEC off, a
    // group already complete or delivered, more than k for a group), data packets rebuilt,
    // groups whose parity could not be used (inconsistent lengths or flags), parity NAK
    // packets sent and parity NCFs received.
    std::uint64_t parity_packets = 0;
    std::uint64_t parity_ignored = 0;
    std::uint64_t parity_recovered = 0;
    std::uint64_t parity_failed = 0;
    std::uint64_t parity_naks_sent = 0;
    std::uint64_t parity_ncfs_received = 0;
    std::size_t buffered_bytes = 0;  // payload held now, all peers
    std::size_t buffered_bytes_peak = 0;
    std::size_t buffered_sqns = 0;  // slots held now, all peers
    std::size_t buffered_sqns_peak = 0;
};

// --- The receiver -------------------------------------------------------------------------

class Receiver {
  public:
    explicit Receiver(const ReceiverConfig& config);
    ~Receiver();
    Receiver(const Receiver&) = delete;
    Receiver& operator=(const Receiver&) = delete;

    // `pgm`: the PGM packet (after the IP or UDP header); `arrival.ip` its network header.
    void on_packet(const Arrival& arrival, Bytes pgm, Time now, Output& out);
    void on_timer(Time now, Output& out);
    Time next_deadline() const;

    // Events in the order they happened; the caller drains (clears) them.
    std::vector<ReceiverEvent>& events() { return events_; }
    const ReceiverStats& stats() const { return stats_; }
    const ReceiverConfig& config() const { return config_; }

    // Inspection, for tools and tests.
    std::size_t peer_count() const { return peers_.size(); }
    bool has_peer(const Tsi& tsi) const { return peers_.contains(tsi); }
    // State of one sequence number of a peer; nullopt outside its window.
    std::optional<SqnState> sqn_state(const Tsi& tsi, Sqn sqn) const;

  private:
    struct Slot;
    struct Peer;
    struct Assembly;
    struct Group;
    // The payload a kStoreData transition keeps: a data packet's, or one rebuilt from parity.
    struct DataRef {
        Bytes payload;
        std::optional<OptFragment> fragment;
    };

    // Per packet type.
    void on_spm(const Arrival& a, const PacketView& v, Time now);
    void on_data(const Arrival& a, const PacketView& v, Time now);
    void on_ncf_or_nak(const PacketView& v, Time now);
    void on_spmr(const PacketView& v, Time now);
    void on_parity(const Arrival& a, const PacketView& v, Time now);
    void on_parity_ncf_or_nak(Peer& p, const PacketView& v, Time now);

    // FEC: rebuilds what parity can of the group starting at `tg`.
    void recover(Peer& p, Sqn tg, Time now);
    const FecCodec& codec(std::uint32_t k);
    bool fragment_sane(Sqn sqn, const OptFragment& f, std::size_t payload) const;
    // Before the head slot leaves the window: keeps a copy of it while its group may still
    // need it for decoding.
    void remember_head(Peer& p);
    void prune_groups(Peer& p);
    Peer* find_peer(const Tsi& tsi);
    Peer* create_peer(const PacketView& v, const Arrival& a, Time now);
    bool start_window(Peer& p, const PacketView& v);

    // The state machine applied to the slot of `sqn` (created when sqn == lead + 1). `data`:
    // the packet whose payload a kStoreData transition keeps.
    SqnTransition apply(Peer& p, Sqn sqn, SqnEvent event, Time now,
                        std::optional<Duration> backoff = {},
                        LossReason reason = LossReason::WindowBound, const DataRef* data = nullptr);
    void set_deadline(Peer& p, Sqn sqn, Slot& s, Time at);
    static bool timer_live(const Peer& p, const std::pair<Time, std::uint32_t>& entry);
    static void settle_timers(Peer& p);
    static void compact_timers(Peer& p);
    void finish_call(Peer* touched);
    void handle_packet(const Arrival& a, Bytes pgm, Time now, Output& out);
    Duration draw(Duration interval);

    // Window movement.
    void open_until(Peer& p, Sqn end, Time now, std::size_t reserve);
    static void note_loss_sample(Peer& p, bool lost);
    void advance_trail(Peer& p, Sqn trail, Time now);
    bool refuse(const Peer& p, Sqn sqn, std::size_t bytes) const;
    void make_room(Peer& p, std::size_t bytes, Sqn keep, Time now);
    void enforce_bytes(Peer& p, Time now);
    void evict_head(Peer& p, LossReason reason, Time now);
    void skip_to(Peer& p, Sqn sqn, LossReason reason);
    void deliver(Peer& p);
    void report_loss(const Tsi& tsi, Sqn first, std::uint32_t count, LossReason reason);
    void flush_loss();
    Assembly assemble(Peer& p);
    void pop_head(Peer& p);
    void free_data(Peer& p, Slot& s);

    // Session end.
    void start_linger(Peer& p, EndReason reason, Time now);
    void end_session(Peer& p, EndReason reason, Time now);

    // Transmissions.
    void send_naks(Peer& p, std::vector<Sqn>& sqns, Time now, Output& out);
    void send_nak_packets(Peer& p, std::span<const Sqn> sqns, bool parity, Output& out);
    void send_spmr(Peer& p, Output& out);
    Transmit transmit_to(const Nla& destination, std::uint8_t ttl) const;

    void timer_peer(Peer& p, Time now, Output& out);
    void update_peaks();

    ReceiverConfig config_;
    std::unordered_map<Tsi, std::unique_ptr<Peer>> peers_;
    std::vector<ReceiverEvent> events_;
    ReceiverStats stats_;
    std::uint64_t rng_;
    LossEvent loss_;             // the loss run being coalesced (count 0: none)
    Time deadline_ = kNever;     // next_deadline(), as of the end of the last call
    Peer* touched_ = nullptr;    // the peer the packet being handled found or created
    Peer* last_peer_ = nullptr;  // the peer find_peer() found last (nullptr once erased)
    // Scratch, reused across calls.
    std::vector<std::pair<Time, std::uint32_t>> expired_;
    std::vector<Sqn> nak_batch_;
    std::unordered_map<std::uint32_t, std::unique_ptr<FecCodec>> codecs_;  // by k, n = 255
};

}  // namespace pgm
