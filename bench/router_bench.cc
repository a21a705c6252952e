// BENCH: Google Benchmark for the network-element core (router::Router) alone, one core, no
// I/O. Owns the core's speed and memory numbers in docs/performance.md ("Router core"):
//   - ODATA forwarding decisions/s: one session, two downstream interfaces, the
//     Environment's group_members a vector copy; against the baseline of the same run, a
//     plain copy of the packet into the Output for each of the two interfaces (the least a
//     switch does);
//   - NAK -> NCF + forward upstream/s with a fresh sequence number each (each creates repair
//     state; the core is rebuilt every 100,000 NAKs, outside the timing, so that the table
//     stays below the repair-state cap), and duplicate NAKs (NCF, eliminated);
//   - SPMs/s (path state refresh, two copies with SPM_PATH rewritten);
//   - memory: bytes per session and per repair state, as the malloc heap grows (mallinfo2:
//     hash-table nodes, buckets, timer-heap entries and malloc overhead all included) over
//     100,000 entries.
// The NAK rate cap is off (max_naks_per_second_per_interface = 0): the clock does not move.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <vector>

#include "protocol/checksum.h"
#include "protocol/io.h"
#include "protocol/packet.h"
#include "protocol/spec.h"
#include "router/router.h"

namespace {

using pgm::Bytes;
using pgm::IfIndex;
using pgm::Nla;
using pgm::Sqn;
using Packet = std::vector<std::uint8_t>;

constexpr IfIndex kUp = 1;
constexpr IfIndex kDownA = 2;
constexpr IfIndex kDownB = 3;
constexpr std::uint16_t kSourcePort = 7000;
constexpr std::uint16_t kDataPort = 7500;
constexpr std::size_t kPayload = 1000;
const pgm::Gsi kGsi{{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}};

Nla v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return Nla::ipv4(std::array<std::uint8_t, 4>{a, b, c, d});
}
const Nla kSource = v4(10, 0, 0, 1);
const Nla kUpstreamAddr = v4(10, 0, 0, 2);  // the router on the source's link
const Nla kDownAAddr = v4(10, 0, 1, 1);
const Nla kDownBAddr = v4(10, 0, 2, 1);
const Nla kReceiver = v4(10, 0, 1, 2);
const Nla kGroup = v4(239, 1, 2, 3);

// Interfaces 1 (towards the source), 2 and 3 (members); cheap lookups only.
class BenchEnvironment : public pgm::router::Environment {
  public:
    std::optional<Nla> interface_address(IfIndex i, Nla::Family) const override {
        switch (i) {
            case kUp:
                return kUpstreamAddr;
            case kDownA:
                return kDownAAddr;
            case kDownB:
                return kDownBAddr;
            default:
                return std::nullopt;
        }
    }
    std::optional<IfIndex> route_interface(const Nla& a) const override {
        return a == kSource ? std::optional<IfIndex>(kUp) : std::optional<IfIndex>(kDownA);
    }
    void group_members(const Nla&, const Nla&, std::vector<IfIndex>& out) const override {
        out.assign(members_.begin(), members_.end());
    }

  private:
    std::vector<IfIndex> members_{kDownA, kDownB};
};

Packet build_or_die(const pgm::PacketSpec& s) {
    auto p = pgm::build(s);
    if (!p) std::abort();
    return *p;
}

pgm::PacketSpec downstream(pgm::PacketType type, pgm::Fields fields, std::uint16_t sport) {
    pgm::PacketSpec s;
    s.type = type;
    s.source_port = sport;
    s.destination_port = kDataPort;
    s.gsi = kGsi;
    s.fields = fields;
    return s;
}

Packet spm(Sqn sqn, std::uint16_t sport = kSourcePort) {
    return build_or_die(
        // A window reaching far ahead: the router drops NAKs beyond the lead it knows (D14.4),
        // and the NAK benchmarks walk through millions of fresh sequence numbers.
        downstream(pgm::PacketType::Spm, pgm::SpmFields{sqn, Sqn(1), Sqn(0x7FFFFFF0u), kSource, 0},
                   sport));
}

Packet odata(Sqn sqn) {
    pgm::PacketSpec s =
        downstream(pgm::PacketType::Odata, pgm::DataFields{sqn, Sqn(0)}, kSourcePort);
    s.payload.assign(kPayload, 0x5A);
    return build_or_die(s);
}

Packet nak(Sqn sqn) {
    pgm::PacketSpec s =
        downstream(pgm::PacketType::Nak, pgm::NakFields{sqn, kSource, kGroup}, kSourcePort);
    std::swap(s.source_port, s.destination_port);  // upstream orientation (§8.3)
    return build_or_die(s);
}

pgm::Arrival from_source(std::uint8_t ttl = 64) {
    pgm::Arrival a;
    a.ifindex = kUp;
    a.ip.version = 4;
    a.ip.source = kSource;
    a.ip.destination = kGroup;
    a.ip.ttl = ttl;
    a.ip.router_alert = true;
    return a;
}

