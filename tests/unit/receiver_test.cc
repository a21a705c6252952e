// The PGM receiver (protocol/receiver.h) against the receiver rules R1-R21 of the rule
// catalogue (docs/rfc3208-rules.md §3), on a virtual clock: time is only
// the Time values the tests pass in. Packets are built with the codec (PacketSpec, build) and
// every packet the receiver emits is parsed back and checked field by field.
//
// Rules with no test here, and why:
//   R19 FEC: variable transmission-group sizes (OPT_CURR_TGSIZE) are not used; a group not
//       known to be full is NAKed selectively. The rest of R11 and R19 is tested (R19_*), also
//       against the real Source (FecEndToEnd).
//   R14 OPT_NAK_BO_IVL / OPT_NAK_BO_RNG: the receiver always uses its configured NAK_BO_IVL
//       and never adopts an advertised one, so the MUST NOT holds without a procedure.
//   R15 OPT_NBR_UNREACH stop-NAKing (Appendix E): not implemented; only R5's "ignore the
//       window fields of such SPMs" is (R05_NbrUnreachSpmWindowIgnored).
//   R17 POLL child (Appendix D), R20 redirect (DLR): optional appendices, not implemented.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "protocol/fec.h"
#include "protocol/io.h"
#include "protocol/packet.h"
#include "protocol/receiver.h"
#include "protocol/source.h"
#include "protocol/spec.h"

namespace pgm {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t kSourcePort = 7500;  // data-source port: the TSI's
constexpr std::uint16_t kDataPort = 7501;    // data-destination port
constexpr IfIndex kIfIndex = 3;
constexpr std::size_t kMaxTestPacket = 4096;

const Nla kSource = Nla::ipv4(0x0A000001u);   // 10.0.0.1
const Nla kRouter = Nla::ipv4(0x0A0001FEu);   // 10.0.1.254: the nearest network element
const Nla kRouter2 = Nla::ipv4(0x0A0001FDu);  // 10.0.1.253
const Nla kSelf = Nla::ipv4(0x0A00010Au);     // 10.0.1.10
const Nla kPeerRx = Nla::ipv4(0x0A00010Bu);   // 10.0.1.11: another receiver
const Nla kGroup = Nla::ipv4(0xEFC00001u);    // 239.192.0.1
const Gsi kGsi{{1, 2, 3, 4, 5, 6}};
const Tsi kTsi{kGsi, kSourcePort};

ReceiverConfig test_config() {
    ReceiverConfig c;
    c.address = kSelf;
    c.group = kGroup;
    c.ifindex = kIfIndex;
    c.data_destination_port = kDataPort;
    c.nak_bo_ivl = 50ms;
    c.nak_rpt_ivl = 200ms;
    c.nak_rdata_ivl = 500ms;
    c.nak_ncf_retries = 2;
    c.nak_data_retries = 2;
    c.spmr_bo_ivl = 250ms;
    c.spmr_repeat_ivl = 1s;
    c.fin_linger = 10s;
    c.peer_expiry = 60s;
    c.max_window_sqns = 1024;
    c.max_window_bytes = 1 << 20;
    c.max_sources = 4;
    c.seed = 42;
    return c;
}

// --- Packets, built from specs -------------------------------------------------------------

std::vector<std::uint8_t> payload_of(std::uint32_t sqn, std::size_t size = 8) {
    std::vector<std::uint8_t> p(size);
    for (std::size_t i = 0; i < size; ++i)
        p[i] = static_cast<std::uint8_t>(sqn * 31 + i);
    return p;
}

PacketSpec downstream(PacketType type, Fields fields, std::vector<OptionSpec> options = {},
                      const Tsi& tsi = kTsi) {
    PacketSpec s;
    s.type = type;
    s.source_port = tsi.source_port;
    s.destination_port = kDataPort;
    s.gsi = tsi.gsi;
    s.fields = std::move(fields);
    s.options = std::move(options);
    return s;
}

PacketSpec spm(std::uint32_t sqn, std::uint32_t trail, std::uint32_t lead, Nla path = kRouter,
               std::vector<OptionSpec> options = {}, const Tsi& tsi = kTsi) {
    return downstream(PacketType::Spm, SpmFields{Sqn(sqn), Sqn(trail), Sqn(lead), path, 0},
                      std::move(options), tsi);
}

PacketSpec data(std::uint32_t sqn, std::uint32_t trail = 0, std::vector<OptionSpec> options = {},
                PacketType type = PacketType::Odata, const Tsi& tsi = kTsi) {
    PacketSpec s = downstream(type, DataFields{Sqn(sqn), Sqn(trail)}, std::move(options), tsi);
    s.payload = payload_of(sqn);
    return s;
}

PacketSpec rdata(std::uint32_t sqn, std::uint32_t trail = 0) {
    return data(sqn, trail, {}, PacketType::Rdata);
}

std::vector<OptionSpec> list_option(const std::vector<std::uint32_t>& list) {
    if (list.empty()) return {};
    OptNakList l;
    for (std::uint32_t s : list)
        l.sqns.push_back(Sqn(s));
    return {l};
}

PacketSpec ncf(std::uint32_t sqn, const std::vector<std::uint32_t>& list = {},
               const Tsi& tsi = kTsi) {
    return downstream(PacketType::Ncf, NakFields{Sqn(sqn), kSource, kGroup}, list_option(list),
                      tsi);
}

// A NAK of another receiver: upstream orientation (SPORT = data-destination port).
PacketSpec nak(std::uint32_t sqn, const std::vector<std::uint32_t>& list = {},
               const Tsi& tsi = kTsi) {
    PacketSpec s =
        downstream(PacketType::Nak, NakFields{Sqn(sqn), kSource, kGroup}, list_option(list), tsi);
    s.source_port = kDataPort;
    s.destination_port = tsi.source_port;
    return s;
}

PacketSpec spmr() {
    PacketSpec s = downstream(PacketType::Spmr, SpmrFields{});
    s.source_port = kDataPort;
    s.destination_port = kSourcePort;
    return s;
}

// --- The harness ---------------------------------------------------------------------------

struct Sent {
    Time at;
    Transmit transmit;
    PacketSpec spec;
};

std::vector<Sqn> nak_sqns(const PacketSpec& s) {
    std::vector<Sqn> all{std::get<NakFields>(s.fields).sqn};
    for (const OptionSpec& o : s.options) {
        if (auto* l = std::get_if<OptNakList>(&o))
            all.insert(all.end(), l->sqns.begin(), l->sqns.end());
    }
    return all;
}

std::vector<Sqn> sqns(std::uint32_t first, std::uint32_t count) {
    std::vector<Sqn> v;
    for (std::uint32_t i = 0; i < count; ++i)
        v.push_back(Sqn(first + i));
    return v;
}

class Harness {
  public:
    explicit Harness(const ReceiverConfig& config = test_config()) : rx(config) {}

    void feed(const PacketSpec& spec, Nla ip_source = kSource, Nla ip_destination = kGroup) {
        auto bytes = build(spec, true, kMaxTestPacket);
        ASSERT_TRUE(bytes.has_value());
        Arrival a;
        a.ifindex = kIfIndex;
        a.ip.source = ip_source;
        a.ip.destination = ip_destination;
        a.ip.ttl = 64;
        rx.on_packet(a, *bytes, now, out);
        collect();
    }

    // Advances the virtual clock by `d`, running every timer that falls due on the way.
    void run_for(Duration d) {
        const Time end = now + d;
        for (int guard = 0; rx.next_deadline() <= end; ++guard) {
            ASSERT_LT(guard, 1000000) << "timer does not advance";
            now = std::max(now, rx.next_deadline());
            rx.on_timer(now, out);
            collect();
        }
        now = end;
    }

    std::vector<Sent> sent_of(PacketType type) const {
        std::vector<Sent> r;
        for (const Sent& s : sent)
            if (s.spec.type == type) r.push_back(s);
        return r;
    }
    std::vector<Sent> naks() const { return sent_of(PacketType::Nak); }
    // Every sequence number NAKed, in the order sent.
    std::vector<Sqn> naked() const {
        std::vector<Sqn> all;
        for (const Sent& s : naks()) {
            auto n = nak_sqns(s.spec);
            all.insert(all.end(), n.begin(), n.end());
        }
        return all;
    }

    template <class E>
    std::vector<E> events_of() const {
        std::vector<E> r;
        for (const ReceiverEvent& e : events)
            if (auto* x = std::get_if<E>(&e)) r.push_back(*x);
        return r;
    }
    std::vector<DataEvent> delivered() const { return events_of<DataEvent>(); }
    std::vector<LossEvent> losses() const { return events_of<LossEvent>(); }
    std::vector<SessionEndEvent> ends() const { return events_of<SessionEndEvent>(); }
    std::vector<std::uint32_t> delivered_sqns() const {
        std::vector<std::uint32_t> r;
        for (const DataEvent& d : delivered())
            r.push_back(d.first_sqn.value());
        return r;
    }
    std::optional<SqnState> state(std::uint32_t sqn) const { return rx.sqn_state(kTsi, Sqn(sqn)); }

    // The usual start: an SPM naming the router as the path, then data 0.
    void join(std::uint32_t first = 0) {
        feed(spm(1, first, first - 1));
        feed(data(first, first));
    }

    Receiver rx;
    Output out;
    Time now = Time{} + 1000s;
    std::vector<Sent> sent;
    std::vector<ReceiverEvent> events;

