// BENCH: Google Benchmark for the wire codec. Owns the codec's speed numbers reported in
// docs/performance.md: parse of ODATA (1000-byte payload, checksum verified and not), NAK
// (with a NAK list) and SPM; building an NCF that echoes a parsed NAK's list; and the fast
// checksum against the byte-at-a-time reference over the same 1500 bytes, in one run.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "protocol/checksum.h"
#include "protocol/packet.h"
#include "protocol/spec.h"
#include "protocol/writer.h"

namespace {

using Packet = std::vector<std::uint8_t>;

const pgm::Gsi kGsi{{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}};
constexpr std::uint16_t kSourcePort = 7500;
constexpr std::uint16_t kDestPort = 7501;

Packet build_or_die(const pgm::PacketSpec& s) {
    auto p = pgm::build(s);
    if (!p) std::abort();
    return *p;
}

Packet odata_1000() {
    pgm::PacketSpec s;
    s.type = pgm::PacketType::Odata;
    s.source_port = kSourcePort;
    s.destination_port = kDestPort;
    s.gsi = kGsi;
    s.fields = pgm::DataFields{pgm::Sqn(100000), pgm::Sqn(99000)};
    s.payload.resize(1000);
    std::mt19937 rng(1);
    for (auto& b : s.payload)
        b = static_cast<std::uint8_t>(rng());
    return build_or_die(s);
}

// NAK from a receiver for 8 sequence numbers: the first in the header, 7 more in the list.
Packet nak_with_list() {
    pgm::PacketSpec s;
    s.type = pgm::PacketType::Nak;
    s.source_port = kDestPort;  // upstream: ports swapped (§8.3)
    s.destination_port = kSourcePort;
    s.gsi = kGsi;
    s.fields =
        pgm::NakFields{pgm::Sqn(100000), pgm::Nla::ipv4(0xC0000201u), pgm::Nla::ipv4(0xEF010203u)};
    pgm::OptNakList list;
    for (std::uint32_t i = 1; i < 8; ++i)
        list.sqns.push_back(pgm::Sqn(100000 + 2 * i));
    s.options.push_back(list);
    return build_or_die(s);
}

Packet spm() {
    pgm::PacketSpec s;
    s.type = pgm::PacketType::Spm;
    s.source_port = kSourcePort;
    s.destination_port = kDestPort;
    s.gsi = kGsi;
    s.fields = pgm::SpmFields{pgm::Sqn(5000), pgm::Sqn(99000), pgm::Sqn(100000),
                              pgm::Nla::ipv4(0xC6336401u), 0};
    return build_or_die(s);
}

void BM_Parse(benchmark::State& state, Packet packet, bool verify_checksum) {
    const pgm::ParseOptions options{verify_checksum};
    if (!pgm::parse(packet, options)) {
        state.SkipWithError("packet does not parse");
        return;
    }
    for (auto _ : state) {
        benchmark::DoNotOptimize(packet.data());
        pgm::ParseResult r = pgm::parse(packet, options);
        benchmark::DoNotOptimize(r);
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.counters["bytes"] = static_cast<double>(packet.size());
}
BENCHMARK_CAPTURE(BM_Parse, odata1000_no_checksum, odata_1000(), false);
BENCHMARK_CAPTURE(BM_Parse, odata1000_checksum, odata_1000(), true);
BENCHMARK_CAPTURE(BM_Parse, nak_list8_no_checksum, nak_with_list(), false);
BENCHMARK_CAPTURE(BM_Parse, nak_list8_checksum, nak_with_list(), true);
BENCHMARK_CAPTURE(BM_Parse, spm_no_checksum, spm(), false);
BENCHMARK_CAPTURE(BM_Parse, spm_checksum, spm(), true);

// A network element confirming a NAK: NCF with the NAK's fields, list echoed, checksummed.
void BM_BuildNcfFromNak(benchmark::State& state) {
    const Packet nak = nak_with_list();
    const pgm::ParseResult parsed = pgm::parse(nak);
    const pgm::PacketView& v = parsed.view;
    const pgm::NakFields* fields = v.get<pgm::NakFields>();
    if (!parsed || !fields) {
        state.SkipWithError("NAK does not parse");
        return;
    }
    std::array<std::uint8_t, 1500> buf{};
    for (auto _ : state) {
        pgm::PacketWriter w(buf);
        w.begin(pgm::PacketType::Ncf, v.header.destination_port, v.header.source_port, v.header.gsi)
            .nak(*fields);
        if (auto list = v.nak_list()) w.nak_list(*list);
        auto size = w.finish();
        benchmark::DoNotOptimize(size);
        benchmark::DoNotOptimize(buf.data());
        benchmark::ClobberMemory();
    }
    pgm::PacketWriter check(buf);
    check.begin(pgm::PacketType::Ncf, v.header.destination_port, v.header.source_port, v.header.gsi)
        .nak(*fields)
        .nak_list(*v.nak_list());
    auto size = check.finish();
    if (!size || !pgm::parse(pgm::Bytes(buf.data(), *size))) state.SkipWithError("bad NCF");
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_BuildNcfFromNak);

std::vector<std::uint8_t> random_bytes(std::size_t n) {
    std::vector<std::uint8_t> v(n);
    std::mt19937 rng(2);
    for (auto& b : v)
        b = static_cast<std::uint8_t>(rng());
    return v;
}

template <std::uint16_t (*Sum)(pgm::Bytes, std::uint16_t)>
void BM_Checksum(benchmark::State& state) {
    const auto data = random_bytes(static_cast<std::size_t>(state.range(0)));
    if (pgm::ones_complement_sum(data) != pgm::ones_complement_sum_reference(data)) {
        state.SkipWithError("fast and reference sums differ");
        return;
    }
    for (auto _ : state) {
        benchmark::DoNotOptimize(data.data());
        std::uint16_t s = Sum(data, 0);
        benchmark::DoNotOptimize(s);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Checksum<pgm::ones_complement_sum>)->Name("BM_Checksum_fast")->Arg(1500);
BENCHMARK(BM_Checksum<pgm::ones_complement_sum_reference>)
    ->Name("BM_Checksum_reference")
    ->Arg(1500);

}  // namespace
