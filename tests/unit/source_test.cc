// The PGM source (protocol/source.h) against the source rules S1-S25 of the rule catalogue
// (docs/rfc3208-rules.md §2), on a virtual clock: time is only
// the Time values the tests pass in. Every packet the source emits is parsed back with the
// codec and checked field by field.
//
// Rules with no test here, and why:
//   S18 OPT_JOIN (MAY): not implemented; receivers join at any SPM or ODATA.
//   S20 FEC: OPT_CURR_TGSIZE only: groups are always full size (a partial last group gets
//       no parity; receivers NAK it selectively). The rest is tested below (S20_*).
//   S22 Appendix E (NAK_BO_IVL tuning, OPT_NBR_UNREACH): optional appendix, not implemented.
//   S23 Appendix B congestion control (OPT_CR/OPT_CRQST): optional appendix; the rate is
//       fixed by TXW_MAX_RTE.
//   S24 Appendix F "advance with data" window mode: optional; the window advances with time
//       (TXW_SECS) and with TXW_SQNS.
//   S25 POLL parent (Appendix D): optional appendix, not implemented.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <vector>

#include "protocol/fec.h"
#include "protocol/io.h"
#include "protocol/packet.h"
#include "protocol/source.h"
#include "protocol/spec.h"

namespace pgm {
namespace {

using namespace std::chrono_literals;

const Time kStart = Time{} + 1000s;
constexpr std::uint16_t kSourcePort = 40000;
constexpr std::uint16_t kDestinationPort = 7500;
constexpr IfIndex kIfIndex = 3;

Nla address() {
    return *Nla::parse("192.0.2.1");
}
Nla group() {
    return *Nla::parse("239.192.0.1");
}
Gsi gsi() {
    return Gsi{{1, 2, 3, 4, 5, 6}};
}

std::vector<std::uint8_t> apdu_of(std::size_t size, std::uint8_t seed) {
    std::vector<std::uint8_t> a;
    a.reserve(size);
    for (std::size_t i = 0; i < size; ++i)
        a.push_back(static_cast<std::uint8_t>(seed + i * 7));
    return a;
}

// One packet the source emitted, parsed back.
struct Sent {
    Time at;
    Transmit transmit;
    std::size_t size = 0;  // PGM bytes
    PacketSpec spec;
    std::vector<std::uint8_t> bytes;

    bool parity() const { return (spec.extra_flags & kOptParity) != 0; }
    bool var_pktlen() const { return (spec.extra_flags & kOptVarPktlen) != 0; }
    // A parity packet's encoded OPT_FRAGMENT (bytes 3..15) and its F bit.
    std::optional<FecOption> encoded_fragment(bool* f_bit = nullptr) const {
        const ParseResult r = parse(bytes);
        const std::optional<OptionView> o = r.view.find(OptionType::Fragment);
        if (!o) return std::nullopt;
        if (f_bit) *f_bit = (o->byte2 & kOptEncoded) != 0;
        FecOption e{};
        e[0] = o->byte3;
        std::copy(o->value.begin(), o->value.end(), e.begin() + 1);
        return e;
    }

    PacketType type() const { return spec.type; }
    const DataFields& data() const { return std::get<DataFields>(spec.fields); }
    const SpmFields& spm() const { return std::get<SpmFields>(spec.fields); }
    const NakFields& nak() const { return std::get<NakFields>(spec.fields); }
    std::uint32_t sqn() const {
        return type() == PacketType::Spm   ? spm().sqn.value()
               : type() == PacketType::Ncf ? nak().sqn.value()
                                           : data().sqn.value();
    }
    template <class T>
    const T* option() const {
        for (const OptionSpec& o : spec.options) {
            if (const T* p = std::get_if<T>(&o)) return p;
        }
        return nullptr;
    }
    // Size of the IP packet, as the source's rate control counts it (IPv4, native).
    std::size_t wire_size() const { return size + 20 + (transmit.router_alert ? 4 : 0); }
};

SourceConfig base_config() {
    SourceConfig c;
    c.address = address();
    c.group = group();
    c.ifindex = kIfIndex;
    c.data_destination_port = kDestinationPort;
    c.source_port = kSourcePort;
    c.gsi = gsi();
    // Fast enough that rate control is not what a test looks at, unless it says so.
    c.txw_max_rte = 100'000'000;
    c.rate_burst = 1'000'000;
    c.ambient_spm = 60s;
    c.ihb_min = 100ms;
    c.ihb_max = 10s;
    return c;
}

class SourceTest : public ::testing::Test {
  protected:
    void start(const SourceConfig& config) {
        ASSERT_TRUE(config.valid());
        source_.emplace(config, now_);
    }
    Source& src() { return *source_; }

    // Runs the timers up to `until`, recording what is sent. Fails if the source asks to be
    // woken at a time it has already been woken at and sends nothing (a busy loop).
    void run_until(Time until) {
        int idle_wakeups = 0;
        for (;;) {
            const Time due = src().next_deadline();
            if (due > until) break;
            const bool repeat = due <= now_;
            now_ = std::max(now_, due);
            const std::size_t before = sent_.size();
            src().on_timer(now_, out_);
            collect();
            idle_wakeups = repeat && sent_.size() == before ? idle_wakeups + 1 : 0;
            ASSERT_LT(idle_wakeups, 2) << "busy loop";
        }
        now_ = until;
    }
    void run_for(Duration d) { run_until(now_ + d); }

    void send(std::size_t size, std::uint8_t seed = 0) {
        const std::vector<std::uint8_t> a = apdu_of(size, seed);
        ASSERT_TRUE(src().send(a, now_));
    }
    void send_and_run(std::size_t count, std::size_t size = 100) {
        for (std::size_t i = 0; i < count; ++i)
            send(size, static_cast<std::uint8_t>(i));
        run_for(0s);
    }

    // Hands the source an upstream packet (NAK, SPMR, ...) built from `spec`.
    void deliver(const PacketSpec& spec) {
        const std::optional<std::vector<std::uint8_t>> bytes = build(spec);
        ASSERT_TRUE(bytes);
        src().on_packet(Arrival{kIfIndex, IpInfo{}}, *bytes, now_, out_);
        collect();
    }
    static PacketSpec upstream(PacketType type, Fields fields) {
        PacketSpec s;
        s.type = type;
        s.source_port = kDestinationPort;  // upstream orientation (§8.3)
        s.destination_port = kSourcePort;
        s.gsi = gsi();
        s.fields = fields;
        return s;
    }
    PacketSpec nak_spec(std::uint32_t sqn, std::initializer_list<std::uint32_t> list = {}) {
        const SourceConfig& c = src().config();
        PacketSpec s = upstream(PacketType::Nak, NakFields{Sqn(sqn), c.address, c.group});
        if (list.size() > 0) {
            OptNakList l;
            for (std::uint32_t x : list)
                l.sqns.push_back(Sqn(x));
            s.options.push_back(l);
        }
        return s;
    }
    void nak(std::uint32_t sqn, std::initializer_list<std::uint32_t> list = {}) {
        deliver(nak_spec(sqn, list));
    }
    void spmr() { deliver(upstream(PacketType::Spmr, SpmrFields{})); }
    // A parity NAK: TG_SQN | (count - 1) for each (group, count).
    void parity_nak(std::initializer_list<std::pair<std::uint32_t, std::uint32_t>> requests) {
        std::vector<std::uint32_t> entries;
        for (auto [tg, count] : requests)
            entries.push_back(tg | (count - 1));
        const SourceConfig& c = src().config();
        PacketSpec s = upstream(PacketType::Nak, NakFields{Sqn(entries[0]), c.address, c.group});
        s.extra_flags = kOptParity;
        if (entries.size() > 1) {
            OptNakList l;
            for (std::size_t i = 1; i < entries.size(); ++i)
                l.sqns.push_back(Sqn(entries[i]));
            s.options.push_back(l);
        }
        deliver(s);
    }
    std::vector<Sent> parity_of(PacketType type) const {
        std::vector<Sent> r;
        for (const Sent& p : of(type)) {
            if (p.parity()) r.push_back(p);
        }
        return r;
    }
    std::vector<Sent> data_of(PacketType type) const {
        std::vector<Sent> r;
        for (const Sent& p : of(type)) {
            if (!p.parity()) r.push_back(p);
        }
        return r;
    }