  private:
    void collect() {
        for (const Transmit& t : out.transmits()) {
            ParseResult r = parse(out.bytes(t));
            ASSERT_TRUE(r) << "receiver emitted a malformed packet: " << to_string(r.error);
            sent.push_back({now, t, from_view(r.view)});
        }
        out.clear();
        for (ReceiverEvent& e : rx.events())
            events.push_back(std::move(e));
        rx.events().clear();
    }
};

// --- The state machine itself ----------------------------------------------------------------

TEST(NakStateMachine, TransitionTable) {
    using S = SqnState;
    using E = SqnEvent;
    struct Row {
        S from;
        E event;
        bool exhausted;
        S to;
        std::uint16_t actions;
    };
    const Row rows[] = {
        {S::BackOff, E::BackoffExpired, false, S::WaitNcf, kSendNak | kArmRptIvl},
        {S::BackOff, E::NcfHeard, false, S::WaitData, kSuppressed | kArmRdataIvl},
        {S::BackOff, E::NakHeard, false, S::WaitData, kSuppressed | kArmRdataIvl},
        {S::BackOff, E::NakingEnabled, false, S::BackOff, kArmBackoff},
        {S::WaitNcf, E::NcfHeard, false, S::WaitData, kArmRdataIvl},
        {S::WaitNcf, E::NcfTimeout, false, S::BackOff, kCountNcfRetry | kArmBackoff},
        {S::WaitNcf, E::NcfTimeout, true, S::Lost, kDeclareLost},
        {S::WaitData, E::NcfHeard, false, S::WaitData, kArmRdataIvl},
        {S::WaitData, E::NakHeard, false, S::WaitData, kArmRdataIvl},
        {S::WaitData, E::DataTimeout, false, S::BackOff, kCountDataRetry | kArmBackoff},
        {S::WaitData, E::DataTimeout, true, S::Lost, kDeclareLost},
        {S::Received, E::Data, false, S::Received, kDuplicate},
        {S::Received, E::Evicted, false, S::Lost, kDiscardData},
    };
    for (const Row& r : rows) {
        SqnTransition t = sqn_transition(r.from, r.event, r.exhausted);
        EXPECT_TRUE(t.legal) << to_string(r.from) << " event " << int(r.event);
        EXPECT_EQ(t.next, r.to) << to_string(r.from) << " event " << int(r.event);
        EXPECT_EQ(t.actions, r.actions) << to_string(r.from) << " event " << int(r.event);
    }
    for (S s : {S::BackOff, S::WaitNcf, S::WaitData}) {
        EXPECT_EQ(sqn_transition(s, E::Data).next, S::Received);
        EXPECT_EQ(sqn_transition(s, E::TrailPassed).next, S::Lost);
        EXPECT_EQ(sqn_transition(s, E::Evicted).next, S::Lost);
    }
    // Ignored: another receiver's NAK does not confirm ours; late data after a loss; a trail
    // advance past data already held.
    EXPECT_FALSE(sqn_transition(S::WaitNcf, E::NakHeard).legal);
    EXPECT_FALSE(sqn_transition(S::Lost, E::Data).legal);
    EXPECT_FALSE(sqn_transition(S::Received, E::TrailPassed).legal);
    EXPECT_EQ(sqn_transition_from_none(E::Detected).next, S::BackOff);
    EXPECT_EQ(sqn_transition_from_none(E::Data).next, S::Received);
    EXPECT_FALSE(sqn_transition_from_none(E::NcfHeard).legal);
}

// --- R1: RXW_TRAIL_INIT -------------------------------------------------------------------

TEST(Receiver, R01_NoNakBeforeTrailInitFromFirstData) {
    Harness h;
    h.feed(spm(1, 0, 9));  // the source holds 0..9
    h.feed(data(10, 0));   // RXW_TRAIL_INIT = 10
    h.run_for(5s);
    EXPECT_TRUE(h.naks().empty());
    EXPECT_FALSE(h.state(5).has_value());
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{10}));
    h.feed(data(12, 0));
    h.run_for(60ms);
    EXPECT_EQ(h.naked(), sqns(11, 1));
}

TEST(Receiver, R01_FirstDataOutsideAdvertisedWindowDoesNotStart) {
    Harness h;
    h.feed(spm(1, 5, 9));
    h.feed(rdata(3, 5));  // someone else's repair, before the window
    EXPECT_EQ(h.rx.stats().out_of_window, 1u);
    EXPECT_TRUE(h.delivered().empty());
    h.feed(data(10, 5));  // starts here
    h.run_for(1s);
    EXPECT_TRUE(h.naks().empty());
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{10}));
}

TEST(Receiver, R01_OptJoinSetsTrailInit) {
    Harness h;
    h.feed(spm(1, 0, 9));
    h.feed(data(10, 0, {OptJoin{Sqn(6)}}));  // RXW_TRAIL_INIT = OPT_JOIN_MIN = 6
    h.run_for(60ms);
    EXPECT_EQ(h.naked(), sqns(6, 4));
    EXPECT_TRUE(h.delivered().empty());  // 10 waits for 6..9
    for (std::uint32_t s = 6; s <= 9; ++s)
        h.feed(rdata(s));
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{6, 7, 8, 9, 10}));
}

TEST(Receiver, R01_EmptyWindowSpmStartsAtItsTrail) {
    // A receiver present before the first ODATA (OpenPGM's first SPMs advertise trail 0,
    // lead 0xFFFFFFFF) must NAK the first packets when they are lost, not start after them.
    Harness h;
    h.feed(spm(1, 0, 0xFFFFFFFFu));
    h.feed(data(2, 0));  // 0 and 1 were lost
    h.run_for(60ms);
    EXPECT_EQ(h.naked(), sqns(0, 2));
    EXPECT_TRUE(h.delivered().empty());
    h.feed(rdata(0));
    h.feed(rdata(1));
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0, 1, 2}));
}

// --- R2: window membership, duplicates ------------------------------------------------------

TEST(Receiver, R02_DuplicatesAndOutOfWindowDiscarded) {
    Harness h;
    h.join(100);
    h.feed(data(101, 100));
    h.feed(data(101, 100));  // duplicate of delivered data
    h.feed(data(103, 100));
    h.feed(data(103, 100));  // duplicate of held data
    h.feed(rdata(50, 0));    // before the window
    EXPECT_EQ(h.rx.stats().duplicates, 2u);
    EXPECT_EQ(h.rx.stats().out_of_window, 1u);
    h.feed(rdata(102, 100));
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{100, 101, 102, 103}));
    for (const DataEvent& d : h.delivered())
        EXPECT_EQ(d.apdu, payload_of(d.first_sqn.value()));
}

// --- R3: ordered delivery of whole APDUs ------------------------------------------------------

TEST(Receiver, R03_InOrderDeliveryDespiteReordering) {
    Harness h;
    h.join(0);
    h.feed(data(3));
    h.feed(data(2));
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0}));
    h.feed(data(1));
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0, 1, 2, 3}));
    EXPECT_EQ(h.rx.stats().delivered_apdus, 4u);
}

PacketSpec fragment(std::uint32_t sqn, std::uint32_t first, const std::vector<std::uint8_t>& apdu,
                    std::uint32_t frag_size) {
    const std::uint32_t off = (sqn - first) * frag_size;
    const std::uint32_t len =
        std::min<std::uint32_t>(frag_size, static_cast<std::uint32_t>(apdu.size()) - off);
    PacketSpec s =
        data(sqn, 0, {OptFragment{Sqn(first), off, static_cast<std::uint32_t>(apdu.size())}});
    s.payload.assign(apdu.begin() + off, apdu.begin() + off + len);
    return s;
}

TEST(Receiver, R03_ReassemblesFragmentedApdu) {
    Harness h;
    h.join(4);
    const std::vector<std::uint8_t> apdu = payload_of(77, 2500);  // fragments 5, 6, 7
    h.feed(fragment(5, 5, apdu, 1000));
    h.feed(fragment(7, 5, apdu, 1000));
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{4}));
    h.feed(fragment(6, 5, apdu, 1000));
    h.feed(data(8));
    ASSERT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{4, 5, 8}));
    EXPECT_EQ(h.delivered()[1].apdu, apdu);
    EXPECT_TRUE(h.losses().empty());
}

TEST(Receiver, R03_ApduWithLostFragmentReportedNotDelivered) {
    Harness h;
    h.join(4);
    const std::vector<std::uint8_t> apdu = payload_of(77, 2500);
    h.feed(fragment(5, 5, apdu, 1000));
    h.feed(fragment(7, 5, apdu, 1000));
    h.feed(data(8));
    h.feed(spm(2, 8, 8));  // the source no longer holds 6
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{4, 8}));
    ASSERT_EQ(h.losses().size(), 1u);
    EXPECT_EQ(h.losses()[0].first_sqn, Sqn(5));
    EXPECT_EQ(h.losses()[0].count, 3u);
    EXPECT_EQ(h.losses()[0].reason, LossReason::TrailAdvanced);
    EXPECT_EQ(h.rx.stats().unrecoverable, 1u);
    EXPECT_EQ(h.rx.stats().discarded_fragments, 2u);
}

// --- R4: SPMs ---------------------------------------------------------------------------------

TEST(Receiver, R04_NoNakBeforeFirstSpm) {
    Harness h;
    h.feed(data(0));
    h.feed(data(2));
    h.run_for(5s);
    EXPECT_TRUE(h.naks().empty());
    EXPECT_EQ(h.state(1), SqnState::BackOff);
    const Time spm_at = h.now;
    h.feed(spm(1, 0, 2));
    h.run_for(60ms);
    ASSERT_EQ(h.naks().size(), 1u);
    EXPECT_LE(h.naks()[0].at, spm_at + 50ms);
    EXPECT_EQ(h.naked(), sqns(1, 1));
}