pgm::Arrival nak_arrival() {
    pgm::Arrival a;
    a.ifindex = kDownA;
    a.ip.version = 4;
    a.ip.source = kReceiver;
    a.ip.destination = kDownAAddr;  // unicast to the router's interface (SPM_PATH)
    a.ip.ttl = 255;
    return a;
}

pgm::router::RouterConfig bench_config() {
    pgm::router::RouterConfig c;
    c.max_naks_per_second_per_interface = 0;  // no rate cap: the clock does not move
    c.max_naks_per_second_per_neighbour = 0;  // nor per NAK source (D36)
    // Every duplicate NAK confirmed, as before the identical-NCF limit (D33): the work
    // BM_NakDuplicate measures (with the limit on, a duplicate within the interval costs
    // less: no NCF is written).
    c.ncf_repeat_interval = pgm::Duration::zero();
    c.max_repair_states = 1'000'000;
    c.max_sessions = 1'000'000;
    return c;
}

const pgm::Time kNow = pgm::Time{} + std::chrono::hours(1);

// A core with one session (path state from an SPM) and an Output that has grown.
struct Fixture {
    BenchEnvironment env;
    std::unique_ptr<pgm::router::Router> router;
    pgm::Output out;
    Fixture() { reset(); }
    void reset() {
        router = std::make_unique<pgm::router::Router>(bench_config(), env);
        Packet s = spm(Sqn(1));
        router->on_packet(from_source(), Bytes(s), kNow, out);
        if (router->sessions().size() != 1) std::abort();
        out.clear();
    }
};

// --- Baseline: copy the packet into the Output once per downstream interface -------------

void BM_Baseline_CopyToOutput(benchmark::State& state) {
    const Packet p = odata(Sqn(5));
    pgm::Output out;
    pgm::Transmit t;
    t.ip_source = kSource;
    t.ip_destination = kGroup;
    t.ttl = 63;
    for (auto _ : state) {
        t.ifindex = kDownA;
        out.add(t, Bytes(p));
        t.ifindex = kDownB;
        out.add(t, Bytes(p));
        benchmark::DoNotOptimize(out.transmits().data());
        out.clear();
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(p.size()));
}
BENCHMARK(BM_Baseline_CopyToOutput);

// --- ODATA -------------------------------------------------------------------------------

void BM_OdataForward(benchmark::State& state) {
    Fixture f;
    const Packet p = odata(Sqn(5));
    const pgm::Arrival a = from_source();
    for (auto _ : state) {
        f.router->on_packet(a, Bytes(p), kNow, f.out);
        benchmark::DoNotOptimize(f.out.transmits().data());
        f.out.clear();
    }
    if (f.router->totals()[pgm::router::Counter::OutOdata] !=
        2 * static_cast<std::uint64_t>(state.iterations()))
        state.SkipWithError("ODATA not forwarded on both interfaces");
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(p.size()));
}
BENCHMARK(BM_OdataForward);

// --- NAKs --------------------------------------------------------------------------------

constexpr std::int64_t kFreshBatch = 100'000;

void BM_NakFresh(benchmark::State& state) {
    Fixture f;
    Packet p = nak(Sqn(0));
    const pgm::Arrival a = nak_arrival();
    std::uint32_t sqn = 0;
    std::int64_t in_batch = 0;
    std::uint64_t forwarded = 0;
    for (auto _ : state) {
        const std::array<std::uint8_t, 4> s{
            static_cast<std::uint8_t>(sqn >> 24), static_cast<std::uint8_t>(sqn >> 16),
            static_cast<std::uint8_t>(sqn >> 8), static_cast<std::uint8_t>(sqn)};
        pgm::rewrite_in_place(pgm::MutableBytes(p), pgm::kHeaderSize, Bytes(s));
        f.router->on_packet(a, Bytes(p), kNow, f.out);
        benchmark::DoNotOptimize(f.out.transmits().data());
        f.out.clear();
        ++sqn;
        if (++in_batch == kFreshBatch) {
            state.PauseTiming();
            forwarded += f.router->totals()[pgm::router::Counter::OutNaks];
            f.reset();
            in_batch = 0;
            state.ResumeTiming();
        }
    }
    forwarded += f.router->totals()[pgm::router::Counter::OutNaks];
    if (forwarded != static_cast<std::uint64_t>(state.iterations()))
        state.SkipWithError("a fresh NAK was not forwarded");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NakFresh);

void BM_NakDuplicate(benchmark::State& state) {
    Fixture f;
    const Packet p = nak(Sqn(77));
    const pgm::Arrival a = nak_arrival();
    f.router->on_packet(a, Bytes(p), kNow, f.out);  // creates the state, forwarded
    f.out.clear();
    for (auto _ : state) {
        f.router->on_packet(a, Bytes(p), kNow, f.out);
        benchmark::DoNotOptimize(f.out.transmits().data());
        f.out.clear();
    }
    const auto totals = f.router->totals();
    if (totals[pgm::router::Counter::OutNaks] != 1 ||
        totals[pgm::router::Counter::OutNcfs] != static_cast<std::uint64_t>(state.iterations()) + 1)
        state.SkipWithError("duplicates not eliminated, or not confirmed");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NakDuplicate);

