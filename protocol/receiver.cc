#include "protocol/receiver.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <span>

#include "protocol/parity_sqn.h"
#include "protocol/random.h"
#include "protocol/write_packet.h"
#include "protocol/writer.h"

namespace pgm {

namespace {

constexpr std::size_t kMaxNakSqns = 1 + kMaxNakList;  // header SQN + OPT_NAK_LIST (R13)
// OPT_CR (R21): its 16 bytes and the receiver's NLA, IPv6 at most.
constexpr std::size_t kMaxOptCrSize = 16 + 20;
// Common header + NAK fields with two IPv6 NLAs + OPT_LENGTH + a full OPT_NAK_LIST + OPT_CR.
// (Without OPT_CR's room a NAK of a long list with an IPv6 NLA in it did not fit and was not
// sent at all.)
constexpr std::size_t kMaxNakPacket =
    kHeaderSize + 4 + 2 * 20 + kOptLengthSize + kOptionHeaderSize + 4 * kMaxNakList + kMaxOptCrSize;
constexpr std::size_t kMaxSpmrPacket = kHeaderSize;
constexpr std::size_t kMaxWindowSqns = 0x7FFFFFFF;  // half the sequence space
constexpr std::uint8_t kSpmrMulticastTtl = 1;       // App. C: the multicast copy stays local
// Stale timer entries a peer keeps beyond twice its waiting slots before compacting them.
constexpr std::size_t kTimerSlack = 32;

constexpr SqnTransition to(SqnState next, int actions = kSqnNoAction) {
    return {true, next, static_cast<std::uint16_t>(actions)};
}
constexpr SqnTransition ignored() {
    return {};
}

// Offset of `s` from `base` in the window (s not older than base).
std::uint32_t offset(Sqn s, Sqn base) {
    return s.value() - base.value();
}

LossReason loss_reason(SqnEvent event, LossReason given) {
    switch (event) {
        case SqnEvent::NcfTimeout:
        case SqnEvent::DataTimeout:
            return LossReason::RetriesExhausted;
        case SqnEvent::TrailPassed:
            return LossReason::TrailAdvanced;
        default:
            return given;
    }
}

}  // namespace

// --- The state machine ----------------------------------------------------------------------

bool is_waiting(SqnState state) {
    return state == SqnState::BackOff || state == SqnState::WaitNcf || state == SqnState::WaitData;
}

SqnTransition sqn_transition_from_none(SqnEvent event) {
    switch (event) {
        case SqnEvent::Detected:
            return to(SqnState::BackOff, kArmBackoff);
        case SqnEvent::Data:
            return to(SqnState::Received, kStoreData);
        default:
            return ignored();
    }
}

SqnTransition sqn_transition(SqnState state, SqnEvent event, bool retries_exhausted) {
    using S = SqnState;
    using E = SqnEvent;
    if (is_waiting(state)) {
        // In every waiting state: the data completes recovery (R7); a trail advance, the
        // window bound or the session end give the sequence up (R7, memory bound).
        switch (event) {
            case E::Data:
                return to(S::Received, kStoreData);
            case E::TrailPassed:
            case E::Evicted:
                return to(S::Lost, kDeclareLost);
            default:
                break;
        }
    }
    switch (state) {
        case S::BackOff:
            switch (event) {
                case E::NakingEnabled:
                    return to(S::BackOff, kArmBackoff);
                case E::BackoffExpired:
                    return to(S::WaitNcf, kSendNak | kArmRptIvl);
                case E::NcfHeard:
                case E::NakHeard:
                    return to(S::WaitData, kSuppressed | kArmRdataIvl);  // R8
                default:
                    return ignored();
            }
        case S::WaitNcf:
            switch (event) {
                case E::NcfTimeout:
                    return retries_exhausted ? to(S::Lost, kDeclareLost)
                                             : to(S::BackOff, kCountNcfRetry | kArmBackoff);
                case E::NcfHeard:
                    return to(S::WaitData, kArmRdataIvl);
                default:
                    return ignored();  // another receiver's NAK does not confirm ours
            }
        case S::WaitData:
            switch (event) {
                case E::DataTimeout:
                    return retries_exhausted ? to(S::Lost, kDeclareLost)
                                             : to(S::BackOff, kCountDataRetry | kArmBackoff);
                case E::NcfHeard:
                case E::NakHeard:
                    return to(S::WaitData, kArmRdataIvl);  // R7: restarts NAK_RDATA_IVL
                default:
                    return ignored();
            }
        case S::Received:
            switch (event) {
                case E::Data:
                    return to(S::Received, kDuplicate);  // R2
                case E::Evicted:
                    return to(S::Lost, kDiscardData);
                default:
                    return ignored();  // a trail advance leaves held data deliverable
            }
        case S::Lost:
            return ignored();  // final: late data is not taken back
    }
    return ignored();
}

const char* to_string(SqnState state) {
    switch (state) {
        case SqnState::BackOff:
            return "BACK_OFF";
        case SqnState::WaitNcf:
            return "WAIT_NCF";
        case SqnState::WaitData:
            return "WAIT_DATA";
        case SqnState::Received:
            return "RECEIVED";
        case SqnState::Lost:
            return "LOST";
    }
    return "?";
}

const char* to_string(LossReason reason) {
    switch (reason) {
        case LossReason::TrailAdvanced:
            return "trail-advanced";
        case LossReason::RetriesExhausted:
            return "retries-exhausted";
        case LossReason::WindowBound:
            return "window-bound";
        case LossReason::IncompleteApdu:
            return "incomplete-apdu";
        case LossReason::SessionEnded:
            return "session-ended";
    }
    return "?";
}

const char* to_string(EndReason reason) {
    switch (reason) {
        case EndReason::Fin:
            return "fin";
        case EndReason::Reset:
            return "reset";
        case EndReason::Expired:
            return "expired";
    }
    return "?";
}

// --- Per-TSI state --------------------------------------------------------------------------

struct Receiver::Slot {
    SqnState state = SqnState::BackOff;
    LossReason reason = LossReason::WindowBound;  // when Lost
    bool fragment = false;
    bool remembered = false;  // its group keeps a copy (remember_head)
    std::uint32_t ncf_retries = 0;
    std::uint32_t data_retries = 0;
    Time deadline = kNever;  // of the waiting state; mirrored in Peer::timers
    OptFragment frag{};
    std::vector<std::uint8_t> data;
};

// FEC state of one transmission group: its parity packets, and copies of its data packets
// that were delivered while later ones of the group were still missing (the decoder needs
// k packets of the group, delivered ones included).
struct Receiver::Group {
    struct Parity {
        unsigned index = 0;  // k + parity index
        std::vector<std::uint8_t> tsdu;
        std::optional<FecOption> option;
        bool var_pktlen = false;
    };
    struct Delivered {
        std::vector<std::uint8_t> tsdu;
        std::optional<OptFragment> fragment;
    };
    std::vector<Parity> parity;
    std::vector<std::optional<Delivered>> delivered;  // k entries once one is kept
    // OPT_CURR_TGSIZE seen in the group's data or parity: a group shorter than TGS (§11.6).
    // The size it names is not used yet: the group is repaired selectively and its parity
    // ignored, so that a short group is never decoded as a full one.
    bool variable_size = false;