TEST(Receiver, R04_OutOfSequenceSpmDiscardedNakToLatestPath) {
    Harness h;
    h.feed(spm(5, 0, 0, kRouter));
    h.feed(spm(6, 0, 0, kRouter2));
    h.feed(spm(4, 0, 0, kPeerRx));  // older: discarded, path kept
    EXPECT_EQ(h.rx.stats().spms_out_of_sequence, 1u);
    h.feed(data(0));
    h.feed(data(2));
    h.run_for(60ms);
    ASSERT_EQ(h.naks().size(), 1u);
    EXPECT_EQ(h.naks()[0].transmit.ip_destination, kRouter2);
}

TEST(Receiver, R04_StaleSpmWindowIgnoredRestProcessed) {
    Harness h;
    h.join(10);
    h.feed(data(11, 10));
    h.feed(spm(2, 3, 5, kRouter2, {OptFin{}}));  // in sequence, stale trail and lead
    EXPECT_TRUE(h.losses().empty());
    EXPECT_EQ(h.delivered().size(), 2u);
    h.feed(data(13, 10));
    h.run_for(60ms);
    ASSERT_EQ(h.naks().size(), 1u);
    EXPECT_EQ(h.naks()[0].transmit.ip_destination, kRouter2);  // the path was taken
    h.run_for(10s);
    EXPECT_EQ(h.ends().size(), 1u);  // and OPT_FIN
}

// --- R5: window advance -----------------------------------------------------------------------

TEST(Receiver, R05_TrailsAdvanceTheWindow) {
    Harness h;
    h.join(0);
    h.feed(data(2));       // 1 missing
    h.feed(spm(2, 2, 2));  // SPM_TRAIL passes 1
    h.feed(data(5, 2));    // 3, 4 missing
    h.feed(data(6, 4));    // OD_TRAIL passes 3
    h.feed(rdata(7, 5));   // RD_TRAIL passes 4
    const auto l = h.losses();
    ASSERT_EQ(l.size(), 3u);
    EXPECT_EQ(l[0].first_sqn, Sqn(1));
    EXPECT_EQ(l[1].first_sqn, Sqn(3));
    EXPECT_EQ(l[2].first_sqn, Sqn(4));
    for (const LossEvent& e : l) {
        EXPECT_EQ(e.count, 1u);
        EXPECT_EQ(e.reason, LossReason::TrailAdvanced);
    }
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0, 2, 5, 6, 7}));
}

TEST(Receiver, R05_TrailBeyondLeadReportsUnseenSequences) {
    Harness h;
    h.join(0);
    h.feed(spm(2, 1000, 1005));  // 1..999 gone, 1000..1005 missing
    ASSERT_EQ(h.losses().size(), 1u);
    EXPECT_EQ(h.losses()[0].first_sqn, Sqn(1));
    EXPECT_EQ(h.losses()[0].count, 999u);
    h.run_for(60ms);
    EXPECT_EQ(h.naked(), sqns(1000, 6));
}

TEST(Receiver, R05_NbrUnreachSpmWindowIgnored) {
    Harness h;
    h.join(0);
    h.feed(spm(2, 50, 60, kRouter, {OptNbrUnreach{}}));
    h.run_for(1s);
    EXPECT_TRUE(h.losses().empty());
    EXPECT_TRUE(h.naks().empty());
    EXPECT_FALSE(h.state(55).has_value());
}

// --- R6: loss detection -----------------------------------------------------------------------

TEST(Receiver, R06_LossFromSequenceGapAndSpmLeadAcrossWrap) {
    Harness h;
    h.join(0xFFFFFFFDu);
    h.feed(data(0x00000001u, 0xFFFFFFFDu));  // 0xFFFFFFFE, 0xFFFFFFFF, 0 missing
    h.run_for(60ms);
    EXPECT_EQ(h.naked(), sqns(0xFFFFFFFEu, 3));
    h.feed(spm(2, 0xFFFFFFFDu, 3));  // SPM_LEAD: 2 and 3 exist
    h.run_for(60ms);
    EXPECT_EQ(h.naked(),
              (std::vector<Sqn>{Sqn(0xFFFFFFFEu), Sqn(0xFFFFFFFFu), Sqn(0), Sqn(2), Sqn(3)}));
}

TEST(Receiver, R06_ReorderedPacketWithinBackoffCancelsNak) {
    Harness h;
    h.join(0);
    h.feed(data(2));
    h.feed(data(1));  // late, but inside NAK_BO_IVL
    h.run_for(5s);
    EXPECT_TRUE(h.naks().empty());
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0, 1, 2}));
}

// --- R7: the NAK state machine ----------------------------------------------------------------

TEST(Receiver, R07_BackoffThenNakThenWaitNcfRetries) {
    Harness h;  // NAK_BO_IVL 50 ms, NAK_RPT_IVL 200 ms, NAK_NCF_RETRIES 2
    h.join(0);
    const Time detected = h.now;
    h.feed(data(2));
    EXPECT_EQ(h.state(1), SqnState::BackOff);
    h.run_for(50ms);
    ASSERT_EQ(h.naks().size(), 1u);
    EXPECT_LE(h.naks()[0].at, detected + 50ms);
    EXPECT_EQ(h.state(1), SqnState::WaitNcf);
    h.run_for(2s);
    const auto naks = h.naks();
    ASSERT_EQ(naks.size(), 3u);  // the first and NAK_NCF_RETRIES repeats
    for (std::size_t i = 1; i < naks.size(); ++i) {
        EXPECT_GE(naks[i].at, naks[i - 1].at + 200ms);         // NAK_RPT_IVL
        EXPECT_LE(naks[i].at, naks[i - 1].at + 200ms + 50ms);  // then a new back-off
    }
    ASSERT_EQ(h.losses().size(), 1u);
    EXPECT_EQ(h.losses()[0].first_sqn, Sqn(1));
    EXPECT_EQ(h.losses()[0].reason, LossReason::RetriesExhausted);
    EXPECT_EQ(h.rx.stats().unrecoverable, 1u);
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0, 2}));
}

TEST(Receiver, R07_WaitDataTimeoutBacksOffThenGivesUp) {
    Harness h;  // NAK_RDATA_IVL 500 ms, NAK_DATA_RETRIES 2
    h.join(0);
    h.feed(data(2));
    for (int round = 0; round < 3; ++round) {
        h.run_for(60ms);
        ASSERT_EQ(h.naks().size(), static_cast<std::size_t>(round + 1));
        EXPECT_EQ(h.state(1), SqnState::WaitNcf);
        h.feed(ncf(1));
        EXPECT_EQ(h.state(1), SqnState::WaitData);
        h.run_for(499ms);
        EXPECT_EQ(h.state(1), SqnState::WaitData);
        h.run_for(1ms);
    }
    EXPECT_EQ(h.naks().size(), 3u);
    ASSERT_EQ(h.losses().size(), 1u);
    EXPECT_EQ(h.losses()[0].reason, LossReason::RetriesExhausted);
    EXPECT_EQ(h.rx.stats().ncfs_received, 3u);
}

TEST(Receiver, R07_NcfRestartsRdataIvlAndRdataCompletesRecovery) {
    Harness h;
    h.join(0);
    h.feed(data(2));
    h.run_for(60ms);
    h.feed(ncf(1));
    h.run_for(400ms);
    h.feed(ncf(1));  // restarts NAK_RDATA_IVL
    h.run_for(400ms);
    EXPECT_EQ(h.state(1), SqnState::WaitData);
    h.feed(rdata(1));
    h.run_for(5s);
    EXPECT_EQ(h.naks().size(), 1u);
    EXPECT_TRUE(h.losses().empty());
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0, 1, 2}));
}

TEST(Receiver, R07_TrailAdvanceCancelsRepairAsLoss) {
    Harness h;
    h.join(0);
    h.feed(data(2));
    h.run_for(60ms);
    EXPECT_EQ(h.state(1), SqnState::WaitNcf);
    h.feed(spm(2, 2, 2));
    ASSERT_EQ(h.losses().size(), 1u);
    EXPECT_EQ(h.losses()[0].reason, LossReason::TrailAdvanced);
    h.run_for(5s);
    EXPECT_EQ(h.naks().size(), 1u);  // no repeat
}

// --- R8: suppression --------------------------------------------------------------------------

TEST(Receiver, R08_NcfDuringBackoffSuppresses) {
    Harness h;
    h.join(0);
    const Time t0 = h.now;
    h.feed(data(2));
    h.feed(ncf(1));  // someone else's NAK was confirmed
    EXPECT_EQ(h.state(1), SqnState::WaitData);
    EXPECT_EQ(h.rx.stats().naks_suppressed, 1u);
    h.run_for(499ms);
    EXPECT_TRUE(h.naks().empty());  // waits at least NAK_RDATA_IVL
    h.run_for(60ms);
    ASSERT_EQ(h.naks().size(), 1u);
    EXPECT_GE(h.naks()[0].at, t0 + 500ms);
}

TEST(Receiver, R08_MulticastNakOfSameTsiAndSqnSuppresses) {
    Harness h;
    h.join(0);
    h.feed(data(3));  // 1, 2 missing
    const Tsi other{kGsi, kSourcePort + 10};
    h.feed(nak(1, {}, other), kPeerRx, kGroup);  // another session: no match
    h.feed(nak(2), kPeerRx, kRouter);            // unicast to the router: not heard as ours
    EXPECT_EQ(h.state(1), SqnState::BackOff);
    EXPECT_EQ(h.state(2), SqnState::BackOff);
    h.feed(nak(1), kPeerRx, kGroup);  // multicast, same TSI and SQN
    EXPECT_EQ(h.state(1), SqnState::WaitData);
    h.run_for(60ms);
    EXPECT_EQ(h.naked(), sqns(2, 1));
}