// --- SPMs --------------------------------------------------------------------------------

void BM_Spm(benchmark::State& state) {
    Fixture f;
    Packet p = spm(Sqn(2));
    const pgm::Arrival a = from_source();
    std::uint32_t sqn = 2;
    for (auto _ : state) {
        const std::array<std::uint8_t, 4> s{
            static_cast<std::uint8_t>(sqn >> 24), static_cast<std::uint8_t>(sqn >> 16),
            static_cast<std::uint8_t>(sqn >> 8), static_cast<std::uint8_t>(sqn)};
        pgm::rewrite_in_place(pgm::MutableBytes(p), pgm::kHeaderSize, Bytes(s));
        f.router->on_packet(a, Bytes(p), kNow, f.out);
        benchmark::DoNotOptimize(f.out.transmits().data());
        f.out.clear();
        ++sqn;
    }
    if (f.router->totals()[pgm::router::Counter::OutSpms] !=
        2 * (static_cast<std::uint64_t>(state.iterations()) + 1))
        state.SkipWithError("SPM not forwarded on both interfaces");
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Spm);

// --- Memory ------------------------------------------------------------------------------

constexpr std::uint32_t kMemoryEntries = 100'000;

std::size_t heap_in_use() {
    return mallinfo2().uordblks;
}

void BM_MemoryPerRepairState(benchmark::State& state) {
    double per_entry = 0;
    for (auto _ : state) {
        state.PauseTiming();
        Fixture f;
        Packet p = nak(Sqn(0));
        const pgm::Arrival a = nak_arrival();
        // Let the Output and scratch reach their steady size before measuring.
        f.router->on_packet(a, Bytes(p), kNow, f.out);
        f.out.clear();
        const std::size_t before = heap_in_use();
        state.ResumeTiming();
        for (std::uint32_t sqn = 1; sqn <= kMemoryEntries; ++sqn) {
            const std::array<std::uint8_t, 4> s{
                static_cast<std::uint8_t>(sqn >> 24), static_cast<std::uint8_t>(sqn >> 16),
                static_cast<std::uint8_t>(sqn >> 8), static_cast<std::uint8_t>(sqn)};
            pgm::rewrite_in_place(pgm::MutableBytes(p), pgm::kHeaderSize, Bytes(s));
            f.router->on_packet(a, Bytes(p), kNow, f.out);
            f.out.clear();
        }
        state.PauseTiming();
        if (f.router->repairs().size() != kMemoryEntries + 1) state.SkipWithError("cap reached");
        per_entry = static_cast<double>(heap_in_use() - before) / kMemoryEntries;
        state.ResumeTiming();
    }
    state.counters["bytes_per_repair_state"] = per_entry;
    state.counters["sizeof_entry"] =
        static_cast<double>(sizeof(pgm::router::RepairKey) + sizeof(pgm::router::RepairEntry));
}
BENCHMARK(BM_MemoryPerRepairState)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_MemoryPerSession(benchmark::State& state) {
    double per_entry = 0;
    for (auto _ : state) {
        state.PauseTiming();
        Fixture f;
        std::vector<Packet> spms;
        spms.reserve(kMemoryEntries);
        for (std::uint32_t i = 0; i < kMemoryEntries; ++i)
            spms.push_back(spm(Sqn(1), static_cast<std::uint16_t>(1024 + i % 60000)));
        // Distinct TSIs: the data-source port and one GSI byte vary.
        for (std::uint32_t i = 0; i < kMemoryEntries; ++i)
            pgm::rewrite_in_place(
                pgm::MutableBytes(spms[i]), pgm::kOffsetGsi,
                Bytes(std::array<std::uint8_t, 1>{static_cast<std::uint8_t>(i / 60000 + 0x10)}));
        const pgm::Arrival a = from_source();
        const std::size_t before = heap_in_use();
        state.ResumeTiming();
        for (const Packet& p : spms) {
            f.router->on_packet(a, Bytes(p), kNow, f.out);
            f.out.clear();
        }
        state.PauseTiming();
        if (f.router->sessions().size() != kMemoryEntries + 1)
            state.SkipWithError("sessions not created");
        per_entry = static_cast<double>(heap_in_use() - before) / kMemoryEntries;
        state.ResumeTiming();
    }
    state.counters["bytes_per_session"] = per_entry;
    state.counters["sizeof_entry"] =
        static_cast<double>(sizeof(pgm::Tsi) + sizeof(pgm::router::Session));
}
BENCHMARK(BM_MemoryPerSession)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
