// DOC: host_tool, what the host-stack tools pgmsend and pgmrecv share: usage errors and the
// checks of their common options, the interface/group addresses and the transport
// configuration they give, the seeded --loss of ODATA, the "PGMT" test message
// (tests/interop/openpgm_common.h: "PGMT", seq, count, length, big endian, then filler byte
// i == seq * 7 + i), and main()'s exit statuses (2 bad usage, 1 failure such as a missing
// CAP_NET_RAW or an absent interface address, with the reason on stderr).
#pragma once

#include <boost/program_options.hpp>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "dataplane/host_transport.h"
#include "protocol/nla.h"
#include "protocol/wire.h"

namespace pgm::cli {

constexpr std::size_t kPgmtHeader = 16;

// A bad argument: exit status 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline void check(bool ok, const std::string& what) {
    if (!ok) throw UsageError(what);
}

// --port 1..65535 and --udp-port 0..65535.
void check_ports(std::uint32_t port, std::uint32_t udp_port);

// --interface (an IPv4 address) and --group (an IPv4 multicast address), or UsageError.
struct Endpoints {
    Nla address;
    Nla group;
};
Endpoints parse_endpoints(const std::string& interface, const std::string& group);

// The transport on `address`: native PGM, or UDP-encapsulated on udp_port when not 0.
dataplane::HostTransportConfig transport_config(const Nla& address, std::uint16_t udp_port,
                                                bool multicast_loop);

Duration seconds(double s);

// Physical memory of the machine in bytes (sysconf), 0 when unknown: default window bounds
// are fractions of it.
std::uint64_t physical_memory();

// Prints a warning on stderr for each socket buffer the kernel clamped below the request
// (the remedy: raise net.core.rmem_max / wmem_max, or run with CAP_NET_ADMIN).
void warn_clamped_buffers(const char* tool, const dataplane::SocketBufferReport& r);

// The mean time received packets waited in the socket, in milliseconds (0 with none).
double mean_queue_delay_ms(const dataplane::HostTransportStats& s);

// --loss: drops a seeded random share (percent) of ODATA; repairs and other packets pass.
class OdataLoss {
  public:
    OdataLoss(double percent, std::uint64_t seed) : drop_(percent / 100.0), rng_(seed) {}
    bool active() const { return drop_ > 0; }
    // True: drop this PGM packet.
    bool operator()(Bytes pgm);
    std::uint64_t dropped() const { return dropped_; }

  private:
    double drop_;
    std::mt19937_64 rng_;
    std::uint64_t dropped_ = 0;
};

std::vector<std::uint8_t> make_pgmt(std::uint32_t seq, std::uint32_t count, std::size_t size);
// nullptr and the sequence number for a valid PGMT message, else what is wrong with it.
const char* check_pgmt(Bytes m, std::uint32_t& seq);

// main(): parse() returns false after --help (exit 0); run() returns the exit status.
// po::error and UsageError exit 2, any other exception 1, each with "NAME: what" on stderr.
template <class Parse, class Run>
int tool_main(const char* name, Parse&& parse, Run&& run) {
    try {
        if (!parse()) return 0;
    } catch (const boost::program_options::error& e) {
        std::fprintf(stderr, "%s: %s (see --help)\n", name, e.what());
        return 2;
    } catch (const UsageError& e) {
        std::fprintf(stderr, "%s: %s\n", name, e.what());
        return 2;
    }
    try {
        return run();
    } catch (const UsageError& e) {
        std::fprintf(stderr, "%s: %s\n", name, e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", name, e.what());
        return 1;
    }
}

}  // namespace pgm::cli