// --- R9: NAK addressing -----------------------------------------------------------------------

TEST(Receiver, R09_NakUnicastToSpmPathWithRealSource) {
    ReceiverConfig c = test_config();
    c.encapsulation = Encapsulation::Udp;
    c.udp_port = 3065;
    Harness h(c);
    h.join(0);
    h.feed(data(2));
    h.run_for(60ms);
    ASSERT_EQ(h.naks().size(), 1u);
    const std::vector<Sent> naks = h.naks();
    const Sent& n = naks[0];
    EXPECT_EQ(n.transmit.ip_destination, kRouter);  // SPM_PATH, not the source
    EXPECT_EQ(n.transmit.ip_source, kSelf);
    EXPECT_EQ(n.transmit.ifindex, kIfIndex);
    EXPECT_FALSE(n.transmit.router_alert);
    EXPECT_EQ(n.transmit.encapsulation, Encapsulation::Udp);
    EXPECT_EQ(n.transmit.udp_port, 3065);
    EXPECT_EQ(n.spec.source_port, kDataPort);         // upstream: SPORT = data-destination port
    EXPECT_EQ(n.spec.destination_port, kSourcePort);  // DPORT = data-source port
    EXPECT_EQ(n.spec.gsi, kGsi);
    const NakFields& f = std::get<NakFields>(n.spec.fields);
    EXPECT_EQ(f.sqn, Sqn(1));
    EXPECT_EQ(f.source, kSource);  // the source's NLA (SPM IP source), not the path
    EXPECT_EQ(f.group, kGroup);
    EXPECT_TRUE(n.spec.options.empty());
}

// --- R10, R13: NAK order and lists ------------------------------------------------------------

TEST(Receiver, R10_NaksOldestFirstAcrossWrap) {
    Harness h;
    h.feed(data(0xFFFFFFFCu, 0xFFFFFFFCu));  // no SPM yet: losses are held (R4)
    h.feed(data(0xFFFFFFFEu, 0xFFFFFFFCu));
    h.feed(data(0x00000001u, 0xFFFFFFFCu));
    h.feed(data(0x00000003u, 0xFFFFFFFCu));
    h.feed(spm(1, 0xFFFFFFFCu, 3));  // all back-offs start together: one batch
    h.run_for(60ms);
    ASSERT_EQ(h.naks().size(), 1u);
    EXPECT_EQ(h.naked(), (std::vector<Sqn>{Sqn(0xFFFFFFFDu), Sqn(0xFFFFFFFFu), Sqn(0), Sqn(2)}));
}

TEST(Receiver, R13_NakListAtMost62OldestFirst) {
    Harness h;
    h.feed(data(0));
    h.feed(data(101));  // 1..100 missing, held until the SPM
    h.feed(spm(1, 0, 101));
    h.run_for(60ms);
    const auto naks = h.naks();
    ASSERT_EQ(naks.size(), 2u);
    for (const Sent& n : naks) {
        ASSERT_EQ(n.spec.options.size(), 1u);
        EXPECT_LE(std::get<OptNakList>(n.spec.options[0]).sqns.size(), kMaxNakList);
    }
    EXPECT_EQ(std::get<NakFields>(naks[0].spec.fields).sqn, Sqn(1));
    EXPECT_EQ(std::get<OptNakList>(naks[0].spec.options[0]).sqns, sqns(2, 62));
    EXPECT_EQ(std::get<NakFields>(naks[1].spec.fields).sqn, Sqn(64));
    EXPECT_EQ(std::get<OptNakList>(naks[1].spec.options[0]).sqns, sqns(65, 36));
    EXPECT_EQ(h.rx.stats().nak_sqns_sent, 100u);
}

TEST(Receiver, R13_NcfWithListSuppressesEverySqn) {
    Harness h;
    h.join(0);
    h.feed(data(6));  // 1..5 missing
    h.feed(ncf(1, {2, 3, 5}));
    for (std::uint32_t s : {1u, 2u, 3u, 5u})
        EXPECT_EQ(h.state(s), SqnState::WaitData) << s;
    EXPECT_EQ(h.state(4), SqnState::BackOff);
    h.run_for(60ms);
    EXPECT_EQ(h.naked(), sqns(4, 1));
}

// --- R12: NCFs and NAKs outside the window ----------------------------------------------------

TEST(Receiver, R12_NcfForReceivedOrOutsideWindowIgnored) {
    Harness h;
    h.join(10);
    h.feed(data(12, 10));              // 11 missing, 12 held
    h.feed(ncf(12, {9, 40}));          // held, before the window, beyond the lead
    h.feed(nak(10), kPeerRx, kGroup);  // delivered
    EXPECT_EQ(h.rx.stats().ignored_nak_sqns, 4u);
    EXPECT_EQ(h.state(11), SqnState::BackOff);
    EXPECT_FALSE(h.state(40).has_value());
    h.run_for(60ms);
    EXPECT_EQ(h.naked(), sqns(11, 1));
}

// --- R16: SPMR --------------------------------------------------------------------------------

TEST(Receiver, R16_SpmrAfterBackoffForLateJoiner) {
    Harness h;
    const Time t0 = h.now;
    h.feed(data(7));
    EXPECT_TRUE(h.sent.empty());
    h.run_for(250ms);
    const auto spmrs = h.sent_of(PacketType::Spmr);
    ASSERT_EQ(spmrs.size(), 2u);
    EXPECT_LE(spmrs[0].at, t0 + 250ms);
    EXPECT_EQ(spmrs[0].transmit.ip_destination, kGroup);  // multicast copy, TTL 1
    EXPECT_EQ(spmrs[0].transmit.ttl, 1);
    EXPECT_EQ(spmrs[1].transmit.ip_destination, kSource);  // then unicast to the source
    EXPECT_GT(spmrs[1].transmit.ttl, 1);
    for (const Sent& s : spmrs) {
        EXPECT_EQ(s.transmit.ip_source, kSelf);
        EXPECT_EQ(s.spec.source_port, kDataPort);
        EXPECT_EQ(s.spec.destination_port, kSourcePort);
        EXPECT_EQ(s.spec.gsi, kGsi);
    }
    EXPECT_EQ(h.rx.stats().spmrs_sent, 2u);
    h.feed(spm(1, 7, 7));
    h.run_for(10s);
    EXPECT_EQ(h.sent_of(PacketType::Spmr).size(), 2u);  // the SPM stopped them
}

TEST(Receiver, R16_SpmBeforeBackoffCancelsSpmr) {
    Harness h;
    h.feed(data(7));
    h.feed(spm(1, 7, 7));
    h.run_for(10s);
    EXPECT_TRUE(h.sent_of(PacketType::Spmr).empty());
}

TEST(Receiver, R16_MulticastSpmrHeardSuppresses) {
    Harness h;
    h.feed(data(7));
    h.feed(spmr(), kSelf, kGroup);  // our own copy looped back: not someone else's
    EXPECT_EQ(h.rx.stats().spmrs_suppressed, 0u);
    h.feed(spmr(), kPeerRx, kGroup);
    h.run_for(1s);  // SPMR_SPM_IVL (spmr_repeat_ivl) before our own
    EXPECT_TRUE(h.sent_of(PacketType::Spmr).empty());
    EXPECT_EQ(h.rx.stats().spmrs_suppressed, 1u);
    h.run_for(250ms);
    EXPECT_EQ(h.sent_of(PacketType::Spmr).size(), 2u);  // still no SPM: ask
}

// --- R18: OPT_FIN, OPT_RST --------------------------------------------------------------------

TEST(Receiver, R18_FinTearsDownAfterLingerStillNaking) {
    ReceiverConfig c = test_config();  // fin_linger 10 s
    c.nak_ncf_retries = 100;           // still NAKing when the linger ends
    Harness h(c);
    h.join(0);
    h.feed(data(2));
    h.feed(spm(2, 0, 2, kRouter, {OptFin{}}));
    h.run_for(9s);
    EXPECT_TRUE(h.ends().empty());
    EXPECT_FALSE(h.naks().empty());  // repairs may still be asked for while lingering
    h.run_for(1s);
    ASSERT_EQ(h.ends().size(), 1u);
    EXPECT_EQ(h.ends()[0].reason, EndReason::Fin);
    EXPECT_EQ(h.ends()[0].tsi, kTsi);
    ASSERT_EQ(h.losses().size(), 1u);  // still missing at the end: reported
    EXPECT_EQ(h.losses()[0].first_sqn, Sqn(1));
    EXPECT_EQ(h.losses()[0].reason, LossReason::SessionEnded);
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0, 2}));
    // The source's closing SPMs and late data do not start the session again.
    h.feed(spm(3, 0, 3, kRouter, {OptFin{}}));
    h.feed(data(3));
    h.run_for(1s);
    EXPECT_EQ(h.delivered().size(), 2u);
    EXPECT_EQ(h.ends().size(), 1u);
}

