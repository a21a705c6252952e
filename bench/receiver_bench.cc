// BENCH: Google Benchmark for the receiver core (pgm::Receiver) alone, one
// core, no I/O: what one receiver-packet costs, the unit of every large pgmsim
// run (docs/performance.md, "The virtual network at internet scale"). The
// packets are made by the real Source core (an SPM, then ODATA of 64-byte
// APDUs, as pgmsim's default stream), before the timing:
//   - BM_ReceiverInOrder: one receiver, ODATA in order: parse with checksum,
//   the window,
//     the APDU delivered as a DataEvent, the events cleared (what a pgmsim node
//     does last);
//   - BM_ReceiverBehindGap: the same, but the first ODATA is missing, so that
//   every packet
//     is kept in the window behind the gap (a receiver waiting for a repair,
//     the usual state of a pgmsim receiver at 1 % loss per hop); the window is
//     reset outside the timing;
//   - BM_ReceiversInOrderRoundRobin/N: N receivers take each packet in turn, as
//   the
//     receivers of one multicast do in the simulator: each receiver's state is
//     cold again by the time its next packet comes (N = 1,000 and 10,000).
// Items per second = receiver-packets per second.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "protocol/io.h"
#include "protocol/receiver.h"
#include "protocol/source.h"

namespace {

using pgm::Nla;
using Packet = std::vector<std::uint8_t>;

constexpr std::size_t kApdu = 64;
constexpr std::size_t kPackets = 4096;  // one receive window's worth (max_window_sqns)

Nla v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return Nla::ipv4(std::array<std::uint8_t, 4>{a, b, c, d});
}
const Nla kSource = v4(10, 0, 0, 1);
const Nla kReceiver = v4(10, 0, 1, 2);
const Nla kGroup = v4(239, 1, 2, 3);
const pgm::Time kStart = pgm::Time{} + std::chrono::hours(1);

struct Stream {
    Packet spm;
    std::vector<Packet> odata;
    pgm::IpInfo ip;
};

// The source's first SPM and `n` ODATA, one APDU each.
Stream make_stream(std::size_t n) {
    pgm::SourceConfig sc;
    sc.address = kSource;
    sc.group = kGroup;
    sc.ifindex = 1;
    sc.gsi = pgm::Gsi{{0x50, 0x47, 0x4D, 0, 0, 1}};
    sc.source_port = 7000;
    sc.txw_sqns = static_cast<std::uint32_t>(n + 16);
    sc.txw_max_rte = 1'000'000'000;  // 1 GB/s: the bench wants the packets, not the pacing
    pgm::Time now = kStart;
    pgm::Source source(sc, now);
    Stream s;
    s.ip.source = kSource;
    s.ip.destination = kGroup;
    s.ip.ttl = 255;
    pgm::Output out;
    std::vector<std::uint8_t> apdu(kApdu, 0x5A);
    std::size_t sent = 0;
    while (s.odata.size() < n) {
        while (sent < n && source.send(pgm::Bytes(apdu), now))
            ++sent;
        source.on_timer(now, out);
        for (const pgm::Transmit& t : out.transmits()) {
            const pgm::Bytes b = out.bytes(t);
            const auto type = static_cast<pgm::PacketType>(b[4] & 0x0F);
            if (type == pgm::PacketType::Spm && s.spm.empty())
                s.spm.assign(b.begin(), b.end());
            else if (type == pgm::PacketType::Odata && s.odata.size() < n)
                s.odata.emplace_back(b.begin(), b.end());
        }
        out.clear();
        now += std::chrono::milliseconds(1);
    }
    return s;
}

const Stream& stream() {
    static const Stream s = make_stream(kPackets);
    return s;
}

pgm::ReceiverConfig receiver_config(std::uint64_t seed) {
    pgm::ReceiverConfig rc;
    rc.address = kReceiver;
    rc.group = kGroup;
    rc.ifindex = 1;
    rc.data_destination_port = 7500;
    rc.seed = seed;
    return rc;
}

// A receiver that has seen the SPM.
std::unique_ptr<pgm::Receiver> fresh_receiver(std::uint64_t seed, pgm::Output& out) {
    auto r = std::make_unique<pgm::Receiver>(receiver_config(seed));
    r->on_packet(pgm::Arrival{1, stream().ip}, pgm::Bytes(stream().spm), kStart, out);
    r->events().clear();
    out.clear();
    return r;
}

// One receiver takes the stream from ODATA `first` on (1: ODATA 0 lost, so that
// everything after it waits in the window), again from a fresh receiver each
// time it runs out.
void receive_stream(benchmark::State& state, std::size_t first) {
    const Stream& s = stream();
    pgm::Output out;
    std::unique_ptr<pgm::Receiver> r;
    std::size_t i = s.odata.size();
    pgm::Time now = kStart;
    for (auto _ : state) {
        if (i == s.odata.size()) {
            state.PauseTiming();
            r = fresh_receiver(1, out);
            i = first;
            state.ResumeTiming();
        }
        now += std::chrono::microseconds(1);
        r->on_packet(pgm::Arrival{1, s.ip}, pgm::Bytes(s.odata[i++]), now, out);
        benchmark::DoNotOptimize(r->events().size());
        r->events().clear();
        out.clear();
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_ReceiverInOrder(benchmark::State& state) {
    receive_stream(state, 0);
}
BENCHMARK(BM_ReceiverInOrder);

void BM_ReceiverBehindGap(benchmark::State& state) {
    receive_stream(state, 1);
}
BENCHMARK(BM_ReceiverBehindGap);

void BM_ReceiversInOrderRoundRobin(benchmark::State& state) {
    const Stream& s = stream();
    const auto n = static_cast<std::size_t>(state.range(0));
    pgm::Output out;
    std::vector<std::unique_ptr<pgm::Receiver>> rs;
    std::size_t i = s.odata.size();
    std::size_t k = 0;
    pgm::Time now = kStart;
    for (auto _ : state) {
        if (i == s.odata.size()) {
            state.PauseTiming();
            rs.clear();
            for (std::size_t j = 0; j < n; ++j)
                rs.push_back(fresh_receiver(j + 1, out));
            i = 0;
            k = 0;
            state.ResumeTiming();
        }
        pgm::Receiver& r = *rs[k];
        r.on_packet(pgm::Arrival{1, s.ip}, pgm::Bytes(s.odata[i]), now, out);
        benchmark::DoNotOptimize(r.events().size());
        r.events().clear();
        out.clear();
        if (++k == n) {
            k = 0;
            ++i;
            now += std::chrono::microseconds(1);
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ReceiversInOrderRoundRobin)->Arg(1000)->Arg(10000)->Arg(100000);

}  // namespace
