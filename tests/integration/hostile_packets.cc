// DOC: hostile_packets: sends malformed and hostile PGM packets at a network element, for
// pgmd_hostile_test.py (issue 5, acceptance 5). Every packet is first built valid with the
// project's codec (protocol/writer.h, build_ipv4) and then broken precisely, so the test
// knows which counter each one must land in.
//
//   hostile_packets --src ADDR --dst ADDR --kind KIND --count N [--rate PPS]
//                   [--udp-port N] [--gsi HEX12] [--sport N] [--dport N]
//                   [--source ADDR] [--group ADDR] [--sqn-min N] [--sqn-max N] [--seed N]
//
// Kinds (all NAKs unicast to --dst unless said otherwise; the TSI is --gsi/--sport, the
// NAK's source and group NLAs are --source/--group):
//   truncated      a NAK cut to 10 bytes (shorter than the PGM header)  -> Truncated
//   bad-checksum   a NAK whose checksum field is wrong                  -> BadChecksum
//   unknown-type   a NAK with type code 3 (undefined)                   -> UnknownType
//   bad-tsdu       a NAK whose TSDU length says 4 bytes follow          -> TsduLengthMismatch
//   opx-discard    a valid NAK with an unknown option (type 0x30), OPX = discard, and
//                  OPT_NETWORK set                                        -> OptionDiscards
//   unknown-tsi    a valid NAK for a random GSI (no session)             -> InNakNoSessionErrors
//   nak-flood      valid NAKs for the TSI with random sequence numbers in [sqn-min, sqn-max]
//
// Packets go out of a raw IPv4 socket (IP_HDRINCL, so the IP header is the codec's: source
// --src, TTL 255, no Router Alert), native PGM or UDP-encapsulated on --udp-port (both
// ports). --rate paces them (0: as fast as possible). Prints one JSON line:
// {"kind":..., "sent":N, "errors":N, "elapsed_s":S}. Exit status 0, 1 when a send failed or
// the socket could not be opened (needs CAP_NET_RAW), 2 on bad arguments.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "protocol/checksum.h"
#include "protocol/ip.h"
#include "protocol/nla.h"
#include "protocol/packet.h"
#include "protocol/writer.h"

namespace {

struct Args {
    std::optional<pgm::Nla> src, dst;
    std::string kind;
    long long count = 1;
    double rate = 0;
    int udp_port = 0;
    pgm::Gsi gsi{{0, 0, 0, 0, 0, 1}};
    int sport = 1000;
    int dport = 7500;
    std::optional<pgm::Nla> source, group;
    std::uint32_t sqn_min = 0, sqn_max = 0xFFFFFFFFu;
    unsigned seed = 1;
};

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr,
                 "hostile_packets: %s\nusage: hostile_packets --src ADDR --dst ADDR --kind "
                 "KIND --count N [--rate PPS] [--udp-port N] [--gsi HEX12] [--sport N] "
                 "[--dport N] [--source ADDR] [--group ADDR] [--sqn-min N] [--sqn-max N] "
                 "[--seed N]\n",
                 why.c_str());
    std::exit(2);
}

long long number(std::string_view name, const char* text, long long lo, long long hi) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi)
        usage(std::string(name) + ": bad value '" + text + "'");
    return v;
}

pgm::Nla address(std::string_view name, const char* text) {
    auto n = pgm::Nla::parse(text);
    if (!n || !n->is_ipv4()) usage(std::string(name) + ": not an IPv4 address: " + text);
    return *n;
}

Args parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string_view opt = argv[i];
        if (i + 1 >= argc) usage(std::string(opt) + " needs a value");
        const char* v = argv[++i];
        if (opt == "--src") {
            a.src = address(opt, v);
        } else if (opt == "--dst") {
            a.dst = address(opt, v);
        } else if (opt == "--kind") {
            a.kind = v;
        } else if (opt == "--count") {
            a.count = number(opt, v, 0, 100000000);
        } else if (opt == "--rate") {
            a.rate = static_cast<double>(number(opt, v, 0, 10000000));
        } else if (opt == "--udp-port") {
            a.udp_port = static_cast<int>(number(opt, v, 0, 65535));
        } else if (opt == "--gsi") {
            const std::string_view hex = v;
            if (hex.size() != 12) usage("--gsi: 12 hex digits");
            for (std::size_t k = 0; k < 6; ++k) {
                const std::string byte(hex.substr(2 * k, 2));
                a.gsi.bytes[k] =
                    static_cast<std::uint8_t>(number("--gsi", ("0x" + byte).c_str(), 0, 255));
            }
        } else if (opt == "--sport") {
            a.sport = static_cast<int>(number(opt, v, 0, 65535));
        } else if (opt == "--dport") {
            a.dport = static_cast<int>(number(opt, v, 0, 65535));
        } else if (opt == "--source") {
            a.source = address(opt, v);
        } else if (opt == "--group") {
            a.group = address(opt, v);
        } else if (opt == "--sqn-min") {
            a.sqn_min = static_cast<std::uint32_t>(number(opt, v, 0, 0xFFFFFFFFLL));
        } else if (opt == "--sqn-max") {
            a.sqn_max = static_cast<std::uint32_t>(number(opt, v, 0, 0xFFFFFFFFLL));
        } else if (opt == "--seed") {
            a.seed = static_cast<unsigned>(number(opt, v, 0, 0xFFFFFFFFLL));
        } else {
            usage("unknown option " + std::string(opt));
        }
    }
    if (!a.src || !a.dst) usage("--src and --dst are required");
    if (!a.source) a.source = a.dst;
    if (!a.group) a.group = pgm::Nla::parse("239.192.0.1");
    if (a.sqn_min > a.sqn_max) usage("--sqn-min > --sqn-max");
    static const std::array<std::string_view, 7> kinds = {
        "truncated",   "bad-checksum", "unknown-type", "bad-tsdu",
        "opx-discard", "unknown-tsi",  "nak-flood"};
    bool known = false;
    for (auto k : kinds)
        known |= k == a.kind;
    if (!known) usage("unknown --kind '" + a.kind + "'");
    return a;
}