TEST(Receiver, R18_RstWithNoNaksAbortsAtOnce) {
    Harness h;
    h.join(0);
    h.feed(data(3));
    h.run_for(60ms);
    const std::size_t naks = h.naks().size();
    h.feed(spm(2, 0, 3, kRouter, {OptRst{true, 0}}));
    ASSERT_EQ(h.ends().size(), 1u);
    EXPECT_EQ(h.ends()[0].reason, EndReason::Reset);
    ASSERT_EQ(h.losses().size(), 1u);
    EXPECT_EQ(h.losses()[0].first_sqn, Sqn(1));
    EXPECT_EQ(h.losses()[0].count, 2u);
    EXPECT_EQ(h.losses()[0].reason, LossReason::SessionEnded);
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0, 3}));
    h.run_for(10s);
    EXPECT_EQ(h.naks().size(), naks);  // stopped NAKing
}

TEST(Receiver, R18_RstWithoutNLingersAsReset) {
    Harness h;
    h.join(0);
    h.feed(spm(2, 0, 0, kRouter, {OptRst{false, 3}}));
    h.run_for(9s);
    EXPECT_TRUE(h.ends().empty());
    h.run_for(1s);
    ASSERT_EQ(h.ends().size(), 1u);
    EXPECT_EQ(h.ends()[0].reason, EndReason::Reset);
}

// --- Per-TSI state and bounds -----------------------------------------------------------------

TEST(Receiver, SeveralSourcesKeepIndependentWindows) {
    Harness h;
    const Tsi b{Gsi{{9, 9, 9, 9, 9, 9}}, 9000};
    const Nla source_b = Nla::ipv4(0x0A000002u);
    h.join(0);
    h.feed(spm(1, 100, 99, kRouter2, {}, b), source_b);
    h.feed(data(100, 100, {}, PacketType::Odata, b), source_b);
    h.feed(data(102, 100, {}, PacketType::Odata, b), source_b);  // b loses 101
    h.feed(data(1));
    h.run_for(60ms);
    ASSERT_EQ(h.naks().size(), 1u);
    const std::vector<Sent> naks = h.naks();
    const Sent& n = naks[0];
    EXPECT_EQ(n.spec.gsi, b.gsi);
    EXPECT_EQ(n.spec.destination_port, b.source_port);
    EXPECT_EQ(std::get<NakFields>(n.spec.fields).source, source_b);
    EXPECT_EQ(n.transmit.ip_destination, kRouter2);
    EXPECT_EQ(h.rx.peer_count(), 2u);
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0, 100, 1}));
}

// Found by receiver_fuzz: a receiver listening on any group (none configured) learns a
// session's group from the multicast destination of its packets. A unicast SPM or ODATA from
// an unknown source names no group, so it creates no peer (stats().ignored): a peer made
// from it would NAK with an empty NAK_GRP. The session's multicast packets then start it,
// and its NAK names the group.
TEST(Receiver, UnicastFromUnknownSourceWithoutGroupIsIgnored) {
    ReceiverConfig c = test_config();
    c.group = Nla{};
    Harness h(c);
    h.feed(spm(1, 0, 0), kSource, kSelf);
    h.feed(data(0, 0), kSource, kSelf);
    h.feed(data(2, 0), kSource, kSelf);  // a gap, were there a peer
    EXPECT_EQ(h.rx.peer_count(), 0u);
    EXPECT_FALSE(h.rx.has_peer(kTsi));
    EXPECT_EQ(h.rx.stats().sources, 0u);
    EXPECT_EQ(h.rx.stats().ignored, 3u);
    h.run_for(2s);
    EXPECT_TRUE(h.sent.empty());  // no NAK, no SPMR
    EXPECT_TRUE(h.delivered().empty());

    h.feed(spm(2, 0, 2), kSource, kGroup);
    h.feed(data(3, 0), kSource, kGroup);
    h.feed(data(5, 0), kSource, kGroup);
    EXPECT_TRUE(h.rx.has_peer(kTsi));
    h.run_for(100ms);  // NAK_BO_IVL 50 ms
    ASSERT_EQ(h.naked(), sqns(4, 1));
    for (const Sent& n : h.naks()) {
        EXPECT_EQ(std::get<NakFields>(n.spec.fields).group, kGroup);
        EXPECT_EQ(n.transmit.ip_destination, kRouter);
    }
}

TEST(Receiver, SourcesBoundedAndSilentOnesExpire) {
    ReceiverConfig c = test_config();
    c.max_sources = 2;
    Harness h(c);
    for (std::uint16_t port : {1000, 1001, 1002})
        h.feed(data(0, 0, {}, PacketType::Odata, Tsi{kGsi, port}));
    EXPECT_EQ(h.rx.peer_count(), 2u);
    EXPECT_EQ(h.rx.stats().sources_refused, 1u);
    h.run_for(61s);  // peer_expiry 60 s
    ASSERT_EQ(h.ends().size(), 2u);
    EXPECT_EQ(h.ends()[0].reason, EndReason::Expired);
    h.run_for(61s);  // tombstones go too
    EXPECT_EQ(h.rx.peer_count(), 0u);
}

TEST(Receiver, SpmLeadFarAheadStaysWithinWindowBound) {
    ReceiverConfig c = test_config();
    c.max_window_sqns = 100;
    Harness h(c);
    h.join(0);
    h.feed(spm(2, 0, 1000000000u));
    EXPECT_LE(h.rx.stats().buffered_sqns_peak, 100u);
    ASSERT_EQ(h.losses().size(), 1u);
    EXPECT_EQ(h.losses()[0].first_sqn, Sqn(1));
    EXPECT_EQ(h.losses()[0].count, 1000000000u - 100u);
    EXPECT_EQ(h.losses()[0].reason, LossReason::WindowBound);
}

TEST(Receiver, ByteBoundGivesUpApduStuckAtHead) {
    ReceiverConfig c = test_config();
    c.max_window_bytes = 4000;
    c.nak_ncf_retries = 1000;
    Harness h(c);
    h.join(0);
    const std::vector<std::uint8_t> apdu = payload_of(5, 3000);  // fragments 1, 2, 3
    h.feed(fragment(1, 1, apdu, 1000));
    h.feed(fragment(3, 1, apdu, 1000));  // 2 never comes
    for (std::uint32_t s = 4; s <= 7; ++s) {
        PacketSpec d = data(s);
        d.payload = payload_of(s, 1000);
        h.feed(d);
        EXPECT_LE(h.rx.stats().buffered_bytes, c.max_window_bytes);
    }
    // 6 pushes out the held fragment 1, 7 the missing 2 (and 3 dies with its APDU).
    const auto losses = h.losses();
    ASSERT_EQ(losses.size(), 2u);
    EXPECT_EQ(losses[0].first_sqn, Sqn(1));
    EXPECT_EQ(losses[0].count, 1u);
    EXPECT_EQ(losses[1].first_sqn, Sqn(2));
    EXPECT_EQ(losses[1].count, 2u);
    for (const LossEvent& l : losses)
        EXPECT_EQ(l.reason, LossReason::WindowBound);
    EXPECT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0, 4, 5, 6, 7}));
    EXPECT_EQ(h.rx.stats().buffered_bytes, 0u);
    EXPECT_EQ(h.rx.stats().discarded_fragments, 2u);
}

// Issue 14: a window bound must not lose what the source can still repair. With RefuseNewest
// the head loss waits for its repair while the data beyond the bound is refused (not stored),
// then NAKed and repaired once the window has moved: every sequence delivered, none lost.
TEST(Receiver, WindowFullRefuseNewestLosesNothingRepairable) {
    ReceiverConfig c = test_config();
    c.max_window_sqns = 100;
    c.window_full = WindowFull::RefuseNewest;
    Harness h(c);
    h.join(0);
    for (std::uint32_t s = 2; s <= 300; ++s)
        h.feed(data(s));  // 1 is lost; the window [1, 100] fills, 101..300 are refused
    EXPECT_TRUE(h.losses().empty());
    EXPECT_EQ(h.rx.stats().window_refused, 200u);
    EXPECT_LE(h.rx.stats().buffered_sqns_peak, 100u);
    h.run_for(100ms);
    ASSERT_FALSE(h.naked().empty());
    EXPECT_EQ(h.naked().front(), Sqn(1));
    h.feed(rdata(1));
    EXPECT_EQ(h.delivered().size(), 101u);  // 0..100
    h.feed(spm(2, 0, 300));                 // SPM_LEAD: 101..200 found missing (the bound)
    h.run_for(100ms);
    for (std::uint32_t s = 101; s <= 300; ++s) {
        h.feed(rdata(s));
        if (s == 200) {
            h.feed(spm(3, 0, 300));  // 201..300 found missing now that there is room
            h.run_for(100ms);
        }
    }
    std::vector<std::uint32_t> all(301);
    for (std::uint32_t s = 0; s <= 300; ++s)
        all[s] = s;
    EXPECT_EQ(h.delivered_sqns(), all);
    EXPECT_TRUE(h.losses().empty());
    EXPECT_EQ(h.rx.stats().unrecoverable, 0u);
    EXPECT_LE(h.rx.stats().buffered_sqns_peak, 100u);
}

// The same traffic with EvictOldest gives the repairable head up at the bound.
TEST(Receiver, WindowFullEvictOldestGivesUpTheHead) {
    ReceiverConfig c = test_config();
    c.max_window_sqns = 100;
    c.window_full = WindowFull::EvictOldest;
    Harness h(c);
    h.join(0);
    for (std::uint32_t s = 2; s <= 300; ++s)
        h.feed(data(s));
    ASSERT_EQ(h.losses().size(), 1u);
    EXPECT_EQ(h.losses()[0].first_sqn, Sqn(1));
    EXPECT_EQ(h.losses()[0].reason, LossReason::WindowBound);
}

