// DOC: host_tool: see host_tool.h.
#include "cli/host_tool.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

#include "protocol/wire.h"

namespace pgm::cli {

namespace {

void put32(std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
}

std::uint32_t get32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           p[3];
}

}  // namespace

void check_ports(std::uint32_t port, std::uint32_t udp_port) {
    check(port >= 1 && port <= 65535, "--port must be 1..65535");
    check(udp_port <= 65535, "--udp-port must be 0..65535");
}

Endpoints parse_endpoints(const std::string& interface, const std::string& group) {
    const auto address = Nla::parse(interface);
    const auto g = Nla::parse(group);
    if (!address || !address->is_ipv4())
        throw UsageError("--interface: not an IPv4 address: '" + interface + "'");
    if (!g || !g->is_ipv4() || !g->is_multicast())
        throw UsageError("--group: not an IPv4 multicast address: '" + group + "'");
    return {*address, *g};
}

dataplane::HostTransportConfig transport_config(const Nla& address, std::uint16_t udp_port,
                                                bool multicast_loop) {
    dataplane::HostTransportConfig tc;
    tc.interface_address = address;
    tc.encapsulation = udp_port ? Encapsulation::Udp : Encapsulation::Native;
    tc.udp_port = udp_port ? udp_port : kDefaultUdpEncapsulationPort;
    tc.multicast_loop = multicast_loop;
    return tc;
}

Duration seconds(double s) {
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
}

std::uint64_t physical_memory() {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return 0;
    return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page);
}

void warn_clamped_buffers(const char* tool, const dataplane::SocketBufferReport& r) {
    // getsockopt reports twice the effective size (the kernel's bookkeeping share).
    if (r.receive_clamped)
        std::fprintf(stderr,
                     "%s: warning: SO_RCVBUF is %d bytes, asked for %d: the kernel clamped it "
                     "(raise net.core.rmem_max, or run with CAP_NET_ADMIN); bursts beyond it "
                     "are dropped and must be repaired\n",
                     tool, r.receive_actual / 2, r.receive_requested);
    if (r.send_clamped)
        std::fprintf(stderr,
                     "%s: warning: SO_SNDBUF is %d bytes, asked for %d: the kernel clamped it "
                     "(raise net.core.wmem_max, or run with CAP_NET_ADMIN)\n",
                     tool, r.send_actual / 2, r.send_requested);
}

bool OdataLoss::operator()(Bytes pgm) {
    const bool odata = pgm.size() > kOffsetType && (pgm[kOffsetType] & kTypeCodeMask) ==
                                                       static_cast<std::uint8_t>(PacketType::Odata);
    if (!odata) return false;
    if (std::uniform_real_distribution<double>(0, 1)(rng_) >= drop_) return false;
    ++dropped_;
    return true;
}

namespace {
// The PGMT filler is byte i = (seq * 7 + i) mod 256: a window of this table, which repeats
// 0..255, so that making and checking a message are one memcpy / memcmp.
const std::vector<std::uint8_t>& filler_table() {
    static const std::vector<std::uint8_t> table = [] {
        std::vector<std::uint8_t> t(256 + 65536);
        for (std::size_t i = 0; i < t.size(); ++i)
            t[i] = static_cast<std::uint8_t>(i);
        return t;
    }();
    return table;
}

const std::uint8_t* filler_for(std::uint32_t seq) {
    return filler_table().data() + ((seq * 7u) & 0xFFu);
}
}  // namespace

std::vector<std::uint8_t> make_pgmt(std::uint32_t seq, std::uint32_t count, std::size_t size) {
    if (size < kPgmtHeader || size > filler_table().size() - 256)
        throw std::invalid_argument("PGMT message size out of range");
    std::vector<std::uint8_t> m(size);
    std::memcpy(m.data(), "PGMT", 4);
    put32(m.data() + 4, seq);
    put32(m.data() + 8, count);
    put32(m.data() + 12, static_cast<std::uint32_t>(size));
    if (size > kPgmtHeader)  // sizes are bounded by the largest APDU, < 64 KiB
        std::memcpy(m.data() + kPgmtHeader, filler_for(seq) + kPgmtHeader, size - kPgmtHeader);
    return m;
}

const char* check_pgmt(Bytes m, std::uint32_t& seq) {
    if (m.size() < kPgmtHeader) return "shorter than the 16-byte PGMT header";
    if (std::memcmp(m.data(), "PGMT", 4) != 0) return "bad magic";
    if (get32(m.data() + 12) != m.size()) return "length field does not match";
    seq = get32(m.data() + 4);
    if (m.size() > filler_table().size() - 256) return "longer than any PGMT message";
    if (std::memcmp(m.data() + kPgmtHeader, filler_for(seq) + kPgmtHeader,
                    m.size() - kPgmtHeader) != 0)
        return "filler corrupted";
    return nullptr;
}

double mean_queue_delay_ms(const dataplane::HostTransportStats& s) {
    return s.queue_delay_samples == 0 ? 0.0
                                      : static_cast<double>(s.queue_delay_total_ns) / 1e6 /
                                            static_cast<double>(s.queue_delay_samples);
}

}  // namespace pgm::cli