class Generator {
  public:
    explicit Generator(const Args& a) : a_(a), rng_(a.seed) {}

    // The PGM bytes of packet number `i`; empty on a codec failure.
    std::vector<std::uint8_t> pgm_packet() {
        std::array<std::uint8_t, 512> buf{};
        pgm::PacketWriter w{pgm::MutableBytes(buf)};
        pgm::Gsi gsi = a_.gsi;
        if (a_.kind == "unknown-tsi") {
            for (auto& b : gsi.bytes)
                b = static_cast<std::uint8_t>(rng_());
            gsi.bytes[0] |= 0x80;  // never the live session's (tests use small GSIs)
        }
        std::uint32_t sqn = a_.sqn_min;
        if (a_.kind == "nak-flood") {
            sqn = std::uniform_int_distribution<std::uint32_t>(a_.sqn_min, a_.sqn_max)(rng_);
        }
        // Upstream orientation (§8.3): SPORT = data-destination port, DPORT = data-source port.
        w.begin(pgm::PacketType::Nak, static_cast<std::uint16_t>(a_.dport),
                static_cast<std::uint16_t>(a_.sport), gsi);
        w.nak(pgm::NakFields{pgm::Sqn(sqn), *a_.source, *a_.group});
        if (a_.kind == "opx-discard") {
            const std::array<std::uint8_t, 4> value = {0xde, 0xad, 0xbe, 0xef};
            w.raw_option(0x30, static_cast<std::uint8_t>(pgm::Opx::Discard), 0, pgm::Bytes(value),
                         /*network_significant=*/true);
        }
        auto size = w.finish();
        if (!size) return {};
        std::vector<std::uint8_t> p(buf.begin(), buf.begin() + static_cast<long>(*size));
        if (a_.kind == "truncated") {
            p.resize(10);
        } else if (a_.kind == "bad-checksum") {
            p[6] ^= 0x5a;
            if (p[6] == 0 && p[7] == 0) p[7] = 1;  // 0 would mean "no checksum"
        } else if (a_.kind == "unknown-type") {
            p[4] = 0x03;  // no PGM type has code 3
            pgm::write_checksum(pgm::MutableBytes(p));
        } else if (a_.kind == "bad-tsdu") {
            p[15] = 4;  // TSDU length 4, but nothing follows the NAK fields
            pgm::write_checksum(pgm::MutableBytes(p));
        }
        return p;
    }

  private:
    const Args& a_;
    std::mt19937 rng_;
};

}  // namespace

int main(int argc, char** argv) {
    const Args a = parse_args(argc, argv);
    const int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);  // implies IP_HDRINCL
    if (fd < 0) {
        std::perror("hostile_packets: raw socket (needs CAP_NET_RAW)");
        return 1;
    }
    const int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    std::memcpy(&to.sin_addr, a.dst->address().data(), 4);

    Generator gen(a);
    std::array<std::uint8_t, 1024> ip{};
    long long sent = 0, errors = 0;
    std::uint16_t id = 1;
    const auto start = std::chrono::steady_clock::now();
    for (long long i = 0; i < a.count; ++i) {
        if (a.rate > 0) {
            const auto due =
                start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(static_cast<double>(i) / a.rate));
            std::this_thread::sleep_until(due);
        }
        const std::vector<std::uint8_t> p = gen.pgm_packet();
        pgm::Ipv4Params params;
        params.source = *a.src;
        params.destination = *a.dst;
        params.ttl = 255;
        params.id = id++;
        std::optional<pgm::UdpPorts> udp;
        if (a.udp_port != 0) {
            udp = pgm::UdpPorts{static_cast<std::uint16_t>(a.udp_port),
                                static_cast<std::uint16_t>(a.udp_port)};
        }
        auto n = p.empty() ? std::nullopt
                           : pgm::build_ipv4(pgm::MutableBytes(ip), params, udp, pgm::Bytes(p));
        if (!n) {
            ++errors;
            continue;
        }
        // A full send buffer would silently change the count: retry until it is taken.
        for (;;) {
            const ssize_t r =
                sendto(fd, ip.data(), *n, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
            if (r == static_cast<ssize_t>(*n)) {
                ++sent;
                break;
            }
            if (r < 0 && (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)) {
                std::this_thread::sleep_for(std::chrono::microseconds(200));
                continue;
            }
            ++errors;
            break;
        }
    }
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("{\"kind\":\"%s\",\"sent\":%lld,\"errors\":%lld,\"elapsed_s\":%.3f}\n",
                a.kind.c_str(), sent, errors, elapsed);
    close(fd);
    return errors == 0 ? 0 : 1;
}