// RefuseNewest keeps room in the byte bound for the repairs of the sequences waiting: new
// data is refused before a repair would have to be given up.
TEST(Receiver, WindowFullRefuseNewestReservesBytesForRepairs) {
    ReceiverConfig c = test_config();
    c.max_window_bytes = 10 * 100;
    c.window_full = WindowFull::RefuseNewest;
    Harness h(c);
    h.join(0);
    for (std::uint32_t s = 2; s <= 40; ++s) {
        PacketSpec d = data(s);
        d.payload = payload_of(s, 100);
        h.feed(d);
        ASSERT_LE(h.rx.stats().buffered_bytes, c.max_window_bytes);
    }
    EXPECT_GT(h.rx.stats().window_refused, 0u);
    PacketSpec r = rdata(1);
    r.payload = payload_of(1, 100);
    h.feed(r);
    EXPECT_TRUE(h.losses().empty());
    EXPECT_EQ(h.rx.stats().unrecoverable, 0u);
    EXPECT_GE(h.delivered().size(), 2u);
}

// --- Acceptance -------------------------------------------------------------------------------

// A receiver whose source never repairs stays within its configured memory: OpenPGM's window
// grows without bound after one unrecovered loss; this one gives the oldest sequences up.
TEST(Acceptance, SourceNeverRepairsReceiverStaysWithinConfiguredMemory) {
    ReceiverConfig c = test_config();
    c.max_window_sqns = 512;
    c.max_window_bytes = 32 * 1024;
    c.nak_ncf_retries = 1000000;  // never gives up by itself: only the bound can
    c.nak_data_retries = 1000000;
    Harness h(c);
    constexpr std::uint32_t kPackets = 100000;
    constexpr std::uint32_t kGap = 3;
    constexpr std::size_t kPayload = 200;
    h.feed(spm(1, 0, 0));
    std::uint64_t delivered = 0;
    std::vector<LossEvent> losses;
    for (std::uint32_t s = 0; s <= kPackets; ++s) {
        if (s == kGap) continue;  // lost for good; the source keeps advertising trail 0
        PacketSpec d = data(s, 0);
        d.payload = payload_of(s, kPayload);
        h.feed(d);
        h.run_for(1ms);
        ASSERT_LE(h.rx.stats().buffered_bytes, c.max_window_bytes) << "at " << s;
        ASSERT_LE(h.rx.stats().buffered_sqns, c.max_window_sqns) << "at " << s;
        delivered += h.delivered().size();
        for (const LossEvent& l : h.losses())
            losses.push_back(l);
        h.events.clear();
        h.sent.clear();
    }
    EXPECT_LE(h.rx.stats().buffered_bytes_peak, c.max_window_bytes);
    EXPECT_EQ(delivered, kPackets);  // every packet but the gap
    ASSERT_EQ(losses.size(), 1u);
    EXPECT_EQ(losses[0].first_sqn, Sqn(kGap));
    EXPECT_EQ(losses[0].count, 1u);
    EXPECT_EQ(losses[0].reason, LossReason::WindowBound);
    EXPECT_GT(h.rx.stats().naks_sent, 0u);
    EXPECT_EQ(h.rx.stats().unrecoverable, 1u);
}

// --- R11, R19: FEC --------------------------------------------------------------------------

std::vector<OptionSpec> parity_prm(bool proactive, bool on_demand, std::uint32_t k) {
    return {OptParityPrm{proactive, on_demand, k}};
}

// Parity packet `j` of the group [tg, tg + k) whose data packets are `group` (as sent).
PacketSpec parity(std::uint32_t tg, unsigned k, unsigned j, const std::vector<PacketSpec>& group,
                  PacketType type = PacketType::Rdata) {
    std::vector<FecData> d;
    for (const PacketSpec& g : group) {
        std::optional<OptFragment> f;
        for (const OptionSpec& o : g.options) {
            if (auto* x = std::get_if<OptFragment>(&o)) f = *x;
        }
        d.push_back(FecData{g.payload, f});
    }
    FecParity fp;
    FecCodec(k, 255).encode(d, j, fp);
    std::vector<OptionSpec> options;
    if (j >= k) options.push_back(OptParityGrp{j / k});
    if (fp.option) {
        const FecOption& o = *fp.option;
        options.push_back(OptRaw{0x01, kOptEncoded, o[0], {o.begin() + 1, o.end()}});
    }
    PacketSpec s = downstream(type, DataFields{Sqn(tg + j % k), Sqn(0)}, options);
    s.extra_flags = static_cast<std::uint8_t>(kOptParity | (fp.var_pktlen ? kOptVarPktlen : 0));
    s.payload = fp.tsdu;
    return s;
}

PacketSpec parity_nak_of(std::uint32_t entry, PacketType type = PacketType::Nak) {
    PacketSpec s = type == PacketType::Nak ? nak(entry) : ncf(entry);
    s.extra_flags = kOptParity;
    return s;
}

// Data packets sqn first..first+count-1, with lengths that vary.
std::vector<PacketSpec> group_of(std::uint32_t first, unsigned count) {
    std::vector<PacketSpec> g;
    for (unsigned i = 0; i < count; ++i) {
        PacketSpec d = data(first + i);
        d.payload = payload_of(first + i, 20 + 3 * i);
        g.push_back(d);
    }
    return g;
}

TEST(Receiver, R19_ProactiveParityRebuildsLossesWithoutNak) {
    Harness h;
    h.feed(spm(1, 0, 0xFFFFFFFFu, kRouter, parity_prm(true, false, 4)));
    const std::vector<PacketSpec> g = group_of(0, 4);
    h.feed(g[0]);
    h.feed(g[1]);  // 0 and 1 are delivered at once: the decoder needs them later
    h.feed(g[3]);
    EXPECT_EQ(h.state(2), SqnState::BackOff);
    h.feed(parity(0, 4, 0, g, PacketType::Odata));
    h.run_for(2s);
    EXPECT_TRUE(h.naks().empty());
    ASSERT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0, 1, 2, 3}));
    EXPECT_EQ(h.delivered()[2].apdu, g[2].payload);
    EXPECT_EQ(h.rx.stats().parity_packets, 1u);
    EXPECT_EQ(h.rx.stats().parity_recovered, 1u);
    EXPECT_TRUE(h.losses().empty());
}

TEST(Receiver, R19_ParityRevealsAndRebuildsLossesAtTheGroupsEnd) {
    Harness h;
    h.feed(spm(1, 0, 0xFFFFFFFFu, kRouter, parity_prm(true, false, 4)));
    const std::vector<PacketSpec> g = group_of(0, 4);
    h.feed(g[0]);
    h.feed(g[1]);  // 2 and 3 lost: nothing shows it but the parity
    h.feed(parity(0, 4, 1, g, PacketType::Odata));
    EXPECT_EQ(h.state(2), SqnState::BackOff) << "the group's end is known from its parity";
    h.feed(parity(0, 4, 0, g, PacketType::Odata));
    ASSERT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0, 1, 2, 3}));
    EXPECT_EQ(h.delivered()[3].apdu, g[3].payload);
    EXPECT_EQ(h.rx.stats().parity_recovered, 2u);
}

TEST(Receiver, R19_OnDemandParityNakThenParityRdata) {
    Harness h;
    h.feed(spm(1, 0, 0xFFFFFFFFu, kRouter, parity_prm(false, true, 4)));
    const std::vector<PacketSpec> g = group_of(0, 4);
    h.feed(g[0]);
    h.feed(g[1]);
    h.feed(data(4));  // the group [0, 4) is full: 2 and 3 are lost
    h.run_for(60ms);
    ASSERT_EQ(h.naks().size(), 1u);
    const PacketSpec n = h.naks()[0].spec;
    EXPECT_EQ(n.extra_flags & kOptParity, kOptParity);
    EXPECT_EQ(nak_sqns(n), (std::vector<Sqn>{Sqn(0 | 1)})) << "TG_SQN | (2 missing - 1)";
    EXPECT_EQ(h.rx.stats().parity_naks_sent, 1u);
    h.feed(parity_nak_of(0 | 1, PacketType::Ncf));
    EXPECT_EQ(h.state(2), SqnState::WaitData);
    EXPECT_EQ(h.state(3), SqnState::WaitData);
    h.feed(parity(0, 4, 0, g));
    EXPECT_EQ(h.state(2), SqnState::WaitData) << "one parity packet for two losses";
    h.feed(parity(0, 4, 1, g));
    h.run_for(2s);
    ASSERT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(h.delivered()[2].apdu, g[2].payload);
    EXPECT_EQ(h.delivered()[3].apdu, g[3].payload);
    EXPECT_EQ(h.naks().size(), 1u);
    EXPECT_EQ(h.rx.stats().parity_ncfs_received, 1u);
}

TEST(Receiver, R19_ParityNakCountsTheParityAlreadyHeld) {
    Harness h;
    h.feed(spm(1, 0, 0xFFFFFFFFu, kRouter, parity_prm(true, true, 4)));
    const std::vector<PacketSpec> g = group_of(0, 4);
    h.feed(g[0]);
    h.feed(data(5));                                // 1, 2, 3 and 4 lost
    h.feed(parity(0, 4, 0, g, PacketType::Odata));  // one of three
    h.run_for(60ms);
    const std::vector<Sent> naks = h.naks();
    ASSERT_EQ(naks.size(), 2u);
    EXPECT_EQ(nak_sqns(naks[0].spec), (std::vector<Sqn>{Sqn(0 | 1)})) << "3 missing, 1 held";
    EXPECT_EQ(naks[0].spec.extra_flags & kOptParity, kOptParity);
    EXPECT_EQ(nak_sqns(naks[1].spec), (std::vector<Sqn>{Sqn(4)})) << "group [4, 8) not full";
    EXPECT_EQ(naks[1].spec.extra_flags & kOptParity, 0);
}