    std::size_t parity_bytes() const {
        std::size_t n = 0;
        for (const Parity& q : parity)
            n += q.tsdu.size();
        return n;
    }
    std::size_t bytes() const {
        std::size_t n = parity_bytes();
        for (const auto& d : delivered)
            if (d) n += d->tsdu.size();
        return n;
    }
};

// The fields every data packet reads or writes come first, together, so that a packet
// touches few cache lines of a peer (with thousands of receivers in one process, as in
// pgmsim, the peers are out of cache and each line touched is a memory access).
struct alignas(64) Receiver::Peer {
    // --- Hot: every packet ---
    bool ended = false;  // tombstone
    bool started = false;
    bool spm_seen = false;
    bool timers_dirty = false;  // an entry of `timers` may have gone stale (settle_timers)
    // Congestion reports (App. B, R21, decisions.md D37): this receiver's loss rate RX_WP,
    // 0xFFFF = 100 %, a moving average over the sequences entering the window.
    std::uint16_t loss_rate = 0;
    // FEC, from OPT_PARITY_PRM (0: none advertised): the transmission group size.
    std::uint32_t tgs = 0;
    // Receive window: slots[i] is sequence next + i; lead = next + slots.size() - 1.
    Sqn next;  // oldest sequence not yet delivered or reported
    Sqn lead;
    Tsi tsi;
    Time expire_at = kNever;
    Time spmr_at = kNever;
    Time end_at = kNever;         // FIN / RST linger
    Time due = kNever;            // next_deadline() as of the end of the last call that touched it
    std::size_t max_payload = 0;  // largest TSDU seen: what one waiting repair may need
    Time timers_top = kNever;     // timers.front().first (kNever: empty), read without the heap
    // The head slot was found waiting by deliver() and has not changed since: nothing to
    // deliver (saves loading it, out of cache, with every packet while a repair is awaited).
    bool head_waiting = false;
    // (deadline, sqn) of waiting slots: a min-heap with lazy deletion. An entry is live while
    // its sequence is in the window and its slot's deadline is still that time; a deadline
    // that moves only adds an entry (no search, no node allocated per NCF or NAK heard).
    // The top is live between calls (settle_timers), so next_deadline() reads it; stale
    // entries are dropped when they reach the top, or all at once (compact_timers) when they
    // outnumber the waiting slots.
    std::vector<std::pair<Time, std::uint32_t>> timers;
    std::size_t bytes = 0;
    std::size_t waiting = 0;  // slots in a waiting state (BackOff, WaitNcf, WaitData)
    std::deque<Slot> slots;

    // --- The rest ---
    Nla source;      // NAK_SRC: IP source of the last SPM (of data before any SPM)
    Nla group;       // NAK_GRP
    Nla nak_target;  // SPM_PATH of the last in-sequence SPM (R4, R9)
    std::uint16_t data_destination_port = 0;

    Sqn last_spm_sqn;
    bool advertised = false;  // an SPM advertised a window before the first data
    Sqn advertised_trail;
    std::optional<Sqn> advertised_join;

    Sqn trail_init;  // RXW_TRAIL_INIT (R1)
    // APDU reassembly progress at the head: slots checked and their bytes.
    std::size_t assembled_slots = 0;
    std::size_t assembled_bytes = 0;

    // FEC: on-demand parity, and the groups with parity or delivered copies, by TG_SQN.
    bool ondemand = false;
    std::map<std::uint32_t, Group> groups;
    // Bytes of parity and delivered copies the groups hold: with the window's own bytes,
    // held within max_window_bytes (a parity packet is never answered by its data, so
    // without the bound anyone on the group could make a receiver hold parity for every
    // group the window could reach).
    std::size_t group_bytes = 0;

    // Congestion reports: the reports asked for by the last SPM that carried OPT_CRQST (none
    // asked: no OPT_CR in NAKs).
    std::optional<OptCrqst> congestion_request;

    EndReason end_reason = EndReason::Fin;