    std::vector<Sent> of(PacketType type, Time from = Time::min()) const {
        std::vector<Sent> r;
        for (const Sent& s : sent_) {
            if (s.type() == type && s.at >= from) r.push_back(s);
        }
        return r;
    }
    std::vector<PacketType> types_since(std::size_t index) const {
        std::vector<PacketType> r;
        for (std::size_t i = index; i < sent_.size(); ++i)
            r.push_back(sent_[i].type());
        return r;
    }

    Time now_ = kStart;
    std::optional<Source> source_;
    Output out_;
    std::vector<Sent> sent_;

  private:
    void collect() {
        for (const Transmit& t : out_.transmits()) {
            const ParseResult r = parse(out_.bytes(t));
            ASSERT_TRUE(r) << to_string(r.error) << " at " << r.error_offset;
            const Bytes b = out_.bytes(t);
            sent_.push_back(Sent{now_, t, t.length, from_view(r.view), {b.begin(), b.end()}});
        }
        out_.clear();
    }
};

// --- S1 ------------------------------------------------------------------------------------

TEST_F(SourceTest, S01_TsiFromGsiAndGivenSourcePort) {
    start(base_config());
    run_for(0s);
    send_and_run(1);
    EXPECT_EQ(src().tsi(), (Tsi{gsi(), kSourcePort}));
    ASSERT_EQ(sent_.size(), 2u);
    for (const Sent& s : sent_) {
        EXPECT_EQ(s.spec.gsi, gsi());
        EXPECT_EQ(s.spec.source_port, kSourcePort);  // downstream: SPORT = data-source port
        EXPECT_EQ(s.spec.destination_port, kDestinationPort);
    }
}

TEST_F(SourceTest, S01_RandomSourcePortFromSeededPrng) {
    SourceConfig c = base_config();
    c.source_port.reset();
    c.seed = 1;
    const Source a(c, now_), b(c, now_);
    c.seed = 2;
    const Source d(c, now_);
    EXPECT_EQ(a.tsi(), b.tsi());  // deterministic for a seed
    EXPECT_NE(a.tsi().source_port, d.tsi().source_port);
    for (const Source* s : {&a, &d}) {
        EXPECT_GE(s->tsi().source_port, 1024);
        EXPECT_NE(s->tsi().source_port, kDestinationPort);
        EXPECT_EQ(s->tsi().gsi, gsi());
    }
}

// --- S2, S3 --------------------------------------------------------------------------------

TEST_F(SourceTest, S02_OdataInUnitIncrementsInSubmissionOrderAcrossWrap) {
    SourceConfig c = base_config();
    c.initial_sqn = 0xFFFFFFFEu;
    start(c);
    for (std::uint8_t i = 0; i < 5; ++i)
        send(10 + i, i);
    run_for(0s);
    const std::vector<Sent> odata = of(PacketType::Odata);
    ASSERT_EQ(odata.size(), 5u);
    for (std::uint8_t i = 0; i < 5; ++i) {
        EXPECT_EQ(odata[i].data().sqn, Sqn(0xFFFFFFFEu) + i);
        EXPECT_EQ(odata[i].data().trail, Sqn(0xFFFFFFFEu));
        EXPECT_EQ(odata[i].spec.payload, apdu_of(10 + i, i));
    }
    EXPECT_EQ(src().window().trail, Sqn(0xFFFFFFFEu));
    EXPECT_EQ(src().window().lead, Sqn(2));
}

TEST_F(SourceTest, S02_BacklogBoundRefusesAndNeverDrops) {
    SourceConfig c = base_config();
    c.max_backlog_apdus = 3;
    c.max_backlog_bytes = 250;
    start(c);
    const std::vector<std::uint8_t> a = apdu_of(100, 0);
    EXPECT_TRUE(src().send(a, now_));
    EXPECT_TRUE(src().send(a, now_));
    EXPECT_FALSE(src().send(a, now_)) << "bytes bound";
    EXPECT_TRUE(src().send(Bytes(a).first(50), now_));
    EXPECT_FALSE(src().send(Bytes(a).first(0), now_)) << "APDU-count bound";
    EXPECT_EQ(src().max_apdu(), 250u);
    EXPECT_LE(src().next_deadline(), now_);  // due: the caller sends, then retries
    run_for(0s);
    EXPECT_EQ(of(PacketType::Odata).size(), 3u);
    EXPECT_TRUE(src().send(a, now_));
    EXPECT_EQ(src().stats().apdus_discarded, 0u);
}

TEST_F(SourceTest, S03_WindowHoldsAtMostTxwSqns) {
    SourceConfig c = base_config();
    c.txw_sqns = 4;
    start(c);
    send_and_run(6);
    EXPECT_EQ(src().window().trail, Sqn(2));
    EXPECT_EQ(src().window().lead, Sqn(5));
    EXPECT_EQ(src().window().size(), 4u);
    EXPECT_EQ(src().stats().trailing_edge, Sqn(2));
    EXPECT_EQ(src().stats().leading_edge, Sqn(5));
    // The trail each ODATA carried: it advances as the oldest falls out.
    const std::vector<Sent> odata = of(PacketType::Odata);
    ASSERT_EQ(odata.size(), 6u);
    EXPECT_EQ(odata[3].data().trail, Sqn(0));
    EXPECT_EQ(odata[4].data().trail, Sqn(1));
    EXPECT_EQ(odata[5].data().trail, Sqn(2));
    nak(1);
    nak(2);
    EXPECT_EQ(src().stats().naks_too_late, 1u);
    EXPECT_EQ(of(PacketType::Rdata).size(), 1u);
}

TEST_F(SourceTest, S03_TrailAdvancesWithTxwSecs) {
    SourceConfig c = base_config();
    c.txw_secs = 2s;
    start(c);
    send_and_run(1);  // sqn 0 at 0 s
    run_for(1s);
    send_and_run(1);  // sqn 1 at 1 s
    run_for(999ms);
    EXPECT_EQ(src().window().trail, Sqn(0));
    run_for(1ms);  // 2 s: sqn 0 is TXW_SECS old
    EXPECT_EQ(src().window().trail, Sqn(1));
    EXPECT_EQ(src().window().lead, Sqn(1));
    run_for(1s);  // 3 s: window empty, trail = lead + 1
    EXPECT_TRUE(src().window().empty());
    EXPECT_EQ(src().window().trail, Sqn(2));
    nak(1);
    EXPECT_EQ(src().stats().naks_too_late, 1u);
    EXPECT_TRUE(of(PacketType::Ncf).empty());
    spmr();
    ASSERT_FALSE(of(PacketType::Spm).empty());
    EXPECT_EQ(of(PacketType::Spm).back().spm().trail, Sqn(2));
    EXPECT_EQ(of(PacketType::Spm).back().spm().lead, Sqn(1));
}

// --- Back-pressure of the transmit window (issue 14) ---------------------------------------

// A NAKed packet at the trail of a full window is kept for nak_hold after its last NAK: new
// ODATA waits instead of pushing it out, so a receiver whose RDATA was lost and that NAKs
// again is repaired, not told the data is gone.
TEST_F(SourceTest, Backpressure_NakedTrailHoldsNewOdataForNakHold) {
    SourceConfig c = base_config();
    c.txw_sqns = 4;
    c.nak_hold = 500ms;
    start(c);
    send_and_run(4);  // window [0, 3], full
    nak(0);
    ASSERT_EQ(of(PacketType::Rdata).size(), 1u);
    send_and_run(2);  // sqns 4 and 5 would push 0 and 1 out
    EXPECT_EQ(of(PacketType::Odata).size(), 4u) << "ODATA waits for the NAKed trail";
    EXPECT_EQ(src().window().trail, Sqn(0));
    run_for(300ms);
    nak(0);  // the RDATA was lost: the repeated NAK still finds it, and restarts the hold
    EXPECT_EQ(of(PacketType::Rdata).size(), 2u);
    EXPECT_EQ(src().stats().naks_too_late, 0u);
    EXPECT_EQ(src().stats().window_stalls, 1u);
    run_for(499ms);
    EXPECT_EQ(of(PacketType::Odata).size(), 4u);
    run_for(1ms);  // 500 ms after the last NAK: the trail may move
    EXPECT_EQ(of(PacketType::Odata).size(), 6u);
    EXPECT_EQ(src().window().trail, Sqn(2));
    EXPECT_EQ(src().stats().naks_too_late, 0u);
}

// txw_min_age: a full window lets its oldest packet go only once it is that old, so a rate
// the window cannot cover is slowed to txw_sqns per txw_min_age instead of outrunning NAKs.
TEST_F(SourceTest, Backpressure_MinAgeBoundsTheRateToTheWindow) {
    SourceConfig c = base_config();
    c.txw_sqns = 4;
    c.txw_min_age = 100ms;
    start(c);
    const Time t0 = now_;
    for (int i = 0; i < 10; ++i)
        send(100, static_cast<std::uint8_t>(i));
    run_for(0s);
    EXPECT_EQ(of(PacketType::Odata).size(), 4u);
    run_for(99ms);
    EXPECT_EQ(of(PacketType::Odata).size(), 4u);
    nak(0);  // 99 ms old: still there
    EXPECT_EQ(of(PacketType::Rdata).size(), 1u);
    run_for(1ms);
    EXPECT_EQ(of(PacketType::Odata).size(), 8u);
    run_for(100ms);
    const std::vector<Sent> odata = of(PacketType::Odata);
    ASSERT_EQ(odata.size(), 10u);
    EXPECT_EQ(odata[4].at, t0 + 100ms);
    EXPECT_EQ(odata[9].at, t0 + 200ms);
    EXPECT_EQ(src().stats().naks_too_late, 0u);
    EXPECT_EQ(src().backlog_apdus(), 0u);
}

// A repair confirmed by an NCF is never dropped for new data: with its RDATA still queued
// (rdata_delay), the packet stays in the window and the RDATA goes before the ODATA.
TEST_F(SourceTest, Backpressure_QueuedRepairIsNotPushedOutByNewData) {
    SourceConfig c = base_config();
    c.txw_sqns = 4;
    c.rdata_delay = 50ms;
    start(c);
    send_and_run(4);
    nak(0);
    EXPECT_EQ(of(PacketType::Ncf).size(), 1u);
    send_and_run(1);
    EXPECT_EQ(of(PacketType::Odata).size(), 4u);
    run_for(50ms);
    const std::vector<PacketType> order = types_since(sent_.size() - 2);
    ASSERT_EQ(of(PacketType::Rdata).size(), 1u);
    EXPECT_EQ(order, (std::vector<PacketType>{PacketType::Rdata, PacketType::Odata}));
    EXPECT_EQ(of(PacketType::Rdata).front().data().sqn, Sqn(0));
    EXPECT_EQ(src().stats().repairs_expired, 0u);
    EXPECT_EQ(src().window().trail, Sqn(1));
}

// Windows beyond 65,536 sequence numbers: the ring grows to what is configured, and a NAK
// for the oldest of 100,000 packets is still repaired.
TEST_F(SourceTest, Backpressure_WindowBeyond65536) {
    SourceConfig c = base_config();
    c.txw_sqns = 100'000;
    c.max_backlog_apdus = 100'000;
    c.max_backlog_bytes = 100'000 * 16;
    start(c);
    for (int i = 0; i < 100'000; ++i)
        send(16, static_cast<std::uint8_t>(i));
    run_for(1s);
    EXPECT_EQ(src().window().size(), 100'000u);
    nak(0);
    ASSERT_EQ(of(PacketType::Rdata).size(), 1u);
    EXPECT_EQ(of(PacketType::Rdata).front().data().sqn, Sqn(0));
}

// --- S4, S5 --------------------------------------------------------------------------------

TEST_F(SourceTest, S04_TokenBucketBound) {
    SourceConfig c = base_config();
    c.txw_max_rte = 10'000;
    c.rate_burst = 3000;
    c.ihb_min = 50ms;  // SPMs count against the rate too
    start(c);
    for (std::uint8_t i = 0; i < 60; ++i)
        send(1000, i);
    run_for(5s);
    // Bytes in any interval [a, b] <= bucket + rate * (b - a).
    const double depth = 3000, rate = 10'000;
    for (std::size_t i = 0; i < sent_.size(); ++i) {
        double bytes = 0;
        for (std::size_t j = i; j < sent_.size(); ++j) {
            bytes += static_cast<double>(sent_[j].wire_size());
            const double secs = std::chrono::duration<double>(sent_[j].at - sent_[i].at).count();
            ASSERT_LE(bytes, depth + rate * secs + 1e-6) << i << ".." << j;
        }
    }
    // And the rate is used: within a packet of 5 s at TXW_MAX_RTE plus the bucket.
    double total = 0;
    for (const Sent& s : sent_)
        total += static_cast<double>(s.wire_size());
    EXPECT_GT(total, depth + rate * 5 - 1100);
    EXPECT_NEAR(static_cast<double>(src().stats().rate_bytes_per_sec), rate, 1100);
}

TEST_F(SourceTest, S04_InterPacketBound) {
    SourceConfig c = base_config();
    c.min_packet_interval = 10ms;
    start(c);
    for (std::uint8_t i = 0; i < 10; ++i)
        send(100, i);
    run_for(1s);
    ASSERT_EQ(of(PacketType::Odata).size(), 10u);
    for (std::size_t i = 1; i < sent_.size(); ++i)
        EXPECT_GE(sent_[i].at - sent_[i - 1].at, 10ms) << i;
    EXPECT_EQ(of(PacketType::Odata).back().at, kStart + 100ms);  // the SPM went at 0
}

TEST_F(SourceTest, S05_SendPriorityNcfBeforeSpmBeforeData) {
    SourceConfig c = base_config();
    c.txw_max_rte = 2000;
    c.rate_burst = 0;  // bucket = one max_tpdu
    c.ihb_min = c.ihb_max = 10s;
    start(c);
    // SPM 60 bytes (IPv4 + Router Alert 24, PGM 36), ODATA 0 1440 (IPv4 20, PGM header 16,
    // data fields 8, OPT_LENGTH + OPT_SYN 8, 1388 of data): together the whole bucket.
    send(1388, 0);
    send(1000, 1);
    send(1000, 2);
    run_for(0s);
    ASSERT_EQ(of(PacketType::Odata).size(), 1u);
    const std::size_t mark = sent_.size();
    spmr();  // an SPM is due
    nak(0);  // an NCF and an RDATA are due
    EXPECT_EQ(sent_.size(), mark) << "all held back by the bucket";
    run_for(5s);
    EXPECT_EQ(types_since(mark),
              (std::vector<PacketType>{PacketType::Ncf, PacketType::Spm, PacketType::Rdata,
                                       PacketType::Odata, PacketType::Odata}));
}

// A NAK is answered in the call that hands it in, but new data waits for on_timer(): a host
// reading a batch of NAKs while its backlog is full must not send a burst of ODATA per batch
// (it then read NAKs at a fraction of their rate and answered them seconds late).
TEST_F(SourceTest, S05_ReceivedPacketAnsweredWithoutNewData) {
    start(base_config());
    send_and_run(3);
    send(100, 3);  // queued, not yet sent: no on_timer() since
    send(100, 4);
    const std::size_t mark = sent_.size();
    nak(1);
    EXPECT_EQ(types_since(mark), (std::vector<PacketType>{PacketType::Ncf, PacketType::Rdata}))
        << "no ODATA from on_packet()";
    EXPECT_LE(src().next_deadline(), now_) << "the new data is due at once, from the timer";
    run_for(0s);
    EXPECT_EQ(types_since(mark), (std::vector<PacketType>{PacketType::Ncf, PacketType::Rdata,
                                                          PacketType::Odata, PacketType::Odata}));
}

// --- S6, S7, S8, S9 ------------------------------------------------------------------------

TEST_F(SourceTest, S06_AmbientSpmsDuringData) {
    SourceConfig c = base_config();
    c.ambient_spm = 1s;
    c.ihb_min = c.ihb_max = 500ms;
    start(c);
    run_for(0s);
    for (int i = 0; i < 50; ++i) {  // ODATA every 100 ms: no heartbeat ever falls due
        send(100, static_cast<std::uint8_t>(i));
        run_for(100ms);
    }
    const std::vector<Sent> spms = of(PacketType::Spm);
    ASSERT_EQ(spms.size(), 6u);  // 0 s and every second
    for (std::size_t i = 1; i < spms.size(); ++i)
        EXPECT_EQ(spms[i].at - spms[i - 1].at, 1s);
    // Each advertises the window as it is.
    EXPECT_EQ(spms[3].spm().lead, Sqn(29));
}

TEST_F(SourceTest, S07_HeartbeatDoublesFromIhbMinToIhbMax) {
    SourceConfig c = base_config();
    c.ihb_min = 100ms;
    c.ihb_max = 1s;
    start(c);
    send_and_run(1);  // the first SPM, then ODATA at 0 s
    run_for(5s);
    std::vector<Duration> gaps;
    Time last = kStart;
    for (const Sent& s : of(PacketType::Spm, kStart + 1ms)) {
        gaps.push_back(s.at - last);
        last = s.at;
    }
    const std::vector<Duration> expected = {100ms, 200ms, 400ms, 800ms, 1s, 1s, 1s};
    EXPECT_EQ(gaps, expected);
    // Data resets IHB_TMR to IHB_MIN.
    const Time data_at = now_;
    send_and_run(1);
    run_for(350ms);
    const std::vector<Sent> after = of(PacketType::Spm, data_at);
    ASSERT_EQ(after.size(), 2u);
    EXPECT_EQ(after[0].at, data_at + 100ms);
    EXPECT_EQ(after[1].at, data_at + 300ms);
}

TEST_F(SourceTest, S08_AmbientAndHeartbeatTimersIndependent) {
    SourceConfig c = base_config();
    c.ambient_spm = 250ms;
    c.ihb_min = c.ihb_max = 1s;
    start(c);
    run_for(2s);
    EXPECT_EQ(of(PacketType::Spm).size(), 9u) << "ambient drives: every 250 ms";
    sent_.clear();
    c.ambient_spm = 10s;
    start(c);
    run_for(3s);
    EXPECT_EQ(of(PacketType::Spm).size(), 4u) << "heartbeat drives: every 1 s";
}

TEST_F(SourceTest, S09_SpmFields) {
    start(base_config());
    run_for(0s);
    send_and_run(3);
    run_for(100ms);
    const std::vector<Sent> spms = of(PacketType::Spm);
    ASSERT_EQ(spms.size(), 2u);
    // First SPM: empty window as OpenPGM advertises it (trail 0, lead 0xFFFFFFFF).
    EXPECT_EQ(spms[0].spm().sqn, Sqn(0));
    EXPECT_EQ(spms[0].spm().trail, Sqn(0));
    EXPECT_EQ(spms[0].spm().lead, Sqn(0xFFFFFFFFu));
    // SPM_SQN is its own sequence; trail and lead are the window; path is our NLA.
    EXPECT_EQ(spms[1].spm().sqn, Sqn(1));
    EXPECT_EQ(spms[1].spm().trail, Sqn(0));
    EXPECT_EQ(spms[1].spm().lead, Sqn(2));
    for (const Sent& s : spms) {
        EXPECT_EQ(s.spm().path, address());
        EXPECT_TRUE(s.spec.options.empty());
        EXPECT_EQ(s.transmit.ip_source, address());
        EXPECT_EQ(s.transmit.ip_destination, group());
        EXPECT_EQ(s.transmit.ifindex, kIfIndex);
    }
}

// --- S10, S11, S12 -------------------------------------------------------------------------

TEST_F(SourceTest, S10_RouterAlertOnSpmNcfRdataNotOdata) {
    for (bool ra : {true, false}) {
        SourceConfig c = base_config();
        c.router_alert = ra;
        c.encapsulation = Encapsulation::Udp;
        c.udp_port = 3056;
        c.ttl = 7;
        sent_.clear();
        start(c);
        send_and_run(1);
        nak(0);
        ASSERT_EQ(types_since(0), (std::vector<PacketType>{PacketType::Spm, PacketType::Odata,
                                                           PacketType::Ncf, PacketType::Rdata}));
        for (const Sent& s : sent_) {
            EXPECT_EQ(s.transmit.router_alert, ra && s.type() != PacketType::Odata);
            EXPECT_EQ(s.transmit.encapsulation, Encapsulation::Udp);
            EXPECT_EQ(s.transmit.udp_port, 3056);
            EXPECT_EQ(s.transmit.ttl, 7);
        }
    }
}

TEST_F(SourceTest, S11_NcfForEveryNak) {
    start(base_config());
    send_and_run(5);
    for (std::uint32_t sqn : {3u, 1u, 3u}) {
        const std::size_t mark = sent_.size();
        nak(sqn);
        ASSERT_GT(sent_.size(), mark) << "answered in the same call";
        const Sent& ncf = sent_[mark];
        EXPECT_EQ(ncf.type(), PacketType::Ncf);
        EXPECT_EQ(ncf.nak().sqn, Sqn(sqn));
        EXPECT_EQ(ncf.nak().source, address());
        EXPECT_EQ(ncf.nak().group, group());
        EXPECT_EQ(ncf.spec.source_port, kSourcePort);  // downstream orientation
        EXPECT_EQ(ncf.spec.destination_port, kDestinationPort);
        EXPECT_EQ(ncf.transmit.ip_destination, group());
        EXPECT_EQ(ncf.transmit.ip_source, address());
        run_for(10ms);
    }
    EXPECT_EQ(src().stats().ncfs_sent, 3u);
    EXPECT_EQ(src().stats().naks_received, 3u);
    EXPECT_EQ(src().stats().repair_packets_sent, 3u);
}

TEST_F(SourceTest, S11_NakForeignToSessionIgnored) {
    start(base_config());
    send_and_run(2);
    const std::size_t mark = sent_.size();
    PacketSpec other_group = nak_spec(0);
    std::get<NakFields>(other_group.fields).group = *Nla::parse("239.192.0.2");
    PacketSpec other_source = nak_spec(0);
    std::get<NakFields>(other_source.fields).source = *Nla::parse("192.0.2.99");
    PacketSpec parity = nak_spec(0);
    parity.extra_flags = kOptParity;
    PacketSpec other_port = nak_spec(0);
    other_port.destination_port = kSourcePort + 1;
    PacketSpec other_gsi = nak_spec(0);
    other_gsi.gsi.bytes[0] ^= 0xFF;
    for (const PacketSpec& s : {other_group, other_source, parity, other_port, other_gsi})
        deliver(s);
    EXPECT_EQ(sent_.size(), mark);
    EXPECT_EQ(src().stats().naks_ignored, 3u);
    EXPECT_EQ(src().stats().packets_ignored, 2u);
    EXPECT_EQ(src().stats().naks_received, 0u);
    src().on_packet(Arrival{}, std::vector<std::uint8_t>(10, 0), now_, out_);
    EXPECT_EQ(src().stats().packets_malformed, 1u);
}

TEST_F(SourceTest, S12_IdenticalQueuedNcfsCoalesced) {
    SourceConfig c = base_config();
    c.min_packet_interval = 100ms;
    c.ihb_min = 1s;
    start(c);
    send(100);
    run_for(100ms);  // SPM at 0, ODATA 0 at 100 ms: nothing can go before 200 ms
    const std::size_t mark = sent_.size();
    nak(0);
    nak(0);
    nak(0, {0});
    run_for(500ms);
    EXPECT_EQ(types_since(mark),
              (std::vector<PacketType>{PacketType::Ncf, PacketType::Ncf, PacketType::Rdata}));
    ASSERT_NE(sent_[mark + 1].option<OptNakList>(), nullptr);
    EXPECT_EQ(sent_[mark + 1].option<OptNakList>()->sqns, std::vector<Sqn>{Sqn(0)});
    EXPECT_EQ(src().stats().naks_received, 4u);
    EXPECT_EQ(src().stats().naks_duplicate, 3u);
}

// --- S13, S14 ------------------------------------------------------------------------------

TEST_F(SourceTest, S13_RdataForInWindowNaksWithCurrentTrail) {
    SourceConfig c = base_config();
    c.txw_sqns = 4;
    start(c);
    send_and_run(6);  // window [2, 5]
    nak(3);
    const std::vector<Sent> rdata = of(PacketType::Rdata);
    ASSERT_EQ(rdata.size(), 1u);
    const Sent odata = of(PacketType::Odata).at(3);
    EXPECT_EQ(rdata[0].data().sqn, Sqn(3));
    EXPECT_EQ(odata.data().trail, Sqn(0));
    EXPECT_EQ(rdata[0].data().trail, Sqn(2)) << "RD_TRAIL is the current TXW_TRAIL";
    EXPECT_EQ(rdata[0].spec.payload, odata.spec.payload);
    EXPECT_EQ(rdata[0].transmit.ip_destination, group());
    EXPECT_EQ(src().stats().repair_packets_sent, 1u);
}

TEST_F(SourceTest, S13_NaksOutsideWindowCountedNotAnswered) {
    start(base_config());
    send_and_run(3);  // window [0, 2]
    const std::size_t mark = sent_.size();
    nak(3);            // not sent yet
    nak(0xFFFFFFFFu);  // before the trail
    nak(7, {9, 11});
    EXPECT_EQ(sent_.size(), mark) << "neither NCF nor RDATA";
    EXPECT_EQ(src().stats().naks_received, 5u);
    EXPECT_EQ(src().stats().naks_too_late, 5u);
}

TEST_F(SourceTest, S13_RdataDelayCollectsNaksAndSuppressesDuplicates) {
    SourceConfig c = base_config();
    c.rdata_delay = 50ms;
    start(c);
    send_and_run(3);
    const Time t = now_;
    nak(1);
    run_for(20ms);
    nak(1);  // while the RDATA is queued: NCF only
    run_for(100ms);
    nak(1);  // after it went: repaired again
    run_for(100ms);
    const std::vector<Sent> ncfs = of(PacketType::Ncf), rdata = of(PacketType::Rdata);
    ASSERT_EQ(ncfs.size(), 3u);
    ASSERT_EQ(rdata.size(), 2u);
    EXPECT_EQ(ncfs[0].at, t);
    EXPECT_EQ(ncfs[1].at, t + 20ms);
    EXPECT_EQ(rdata[0].at, t + 50ms);
    EXPECT_EQ(rdata[1].at, t + 170ms);
    EXPECT_EQ(src().stats().naks_duplicate, 1u);
}

TEST_F(SourceTest, S14_NakListEchoedAndEachRepaired) {
    start(base_config());
    send_and_run(6);
    const std::size_t mark = sent_.size();
    nak(1, {2, 4, 5});
    ASSERT_EQ(types_since(mark),
              (std::vector<PacketType>{PacketType::Ncf, PacketType::Rdata, PacketType::Rdata,
                                       PacketType::Rdata, PacketType::Rdata}));
    const Sent& ncf = sent_[mark];
    EXPECT_EQ(ncf.nak().sqn, Sqn(1));
    ASSERT_NE(ncf.option<OptNakList>(), nullptr);
    EXPECT_EQ(ncf.option<OptNakList>()->sqns, (std::vector<Sqn>{Sqn(2), Sqn(4), Sqn(5)}));
    std::vector<std::uint32_t> repaired;
    for (const Sent& r : of(PacketType::Rdata))
        repaired.push_back(r.sqn());
    EXPECT_EQ(repaired, (std::vector<std::uint32_t>{1, 2, 4, 5}));
}

TEST_F(SourceTest, S14_MixedNakListConfirmsInWindowPartOnly) {
    SourceConfig c = base_config();
    c.txw_sqns = 4;
    start(c);
    send_and_run(6);  // window [2, 5]
    const std::size_t mark = sent_.size();
    nak(1, {3, 5, 6});
    ASSERT_GT(sent_.size(), mark);
    const Sent& ncf = sent_[mark];
    EXPECT_EQ(ncf.nak().sqn, Sqn(3));
    EXPECT_EQ(ncf.option<OptNakList>()->sqns, std::vector<Sqn>{Sqn(5)});
    EXPECT_EQ(of(PacketType::Rdata).size(), 2u);
    EXPECT_EQ(src().stats().naks_too_late, 2u);
}

// --- S15, S16, S17 -------------------------------------------------------------------------

TEST_F(SourceTest, S15_SynOnFirstOdataAndItsRdata) {
    start(base_config());
    send_and_run(3);
    const std::vector<Sent> odata = of(PacketType::Odata);
    ASSERT_EQ(odata.size(), 3u);
    EXPECT_NE(odata[0].option<OptSyn>(), nullptr);
    EXPECT_EQ(odata[1].option<OptSyn>(), nullptr);
    EXPECT_EQ(odata[2].option<OptSyn>(), nullptr);
    nak(0, {1});
    const std::vector<Sent> rdata = of(PacketType::Rdata);
    ASSERT_EQ(rdata.size(), 2u);
    EXPECT_NE(rdata[0].option<OptSyn>(), nullptr);
    EXPECT_EQ(rdata[1].option<OptSyn>(), nullptr);
}

TEST_F(SourceTest, S16_FinInSpmsAfterClose) {
    SourceConfig c = base_config();
    c.txw_secs = 3s;
    c.ihb_min = 100ms;
    c.ihb_max = 1s;
    start(c);
    run_for(10ms);  // the first SPM, at 0
    send(100, 1);
    send(100, 2);
    src().close(now_);
    EXPECT_EQ(src().state(), SourceState::Draining);
    EXPECT_FALSE(src().send(apdu_of(1, 0), now_)) << "closed to new data";
    const std::size_t mark = sent_.size();
    run_for(0s);
    ASSERT_EQ(types_since(mark),
              (std::vector<PacketType>{PacketType::Odata, PacketType::Odata, PacketType::Spm}));
    EXPECT_EQ(sent_[mark].option<OptFin>(), nullptr);
    EXPECT_NE(sent_[mark + 1].option<OptFin>(), nullptr) << "last ODATA carries FIN";
    EXPECT_EQ(src().state(), SourceState::Closing);
    // Every SPM from now on carries FIN, at once, then heartbeats from IHB_MIN.
    const Time closed = now_;
    nak(1);  // repairs are still served, the last one with its FIN
    ASSERT_EQ(of(PacketType::Rdata).size(), 1u);
    EXPECT_NE(of(PacketType::Rdata)[0].option<OptFin>(), nullptr);
    run_for(2999ms);
    const std::vector<Sent> spms = of(PacketType::Spm, closed);
    ASSERT_GE(spms.size(), 5u);
    EXPECT_EQ(spms[0].at, closed);
    EXPECT_EQ(spms[1].at, closed + 100ms);
    for (const Sent& s : spms) {
        EXPECT_NE(s.option<OptFin>(), nullptr);
        EXPECT_EQ(s.spm().lead, Sqn(1));
    }
    EXPECT_FALSE(src().finished());
    run_for(1ms);  // TXW_SECS after the FIN
    EXPECT_TRUE(src().finished());
    EXPECT_EQ(src().next_deadline(), kNever);
    const std::size_t end = sent_.size();
    nak(1);
    spmr();
    EXPECT_EQ(sent_.size(), end) << "silent once finished";
}

TEST_F(SourceTest, S16_CloseWhenIdleSendsFinSpmAtOnce) {
    start(base_config());
    send_and_run(1);
    run_for(1s);
    const std::size_t mark = sent_.size();
    src().close(now_);
    EXPECT_EQ(src().state(), SourceState::Closing);
    EXPECT_LE(src().next_deadline(), now_);
    run_for(0s);
    ASSERT_EQ(types_since(mark), std::vector<PacketType>{PacketType::Spm});
    EXPECT_NE(sent_[mark].option<OptFin>(), nullptr);
    EXPECT_EQ(of(PacketType::Odata)[0].option<OptFin>(), nullptr);
}

TEST_F(SourceTest, S17_RstInSpmsAfterResetWithoutNaks) {
    SourceConfig c = base_config();
    c.txw_secs = 2s;
    c.min_packet_interval = 10ms;
    start(c);
    for (std::uint8_t i = 0; i < 5; ++i)
        send(100, i);
    run_for(25ms);  // SPM, ODATA 0, ODATA 1
    ASSERT_EQ(of(PacketType::Odata).size(), 2u);
    src().reset(0x45, true, now_);  // error code 5; the 0x40 bit is not part of it
    EXPECT_EQ(src().stats().apdus_discarded, 3u);
    EXPECT_FALSE(src().send(apdu_of(1, 0), now_));
    const std::size_t mark = sent_.size();
    run_for(500ms);
    nak(0);
    EXPECT_EQ(src().stats().naks_unanswered, 1u);
    const std::vector<Sent> spms = of(PacketType::Spm, sent_[mark].at);
    ASSERT_GE(spms.size(), 3u);
    EXPECT_EQ(spms[0].at, kStart + 30ms);  // at once (the inter-packet bound allowing)
    for (const Sent& s : spms) {
        ASSERT_NE(s.option<OptRst>(), nullptr);
        EXPECT_EQ(*s.option<OptRst>(), (OptRst{true, 5}));
        EXPECT_EQ(s.option<OptFin>(), nullptr);
    }
    EXPECT_EQ(types_since(mark), std::vector<PacketType>(types_since(mark).size(), PacketType::Spm))
        << "no ODATA, NCF or RDATA after a reset with no NAKs";
    run_until(kStart + 25ms + 2s);
    EXPECT_TRUE(src().finished());
}

TEST_F(SourceTest, S17_ResetKeepsAnsweringNaksUnlessTold) {
    start(base_config());
    send_and_run(2);
    src().reset(0, false, now_);
    run_for(0s);
    nak(1);
    EXPECT_EQ(of(PacketType::Ncf).size(), 1u);
    EXPECT_EQ(of(PacketType::Rdata).size(), 1u);
    EXPECT_EQ(*of(PacketType::Spm).back().option<OptRst>(), (OptRst{false, 0}));
}

// --- S19 -----------------------------------------------------------------------------------

TEST_F(SourceTest, S19_FragmentOffsets) {
    SourceConfig c = base_config();
    c.max_tpdu = 512;
    start(c);
    // IPv4 + Router Alert (RDATA) 24, PGM header 16, data fields 8, OPT_LENGTH + SYN + FIN 12:
    // 452 bytes go in one ODATA; fragments also carry OPT_FRAGMENT (16): 436 each.
    send(452, 1);
    send(453, 2);
    send(2000, 3);
    send(10, 4);
    run_for(0s);
    const std::vector<Sent> odata = of(PacketType::Odata);
    ASSERT_EQ(odata.size(), 1u + 2u + 5u + 1u);
    EXPECT_EQ(odata[0].option<OptFragment>(), nullptr);
    EXPECT_EQ(odata[8].option<OptFragment>(), nullptr);
    struct Apdu {
        std::size_t first_packet, packets, size;
        std::uint8_t seed;
    };
    for (const Apdu& a : {Apdu{1, 2, 453, 2}, Apdu{3, 5, 2000, 3}}) {
        std::vector<std::uint8_t> reassembled;
        for (std::size_t i = 0; i < a.packets; ++i) {
            const Sent& p = odata[a.first_packet + i];
            const OptFragment* f = p.option<OptFragment>();
            ASSERT_NE(f, nullptr);
            EXPECT_EQ(p.data().sqn, Sqn(static_cast<std::uint32_t>(a.first_packet + i)));
            EXPECT_EQ(f->first_sqn, Sqn(static_cast<std::uint32_t>(a.first_packet)));
            EXPECT_EQ(f->offset, reassembled.size());
            EXPECT_EQ(f->apdu_length, a.size);
            reassembled.insert(reassembled.end(), p.spec.payload.begin(), p.spec.payload.end());
        }
        EXPECT_EQ(reassembled, apdu_of(a.size, a.seed));
    }
    for (const Sent& p : odata)
        EXPECT_LE(p.wire_size() + 4, c.max_tpdu) << "its RDATA, with Router Alert, fits too";
    nak(5);
    ASSERT_EQ(of(PacketType::Rdata).size(), 1u);
    EXPECT_EQ(*of(PacketType::Rdata)[0].option<OptFragment>(), *odata[5].option<OptFragment>());
    EXPECT_LE(of(PacketType::Rdata)[0].wire_size(), c.max_tpdu);
}

TEST_F(SourceTest, S19_ApduLargerThanWindowRefused) {
    SourceConfig c = base_config();
    c.max_tpdu = 512;
    c.txw_sqns = 4;
    start(c);
    EXPECT_EQ(src().max_apdu(), 4u * 436u);
    EXPECT_FALSE(src().send(apdu_of(4 * 436 + 1, 0), now_));
    EXPECT_TRUE(src().send(apdu_of(4 * 436, 0), now_));
}

// --- S21 -----------------------------------------------------------------------------------

TEST_F(SourceTest, S21_SpmrAnsweredAtMostOncePerIhbMin) {
    SourceConfig c = base_config();
    c.ihb_min = 1s;
    c.ihb_max = 10s;
    start(c);
    run_for(10ms);  // the first SPM
    const auto answers = [&](Duration after) {
        run_for(after);
        const std::size_t mark = sent_.size();
        spmr();
        return types_since(mark) == std::vector<PacketType>{PacketType::Spm};
    };
    EXPECT_TRUE(answers(0s)) << "at once";
    EXPECT_FALSE(answers(500ms));
    EXPECT_FALSE(answers(499ms));
    EXPECT_TRUE(answers(1ms)) << "IHB_MIN after the last answer";
    EXPECT_EQ(src().stats().spmrs_received, 4u);
    EXPECT_EQ(src().stats().spmrs_suppressed, 2u);
}

// --- Counters and life cycle ---------------------------------------------------------------

TEST_F(SourceTest, StatsModelRmSenderStats) {
    start(base_config());
    send_and_run(3, 200);
    nak(1, {2});
    nak(9);
    const SourceStats& s = src().stats();
    EXPECT_EQ(s.odata_packets_sent, 3u);
    EXPECT_EQ(s.data_bytes_sent, 600u);
    EXPECT_EQ(s.repair_packets_sent, 2u);
    EXPECT_EQ(s.ncfs_sent, 1u);
    EXPECT_EQ(s.spms_sent, 1u);
    EXPECT_EQ(s.naks_received, 3u);
    EXPECT_EQ(s.naks_too_late, 1u);
    std::uint64_t total = 0;
    for (const Sent& p : sent_)
        total += p.size;
    EXPECT_EQ(s.total_bytes_sent, total);
    EXPECT_EQ(s.trailing_edge, Sqn(0));
    EXPECT_EQ(s.leading_edge, Sqn(2));
}

// Random APDUs, NAKs, SPMRs and clock steps under a tight rate and a small window: every
// packet parses, ODATA stays consecutive, RDATA only for the window and only after an NCF
// for it, bounds hold, the source never asks to be woken for nothing (run_until).
TEST_F(SourceTest, RandomOperationsKeepInvariants) {
    SourceConfig c = base_config();
    c.max_tpdu = 600;
    c.txw_sqns = 16;
    c.txw_secs = 1s;
    c.txw_max_rte = 50'000;
    c.rate_burst = 0;
    c.rdata_delay = 5ms;
    c.max_backlog_apdus = 8;
    c.max_pending_ncfs = 4;
    start(c);
    std::uint64_t rng = 42;
    const auto next = [&rng](std::uint64_t n) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        return (rng >> 33) % n;
    };
    for (int step = 0; step < 3000; ++step) {
        switch (next(4)) {
            case 0:
                src().send(apdu_of(next(2000), static_cast<std::uint8_t>(step)), now_);
                break;
            case 1: {
                const std::uint32_t base = src().window().lead.value() - 20;
                nak(base + static_cast<std::uint32_t>(next(24)), {base + 21, base + 22, base + 23});
                break;
            }
            case 2:
                spmr();
                break;
            default:
                run_for(std::chrono::milliseconds(next(50)));
        }
        ASSERT_LE(src().window().size(), c.txw_sqns);
        ASSERT_LE(src().backlog_apdus(), c.max_backlog_apdus);
    }
    run_for(5s);
    std::optional<Sqn> last;
    std::vector<Sqn> confirmed;
    for (const Sent& s : sent_) {
        if (s.type() == PacketType::Odata) {
            if (last) {
                EXPECT_EQ(s.data().sqn, *last + 1);
            }
            last = s.data().sqn;
        } else if (s.type() == PacketType::Ncf) {
            confirmed.push_back(s.nak().sqn);
            if (const OptNakList* l = s.option<OptNakList>())
                confirmed.insert(confirmed.end(), l->sqns.begin(), l->sqns.end());
        } else if (s.type() == PacketType::Rdata) {
            EXPECT_TRUE((SqnWindow{s.data().trail, *last}.contains(s.data().sqn)));
            EXPECT_NE(std::find(confirmed.begin(), confirmed.end(), s.data().sqn), confirmed.end());
        }
        EXPECT_LE(s.wire_size(), c.max_tpdu);
    }
    EXPECT_GT(src().stats().repair_packets_sent, 0u);
    EXPECT_GT(src().stats().naks_too_late, 0u);
    EXPECT_LE(src().stats().naks_too_late + src().stats().naks_shed, src().stats().naks_received);
}

TEST_F(SourceTest, ConfigValidity) {
    EXPECT_TRUE(base_config().valid());
    const auto invalid = [](auto change) {
        SourceConfig c = base_config();
        change(c);
        return !c.valid();
    };
    EXPECT_TRUE(invalid([](SourceConfig& c) { c.group = *Nla::parse("10.0.0.1"); }));
    EXPECT_TRUE(invalid([](SourceConfig& c) { c.group = *Nla::parse("ff0e::1"); }));
    EXPECT_TRUE(invalid([](SourceConfig& c) { c.txw_sqns = 0x80000000u; }));
    EXPECT_TRUE(invalid([](SourceConfig& c) { c.txw_sqns = 0; }));
    EXPECT_TRUE(invalid([](SourceConfig& c) { c.max_tpdu = 100; }));
    EXPECT_TRUE(invalid([](SourceConfig& c) { c.txw_max_rte = 0; }));
    EXPECT_TRUE(invalid([](SourceConfig& c) { c.ihb_max = 10ms; }));
    EXPECT_TRUE(invalid([](SourceConfig& c) { c.source_port = 0; }));
}

TEST_F(SourceTest, Ipv6SessionSizesFragmentsForIpv6Headers) {
    SourceConfig c = base_config();
    c.address = *Nla::parse("2001:db8::1");
    c.group = *Nla::parse("ff0e::1234");
    c.max_tpdu = 1280;
    start(c);
    send(5000, 9);
    run_for(0s);
    nak(0);
    for (const Sent& p : sent_) {
        // IPv6 header 40 + hop-by-hop Router Alert 8.
        EXPECT_LE(p.size + 40 + (p.transmit.router_alert ? 8 : 0), c.max_tpdu);
    }
    EXPECT_EQ(of(PacketType::Spm)[0].spm().path, c.address);
    EXPECT_EQ(of(PacketType::Ncf)[0].nak().group, c.group);
}

// --- S20 FEC ------------------------------------------------------------------------------

SourceConfig fec_config(std::uint32_t k, std::uint32_t n, std::uint32_t proactive, bool ondemand) {
    SourceConfig c = base_config();
    c.fec_k = k;
    c.fec_n = n;
    c.fec_proactive = proactive;
    c.fec_ondemand = ondemand;
    return c;
}

// The k ODATA of the group starting at `tg`, as the codec reads them.
std::vector<FecData> group_data(const std::vector<Sent>& odata, std::uint32_t tg, unsigned k) {
    std::vector<FecData> d;
    for (unsigned i = 0; i < k; ++i) {
        const Sent& p = odata.at(tg + i);
        EXPECT_EQ(p.sqn(), tg + i);
        const OptFragment* f = p.option<OptFragment>();
        d.push_back(FecData{p.spec.payload, f ? std::optional(*f) : std::nullopt});
    }
    return d;
}

// The spans point into `odata`: never a temporary.
std::vector<FecData> group_data(std::vector<Sent>&& odata, std::uint32_t tg, unsigned k) = delete;

TEST_F(SourceTest, S20_SpmsAdvertiseParityPrm) {
    start(fec_config(4, 8, 2, true));
    run_for(0s);
    const Sent spm = of(PacketType::Spm).at(0);
    ASSERT_NE(spm.option<OptParityPrm>(), nullptr);
    EXPECT_EQ(*spm.option<OptParityPrm>(), (OptParityPrm{true, true, 4}));
    source_.reset();
    sent_.clear();
    start(fec_config(8, 9, 0, true));
    run_for(0s);
    EXPECT_EQ(*of(PacketType::Spm).at(0).option<OptParityPrm>(), (OptParityPrm{false, true, 8}));
    source_.reset();
    sent_.clear();
    start(base_config());
    run_for(0s);
    EXPECT_EQ(of(PacketType::Spm).at(0).option<OptParityPrm>(), nullptr);
}

TEST_F(SourceTest, S20_ProactiveParityAfterEachFullGroup) {
    start(fec_config(4, 6, 2, false));
    for (std::uint8_t i = 0; i < 10; ++i)
        send(100 - 7 * (i % 4), i);  // lengths vary within each group
    run_for(0s);
    // ODATA 0..3, parity 0 and 1 of group 0, ODATA 4..7, parity of group 4, ODATA 8, 9 (the
    // partial group 8 gets none).
    std::vector<std::pair<std::uint32_t, bool>> order;
    for (const Sent& p : of(PacketType::Odata))
        order.emplace_back(p.sqn(), p.parity());
    EXPECT_EQ(order, (std::vector<std::pair<std::uint32_t, bool>>{{0, false},
                                                                  {1, false},
                                                                  {2, false},
                                                                  {3, false},
                                                                  {0, true},
                                                                  {1, true},
                                                                  {4, false},
                                                                  {5, false},
                                                                  {6, false},
                                                                  {7, false},
                                                                  {4, true},
                                                                  {5, true},
                                                                  {8, false},
                                                                  {9, false}}));
    const std::vector<Sent> odata = data_of(PacketType::Odata);
    const std::vector<Sent> parity = parity_of(PacketType::Odata);
    const FecCodec codec(4, 6);
    for (unsigned g = 0; g < 2; ++g) {
        const std::vector<FecData> d = group_data(odata, 4 * g, 4);
        std::vector<FecReceived> received;
        for (unsigned j = 0; j < 2; ++j) {
            const Sent& p = parity.at(2 * g + j);
            FecParity expected;
            codec.encode(d, j, expected);
            EXPECT_TRUE(p.var_pktlen());
            EXPECT_EQ(p.spec.payload, expected.tsdu) << "group " << 4 * g << " parity " << j;
            EXPECT_EQ(p.encoded_fragment(), std::nullopt);
            EXPECT_FALSE(p.transmit.router_alert) << "parity ODATA is ODATA (S10)";
            received.push_back(FecReceived{4 + j, p.spec.payload, {}, {}, p.var_pktlen()});
        }
        // Two data packets lost: the two parity packets bring them back.
        received.push_back(FecReceived{1, d[1].tsdu, {}, {}, false});
        received.push_back(FecReceived{2, d[2].tsdu, {}, {}, false});
        std::vector<FecRecovered> out;
        ASSERT_EQ(codec.recover(received, Sqn(4 * g), out), FecError::Ok);
        ASSERT_EQ(out.size(), 2u);
        EXPECT_EQ(out[0].tsdu, std::vector<std::uint8_t>(d[0].tsdu.begin(), d[0].tsdu.end()));
        EXPECT_EQ(out[1].tsdu, std::vector<std::uint8_t>(d[3].tsdu.begin(), d[3].tsdu.end()));
    }
    EXPECT_EQ(src().stats().parity_odata_sent, 4u);
    EXPECT_EQ(src().stats().odata_packets_sent, 10u);
}

TEST_F(SourceTest, S20_ParityNakAnsweredWithFreshParityRdata) {
    start(fec_config(4, 8, 0, true));
    send_and_run(8);
    std::size_t mark = sent_.size();
    parity_nak({{4, 2}});
    ASSERT_EQ(types_since(mark),
              (std::vector<PacketType>{PacketType::Ncf, PacketType::Rdata, PacketType::Rdata}));
    const Sent& ncf = sent_[mark];
    EXPECT_TRUE(ncf.parity()) << "a parity NAK gets a parity NCF";
    EXPECT_EQ(ncf.nak().sqn, Sqn(4 | 1));
    mark = sent_.size();
    parity_nak({{4, 1}});  // one more: the next fresh index
    run_for(0s);
    ASSERT_EQ(types_since(mark), (std::vector<PacketType>{PacketType::Ncf, PacketType::Rdata}));
    const std::vector<Sent> rdata = parity_of(PacketType::Rdata);
    ASSERT_EQ(rdata.size(), 3u);
    const FecCodec codec(4, 8);
    const std::vector<Sent> odata = data_of(PacketType::Odata);  // d points into it
    const std::vector<FecData> d = group_data(odata, 4, 4);
    for (unsigned j = 0; j < 3; ++j) {
        EXPECT_EQ(rdata[j].sqn(), 4 + j) << "RDATA_SQN = TG_SQN | parity index";
        EXPECT_TRUE(rdata[j].transmit.router_alert);
        FecParity expected;
        codec.encode(d, j, expected);
        EXPECT_EQ(rdata[j].spec.payload, expected.tsdu);
        EXPECT_FALSE(rdata[j].var_pktlen()) << "equal lengths";
    }
    EXPECT_EQ(src().stats().parity_naks_received, 2u);
    EXPECT_EQ(src().stats().parity_rdata_sent, 3u);
    EXPECT_EQ(src().stats().repair_packets_sent, 3u);
    EXPECT_EQ(src().stats().naks_received, 0u) << "selective requests only";
}

TEST_F(SourceTest, S20_ParityNaksConsolidatedWhileQueued) {
    SourceConfig c = fec_config(4, 8, 0, true);
    c.rdata_delay = 50ms;
    start(c);
    send_and_run(8);
    parity_nak({{0, 2}});
    run_for(10ms);
    parity_nak({{0, 1}});  // no more than queued: NCF only
    run_for(10ms);
    parity_nak({{0, 3}});  // one more than queued
    run_for(100ms);
    EXPECT_EQ(of(PacketType::Ncf).size(), 3u);
    const std::vector<Sent> rdata = parity_of(PacketType::Rdata);
    ASSERT_EQ(rdata.size(), 3u);
    EXPECT_EQ(rdata[0].sqn(), 0u);
    EXPECT_EQ(rdata[1].sqn(), 1u);
    EXPECT_EQ(rdata[2].sqn(), 2u);
    EXPECT_EQ(src().stats().naks_duplicate, 1u);
}

TEST_F(SourceTest, S20_ParityNakListAndGroupsOutsideTheWindow) {
    SourceConfig c = fec_config(4, 8, 0, true);
    c.txw_sqns = 8;
    start(c);
    send_and_run(14);  // window [6, 13]: group 8 whole, group 4 partly gone, group 12 partial
    const std::size_t mark = sent_.size();
    parity_nak({{4, 1}, {8, 2}, {12, 1}});
    ASSERT_EQ(types_since(mark),
              (std::vector<PacketType>{PacketType::Ncf, PacketType::Rdata, PacketType::Rdata}));
    const Sent& ncf = sent_[mark];
    EXPECT_EQ(ncf.nak().sqn, Sqn(8 | 1)) << "only the group that can be repaired is confirmed";
    EXPECT_EQ(ncf.option<OptNakList>(), nullptr);
    EXPECT_EQ(src().stats().parity_naks_received, 3u);
    EXPECT_EQ(src().stats().parity_naks_too_late, 2u);
    const std::size_t before = sent_.size();
    parity_nak({{12, 4}});
    EXPECT_EQ(sent_.size(), before) << "an incomplete group is neither confirmed nor repaired";
}

TEST_F(SourceTest, S20_ParityIndicesBeyondKCarryParityGrpAndWrap) {
    start(fec_config(2, 7, 0, true));  // five parity packets per group of two
    send_and_run(2);
    for (int i = 0; i < 3; ++i) {
        parity_nak({{0, 2}});
        run_for(0s);
    }
    const std::vector<Sent> rdata = parity_of(PacketType::Rdata);
    ASSERT_EQ(rdata.size(), 6u);
    const FecCodec codec(2, 7);
    const std::vector<Sent> odata = data_of(PacketType::Odata);  // d points into it
    const std::vector<FecData> d = group_data(odata, 0, 2);
    for (unsigned i = 0; i < 6; ++i) {
        const unsigned j = i % 5;  // the sixth wraps to parity 0
        EXPECT_EQ(rdata[i].sqn(), j % 2) << i;
        const OptParityGrp* grp = rdata[i].option<OptParityGrp>();
        if (j < 2) {
            EXPECT_EQ(grp, nullptr) << i;
        } else {
            ASSERT_NE(grp, nullptr) << i;
            EXPECT_EQ(grp->group, j / 2) << i;
        }
        FecParity expected;
        codec.encode(d, j, expected);
        EXPECT_EQ(rdata[i].spec.payload, expected.tsdu) << i;
    }
}

TEST_F(SourceTest, S20_FragmentedApduParityCarriesEncodedFragmentOption) {
    start(fec_config(4, 6, 2, false));
    send(3000, 1);  // three fragments
    send(10, 2);    // and a small APDU: the group mixes both
    run_for(0s);
    const std::vector<Sent> odata = data_of(PacketType::Odata);
    const std::vector<Sent> parity = parity_of(PacketType::Odata);
    ASSERT_EQ(odata.size(), 4u);
    ASSERT_EQ(parity.size(), 2u);
    const std::vector<FecData> d = group_data(odata, 0, 4);
    ASSERT_TRUE(d[0].fragment && d[2].fragment && !d[3].fragment);
    const FecCodec codec(4, 6);
    std::vector<FecReceived> received{{3, d[3].tsdu, d[3].fragment, {}, false}};
    for (unsigned j = 0; j < 2; ++j) {
        bool f_bit = false;
        const std::optional<FecOption> o = parity[j].encoded_fragment(&f_bit);
        ASSERT_TRUE(o.has_value());
        EXPECT_TRUE(f_bit) << "OP_ENCODED";
        FecParity expected;
        codec.encode(d, j, expected);
        EXPECT_EQ(o, expected.option);
        received.push_back(
            FecReceived{4 + j, parity[j].spec.payload, {}, o, parity[j].var_pktlen()});
    }
    received.push_back(FecReceived{1, d[1].tsdu, d[1].fragment, {}, false});
    std::vector<FecRecovered> out;
    ASSERT_EQ(codec.recover(received, Sqn(0), out), FecError::Ok);  // fragments 0 and 2 lost
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].fragment, d[0].fragment);
    EXPECT_EQ(out[0].tsdu, std::vector<std::uint8_t>(d[0].tsdu.begin(), d[0].tsdu.end()));
    EXPECT_EQ(out[1].fragment, d[2].fragment);
    EXPECT_EQ(out[1].tsdu, std::vector<std::uint8_t>(d[2].tsdu.begin(), d[2].tsdu.end()));
}

TEST_F(SourceTest, S20_ParityPacketsFitMaxTpdu) {
    SourceConfig c = fec_config(2, 6, 4, false);  // parity 2, 3 carry OPT_PARITY_GRP
    c.max_tpdu = 600;
    start(c);
    const std::size_t largest_single = 600 - 20 - 4 - 16 - 8 - 12 - 30;
    send(largest_single, 1);  // the longest unfragmented TSDU FEC allows
    send(5000, 2);            // fragments: OPT_FRAGMENT encoded into the parity
    run_for(0s);
    EXPECT_EQ(data_of(PacketType::Odata).at(0).spec.payload.size(), largest_single);
    ASSERT_GE(parity_of(PacketType::Odata).size(), 8u);
    for (const Sent& p : sent_)
        EXPECT_LE(p.wire_size(), c.max_tpdu) << to_string(p.type()) << " " << p.sqn();
}

TEST_F(SourceTest, S20_FecConfigValidity) {
    EXPECT_TRUE(fec_config(4, 8, 2, true).valid());
    EXPECT_TRUE(fec_config(128, 255, 127, false).valid());
    EXPECT_FALSE(fec_config(3, 8, 0, true).valid());    // not a power of two
    EXPECT_FALSE(fec_config(4, 4, 0, true).valid());    // no parity
    EXPECT_FALSE(fec_config(4, 256, 0, true).valid());  // n > 255
    EXPECT_FALSE(fec_config(4, 8, 5, true).valid());    // more proactive than n - k
    SourceConfig c = fec_config(16, 20, 1, false);
    c.txw_sqns = 8;  // a group must fit the window
    EXPECT_FALSE(c.valid());
}

}  // namespace
}  // namespace pgm