// §11.6: OPT_CURR_TGSIZE marks a group shorter than TGS. Until its size is used, such a group
// is never decoded as a full one: its parity is ignored and its losses are NAKed selectively.
TEST(Receiver, R19_VariableSizeGroupRepairedSelectively) {
    Harness h;
    h.feed(spm(1, 0, 0xFFFFFFFFu, kRouter, parity_prm(true, true, 4)));
    std::vector<PacketSpec> g = group_of(0, 4);
    g[3].options.push_back(OptCurrTgsize{4});
    h.feed(g[0]);
    h.feed(g[2]);
    h.feed(g[3]);  // 1 lost; the group's last packet carries OPT_CURR_TGSIZE
    h.feed(data(4));
    h.run_for(60ms);
    ASSERT_EQ(h.naks().size(), 1u);
    EXPECT_EQ(h.naks()[0].spec.extra_flags & kOptParity, 0) << "selective, not parity";
    EXPECT_EQ(nak_sqns(h.naks()[0].spec), (std::vector<Sqn>{Sqn(1)}));
    h.feed(parity(0, 4, 0, g, PacketType::Odata));
    EXPECT_EQ(h.rx.stats().parity_ignored, 1u);
    EXPECT_EQ(h.rx.stats().parity_recovered, 0u);
    EXPECT_NE(h.state(1), SqnState::Received);
    h.feed(g[1]);  // the selective repair
    ASSERT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0, 1, 2, 3, 4}));
}

TEST(Receiver, R19_ParityCarryingCurrTgsizeIgnored) {
    Harness h;
    h.feed(spm(1, 0, 0xFFFFFFFFu, kRouter, parity_prm(true, false, 4)));
    const std::vector<PacketSpec> g = group_of(0, 4);
    h.feed(g[0]);
    h.feed(g[1]);
    h.feed(g[3]);  // 2 lost
    PacketSpec q = parity(0, 4, 0, g, PacketType::Odata);
    q.options.push_back(OptCurrTgsize{4});
    h.feed(q);
    EXPECT_EQ(h.rx.stats().parity_ignored, 1u);
    EXPECT_EQ(h.rx.stats().parity_recovered, 0u);
    EXPECT_EQ(h.state(2), SqnState::BackOff) << "still to be NAKed";
    h.feed(parity(0, 4, 0, g, PacketType::Odata));  // the same parity without the option
    EXPECT_EQ(h.rx.stats().parity_recovered, 0u) << "the group stays selective";
}

TEST(Receiver, R11_ParityNakOfAnotherReceiverSuppressesOnlyIfItAsksForEnough) {
    Harness h;
    h.feed(spm(1, 0, 0xFFFFFFFFu, kRouter, parity_prm(false, true, 4)));
    const std::vector<PacketSpec> g = group_of(0, 4);
    h.feed(g[0]);
    h.feed(g[3]);                                   // 1 and 2 lost
    h.feed(parity_nak_of(0 | 0), kPeerRx, kGroup);  // asks for one: not enough for us
    EXPECT_EQ(h.state(1), SqnState::BackOff);
    h.feed(parity_nak_of(0 | 1), kPeerRx, kGroup);  // asks for two
    EXPECT_EQ(h.state(1), SqnState::WaitData);
    EXPECT_EQ(h.state(2), SqnState::WaitData);
    EXPECT_EQ(h.rx.stats().naks_suppressed, 2u);
}

TEST(Receiver, R19_FragmentedApduRebuiltFromParity) {
    Harness h;
    h.feed(spm(1, 0, 0xFFFFFFFFu, kRouter, parity_prm(true, false, 4)));
    const std::vector<std::uint8_t> apdu = payload_of(9, 2500);
    std::vector<PacketSpec> g{fragment(0, 0, apdu, 1000), fragment(1, 0, apdu, 1000),
                              fragment(2, 0, apdu, 1000), data(3)};
    h.feed(g[1]);
    h.feed(g[3]);
    h.feed(parity(0, 4, 0, g, PacketType::Odata));
    h.feed(parity(0, 4, 1, g, PacketType::Odata));
    ASSERT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0, 3}));
    EXPECT_EQ(h.delivered()[0].apdu, apdu);
    EXPECT_EQ(h.rx.stats().parity_recovered, 2u);
}

TEST(Receiver, R19_ParityIgnoredWithoutParityPrmOrWithFecOff) {
    for (bool fec_on : {true, false}) {
        ReceiverConfig c = test_config();
        c.fec = fec_on;
        Harness h(c);
        h.feed(spm(1, 0, 0xFFFFFFFFu, kRouter,
                   fec_on ? std::vector<OptionSpec>{} : parity_prm(true, true, 4)));
        const std::vector<PacketSpec> g = group_of(0, 4);
        h.feed(g[0]);
        h.feed(g[1]);
        h.feed(g[3]);
        h.feed(data(4));
        h.feed(parity(0, 4, 0, g, PacketType::Odata));
        h.run_for(60ms);
        EXPECT_EQ(h.rx.stats().parity_ignored, 1u) << fec_on;
        EXPECT_EQ(h.state(2), SqnState::WaitNcf) << fec_on;
        ASSERT_EQ(h.naks().size(), 1u) << fec_on;
        EXPECT_EQ(h.naks()[0].spec.extra_flags & kOptParity, 0) << "selective";
        EXPECT_EQ(nak_sqns(h.naks()[0].spec), (std::vector<Sqn>{Sqn(2)}));
    }
}

// Parity is never answered by its data: what a receiver holds of it (and of copies of
// delivered packets) stays within max_window_bytes with the window's own bytes, whoever sends
// it. Beyond that it is ignored: the next data or SPM shows the losses, repaired selectively.
TEST(Receiver, R19_ParityHeldWithinTheMemoryBound) {
    ReceiverConfig c = test_config();
    c.max_window_bytes = 450;
    Harness h(c);
    h.feed(spm(1, 0, 0xFFFFFFFFu, kRouter, parity_prm(true, false, 4)));
    h.feed(data(0));
    ASSERT_EQ(h.delivered_sqns(), (std::vector<std::uint32_t>{0}));
    for (std::uint32_t tg = 4; tg <= 40; tg += 4) {  // ten groups, none of whose data came
        std::vector<PacketSpec> g;
        for (std::uint32_t i = 0; i < 4; ++i) {
            PacketSpec d = data(tg + i);
            d.payload = payload_of(tg + i, 100);
            g.push_back(d);
        }
        h.feed(parity(tg, 4, 0, g, PacketType::Odata));
    }
    EXPECT_EQ(h.rx.stats().parity_packets, 10u);
    EXPECT_EQ(h.rx.stats().parity_ignored, 6u) << "four 100-byte parity packets fit in 450";
    EXPECT_EQ(h.state(19), SqnState::BackOff) << "the kept parity shows its groups' losses";
}

TEST(Receiver, R19_InconsistentParityIsCountedAndNakedAgain) {
    Harness h;
    h.feed(spm(1, 0, 0xFFFFFFFFu, kRouter, parity_prm(false, true, 4)));
    const std::vector<PacketSpec> g = group_of(0, 4);
    h.feed(g[0]);
    h.feed(g[1]);
    h.feed(data(4));
    PacketSpec p0 = parity(0, 4, 0, g), p1 = parity(0, 4, 1, g);
    p1.payload.pop_back();  // a parity packet of another length
    h.feed(p0);
    h.feed(p1);
    EXPECT_EQ(h.rx.stats().parity_failed, 1u);
    EXPECT_EQ(h.state(2), SqnState::BackOff);
    h.run_for(60ms);
    ASSERT_EQ(h.naks().size(), 1u);
    EXPECT_EQ(nak_sqns(h.naks()[0].spec), (std::vector<Sqn>{Sqn(0 | 1)}));
}

// The real Source and Receiver on one virtual clock: chosen ODATA are lost on the way, and
// FEC repairs them (proactive: with no NAK at all; on demand: with parity NAKs only).
struct FecLink {
    explicit FecLink(SourceConfig sc, ReceiverConfig rc = test_config())
        : source(sc, now), receiver(rc) {}

    void run(Duration d, const std::vector<std::uint32_t>& lose) {
        const Time end = now + d;
        while (true) {
            const Time t = std::min(source.next_deadline(), receiver.next_deadline());
            if (t > end) break;
            now = std::max(now, t);
            source.on_timer(now, out);
            receiver.on_timer(now, out);
            pump(lose);
        }
        now = end;
    }
    void pump(const std::vector<std::uint32_t>& lose) {
        while (!out.transmits().empty()) {
            Output batch = std::move(out);
            out = Output{};
            for (const Transmit& t : batch.transmits()) {
                const Bytes b = batch.bytes(t);
                const ParseResult r = parse(b);
                ASSERT_TRUE(r);
                Arrival a;
                a.ifindex = kIfIndex;
                a.ip.source = t.ip_source;
                a.ip.destination = t.ip_destination;
                if (t.ip_source == kSource) {
                    const DataFields* f = r.view.get<DataFields>();
                    if (r.view.header.type == PacketType::Odata && !r.view.header.parity() &&
                        std::ranges::find(lose, f->sqn.value()) != lose.end()) {
                        ++dropped;
                        continue;
                    }
                    if (r.view.header.parity()) ++parity_seen;
                    receiver.on_packet(a, b, now, out);
                } else {
                    if (r.view.header.type == PacketType::Nak)
                        (r.view.header.parity() ? parity_naks : selective_naks) += 1;
                    source.on_packet(a, b, now, out);
                }
            }
        }
        for (ReceiverEvent& e : receiver.events()) {
            if (auto* d = std::get_if<DataEvent>(&e)) apdus.push_back(std::move(d->apdu));
            if (std::holds_alternative<LossEvent>(e)) ++losses;
        }
        receiver.events().clear();
    }