    Slot& at(Sqn s) { return slots[offset(s, next)]; }
    const Slot& at(Sqn s) const { return slots[offset(s, next)]; }
    bool in_window(Sqn s) const { return !slots.empty() && s >= next && s <= lead; }
    Time next_deadline() const {
        if (ended) return expire_at;
        Time t = std::min({spmr_at, end_at, expire_at});
        return std::min(t, timers_top);
    }
};

struct Receiver::Assembly {
    enum Kind { Complete, Wait, Broken } kind = Wait;
    std::size_t slots = 0;  // Complete: the APDU's; Broken: fragments to give up
    LossReason reason = LossReason::IncompleteApdu;
};

Receiver::Receiver(const ReceiverConfig& config) : config_(config), rng_(config.seed) {
    config_.max_window_sqns = std::clamp<std::size_t>(config_.max_window_sqns, 1, kMaxWindowSqns);
    config_.max_sources = std::max<std::size_t>(config_.max_sources, 1);
}

Receiver::~Receiver() = default;

Duration Receiver::draw(Duration interval) {
    if (interval <= Duration::zero()) return Duration::zero();
    const auto span = static_cast<std::uint64_t>(interval.count());
    return Duration(static_cast<Duration::rep>(splitmix64(rng_) % (span + 1)));
}

std::optional<SqnState> Receiver::sqn_state(const Tsi& tsi, Sqn sqn) const {
    auto it = peers_.find(tsi);
    if (it == peers_.end() || !it->second->in_window(sqn)) return std::nullopt;
    return it->second->at(sqn).state;
}

Time Receiver::next_deadline() const {
    return deadline_;  // computed by finish_call() at the end of every call
}

void Receiver::update_peaks() {
    stats_.buffered_bytes_peak = std::max(stats_.buffered_bytes_peak, stats_.buffered_bytes);
    stats_.buffered_sqns_peak = std::max(stats_.buffered_sqns_peak, stats_.buffered_sqns);
}

// --- Packets --------------------------------------------------------------------------------

void Receiver::on_packet(const Arrival& a, Bytes pgm, Time now, Output& out) {
    touched_ = nullptr;
    handle_packet(a, pgm, now, out);
    if (touched_) finish_call(touched_);
}

void Receiver::handle_packet(const Arrival& a, Bytes pgm, Time now, Output& out) {
    (void)out;  // packets are answered from on_timer only: every NAK and SPMR waits a back-off
    ++stats_.packets;
    ParseResult r = parse(pgm);
    if (!r) {
        ++stats_.malformed;
        return;
    }
    const PacketView& v = r.view;
    const Nla& destination = a.ip.destination;
    const bool to_group =
        config_.group.family() == Nla::Family::None || destination == config_.group;
    if ((config_.data_destination_port != 0 &&
         v.header.data_destination_port() != config_.data_destination_port) ||
        (!to_group && destination != config_.address)) {
        ++stats_.ignored;
        return;
    }
    if (v.header.parity()) {  // FEC (R11, R19)
        const PacketType t = v.header.type;
        const bool heard_nak =
            t == PacketType::Nak && destination.is_multicast() && a.ip.source != config_.address;
        if (t == PacketType::Odata || t == PacketType::Rdata) {
            on_parity(a, v, now);
        } else if (t == PacketType::Ncf || heard_nak) {
            if (Peer* p = find_peer(v.header.tsi())) on_parity_ncf_or_nak(*p, v, now);
        } else {
            ++stats_.ignored;
        }
        flush_loss();
        update_peaks();
        return;
    }
    switch (v.header.type) {
        case PacketType::Spm:
            on_spm(a, v, now);
            break;
        case PacketType::Odata:
        case PacketType::Rdata:
            on_data(a, v, now);
            break;
        case PacketType::Ncf:
            on_ncf_or_nak(v, now);
            break;
        case PacketType::Nak:
        case PacketType::Spmr:
            if (!destination.is_multicast() || a.ip.source == config_.address) {
                ++stats_.ignored;  // unicast (to a source or network element), or our own
                break;             // multicast copy looped back
            }
            if (v.header.type == PacketType::Nak)
                on_ncf_or_nak(v, now);
            else
                on_spmr(v, now);
            break;
        default:
            ++stats_.ignored;
            break;
    }
    flush_loss();
    update_peaks();
}

Receiver::Peer* Receiver::find_peer(const Tsi& tsi) {
    // Most packets are of the peer of the last one: no hash, no bucket or node to load.
    if (last_peer_ && last_peer_->tsi == tsi) return touched_ = last_peer_;
    auto it = peers_.find(tsi);
    if (it == peers_.end()) return nullptr;
    touched_ = last_peer_ = it->second.get();
    return touched_;
}

Receiver::Peer* Receiver::create_peer(const PacketView& v, const Arrival& a, Time now) {
    if (!a.ip.destination.is_multicast() && config_.group.family() == Nla::Family::None) {
        // No group to name in NAK_GRP or to send the SPMR copy to (found by receiver_fuzz).
        ++stats_.ignored;
        return nullptr;
    }
    if (peers_.size() >= config_.max_sources) {
        // Room is made only by dropping a tombstone (the one that would expire first).
        auto victim = peers_.end();
        for (auto it = peers_.begin(); it != peers_.end(); ++it) {
            if (it->second->ended &&
                (victim == peers_.end() || it->second->expire_at < victim->second->expire_at))
                victim = it;
        }
        if (victim == peers_.end()) {
            ++stats_.sources_refused;
            return nullptr;
        }
        if (victim->second.get() == last_peer_) last_peer_ = nullptr;
        peers_.erase(victim);
    }
    auto p = std::make_unique<Peer>();
    p->tsi = v.header.tsi();
    p->source = a.ip.source;
    p->group = a.ip.destination.is_multicast() ? a.ip.destination : config_.group;
    p->data_destination_port = v.header.data_destination_port();
    p->expire_at = now + config_.peer_expiry;
    ++stats_.sources;
    touched_ = peers_.emplace(p->tsi, std::move(p)).first->second.get();
    return touched_;
}

// SPM: sequencing, NAK destination, window (R4, R5, R6), session end (R18).
void Receiver::on_spm(const Arrival& a, const PacketView& v, Time now) {
    ++stats_.spms;
    Peer* p = find_peer(v.header.tsi());
    if (!p) p = create_peer(v, a, now);
    if (!p || p->ended) return;
    const SpmFields& f = *v.get<SpmFields>();
    if (p->spm_seen && !(f.sqn > p->last_spm_sqn)) {
        ++stats_.spms_out_of_sequence;
        return;
    }
    const bool first = !p->spm_seen;
    p->spm_seen = true;
    p->last_spm_sqn = f.sqn;
    p->source = a.ip.source;  // the source's NLA: routers keep the IP source of SPMs
    p->nak_target = f.path;   // the nearest PGM network element, or the source itself
    p->data_destination_port = v.header.data_destination_port();
    p->expire_at = now + config_.peer_expiry;
    p->spmr_at = kNever;  // R16: an SPM cancels the SPMR
    if (auto prm = v.parity_prm(); prm && config_.fec) {
        // R19: TGS from OPT_PARITY_PRM. The receiver's code has n = 255: a parity packet's
        // generator row depends on its index only, not on the source's n.
        const std::uint32_t k = prm->tg_size;
        if (fec_params_valid(k, kFecMaxN) && (prm->proactive || prm->on_demand)) {
            if (k != p->tgs) {
                p->groups.clear();
                p->group_bytes = 0;
            }
            p->tgs = k;
            p->ondemand = prm->on_demand;
        }
    }
    if (auto crqst = v.crqst()) {
        // R21: in force until an SPM asks again; one asking for nothing ends it (D37).
        if (crqst->ne_worst_link || crqst->ne_worst_path || crqst->rx_worst_path)
            p->congestion_request = *crqst;
        else
            p->congestion_request.reset();
    }
    if (first) {
        // R4: losses found before the first SPM start their back-off now, all together.
        const Duration backoff = draw(config_.nak_bo_ivl);
        for (std::size_t i = 0; i < p->slots.size(); ++i) {
            if (p->slots[i].state == SqnState::BackOff && p->slots[i].deadline == kNever)
                apply(*p, p->next + static_cast<std::uint32_t>(i), SqnEvent::NakingEnabled, now,
                      backoff);
        }
    }
    // R5: no window information in SPMs with OPT_NBR_UNREACH or the no-window marker.
    const bool window =
        !v.nbr_unreach() && !(f.trail.value() == kNoWindowTrail && f.lead.value() == kNoWindowLead);
    if (window && !p->started) {
        if (!SqnWindow{f.trail, f.lead}.empty()) {
            p->advertised = true;
            p->advertised_trail = f.trail;
        } else if (f.lead + 1 == f.trail) {
            // An empty window (the source has sent nothing yet, e.g. OpenPGM's first SPMs:
            // trail 0, lead 2^32-1): its next ODATA is SPM_TRAIL, so data after it means the
            // first packets were lost, not that we joined late. Start there, as OPT_JOIN_MIN
            // would, so they are NAKed rather than silently skipped (OpenPGM does the same).
            p->advertised_join = f.trail;
        }
    } else if (window) {
        if (f.lead > p->lead) open_until(*p, f.lead + 1, now, 0);  // R6: loss from SPM_LEAD
        advance_trail(*p, f.trail, now);                           // stale values are ignored
    }
    if (!p->started) {
        if (auto join = v.join()) p->advertised_join = join->min_sqn;
    }
    deliver(*p);
    enforce_bytes(*p, now);
    if (auto rst = v.rst()) {
        if (rst->no_naks) {
            end_session(*p, EndReason::Reset, now);  // R18: no NAK will be answered
            return;
        }
        start_linger(*p, EndReason::Reset, now);
    } else if (v.fin()) {
        start_linger(*p, EndReason::Fin, now);
    }
}

// R1: the window starts at the first data packet inside the advertised window.
bool Receiver::start_window(Peer& p, const PacketView& v) {
    const DataFields& f = *v.get<DataFields>();
    if (p.advertised && f.sqn < p.advertised_trail) return false;
    Sqn init = f.sqn;
    std::optional<Sqn> join = v.join() ? std::optional<Sqn>(v.join()->min_sqn) : p.advertised_join;
    if (join && *join < f.sqn && offset(f.sqn, *join) < config_.max_window_sqns) {
        // OPT_JOIN_MIN sets RXW_TRAIL_INIT, but not before what the source still holds.
        init = *join;
        if (f.trail > init && f.trail <= f.sqn) init = f.trail;
        if (p.advertised && p.advertised_trail > init && p.advertised_trail <= f.sqn)
            init = p.advertised_trail;
    }
    p.started = true;
    p.trail_init = init;
    p.next = init;
    p.lead = init - 1;
    return true;
}

void Receiver::on_data(const Arrival& a, const PacketView& v, Time now) {
    ++(v.header.type == PacketType::Odata ? stats_.odata : stats_.rdata);
    Peer* p = find_peer(v.header.tsi());
    if (!p) p = create_peer(v, a, now);
    if (!p || p->ended) return;
    p->expire_at = now + config_.peer_expiry;
    if (!p->spm_seen) p->source = a.ip.source;  // until an SPM names it
    if (!p->started && !start_window(*p, v)) {
        ++stats_.out_of_window;
        return;
    }
    // R16: data before any SPM: ask for one after a back-off.
    if (!p->spm_seen && p->spmr_at == kNever) p->spmr_at = now + draw(config_.spmr_bo_ivl);

    const DataFields& f = *v.get<DataFields>();
    const Sqn sqn = f.sqn;
    const Bytes payload = v.payload();
    const DataRef data{payload, v.fragment()};
    if (data.fragment && !fragment_sane(sqn, *data.fragment, payload.size())) {
        ++stats_.malformed_fragments;
        return;
    }
    p->max_payload = std::max(p->max_payload, payload.size());
    if (p->slots.empty() && sqn == p->next && sqn == p->lead + 1 && !data.fragment && p->tgs == 0 &&
        !(f.trail > sqn)) {
        // The common case, in order with nothing waiting: delivered at once, exactly as
        // apply() (a new Received slot) and deliver() (its APDU, the slot gone) would, and as
        // the calls below would leave it (no bound reached, no trail passed, no FEC group),
        // without a slot being made.
        note_loss_sample(*p, false);
        ++p->next;
        p->lead = sqn;
        flush_loss();
        ++stats_.delivered_apdus;
        stats_.delivered_bytes += payload.size();
        events_.push_back(
            DataEvent{p->tsi, sqn, std::vector<std::uint8_t>(payload.begin(), payload.end())});
        if (v.fin()) start_linger(*p, EndReason::Fin, now);
        return;
    }
    if (sqn < p->next) {
        // R2: already delivered or reported, or before the window.
        ++(sqn >= p->trail_init ? stats_.duplicates : stats_.out_of_window);
    } else if (refuse(*p, sqn, payload.size())) {
        ++stats_.window_refused;  // not stored, NAKed later: a bound costs a repair, not data
        if (sqn > p->lead) open_until(*p, sqn, now, 0);  // the gap within the bound is NAKed
    } else {
        if (sqn > p->lead) {
            open_until(*p, sqn, now, 1);  // R6: loss from the sequence gap
            note_loss_sample(*p, false);  // arrived first time round (R21)
        }
        const bool fresh = p->slots.empty() || sqn > p->lead || is_waiting(p->at(sqn).state);
        if (fresh) make_room(*p, payload.size(), sqn, now);
        if (!apply(*p, sqn, SqnEvent::Data, now, {}, {}, &data).legal) ++stats_.out_of_window;
        if (p->tgs != 0) {
            const Sqn tg = tg_of(p->tgs, sqn);
            if (v.curr_tgsize()) p->groups[tg.value()].variable_size = true;
            auto it = p->groups.find(tg.value());
            if (it != p->groups.end() && !it->second.parity.empty()) recover(*p, tg, now);
        }
    }
    advance_trail(*p, f.trail, now);  // R5: OD_TRAIL / RD_TRAIL
    deliver(*p);
    enforce_bytes(*p, now);
    if (v.fin()) start_linger(*p, EndReason::Fin, now);
}

// NCF, or a multicast NAK of another receiver: suppression and restart (R7, R8, R12, R13).
void Receiver::on_ncf_or_nak(const PacketView& v, Time now) {
    const bool ncf = v.header.type == PacketType::Ncf;
    ++(ncf ? stats_.ncfs_received : stats_.naks_heard);
    Peer* p = find_peer(v.header.tsi());
    if (!p || p->ended || !p->started) return;
    const SqnEvent event = ncf ? SqnEvent::NcfHeard : SqnEvent::NakHeard;
    auto one = [&](Sqn sqn) {
        if (p->in_window(sqn) && is_waiting(p->at(sqn).state))
            apply(*p, sqn, event, now);
        else
            ++stats_.ignored_nak_sqns;  // R12
    };
    one(v.get<NakFields>()->sqn);
    if (auto list = v.nak_list()) {
        for (std::size_t i = 0; i < list->size(); ++i)
            one((*list)[i]);
    }
}

bool Receiver::fragment_sane(Sqn sqn, const OptFragment& f, std::size_t payload) const {
    return f.first_sqn <= sqn && offset(sqn, f.first_sqn) < config_.max_window_sqns &&
           f.offset <= f.apdu_length && payload <= f.apdu_length - f.offset;
}

// --- FEC (R19) ------------------------------------------------------------------------------

const FecCodec& Receiver::codec(std::uint32_t k) {
    std::unique_ptr<FecCodec>& c = codecs_[k];
    if (!c) c = std::make_unique<FecCodec>(k, kFecMaxN);
    return *c;
}

// A parity ODATA (proactive) or RDATA (on demand): kept with its group, which is then
// rebuilt if it can be.
void Receiver::on_parity(const Arrival& /*a*/, const PacketView& v, Time now) {
    ++stats_.parity_packets;
    Peer* p = find_peer(v.header.tsi());
    if (!p || p->ended || !p->started || p->tgs == 0 || !config_.fec) {
        ++stats_.parity_ignored;  // no window or no TGS to place it in
        return;
    }
    p->expire_at = now + config_.peer_expiry;
    const DataFields& f = *v.get<DataFields>();
    const std::uint32_t k = p->tgs;
    const Sqn tg(f.sqn.value() & ~(k - 1));
    const Sqn last = tg + (k - 1);
    // §11.2: parity index j = PKT_SQN + k * OPT_PARITY_GRP.
    const std::uint64_t j =
        (f.sqn.value() & (k - 1)) + std::uint64_t{k} * (v.parity_grp() ? v.parity_grp()->group : 0);
    std::optional<FecOption> option;
    if (auto o = v.find(OptionType::Fragment)) {
        option.emplace();
        (*option)[0] = o->byte3;
        std::copy(o->value.begin(), o->value.end(), option->begin() + 1);
    }
    // Over the memory bound parity is not kept: selective repair still works.
    const bool usable =
        k + j < kFecMaxN && last >= p->next && offset(last, p->next) < config_.max_window_sqns &&
        std::uint64_t{p->bytes} + p->group_bytes + v.payload().size() <= config_.max_window_bytes;
    Group* g = nullptr;
    if (usable) {
        g = &p->groups[tg.value()];
        if (v.curr_tgsize()) g->variable_size = true;
        if (g->variable_size) g = nullptr;  // a shorter group: not decoded (see Group)
    }
    if (g) {
        for (const Group::Parity& q : g->parity) {
            if (q.index == k + j) g = nullptr;  // a duplicate
        }
        if (g && g->parity.size() >= k) g = nullptr;  // k of them rebuild anything
    }
    if (!g) {
        ++stats_.parity_ignored;
    } else {
        const Bytes tsdu = v.payload();
        p->group_bytes += tsdu.size();
        g->parity.push_back(Group::Parity{static_cast<unsigned>(k + j),
                                          std::vector<std::uint8_t>(tsdu.begin(), tsdu.end()),
                                          option, v.header.var_pktlen()});
        // Parity of a group means all of it was sent: a gap up to its end is a loss (as R6).
        if (last > p->lead) open_until(*p, last + 1, now, 0);
        recover(*p, tg, now);  // `g` may be gone once the window moved: not used below
    }
    advance_trail(*p, f.trail, now);  // R5
    deliver(*p);
    enforce_bytes(*p, now);
}

// A parity NCF confirms, and another receiver's parity NAK for at least as many packets as we
// miss suppresses (R11), every waiting sequence of the group.
void Receiver::on_parity_ncf_or_nak(Peer& p, const PacketView& v, Time now) {
    const bool ncf = v.header.type == PacketType::Ncf;
    ++(ncf ? stats_.parity_ncfs_received : stats_.naks_heard);
    if (p.ended || !p.started || p.tgs == 0) return;
    const std::uint32_t k = p.tgs;
    auto one = [&](Sqn entry) {
        const Sqn tg(entry.value() & ~(k - 1));
        const std::uint32_t count = (entry.value() & (k - 1)) + 1;
        std::uint32_t missing = 0;
        for (std::uint32_t i = 0; i < k; ++i) {
            if (p.in_window(tg + i) && is_waiting(p.at(tg + i).state)) ++missing;
        }
        if (missing == 0 || (!ncf && count < missing)) {
            ++stats_.ignored_nak_sqns;
            return;
        }
        for (std::uint32_t i = 0; i < k; ++i) {
            if (p.in_window(tg + i) && is_waiting(p.at(tg + i).state))
                apply(p, tg + i, ncf ? SqnEvent::NcfHeard : SqnEvent::NakHeard, now);
        }
    };
    one(v.get<NakFields>()->sqn);
    if (auto list = v.nak_list()) {
        for (std::size_t i = 0; i < list->size(); ++i)
            one((*list)[i]);
    }
}

// Rebuilds the waiting data packets of the group at `tg` once k of its packets (data, kept
// copies of delivered data, parity) are there.
void Receiver::recover(Peer& p, Sqn tg, Time now) {
    auto it = p.groups.find(tg.value());
    if (it == p.groups.end() || it->second.parity.empty() || it->second.variable_size) return;
    Group& g = it->second;
    const std::uint32_t k = p.tgs;
    std::vector<FecReceived> in;
    bool missing = false;
    for (std::uint32_t i = 0; i < k; ++i) {
        const Sqn s = tg + i;
        if (s < p.next) {
            if (g.delivered.size() == k && g.delivered[i])
                in.push_back(
                    FecReceived{i, g.delivered[i]->tsdu, g.delivered[i]->fragment, {}, false});
        } else if (p.in_window(s)) {
            const Slot& slot = p.at(s);
            if (slot.state == SqnState::Received) {
                in.push_back(FecReceived{i,
                                         slot.data,
                                         slot.fragment ? std::optional(slot.frag) : std::nullopt,
                                         {},
                                         false});
            } else if (is_waiting(slot.state)) {
                missing = true;
            }
        } else {
            missing = true;  // beyond the lead
        }
    }
    if (!missing) {
        p.group_bytes -= g.parity_bytes();
        g.parity.clear();  // nothing left to rebuild
        return;
    }
    if (in.size() + g.parity.size() < k) return;
    for (const Group::Parity& q : g.parity)
        in.push_back(FecReceived{q.index, q.tsdu, {}, q.option, q.var_pktlen});
    std::vector<FecRecovered> rebuilt;
    const FecError e = codec(k).recover(in, tg, rebuilt);
    // Used or useless (inconsistent: a NAK asks again): the parity goes either way. The
    // window may move below (make_room, open_until): `g` is not used after this.
    p.group_bytes -= g.parity_bytes();
    g.parity.clear();
    if (e != FecError::Ok) {
        ++stats_.parity_failed;
        return;
    }
    for (const FecRecovered& r : rebuilt) {
        const Sqn s = tg + r.index;
        if (s < p.next) continue;  // delivered or reported meanwhile
        if (p.in_window(s) && !is_waiting(p.at(s).state)) continue;
        if (r.fragment && !fragment_sane(s, *r.fragment, r.tsdu.size())) {
            ++stats_.malformed_fragments;
            continue;
        }
        if (refuse(p, s, r.tsdu.size())) {
            ++stats_.window_refused;  // as for data at the bound: NAKed again later
            continue;
        }
        if (s > p.lead) open_until(p, s, now, 1);
        make_room(p, r.tsdu.size(), s, now);
        if (s < p.next) continue;
        const DataRef d{r.tsdu, r.fragment};
        if (apply(p, s, SqnEvent::Data, now, {}, {}, &d).legal) ++stats_.parity_recovered;
    }
}

void Receiver::remember_head(Peer& p) {
    if (p.tgs == 0 || !config_.fec) return;
    Slot& s = p.slots.front();
    if (s.state != SqnState::Received || s.remembered) return;
    s.remembered = true;
    const std::uint32_t i = index_in_tg(p.tgs, p.next);
    if (i == p.tgs - 1) return;  // the group's last packet: no later one of it can be missing
    // Over the memory bound no copy is kept: the group is then repaired selectively.
    if (std::uint64_t{p.bytes} + p.group_bytes + s.data.size() > config_.max_window_bytes) return;
    Group& g = p.groups[tg_of(p.tgs, p.next).value()];
    if (g.variable_size) return;  // never decoded: nothing to keep for it
    if (g.delivered.size() != p.tgs) g.delivered.resize(p.tgs);
    if (g.delivered[i]) p.group_bytes -= g.delivered[i]->tsdu.size();
    g.delivered[i] = Group::Delivered{s.data, s.fragment ? std::optional(s.frag) : std::nullopt};
    p.group_bytes += s.data.size();
}

// Groups wholly before the window are of no more use.
void Receiver::prune_groups(Peer& p) {
    for (auto it = p.groups.begin(); it != p.groups.end();) {
        if (Sqn(it->first) + (p.tgs - 1) < p.next) {
            p.group_bytes -= it->second.bytes();
            it = p.groups.erase(it);
        } else {
            ++it;
        }
    }
}

// A multicast SPMR of another receiver: ours is not needed this round (R16).
void Receiver::on_spmr(const PacketView& v, Time now) {
    Peer* p = find_peer(v.header.tsi());
    if (!p || p->spmr_at == kNever) return;
    p->spmr_at = now + config_.spmr_repeat_ivl + draw(config_.spmr_bo_ivl);
    ++stats_.spmrs_suppressed;
}

// --- The state machine applied --------------------------------------------------------------

void Receiver::set_deadline(Peer& p, Sqn sqn, Slot& s, Time at) {
    if (s.deadline == at) return;
    if (s.deadline != kNever) p.timers_dirty = true;  // its entry is stale from now on
    s.deadline = at;
    if (at == kNever) return;
    p.timers.emplace_back(at, sqn.value());
    std::push_heap(p.timers.begin(), p.timers.end(), std::greater<>());
    p.timers_top = p.timers.front().first;
    if (p.timers.size() > 2 * p.waiting + kTimerSlack) compact_timers(p);
}

bool Receiver::timer_live(const Peer& p, const std::pair<Time, std::uint32_t>& entry) {
    const Sqn sqn(entry.second);
    return p.in_window(sqn) && p.at(sqn).deadline == entry.first;
}

// Drops the stale entries at the top of the heap: its top is then the earliest deadline.
void Receiver::settle_timers(Peer& p) {
    if (!p.timers_dirty) return;
    p.timers_dirty = false;
    while (!p.timers.empty() && !timer_live(p, p.timers.front())) {
        std::pop_heap(p.timers.begin(), p.timers.end(), std::greater<>());
        p.timers.pop_back();
    }
    p.timers_top = p.timers.empty() ? kNever : p.timers.front().first;
}

// Keeps only the live entries, each once.
void Receiver::compact_timers(Peer& p) {
    std::erase_if(p.timers, [&](const auto& e) { return !timer_live(p, e); });
    std::sort(p.timers.begin(), p.timers.end());
    p.timers.erase(std::unique(p.timers.begin(), p.timers.end()), p.timers.end());
    std::make_heap(p.timers.begin(), p.timers.end(), std::greater<>());
    p.timers_top = p.timers.empty() ? kNever : p.timers.front().first;
    if (p.timers.capacity() > 4 * (p.timers.size() + kTimerSlack))
        p.timers.shrink_to_fit();  // a burst of repairs is over: give the memory back
}

// After every call: the heap of `touched` (all peers: nullptr) settled and its deadline
// cached, then the receiver's earliest deadline. A packet touches one peer at most.
void Receiver::finish_call(Peer* touched) {
    if (touched && peers_.size() == 1) {  // the usual receiver: no map to walk
        settle_timers(*touched);
        deadline_ = touched->due = touched->next_deadline();
        return;
    }
    Time t = kNever;
    for (const auto& [tsi, p] : peers_) {
        if (!touched || p.get() == touched) {
            settle_timers(*p);
            p->due = p->next_deadline();
        }
        t = std::min(t, p->due);
    }
    deadline_ = t;
}

SqnTransition Receiver::apply(Peer& p, Sqn sqn, SqnEvent event, Time now,
                              std::optional<Duration> backoff, LossReason reason,
                              const DataRef* data) {
    SqnTransition tr;
    Slot* s = nullptr;
    bool was_waiting = false;
    if (p.slots.empty() || sqn > p.lead) {  // sqn == lead + 1: a new slot
        tr = sqn_transition_from_none(event);
        if (!tr.legal) return tr;
        s = &p.slots.emplace_back();
        p.lead = sqn;
        ++stats_.buffered_sqns;
    } else {
        s = &p.at(sqn);
        const bool exhausted =
            (event == SqnEvent::NcfTimeout && s->ncf_retries >= config_.nak_ncf_retries) ||
            (event == SqnEvent::DataTimeout && s->data_retries >= config_.nak_data_retries);
        tr = sqn_transition(s->state, event, exhausted);
        if (!tr.legal) return tr;
        was_waiting = is_waiting(s->state);
    }
    if (is_waiting(tr.next) != was_waiting) {
        if (was_waiting)
            --p.waiting;
        else
            ++p.waiting;
    }
    s->state = tr.next;
    if (sqn == p.next) p.head_waiting = false;
    const std::uint16_t act = tr.actions;
    Time deadline = s->deadline;
    if (act & kArmBackoff)
        deadline = p.spm_seen ? now + (backoff ? *backoff : draw(config_.nak_bo_ivl)) : kNever;
    if (act & kArmRptIvl) deadline = now + config_.nak_rpt_ivl;
    if (act & kArmRdataIvl) deadline = now + config_.nak_rdata_ivl;
    set_deadline(p, sqn, *s, is_waiting(tr.next) ? deadline : kNever);
    if (act & kCountNcfRetry) ++s->ncf_retries;
    if (act & kCountDataRetry) ++s->data_retries;
    if (act & kSendNak) nak_batch_.push_back(sqn);
    if (act & kSuppressed) ++stats_.naks_suppressed;
    if (act & kDuplicate) ++stats_.duplicates;
    if (act & kDeclareLost) {
        s->reason = loss_reason(event, reason);
        ++stats_.unrecoverable;
    }
    if (act & kDiscardData) {
        free_data(p, *s);
        s->reason = reason;
        ++stats_.discarded_fragments;
    }
    if ((act & kStoreData) && data) {
        s->data.assign(data->payload.begin(), data->payload.end());
        p.bytes += data->payload.size();
        stats_.buffered_bytes += data->payload.size();
        s->fragment = data->fragment.has_value();
        if (data->fragment) s->frag = *data->fragment;
    }
    return tr;
}

// --- Window movement --------------------------------------------------------------------------

// Creates missing slots for (lead, end), keeping room for `reserve` more after them; the
// oldest sequences give way if the window would exceed max_window_sqns.
void Receiver::open_until(Peer& p, Sqn end, Time now, std::size_t reserve) {
    const std::uint64_t max = config_.max_window_sqns;
    if (config_.window_full == WindowFull::RefuseNewest &&
        std::uint64_t{offset(end, p.next)} + reserve > max) {
        // Nothing is given up: open only up to the bound; what lies beyond is found again
        // (newer data, SPM_LEAD) once delivery has moved the window.
        end = p.next + static_cast<std::uint32_t>(max - std::min<std::uint64_t>(reserve, max));
    }
    if (std::uint64_t{offset(end, p.next)} + reserve > max) {
        const Sqn target = end - static_cast<std::uint32_t>(max - reserve);  // the new next
        while (!p.slots.empty() && p.next < target)
            evict_head(p, LossReason::WindowBound, now);
        if (p.next < target) skip_to(p, target, LossReason::WindowBound);
    }
    if (!(end > p.lead + 1)) return;
    const Duration backoff = draw(config_.nak_bo_ivl);  // one draw per detection (batched NAKs)
    for (Sqn s = p.lead + 1; s != end; ++s) {
        apply(p, s, SqnEvent::Detected, now, backoff);
        note_loss_sample(p, true);
    }
}

// RX_WP (R21, D37): every sequence entering the window is one sample, 1 when it entered
// missing, 0 when its data came first; weight 1/16, so a burst shows at once and fades
// over some tens of packets. A repair does not undo the sample: the path lost the packet.
void Receiver::note_loss_sample(Peer& p, bool lost) {
    const std::uint32_t sample = lost ? kCongestionFull : 0;
    p.loss_rate = static_cast<std::uint16_t>((std::uint32_t{p.loss_rate} * 15 + sample) / 16);
}

// R5, R7: the source no longer holds sequences before `trail`.
void Receiver::advance_trail(Peer& p, Sqn trail, Time now) {
    if (!p.started || !(trail > p.next)) return;  // stale or no change
    const bool beyond_lead = trail > p.lead + 1;
    const std::size_t n = std::min<std::size_t>(offset(trail, p.next), p.slots.size());
    for (std::size_t i = 0; i < n; ++i)
        apply(p, p.next + static_cast<std::uint32_t>(i), SqnEvent::TrailPassed, now);
    deliver(p);
    if (beyond_lead) {
        // Everything held is older than the trail: APDUs still incomplete cannot complete.
        while (!p.slots.empty())
            evict_head(p, LossReason::TrailAdvanced, now);
        if (p.next < trail) skip_to(p, trail, LossReason::TrailAdvanced);
    }
}

// WindowFull::RefuseNewest: whether a data packet for `sqn` is not to be stored. Only packets
// that open new slots are refused: beyond max_window_sqns, or when their payload would eat
// into what the repairs of the sequences already waiting will need. Repairs of waiting
// sequences are always taken (with make_room as the last resort), so delivery always moves.
bool Receiver::refuse(const Peer& p, Sqn sqn, std::size_t bytes) const {
    if (config_.window_full != WindowFull::RefuseNewest) return false;
    if (!p.slots.empty() && sqn <= p.lead) return false;
    if (offset(sqn, p.next) >= config_.max_window_sqns) return true;
    if (sqn == p.next) return false;  // the head: delivered at once, never refused
    const std::uint64_t reserve = std::uint64_t{p.waiting} * p.max_payload;
    return std::uint64_t{p.bytes} + bytes + reserve > config_.max_window_bytes;
}

// Before storing `bytes` for sequence `keep`: give up older sequences while they would not fit.
void Receiver::make_room(Peer& p, std::size_t bytes, Sqn keep, Time now) {
    while (p.bytes + bytes > config_.max_window_bytes && !p.slots.empty() && p.next < keep)
        evict_head(p, LossReason::WindowBound, now);
}

void Receiver::enforce_bytes(Peer& p, Time now) {
    while (p.bytes > config_.max_window_bytes && !p.slots.empty())
        evict_head(p, LossReason::WindowBound, now);
}

void Receiver::evict_head(Peer& p, LossReason reason, Time now) {
    apply(p, p.next, SqnEvent::Evicted, now, {}, reason);
    deliver(p);
}

// Sequences never seen, between the (empty) window and `sqn`, reported lost as one range.
void Receiver::skip_to(Peer& p, Sqn sqn, LossReason reason) {
    const std::uint32_t count = offset(sqn, p.next);
    report_loss(p.tsi, p.next, count, reason);
    stats_.unrecoverable += count;
    p.next = sqn;
    p.lead = sqn - 1;
}

void Receiver::free_data(Peer& p, Slot& s) {
    p.bytes -= s.data.size();
    stats_.buffered_bytes -= s.data.size();
    std::vector<std::uint8_t>().swap(s.data);
}

void Receiver::pop_head(Peer& p) {
    p.head_waiting = false;
    remember_head(p);
    free_data(p, p.slots.front());
    p.slots.pop_front();
    ++p.next;
    --stats_.buffered_sqns;
    p.assembled_slots = 0;
    p.assembled_bytes = 0;
}

// Fragments at the head forming one APDU (R3, §9.2): consecutive sequences from first_sqn with
// contiguous offsets up to OPT_FRAG_LEN.
Receiver::Assembly Receiver::assemble(Peer& p) {
    const Slot& head = p.slots.front();
    const std::uint32_t total = head.frag.apdu_length;
    if (total > config_.max_window_bytes || head.frag.offset != 0)
        return {Assembly::Broken, 1, LossReason::IncompleteApdu};
    for (std::size_t i = p.assembled_slots; i < p.slots.size(); ++i) {
        const Slot& s = p.slots[i];
        if (is_waiting(s.state)) return {Assembly::Wait};
        if (s.state == SqnState::Lost) return {Assembly::Broken, i, s.reason};
        if (!s.fragment || s.frag.first_sqn != p.next || s.frag.offset != p.assembled_bytes ||
            s.frag.apdu_length != total || p.assembled_bytes + s.data.size() > total)
            return {Assembly::Broken, std::max<std::size_t>(i, 1), LossReason::IncompleteApdu};
        p.assembled_bytes += s.data.size();
        p.assembled_slots = i + 1;
        if (p.assembled_bytes == total) return {Assembly::Complete, i + 1};
    }
    return {Assembly::Wait};
}

// Losses are coalesced into one LossEvent per contiguous run of one reason and TSI; the run
// is flushed before any other event and at the end of every call, so events stay in order.
void Receiver::report_loss(const Tsi& tsi, Sqn first, std::uint32_t count, LossReason reason) {
    if (loss_.count != 0 && loss_.tsi == tsi && loss_.reason == reason &&
        loss_.first_sqn + loss_.count == first &&
        loss_.count + std::uint64_t{count} <= 0xFFFFFFFFu) {
        loss_.count += count;
        return;
    }
    flush_loss();
    loss_ = LossEvent{tsi, first, count, reason};
}

void Receiver::flush_loss() {
    if (loss_.count != 0) events_.push_back(loss_);
    loss_.count = 0;
}

// R3: in order, whole APDUs; losses reported where they fall in the sequence.
void Receiver::deliver(Peer& p) {
    auto emit = [&](Sqn first, std::vector<std::uint8_t> apdu) {
        flush_loss();
        ++stats_.delivered_apdus;
        stats_.delivered_bytes += apdu.size();
        events_.push_back(DataEvent{p.tsi, first, std::move(apdu)});
    };
    auto give_up = [&](LossReason reason) {  // a received fragment that cannot be delivered
        report_loss(p.tsi, p.next, 1, reason);
        ++stats_.discarded_fragments;
        pop_head(p);
    };
    while (!p.slots.empty() && !p.head_waiting) {
        Slot& head = p.slots.front();
        if (is_waiting(head.state)) {
            p.head_waiting = true;
            break;
        }
        if (head.state == SqnState::Lost) {
            report_loss(p.tsi, p.next, 1, head.reason);
            pop_head(p);
            continue;
        }
        if (!head.fragment) {
            remember_head(p);
            std::vector<std::uint8_t> apdu = std::move(head.data);
            p.bytes -= apdu.size();
            stats_.buffered_bytes -= apdu.size();
            const Sqn first = p.next;
            pop_head(p);
            emit(first, std::move(apdu));
            continue;
        }
        if (head.frag.first_sqn != p.next) {
            // The APDU began before the window, or its head was lost: it dies with that loss.
            const bool follows_loss =
                loss_.count != 0 && loss_.tsi == p.tsi && loss_.first_sqn + loss_.count == p.next;
            give_up(follows_loss ? loss_.reason : LossReason::IncompleteApdu);
            continue;
        }
        const Assembly a = assemble(p);
        if (a.kind == Assembly::Wait) break;
        if (a.kind == Assembly::Broken) {
            for (std::size_t i = 0; i < a.slots; ++i)
                give_up(a.reason);
            continue;
        }
        std::vector<std::uint8_t> apdu;
        apdu.reserve(head.frag.apdu_length);
        for (std::size_t i = 0; i < a.slots; ++i)
            apdu.insert(apdu.end(), p.slots[i].data.begin(), p.slots[i].data.end());
        const Sqn first = p.next;
        for (std::size_t i = 0; i < a.slots; ++i)
            pop_head(p);
        emit(first, std::move(apdu));
    }
    if (!p.groups.empty()) prune_groups(p);
}

// --- Session end (R18) ----------------------------------------------------------------------

void Receiver::start_linger(Peer& p, EndReason reason, Time now) {
    if (p.end_at == kNever) p.end_at = now + config_.fin_linger;
    if (reason == EndReason::Reset) p.end_reason = reason;
}

void Receiver::end_session(Peer& p, EndReason reason, Time now) {
    while (!p.slots.empty())
        evict_head(p, LossReason::SessionEnded, now);
    p.timers.clear();
    p.timers_top = kNever;
    p.groups.clear();
    p.group_bytes = 0;
    std::deque<Slot>().swap(p.slots);
    flush_loss();
    events_.push_back(SessionEndEvent{p.tsi, reason});
    ++stats_.sessions_ended;
    p.ended = true;
    p.spmr_at = kNever;
    p.end_at = kNever;
    p.expire_at = now + config_.peer_expiry;  // tombstone
}

// --- Timers ---------------------------------------------------------------------------------

void Receiver::on_timer(Time now, Output& out) {
    for (auto it = peers_.begin(); it != peers_.end();) {
        Peer& p = *it->second;
        if (!p.ended && p.next_deadline() <= now) timer_peer(p, now, out);
        if (p.ended && p.expire_at <= now) {
            if (it->second.get() == last_peer_) last_peer_ = nullptr;
            it = peers_.erase(it);
        } else {
            ++it;
        }
    }
    flush_loss();
    update_peaks();
    finish_call(nullptr);
}

void Receiver::timer_peer(Peer& p, Time now, Output& out) {
    // The expired entries in (deadline, sqn) order, each once; stale ones are skipped below.
    expired_.clear();
    while (!p.timers.empty() && p.timers.front().first <= now) {
        std::pop_heap(p.timers.begin(), p.timers.end(), std::greater<>());
        expired_.push_back(p.timers.back());
        p.timers.pop_back();
    }
    expired_.erase(std::unique(expired_.begin(), expired_.end()), expired_.end());
    p.timers_dirty = true;  // what is now on top was not checked
    nak_batch_.clear();
    for (const auto& [at, value] : expired_) {
        const Sqn sqn(value);
        if (!p.in_window(sqn) || p.at(sqn).deadline != at) continue;
        switch (p.at(sqn).state) {
            case SqnState::BackOff:
                apply(p, sqn, SqnEvent::BackoffExpired, now);
                break;
            case SqnState::WaitNcf:
                apply(p, sqn, SqnEvent::NcfTimeout, now);
                break;
            default:
                apply(p, sqn, SqnEvent::DataTimeout, now);
                break;
        }
    }
    // A deadline the transition left where it was (a zero interval) is still due: its entry
    // goes back.
    for (const auto& e : expired_) {
        if (timer_live(p, e)) {
            p.timers.push_back(e);
            std::push_heap(p.timers.begin(), p.timers.end(), std::greater<>());
            p.timers_top = p.timers.front().first;
        }
    }
    if (!nak_batch_.empty()) send_naks(p, nak_batch_, now, out);
    deliver(p);
    if (p.spmr_at <= now) {
        send_spmr(p, out);
        p.spmr_at = now + config_.spmr_repeat_ivl + draw(config_.spmr_bo_ivl);
    }
    if (p.end_at <= now)
        end_session(p, p.end_reason, now);
    else if (p.expire_at <= now)
        end_session(p, EndReason::Expired, now);
}

// --- Transmissions --------------------------------------------------------------------------

Transmit Receiver::transmit_to(const Nla& destination, std::uint8_t ttl) const {
    Transmit t;
    t.ifindex = config_.ifindex;
    t.ip_source = config_.address;
    t.ip_destination = destination;
    t.ttl = ttl;
    t.router_alert = false;
    t.encapsulation = config_.encapsulation;
    t.udp_port = config_.udp_port;
    return t;
}

// R9, R10, R13: oldest first, up to 63 sequences per NAK (header + 62 in OPT_NAK_LIST),
// unicast to the last SPM_PATH, NAK_SRC = the source, NAK_GRP = the group, ports upstream.
// R19: with on-demand parity, the losses of a full group go in one parity NAK entry,
// TG_SQN | (count - 1), count = its missing packets less the parity already held; its other
// sequences still backing off are NAKed with it. A group not known to be full (its last
// sequence not yet seen) is NAKed selectively.
void Receiver::send_naks(Peer& p, std::vector<Sqn>& sqns, Time now, Output& out) {
    auto older = [&](Sqn a, Sqn b) { return offset(a, p.next) < offset(b, p.next); };
    std::sort(sqns.begin(), sqns.end(), older);
    if (p.tgs == 0 || !p.ondemand || !config_.parity_naks || !config_.fec) {
        send_nak_packets(p, sqns, false, out);
        return;
    }
    const std::vector<Sqn> batch = std::move(sqns);
    sqns.clear();  // apply() below appends to it: not read again
    const std::uint32_t k = p.tgs;
    std::vector<Sqn> selective, parity;
    std::optional<Sqn> last_tg;
    for (Sqn s : batch) {
        const Sqn tg(s.value() & ~(k - 1));
        auto known = p.groups.find(tg.value());
        if (tg + (k - 1) > p.lead || (known != p.groups.end() && known->second.variable_size)) {
            selective.push_back(s);  // not known to be full, or shorter than TGS (§11.6)
            continue;
        }
        if (last_tg == tg) continue;
        last_tg = tg;
        std::uint32_t missing = 0;
        for (std::uint32_t i = 0; i < k; ++i) {
            const Sqn q = tg + i;
            if (!p.in_window(q) || !is_waiting(p.at(q).state)) continue;
            ++missing;
            // Its own back-off would only repeat this NAK.
            if (p.at(q).state == SqnState::BackOff && p.at(q).deadline != kNever)
                apply(p, q, SqnEvent::BackoffExpired, now);
        }
        auto g = p.groups.find(tg.value());
        const std::uint32_t held =
            g == p.groups.end() ? 0 : static_cast<std::uint32_t>(g->second.parity.size());
        const std::uint32_t count = missing > held ? missing - held : 1;
        parity.push_back(encode_parity_sqn(tg, static_cast<std::uint16_t>(count)));
    }
    send_nak_packets(p, parity, true, out);
    send_nak_packets(p, selective, false, out);
}

void Receiver::send_nak_packets(Peer& p, std::span<const Sqn> all, bool parity, Output& out) {
    for (std::size_t i = 0; i < all.size(); i += kMaxNakSqns) {
        const std::span<const Sqn> chunk = all.subspan(i, std::min(kMaxNakSqns, all.size() - i));
        const auto written = write_packet(
            out, kMaxNakPacket, transmit_to(p.nak_target, config_.nak_ttl), [&](PacketWriter& w) {
                w.begin(PacketType::Nak, p.data_destination_port, p.tsi.source_port, p.tsi.gsi)
                    .flags(parity ? kOptParity : 0);
                w.nak(NakFields{chunk.front(), p.source, p.group});
                if (chunk.size() > 1) w.nak_list(chunk.subspan(1));
                if (p.congestion_request && config_.address.family() != Nla::Family::None) {
                    // R21: the fields asked for; the NE reports are the NEs' to fill (0 here).
                    const OptCrqst& r = *p.congestion_request;
                    w.cr(OptCr{r.ne_worst_link, r.ne_worst_path, r.rx_worst_path, p.lead, 0, 0,
                               r.rx_worst_path ? p.loss_rate : std::uint16_t{0}, config_.address});
                }
            });
        if (!written) continue;
        ++stats_.naks_sent;
        if (parity) ++stats_.parity_naks_sent;
        stats_.nak_sqns_sent += chunk.size();
    }
}

// R16 (App. C): a multicast copy with TTL 1 for the neighbours, then one unicast to the source.
void Receiver::send_spmr(Peer& p, Output& out) {
    const std::pair<Nla, std::uint8_t> copies[] = {{p.group, kSpmrMulticastTtl},
                                                   {p.source, config_.nak_ttl}};
    for (const auto& [destination, ttl] : copies) {
        const auto written =
            write_packet(out, kMaxSpmrPacket, transmit_to(destination, ttl), [&](PacketWriter& w) {
                w.begin(PacketType::Spmr, p.data_destination_port, p.tsi.source_port, p.tsi.gsi);
            });
        if (!written) continue;
        ++stats_.spmrs_sent;
    }
}

}  // namespace pgm
