#include "protocol/source.h"

#include <algorithm>
#include <cassert>
#include <span>

#include "protocol/random.h"
#include "protocol/writer.h"

namespace pgm {
namespace {

using std::chrono::nanoseconds;

constexpr std::int64_t kNanoPerSecond = 1'000'000'000;
constexpr std::size_t kMinTpdu = 512;  // room for an NCF echoing a full IPv6 OPT_NAK_LIST
constexpr std::size_t kMaxTpdu = 65535;
constexpr std::size_t kMaxRateBurst = 1'000'000'000;  // keeps the bucket in int64 nano-bytes
constexpr std::uint64_t kMaxRate = 1'000'000'000'000;
constexpr std::size_t kIpv6HeaderSize = 40;
constexpr std::size_t kIpv6RouterAlertSize = 8;  // hop-by-hop header with the RFC 2711 option
constexpr std::size_t kDataFieldsSize = 8;       // OD_SQN/RD_SQN + OD_TRAIL/RD_TRAIL
// Every data packet leaves room for OPT_LENGTH, OPT_SYN and OPT_FIN, so that the cut of an
// APDU does not depend on which of them a packet turns out to carry.
constexpr std::size_t kFlagOptionsSize = kOptLengthSize + 2 * kOptFlagOnlySize;
// With FEC a data TSDU leaves room for what its group's parity packets add (D32): the 2-byte
// length of OPT_VAR_PKTLEN, OPT_LENGTH, an encoded OPT_FRAGMENT and OPT_PARITY_GRP.
constexpr std::size_t kParityOverhead = 2 + kOptLengthSize + kOptFragmentSize + kOptParityGrpSize;

std::size_t ip_overhead_of(const SourceConfig& c, bool router_alert) {
    const bool v6 = c.group.is_ipv6();
    std::size_t n = v6 ? kIpv6HeaderSize : kIpv4HeaderSize;
    if (router_alert) n += v6 ? kIpv6RouterAlertSize : kRouterAlertOptionSize;
    if (c.encapsulation == Encapsulation::Udp) n += kUdpHeaderSize;
    return n;
}

// A random data-source port outside the well-known range and unlike the destination port.
std::uint16_t draw_source_port(const SourceConfig& c) {
    std::uint64_t state = c.seed;
    for (;;) {
        auto port = static_cast<std::uint16_t>(1024 + splitmix64(state) % (65536 - 1024));
        if (port != c.data_destination_port) return port;
    }
}

}  // namespace

bool SourceConfig::valid() const {
    const Duration zero = Duration::zero();
    return (address.is_ipv4() || address.is_ipv6()) && group.family() == address.family() &&
           group.is_multicast() && max_tpdu >= kMinTpdu && max_tpdu <= kMaxTpdu && txw_sqns >= 1 &&
           txw_sqns <= 0x7FFFFFFFu && txw_secs > zero && txw_max_rte > 0 &&
           txw_max_rte <= kMaxRate && rate_burst <= kMaxRateBurst && min_packet_interval >= zero &&
           ambient_spm > zero && ihb_min > zero && ihb_max >= ihb_min && rdata_delay >= zero &&
           txw_min_age >= zero && nak_hold >= zero && max_backlog_apdus > 0 &&
           max_backlog_bytes > 0 && max_pending_ncfs > 0 && (!source_port || *source_port != 0) &&
           (fec_k == 0 || (fec_params_valid(fec_k, fec_n) && fec_proactive <= fec_n - fec_k &&
                           txw_sqns >= fec_k));
}

const char* to_string(SourceState state) {
    switch (state) {
        case SourceState::Open:
            return "open";
        case SourceState::Draining:
            return "draining";
        case SourceState::Closing:
            return "closing";
        case SourceState::Reset:
            return "reset";
        case SourceState::Finished:
            return "finished";
    }
    return "unknown";
}

bool Source::PendingNcf::operator==(const PendingNcf& o) const {
    return sqn == o.sqn && list_size == o.list_size && parity == o.parity &&
           std::equal(list.begin(), list.begin() + list_size, o.list.begin());
}

// --- Token bucket ---------------------------------------------------------------------------

void Source::TokenBucket::configure(std::uint64_t bytes_per_sec, std::size_t depth_bytes,
                                    Time now) {
    rate_ = static_cast<std::int64_t>(std::clamp<std::uint64_t>(bytes_per_sec, 1, kMaxRate));
    depth_ = static_cast<std::int64_t>(std::min(depth_bytes, kMaxRateBurst)) * kNanoPerSecond;
    tokens_ = depth_;
    at_ = now;
}

void Source::TokenBucket::refill(Time now) {
    if (now <= at_) return;
    const std::int64_t elapsed = std::chrono::duration_cast<nanoseconds>(now - at_).count();
    at_ = now;
    const std::int64_t room = depth_ - tokens_;
    // rate_ nano-bytes per nanosecond of elapsed time is rate_ bytes per second.
    tokens_ = elapsed > room / rate_ ? depth_ : tokens_ + rate_ * elapsed;
}

bool Source::TokenBucket::take(std::size_t bytes, Time now) {
    refill(now);
    const std::int64_t need = static_cast<std::int64_t>(bytes) * kNanoPerSecond;
    if (tokens_ < need) return false;
    tokens_ -= need;
    return true;
}

Time Source::TokenBucket::ready_at(std::size_t bytes) const {
    const std::int64_t missing = static_cast<std::int64_t>(bytes) * kNanoPerSecond - tokens_;
    if (missing <= 0) return at_;
    return at_ + std::chrono::ceil<Duration>(nanoseconds((missing + rate_ - 1) / rate_));
}

// --- Life cycle -----------------------------------------------------------------------------

Source::Source(const SourceConfig& config, Time now) : config_(config), now_(now), created_(now) {
    // Keep the arithmetic below defined even for a configuration that is not valid().
    config_.max_tpdu = std::clamp(config_.max_tpdu, kMinTpdu, kMaxTpdu);
    config_.txw_sqns = std::clamp<std::uint32_t>(config_.txw_sqns, 1, 0x7FFFFFFFu);
    config_.ihb_min = std::max(config_.ihb_min, Duration(1));
    config_.ihb_max = std::max(config_.ihb_max, config_.ihb_min);
    config_.ambient_spm = std::max(config_.ambient_spm, Duration(1));

    tsi_ = Tsi{config_.gsi, config_.source_port.value_or(draw_source_port(config_))};
    buffer_size_ = config_.max_tpdu - ip_overhead_of(config_, config_.router_alert);
    const std::size_t room = buffer_size_ - kHeaderSize - kDataFieldsSize;
    single_tsdu_ = room - kFlagOptionsSize;
    fragment_tsdu_ = room - kFlagOptionsSize - kOptFragmentSize;
    if (config_.fec_k != 0 && fec_params_valid(config_.fec_k, config_.fec_n) &&
        config_.txw_sqns >= config_.fec_k) {
        fec_.emplace(config_.fec_k, config_.fec_n);
        config_.fec_proactive = std::min(config_.fec_proactive, config_.fec_n - config_.fec_k);
        single_tsdu_ = std::min(single_tsdu_, room - kParityOverhead);
        fragment_tsdu_ = std::min(fragment_tsdu_, room - kParityOverhead);
    } else {
        config_.fec_k = 0;  // not valid(): no FEC rather than undefined arithmetic
    }
    bucket_.configure(config_.txw_max_rte, std::max(config_.rate_burst, config_.max_tpdu), now);
    next_packet_at_ = now;
    trail_ = Sqn(config_.initial_sqn);  // empty window: trail = lead + 1, as OpenPGM starts
    update_edges();
    // The first SPM goes at once: OpenPGM receivers NAK only after they have seen one.
    spm_pending_ = true;
    reset_heartbeat(now);
}

std::size_t Source::max_apdu() const {
    const std::uint64_t by_window = std::uint64_t{fragment_tsdu_} * config_.txw_sqns;
    const std::uint64_t by_option = 0xFFFFFFFFu;  // OPT_FRAG_LEN
    const std::uint64_t fragmented = std::min(by_window, by_option);
    const std::uint64_t limit = std::max<std::uint64_t>(fragmented, single_tsdu_);
    return static_cast<std::size_t>(std::min<std::uint64_t>(limit, config_.max_backlog_bytes));
}

bool Source::send(Bytes apdu, Time now) {
    now_ = std::max(now_, now);
    if (state_ != SourceState::Open || apdu.size() > max_apdu() ||
        backlog_.size() >= config_.max_backlog_apdus ||
        backlog_bytes_ + apdu.size() > config_.max_backlog_bytes) {
        return false;
    }
    backlog_.emplace_back(apdu.begin(), apdu.end());
    backlog_bytes_ += apdu.size();
    return true;
}

void Source::close(Time now) {
    now_ = std::max(now_, now);
    if (state_ != SourceState::Open) return;
    if (backlog_.empty()) {
        enter_closing(now_);
    } else {
        state_ = SourceState::Draining;  // the last ODATA will carry OPT_FIN
    }
}

void Source::enter_closing(Time now) {
    state_ = SourceState::Closing;
    spm_pending_ = true;  // S16: FIN at once, then heartbeats from IHB_MIN
    blocked_size_ = 0;
    reset_heartbeat(now);
    end_at_ = now + config_.txw_secs;
}

void Source::reset(std::uint8_t error_code, bool no_naks, Time now) {
    now_ = std::max(now_, now);
    if (state_ == SourceState::Reset || state_ == SourceState::Finished) return;
    state_ = SourceState::Reset;
    rst_ = OptRst{no_naks, static_cast<std::uint8_t>(error_code & kRstErrorMask)};
    stats_.apdus_discarded += backlog_.size();
    backlog_.clear();
    backlog_bytes_ = 0;
    apdu_offset_ = 0;
    if (no_naks) {
        ncfs_.clear();
        clear_repairs();
    }
    spm_pending_ = true;
    blocked_size_ = 0;
    reset_heartbeat(now_);
    end_at_ = now_ + config_.txw_secs;
}

void Source::finish() {
    state_ = SourceState::Finished;
    backlog_.clear();
    backlog_bytes_ = 0;
    ncfs_.clear();
    clear_repairs();
    proactive_.clear();
    trail_ = trail_ + count_;  // empty window after the last lead
    count_ = 0;
    head_ = 0;
    ring_ = {};
    arena_ = PacketArena();  // the window's memory goes with it
    update_edges();
    spm_pending_ = false;
    next_ambient_ = next_heartbeat_ = end_at_ = kNever;
}

void Source::reset_heartbeat(Time now) {
    ihb_ = config_.ihb_min;
    next_heartbeat_ = now + ihb_;
}

// --- Clock ----------------------------------------------------------------------------------

void Source::on_timer(Time now, Output& out) {
    now = std::max(now, now_);
    advance(now);
    pump(now, out);
}

void Source::advance(Time now) {
    now_ = now;
    if (state_ == SourceState::Finished) return;
    if ((state_ == SourceState::Closing || state_ == SourceState::Reset) && now >= end_at_) {
        finish();
        return;
    }
    while (count_ > 0 && ring_[head_].sent + config_.txw_secs <= now)
        pop_window();  // TXW_SECS: the trail advances with time
    if (now >= next_ambient_) {
        spm_pending_ = true;
        next_ambient_ = kNever;  // re-armed when the SPM goes out
    }
    if (now >= next_heartbeat_) {
        spm_pending_ = true;
        ihb_ = std::min(ihb_ * 2, config_.ihb_max);
        next_heartbeat_ = now + ihb_;
    }
    count_rate(0, now);
}

Time Source::next_deadline() const {
    if (state_ == SourceState::Finished) return kNever;
    Time t = std::min({next_ambient_, next_heartbeat_, end_at_});
    if (count_ > 0) t = std::min(t, ring_[head_].sent + config_.txw_secs);
    bool ready = !ncfs_.empty() || spm_pending_ || !proactive_.empty();
    if (!backlog_.empty() && (state_ == SourceState::Open || state_ == SourceState::Draining)) {
        if (window_admits(now_)) {
            ready = true;
        } else {
            t = std::min(t, trail_release_at());  // kNever: the queued repair's deadline wakes us
        }
    }
    if (!repairs_.empty()) {
        if (repairs_.front().due > now_) {
            t = std::min(t, repairs_.front().due);
        } else {
            ready = true;
        }
    }
    if (ready) t = std::min(t, std::max(next_packet_at_, bucket_.ready_at(blocked_size_)));
    return t;
}

// --- Sending --------------------------------------------------------------------------------

std::optional<Source::Kind> Source::head_of_line(Time now) {
    // S5: NCFs, then SPMs, then data; among data, repairs before new data.
    if (!ncfs_.empty()) return Kind::Ncf;
    if (spm_pending_) return Kind::Spm;
    while (!repairs_.empty() && !repair_in_window(repairs_.front())) {
        repairs_.pop_front();  // its packet left the window (TXW_SECS) while it waited
        ++stats_.repairs_expired;
    }
    if (!repairs_.empty() && repairs_.front().due <= now) return Kind::Rdata;
    while (!proactive_.empty() && !group_in_window(proactive_.front()))
        proactive_.pop_front();  // possible only with TXW_SECS shorter than a group takes
    if (!proactive_.empty()) return Kind::Parity;
    if (!backlog_.empty() && (state_ == SourceState::Open || state_ == SourceState::Draining)) {
        if (window_admits(now)) {
            window_stalled_ = false;
            return Kind::Odata;
        }
        if (!window_stalled_) ++stats_.window_stalls;  // back-pressure: wait, do not lose
        window_stalled_ = true;
    }
    return std::nullopt;
}

void Source::pump(Time now, Output& out, bool new_data) {
    blocked_size_ = 0;
    while (std::optional<Kind> kind = head_of_line(now)) {
        if (!new_data && (*kind == Kind::Odata || *kind == Kind::Parity)) return;
        if (now < next_packet_at_) return;  // S4: inter-packet bound
        MutableBytes buf = out.begin(buffer_size_);
        const std::optional<std::size_t> size = write(*kind, buf);
        const Transmit t = transmit(*kind);
        if (!size) {
            // Sizes are chosen so that this cannot happen; never spin on it if it does.
            out.abandon();
            discard_head(*kind);
            continue;
        }
        const std::size_t wire_size = *size + ip_overhead_of(config_, t.router_alert);
        if (!bucket_.take(wire_size, now)) {  // S2, S4: TXW_MAX_RTE over all bytes
            out.abandon();
            blocked_size_ = wire_size;
            return;
        }
        out.commit(t, *size);
        sent(*kind, *size, wire_size, now);
        next_packet_at_ = now + config_.min_packet_interval;
    }
}

std::optional<std::size_t> Source::write(Kind kind, MutableBytes buf) const {
    PacketWriter w(buf);
    switch (kind) {
        case Kind::Ncf: {
            // S11, S14: the NAK confirmed, its list echoed; downstream port orientation.
            const PendingNcf& n = ncfs_.front();
            w.begin(PacketType::Ncf, tsi_.source_port, config_.data_destination_port, tsi_.gsi)
                .flags(n.parity ? kOptParity : 0)
                .nak(NakFields{n.sqn, config_.address, config_.group});
            if (n.list_size > 0) w.nak_list(std::span<const Sqn>(n.list.data(), n.list_size));
            return w.finish();
        }
        case Kind::Spm: {
            // S9: own sequence, the window, our own NLA as the path.
            const SqnWindow win = window();
            w.begin(PacketType::Spm, tsi_.source_port, config_.data_destination_port, tsi_.gsi)
                .spm(SpmFields{spm_sqn_, win.trail, win.lead, config_.address});
            if (fec_) {
                w.parity_prm(
                    OptParityPrm{config_.fec_proactive > 0, config_.fec_ondemand, config_.fec_k});
            }
            if (state_ == SourceState::Closing) w.fin();
            if (state_ == SourceState::Reset) w.rst(rst_);
            return w.finish();
        }
        case Kind::Rdata: {
            const PendingRepair& r = repairs_.front();
            if (r.parity) {
                return write_parity(buf, PacketType::Rdata, r.sqn, ring_[slot(r.sqn)].parity_next);
            }
            // S13: RD_TRAIL is the trail now, not the one the ODATA carried.
            const TxPacket& p = ring_[slot(r.sqn)];
            return write_data(buf, PacketType::Rdata, p.sqn, trail_,
                              DataDesc{p.tsdu(), p.fragment, p.syn, p.fin});
        }
        case Kind::Parity:
            return write_parity(buf, PacketType::Odata, proactive_.front(),
                                ring_[slot(proactive_.front())].parity_next);
        case Kind::Odata:
            return write_data(buf, PacketType::Odata, window().lead + 1, next_odata_trail(),
                              next_odata());
    }
    return std::nullopt;
}

std::optional<std::size_t> Source::write_parity(MutableBytes buf, PacketType type, Sqn tg,
                                                std::uint32_t index) const {
    // §11.2 (S20): parity packet j of a group reuses the group's sequence numbers, TG_SQN |
    // (j mod k), with OPT_PARITY_GRP = j div k beyond the first k.
    const std::uint32_t k = fec_->k();
    const std::uint32_t j = index % (fec_->n() - k);
    std::vector<FecData> data(k);
    for (std::uint32_t i = 0; i < k; ++i) {
        const TxPacket& p = ring_[slot(tg + i)];
        data[i] = FecData{p.tsdu(), p.fragment};
    }
    FecParity parity;
    fec_->encode(data, j, parity);
    PacketWriter w(buf);
    w.begin(type, tsi_.source_port, config_.data_destination_port, tsi_.gsi)
        .flags(static_cast<std::uint8_t>(kOptParity | (parity.var_pktlen ? kOptVarPktlen : 0)))
        .data(DataFields{tg + j % k, trail_});
    if (j >= k) w.parity_grp(OptParityGrp{j / k});
    if (parity.option) {
        const FecOption& o = *parity.option;
        w.raw_option(static_cast<std::uint8_t>(OptionType::Fragment), kOptEncoded, o[0],
                     Bytes(o).subspan(1));
    }
    return w.payload(parity.tsdu).finish();
}

bool Source::group_in_window(Sqn tg) const {
    return fec_ && window().contains(tg) && window().contains(tg + (fec_->k() - 1));
}

bool Source::repair_in_window(const PendingRepair& r) const {
    return r.parity ? group_in_window(r.sqn) : window().contains(r.sqn);
}

std::optional<std::size_t> Source::write_data(MutableBytes buf, PacketType type, Sqn sqn, Sqn trail,
                                              const DataDesc& d) const {
    PacketWriter w(buf);
    w.begin(type, tsi_.source_port, config_.data_destination_port, tsi_.gsi)
        .data(DataFields{sqn, trail});
    if (d.fragment) w.fragment(*d.fragment);
    if (d.syn) w.syn();
    if (d.fin) w.fin();
    return w.payload(d.tsdu).finish();
}

Transmit Source::transmit(Kind kind) const {
    Transmit t;
    t.ifindex = config_.ifindex;
    t.ip_source = config_.address;
    t.ip_destination = config_.group;  // everything a source sends is multicast
    t.ttl = config_.ttl;
    t.router_alert = config_.router_alert && kind != Kind::Odata && kind != Kind::Parity;  // S10
    t.encapsulation = config_.encapsulation;
    t.udp_port = config_.udp_port;
    return t;
}

void Source::sent(Kind kind, std::size_t size, std::size_t wire_size, Time now) {
    stats_.total_bytes_sent += size;
    count_rate(wire_size, now);
    switch (kind) {
        case Kind::Ncf:
            ++stats_.ncfs_sent;
            ncfs_.pop_front();
            break;
        case Kind::Spm:
            ++stats_.spms_sent;
            ++spm_sqn_;
            spm_pending_ = false;
            next_ambient_ = now + config_.ambient_spm;  // S6: at least one per interval
            break;
        case Kind::Rdata: {
            ++stats_.repair_packets_sent;
            TxPacket& p = ring_[slot(repairs_.front().sqn)];
            if (repairs_.front().parity) {
                ++stats_.parity_rdata_sent;
                --p.parity_queued;
                ++p.parity_next;  // a fresh parity index for the next request
            } else {
                p.repair_queued = false;
            }
            repairs_.pop_front();
            break;
        }
        case Kind::Parity:
            ++stats_.parity_odata_sent;
            ++ring_[slot(proactive_.front())].parity_next;
            proactive_.pop_front();
            reset_heartbeat(now);  // S7: parity ODATA is data too
            break;
        case Kind::Odata: {
            const DataDesc d = next_odata();
            push_window(d, now);
            ++stats_.odata_packets_sent;
            stats_.data_bytes_sent += d.tsdu.size();
            syn_sent_ = true;
            if (d.fragment && d.fragment->offset == 0) apdu_first_sqn_ = d.fragment->first_sqn;
            apdu_offset_ += d.tsdu.size();
            if (d.last_of_apdu) {
                backlog_bytes_ -= backlog_.front().size();
                backlog_.pop_front();
                apdu_offset_ = 0;
            }
            reset_heartbeat(now);  // S7
            // S20: proactive parity after the last data packet of a full group.
            const Sqn lead = window().lead;
            if (fec_ && config_.fec_proactive > 0 && (lead.value() + 1) % fec_->k() == 0) {
                const Sqn tg = lead - (fec_->k() - 1);
                if (group_in_window(tg))
                    proactive_.insert(proactive_.end(), config_.fec_proactive, tg);
            }
            if (state_ == SourceState::Draining && backlog_.empty()) enter_closing(now);
            break;
        }
    }
}

void Source::discard_head(Kind kind) {
    switch (kind) {
        case Kind::Ncf:
            ncfs_.pop_front();
            break;
        case Kind::Spm:
            spm_pending_ = false;
            break;
        case Kind::Rdata:
            if (repairs_.front().parity) {
                --ring_[slot(repairs_.front().sqn)].parity_queued;
            } else {
                ring_[slot(repairs_.front().sqn)].repair_queued = false;
            }
            repairs_.pop_front();
            break;
        case Kind::Parity:
            proactive_.pop_front();
            break;
        case Kind::Odata:
            ++stats_.apdus_discarded;
            backlog_bytes_ -= backlog_.front().size();
            backlog_.pop_front();
            apdu_offset_ = 0;
            break;
    }
}

void Source::count_rate(std::size_t wire_size, Time now) {
    const std::int64_t second =
        std::chrono::duration_cast<std::chrono::seconds>(now - created_).count();
    if (second != rate_second_) {
        stats_.rate_bytes_per_sec = second == rate_second_ + 1 ? rate_bytes_ : 0;
        rate_second_ = second;
        rate_bytes_ = 0;
    }
    rate_bytes_ += wire_size;
}

// --- Data and the transmit window -----------------------------------------------------------

Source::DataDesc Source::next_odata() const {
    const std::vector<std::uint8_t>& apdu = backlog_.front();
    DataDesc d;
    d.syn = !syn_sent_;  // S15: the first ODATA of the session
    if (apdu.size() <= single_tsdu_) {
        d.tsdu = Bytes(apdu);
    } else {
        // S19: consecutive sequence numbers; offset and APDU length in every fragment.
        const std::size_t length = std::min(fragment_tsdu_, apdu.size() - apdu_offset_);
        d.tsdu = Bytes(apdu).subspan(apdu_offset_, length);
        const Sqn first = apdu_offset_ == 0 ? window().lead + 1 : apdu_first_sqn_;
        d.fragment = OptFragment{first, static_cast<std::uint32_t>(apdu_offset_),
                                 static_cast<std::uint32_t>(apdu.size())};
        d.last_of_apdu = apdu_offset_ + length == apdu.size();
    }
    // S16: the last ODATA after close() carries OPT_FIN.
    d.fin = state_ == SourceState::Draining && d.last_of_apdu && backlog_.size() == 1;
    return d;
}

Sqn Source::next_odata_trail() const {
    return count_ == config_.txw_sqns ? trail_ + 1 : trail_;  // the oldest falls out (S3)
}

Time Source::trail_release_at() const {
    if (count_ == 0) return Time::min();
    const TxPacket& p = ring_[head_];
    if (p.repair_queued || p.parity_queued > 0) return kNever;
    Time at = p.sent + config_.txw_min_age;
    if (p.nak_at != kNever) at = std::max(at, p.nak_at + config_.nak_hold);
    return at;
}

bool Source::window_admits(Time now) const {
    return count_ < config_.txw_sqns || trail_release_at() <= now;
}

void Source::push_window(const DataDesc& d, Time now) {
    if (count_ == config_.txw_sqns) pop_window();
    if (count_ == ring_.size()) {
        std::rotate(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(head_), ring_.end());
        head_ = 0;
        ring_.resize(
            std::min<std::size_t>(std::max<std::size_t>(2 * ring_.size(), 16), config_.txw_sqns));
    }
    TxPacket& p = ring_[(head_ + count_) % ring_.size()];
    p.sqn = trail_ + count_;
    p.sent = now;
    assert(p.storage.data == nullptr && d.tsdu.size() <= PacketArena::kMaxBuffer);
    p.storage = arena_.allocate(d.tsdu.size());
    std::copy(d.tsdu.begin(), d.tsdu.end(), p.storage.data);
    p.tsdu_size = static_cast<std::uint32_t>(d.tsdu.size());
    p.fragment = d.fragment;
    p.syn = d.syn;
    p.fin = d.fin;
    p.repair_queued = false;
    p.nak_at = kNever;
    p.parity_queued = 0;
    p.parity_next = 0;
    ++count_;
    update_edges();
}

void Source::pop_window() {
    arena_.release(ring_[head_].storage);
    ring_[head_].storage = {};
    ring_[head_].repair_queued = false;
    head_ = (head_ + 1) % ring_.size();
    --count_;
    ++trail_;
    update_edges();
}

std::size_t Source::slot(Sqn sqn) const {
    return (head_ + static_cast<std::size_t>(sqn.distance_from(trail_))) % ring_.size();
}

void Source::update_edges() {
    stats_.trailing_edge = trail_;
    stats_.leading_edge = trail_ + count_ - 1;
}

void Source::clear_repairs() {
    for (const PendingRepair& r : repairs_) {
        if (!repair_in_window(r)) continue;
        if (r.parity) {
            ring_[slot(r.sqn)].parity_queued = 0;
        } else {
            ring_[slot(r.sqn)].repair_queued = false;
        }
    }
    repairs_.clear();
}

// --- Packets in -----------------------------------------------------------------------------

void Source::on_packet(const Arrival& /*arrival*/, Bytes pgm, Time now, Output& out) {
    now = std::max(now, now_);
    advance(now);
    const ParseResult r = parse(pgm);
    if (!r) {
        ++stats_.packets_malformed;
    } else {
        const Header& h = r.view.header;
        const bool ours = h.gsi == tsi_.gsi && h.data_source_port() == tsi_.source_port &&
                          h.data_destination_port() == config_.data_destination_port;
        if (!ours || state_ == SourceState::Finished) {
            ++stats_.packets_ignored;
        } else if (h.type == PacketType::Nak) {
            on_nak(r.view, now);
        } else if (h.type == PacketType::Nnak) {
            ++stats_.nnaks_received;
        } else if (h.type == PacketType::Spmr) {
            on_spmr(now);
        } else {
            ++stats_.packets_ignored;  // our own looped-back packets, POLR, ACK
        }
    }
    // NCFs and RDATA go at once; new data only from on_timer(). A host reading a batch of
    // NAKs must not send a burst of ODATA per batch: under load it then read NAKs at a
    // fraction of their rate, and answered them seconds late (issue 14).
    pump(now, out, /*new_data=*/false);
}

void Source::on_nak(const PacketView& v, Time now) {
    const NakFields& f = *v.get<NakFields>();
    // Another group's NAK, or one naming another source (an NE that did not rewrite
    // NAK_SRC), is not ours to answer; nor is a parity NAK without FEC.
    if ((v.header.parity() && !fec_) || f.group != config_.group || f.source != config_.address) {
        ++stats_.naks_ignored;
        return;
    }
    if (v.header.parity()) {
        on_parity_nak(v, now);
        return;
    }
    const std::optional<NakListView> list = v.nak_list();
    const std::size_t requested = 1 + (list ? list->size() : 0);
    stats_.naks_received += requested;
    if (state_ == SourceState::Reset && rst_.no_naks) {
        stats_.naks_unanswered += requested;
        return;
    }
    if (ncfs_.size() >= config_.max_pending_ncfs) {
        stats_.naks_shed += requested;  // the receivers repeat the NAK
        return;
    }
    // S11, S13, S14: confirm and repair each requested sequence that is in the window.
    // Sequences outside it are counted and neither repaired nor confirmed: an NCF promises
    // RDATA. Confirming a loss we cannot repair would make receivers wait NAK_RDATA_IVL for
    // it and network elements hold repair state and suppress NAKs for it, while without an
    // NCF the receivers see from SPM_TRAIL and OD_TRAIL that it is gone and give up at
    // once. A NAK list mixing both gets an NCF listing the in-window part only.
    PendingNcf ncf;
    bool any = false;
    auto confirm = [&](Sqn sqn) {
        if (!queue_repair(sqn, now)) {
            ++stats_.naks_too_late;
        } else if (!any) {
            ncf.sqn = sqn;
            any = true;
        } else {
            ncf.list[ncf.list_size++] = sqn;
        }
    };
    confirm(f.sqn);
    for (std::size_t i = 0; list && i < list->size(); ++i)
        confirm((*list)[i]);
    // S12: an identical NCF still queued answers this NAK too (a NAK storm costs one NCF per
    // distinct request per rate-limiter slot, not one per NAK).
    if (any && std::find(ncfs_.begin(), ncfs_.end(), ncf) == ncfs_.end()) ncfs_.push_back(ncf);
}

void Source::on_parity_nak(const PacketView& v, Time now) {
    const NakFields& f = *v.get<NakFields>();
    const std::optional<NakListView> list = v.nak_list();
    const std::size_t requested = 1 + (list ? list->size() : 0);
    stats_.parity_naks_received += requested;
    if (state_ == SourceState::Reset && rst_.no_naks) {
        stats_.naks_unanswered += requested;
        return;
    }
    if (ncfs_.size() >= config_.max_pending_ncfs) {
        stats_.naks_shed += requested;
        return;
    }
    // §11.3, S20: each entry is TG_SQN | PKT_CNT, PKT_CNT 0-based (0: one packet). A request
    // is confirmed when its whole group is in the window; a request for no more packets
    // than are already queued for the group is a duplicate (NCF only), a larger one raises
    // the queued count. Parity packets are the group's fresh ones (parity_next), never
    // copies of data packets.
    const std::uint32_t k = fec_ ? fec_->k() : 1;
    PendingNcf ncf;
    ncf.parity = true;
    bool any = false;
    auto confirm = [&](Sqn entry) {
        const Sqn tg(entry.value() & ~(k - 1));
        const std::uint32_t count = (entry.value() & (k - 1)) + 1;
        if (!group_in_window(tg)) {
            ++stats_.parity_naks_too_late;
            return;
        }
        TxPacket& head = ring_[slot(tg)];
        head.nak_at = now;  // nak_hold: a repeated NAK must still find the group
        if (head.parity_queued >= count) {
            ++stats_.naks_duplicate;
        } else {
            if (repairs_.size() + (count - head.parity_queued) >
                2 * std::size_t{config_.txw_sqns}) {
                std::erase_if(repairs_,
                              [this](const PendingRepair& r) { return !repair_in_window(r); });
            }
            for (std::uint32_t i = head.parity_queued; i < count; ++i)
                repairs_.push_back(PendingRepair{tg, now + config_.rdata_delay, true});
            head.parity_queued = count;
        }
        if (!any) {
            ncf.sqn = entry;
            any = true;
        } else {
            ncf.list[ncf.list_size++] = entry;
        }
    };
    confirm(f.sqn);
    for (std::size_t i = 0; list && i < list->size(); ++i)
        confirm((*list)[i]);
    if (any && std::find(ncfs_.begin(), ncfs_.end(), ncf) == ncfs_.end()) ncfs_.push_back(ncf);
}

bool Source::queue_repair(Sqn sqn, Time now) {
    if (!window().contains(sqn)) return false;
    TxPacket& p = ring_[slot(sqn)];
    p.nak_at = now;  // nak_hold: a repeated NAK must still find it
    if (p.repair_queued) {
        ++stats_.naks_duplicate;  // its RDATA is still queued: one RDATA answers both
        return true;
    }
    if (repairs_.size() >= config_.txw_sqns) {
        // Full only of entries whose packets left the window: drop them.
        std::erase_if(repairs_,
                      [this](const PendingRepair& r) { return !window().contains(r.sqn); });
    }
    p.repair_queued = true;
    repairs_.push_back(PendingRepair{sqn, now + config_.rdata_delay});
    return true;
}

void Source::on_spmr(Time now) {
    ++stats_.spmrs_received;
    // S21: answered at once, at most once per IHB_MIN.
    if (last_spmr_answer_ != kNever && now < last_spmr_answer_ + config_.ihb_min) {
        ++stats_.spmrs_suppressed;
        return;
    }
    last_spmr_answer_ = now;
    spm_pending_ = true;
}

}  // namespace pgm