    Time now = Time{} + 1000s;
    Source source;
    Receiver receiver;
    Output out;
    std::vector<std::vector<std::uint8_t>> apdus;
    int losses = 0, dropped = 0, parity_seen = 0, parity_naks = 0, selective_naks = 0;
};

SourceConfig fec_source(std::uint32_t k, std::uint32_t n, std::uint32_t proactive, bool ondemand) {
    SourceConfig c;
    c.address = kSource;
    c.group = kGroup;
    c.ifindex = kIfIndex;
    c.data_destination_port = kDataPort;
    c.source_port = kSourcePort;
    c.gsi = kGsi;
    c.txw_max_rte = 100'000'000;
    c.rate_burst = 1'000'000;
    c.fec_k = k;
    c.fec_n = n;
    c.fec_proactive = proactive;
    c.fec_ondemand = ondemand;
    return c;
}

void send_messages(FecLink& link, std::vector<std::vector<std::uint8_t>>& sent, int count) {
    for (int i = 0; i < count; ++i) {
        // Whole and fragmented APDUs of varying lengths.
        const std::size_t size = i % 5 == 4 ? 3000 + 17 * i : 40 + 13 * (i % 7);
        sent.push_back(payload_of(static_cast<std::uint32_t>(i), size));
        ASSERT_TRUE(link.source.send(sent.back(), link.now));
    }
}

TEST(FecEndToEnd, ProactiveParityRepairsWithoutNaks) {
    FecLink link(fec_source(8, 12, 2, false));
    link.run(0s, {});  // the first SPM: TGS
    std::vector<std::vector<std::uint8_t>> sent;
    send_messages(link, sent, 40);
    // Two losses in each of several groups (proactive parity: two per group).
    link.run(5s, {1, 6, 9, 10, 19, 20, 33, 38});
    EXPECT_EQ(link.dropped, 8);
    EXPECT_EQ(link.apdus, sent);
    EXPECT_EQ(link.losses, 0);
    EXPECT_EQ(link.parity_naks + link.selective_naks, 0);
    EXPECT_EQ(link.receiver.stats().parity_recovered, 8u);
}

TEST(FecEndToEnd, OnDemandParityRepairsWithParityNaksOnly) {
    FecLink link(fec_source(8, 16, 0, true));
    link.run(0s, {});
    std::vector<std::vector<std::uint8_t>> sent;
    send_messages(link, sent, 40);
    link.run(10s, {1, 2, 3, 9, 20, 21, 22, 23, 24, 33});
    EXPECT_EQ(link.apdus, sent);
    EXPECT_EQ(link.losses, 0);
    EXPECT_EQ(link.selective_naks, 0) << "only full groups lost packets";
    EXPECT_GE(link.parity_naks, 4);
    EXPECT_EQ(link.receiver.stats().parity_recovered, 10u);
    EXPECT_EQ(link.source.stats().parity_rdata_sent, 10u) << "one parity packet per loss";
    EXPECT_EQ(link.source.stats().repair_packets_sent, 10u);
}

// --- R21: congestion reports (Appendix B, decisions.md D37) ---------------------------------

std::optional<OptCr> cr_of(const PacketSpec& s) {
    for (const OptionSpec& o : s.options)
        if (auto* cr = std::get_if<OptCr>(&o)) return *cr;
    return std::nullopt;
}

TEST(Receiver, R21_NakCarriesOwnLossRateAfterCrqst) {
    Harness h;
    h.join(0);  // data 0: a sample of 0
    h.feed(spm(2, 0, 0, kRouter, {OptCrqst{false, false, true}}));
    h.feed(data(1));  // 0
    h.feed(data(3));  // 2 missing: 1, then 3: 0
    h.run_for(60ms);
    ASSERT_EQ(h.naks().size(), 1u);
    // RX_WP = ((0 * 15 + 0xFFFF) / 16 * 15) / 16 = 4095 * 15 / 16 = 3839 (5.9 %); only the
    // field asked for, LEAD = RXW_LEAD, the receiver's own address.
    EXPECT_EQ(cr_of(h.naks()[0].spec), (OptCr{false, false, true, Sqn(3), 0, 0, 3839, kSelf}));
}

TEST(Receiver, R21_LossBurstThenRecovery) {
    Harness h;
    h.join(0);
    h.feed(spm(2, 0, 0, kRouter, {OptCrqst{false, false, true}}));
    h.feed(data(17));  // 1..16 missing: 16 samples of 1, then one of 0
    h.run_for(60ms);
    ASSERT_EQ(h.naks().size(), 1u);
    EXPECT_EQ(h.naked(), sqns(1, 16));
    // r := (15 r + 0xFFFF) / 16 sixteen times from 0 gives 42196; then 42196 * 15 / 16.
    EXPECT_EQ(cr_of(h.naks()[0].spec)->rx_wp, 39558);
    EXPECT_EQ(cr_of(h.naks()[0].spec)->lead, Sqn(17));
}

// The longest NAK (63 sequences: the header's and a full OPT_NAK_LIST) with OPT_CR carrying
// an IPv6 receiver NLA still fits the NAK buffer; it did not, and such NAKs were not sent.
TEST(Receiver, R21_AFullNakListWithAnIpv6ReceiverNlaIsSent) {
    ReceiverConfig c = test_config();
    c.address = *Nla::parse("2001:db8::10");
    Harness h(c);
    h.join(0);
    h.feed(spm(2, 0, 0, kRouter, {OptCrqst{false, false, true}}));
    h.feed(data(64));  // 1..63 missing
    h.run_for(60ms);
    ASSERT_EQ(h.naks().size(), 1u);
    EXPECT_EQ(h.naked(), sqns(1, 63));
    ASSERT_TRUE(cr_of(h.naks()[0].spec));
    EXPECT_EQ(cr_of(h.naks()[0].spec)->receiver, c.address);
}

// The OPT_CR of the first NAK asking for `sqn`.
std::optional<OptCr> cr_of_nak_for(const Harness& h, std::uint32_t sqn) {
    for (const Sent& n : h.naks()) {
        const std::vector<Sqn> asked = nak_sqns(n.spec);
        if (std::find(asked.begin(), asked.end(), Sqn(sqn)) != asked.end()) return cr_of(n.spec);
    }
    ADD_FAILURE() << "no NAK for " << sqn;
    return std::nullopt;
}

TEST(Receiver, R21_NoReportUnlessAskedAndOnlyTheFieldsAsked) {
    Harness h;
    h.join(0);
    h.feed(data(2));
    h.run_for(60ms);
    EXPECT_FALSE(cr_of_nak_for(h, 1)) << "no OPT_CRQST seen: no OPT_CR";

    // All three asked: L and P are set with 0 for the network elements to raise.
    h.feed(spm(2, 0, 2, kRouter, {OptCrqst{true, true, true}}));
    h.feed(data(4));
    h.run_for(60ms);
    const std::optional<OptCr> all = cr_of_nak_for(h, 3);
    ASSERT_TRUE(all);
    EXPECT_TRUE(all->ne_worst_link && all->ne_worst_path && all->rx_worst_path);
    EXPECT_EQ(all->ne_wl, 0);
    EXPECT_EQ(all->ne_wp, 0);
    EXPECT_GT(all->rx_wp, 0);

    // A later SPM without OPT_CRQST leaves the request in force (D37) ...
    h.feed(spm(3, 0, 4));
    h.feed(data(6));
    h.run_for(60ms);
    EXPECT_TRUE(cr_of_nak_for(h, 5));
    // ... only L asked: RX_WP not reported ...
    h.feed(spm(4, 0, 6, kRouter, {OptCrqst{true, false, false}}));
    h.feed(data(8));
    h.run_for(60ms);
    EXPECT_EQ(cr_of_nak_for(h, 7), (OptCr{true, false, false, Sqn(8), 0, 0, 0, kSelf}));
    // ... and one asking for nothing ends it.
    h.feed(spm(5, 0, 8, kRouter, {OptCrqst{false, false, false}}));
    h.feed(data(10));
    h.run_for(60ms);
    EXPECT_FALSE(cr_of_nak_for(h, 9));
}

TEST(Receiver, R21_ParityNakCarriesTheReportToo) {
    Harness h;
    std::vector<OptionSpec> options = parity_prm(false, true, 4);
    options.push_back(OptCrqst{false, false, true});
    h.feed(spm(1, 0, 0xFFFFFFFFu, kRouter, options));
    const std::vector<PacketSpec> g = group_of(0, 4);
    h.feed(g[0]);
    h.feed(g[1]);
    h.feed(data(4));  // 2 and 3 lost: a parity NAK
    h.run_for(60ms);
    ASSERT_EQ(h.naks().size(), 1u);
    EXPECT_EQ(h.naks()[0].spec.extra_flags & kOptParity, kOptParity);
    // Samples 0, 0, 1, 1, 0: 0, 0, 4095, 7935, 7439.
    EXPECT_EQ(cr_of(h.naks()[0].spec), (OptCr{false, false, true, Sqn(4), 0, 0, 7439, kSelf}));
}

}  // namespace
}  // namespace pgm
