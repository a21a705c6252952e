// DOC: pgmdump, a PGM packet printer: reads a pcap file or captures on an interface with
// libpcap and prints one line (text or JSON) per PGM packet, native or UDP-encapsulated.
//
// Owns the command line, the capture loop (non-blocking libpcap + poll, since a blocking
// read never returns on an idle link), the BPF filter, signal handling and the summary.
// Decoding and formatting live in cli/pgm_format so other tools print the same fields.
// Exit codes: 0 ok (bad packets included), 1 runtime error, 2 bad arguments.
#include <pcap/pcap.h>
#include <poll.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "cli/pgm_format.h"
#include "dataplane/linklayer.h"

namespace {

namespace po = boost::program_options;
using pgm::cli::Decoded;

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;
constexpr int kSnapLength = 262144;
constexpr int kPollTimeoutMs = 200;

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) {
    g_stop = 1;
}

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: poll() returns at once with EINTR
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

struct Config {
    std::string file;
    std::string interface;
    std::vector<std::uint16_t> udp_ports;
    bool json = false;
    std::uint64_t count = 0;  // 0: no limit
    bool verify_checksum = true;
    std::string filter;  // user expression, ANDed with the PGM filter
};

class UsageError : public std::runtime_error {
    using std::runtime_error::runtime_error;
};
class RuntimeError : public std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct PcapCloser {
    void operator()(pcap_t* p) const { pcap_close(p); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;

po::options_description visible_options() {
    po::options_description o("Options");
    o.add_options()                                                                          //
        ("help,h", "print this help and exit")                                               //
        ("read,r", po::value<std::string>(), "read packets from a pcap file (- for stdin)")  //
        ("interface,i", po::value<std::string>(), "capture live on an interface")            //
        ("udp-port", po::value<std::vector<long>>(),
         "UDP port carrying encapsulated PGM; repeatable (default 3055)")        //
        ("json", "print one JSON object per line")                               //
        ("count,c", po::value<long long>(), "stop after this many PGM packets")  //
        ("no-checksum", "do not verify PGM (nor UDP) checksums");
    return o;
}

void print_usage(std::ostream& out) {
    out << "usage: pgmdump (-r FILE | -i IFACE) [--udp-port N]... [--json] [-c COUNT]\n"
           "               [--no-checksum] [FILTER EXPRESSION]\n"
        << visible_options()
        << "A filter expression (pcap-filter(7)) narrows the capture further.\n";
}

// Returns nullopt when --help was asked for.
std::optional<Config> parse_arguments(int argc, char** argv) {
    po::options_description all = visible_options();
    all.add_options()("filter", po::value<std::vector<std::string>>(), "filter expression");
    po::positional_options_description positional;
    positional.add("filter", -1);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(),
                  vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(e.what());
    }
    if (vm.count("help") != 0) return std::nullopt;

    Config c;
    if (vm.count("read") != 0) c.file = vm["read"].as<std::string>();
    if (vm.count("interface") != 0) c.interface = vm["interface"].as<std::string>();
    if (c.file.empty() == c.interface.empty()) {
        throw UsageError("give exactly one of -r FILE and -i IFACE");
    }
    if (vm.count("udp-port") != 0) {
        for (long port : vm["udp-port"].as<std::vector<long>>()) {
            if (port < 1 || port > 65535) {
                throw UsageError("--udp-port " + std::to_string(port) + " is not in 1..65535");
            }
            c.udp_ports.push_back(static_cast<std::uint16_t>(port));
        }
    } else {
        c.udp_ports.push_back(pgm::kDefaultUdpEncapsulationPort);
    }
    c.json = vm.count("json") != 0;
    if (vm.count("count") != 0) {
        const long long count = vm["count"].as<long long>();
        if (count < 1) throw UsageError("-c needs a count of at least 1");
        c.count = static_cast<std::uint64_t>(count);
    }
    c.verify_checksum = vm.count("no-checksum") == 0;
    if (vm.count("filter") != 0) {
        for (const std::string& word : vm["filter"].as<std::vector<std::string>>()) {
            if (!c.filter.empty()) c.filter += ' ';
            c.filter += word;
        }
    }
    return c;
}

// PGM over IPv4 and IPv6 (directly, or after a hop-by-hop header such as the Router Alert
// one), and UDP on the encapsulation ports. IPv6 UDP after a hop-by-hop header cannot be
// matched by port in a simple BPF expression, so it is taken whole and sorted out by the
// decoder (`protochain` would do, but the kernel refuses its backward jumps). On Ethernet,
// one 802.1Q tag is allowed for: every term after a `vlan` reads 4 bytes further on, so the
// whole expression, the user's part included, is repeated after it.
std::string capture_filter(const Config& c, int dlt) {
    std::string pgm = "ip proto 113 or ip6 proto 113 or (ip6 proto 0 and ip6[40] == 113)";
    for (std::uint16_t port : c.udp_ports)
        pgm += " or udp port " + std::to_string(port);
    pgm += " or (ip6 proto 0 and ip6[40] == 17)";
    const std::string body =
        c.filter.empty() ? "(" + pgm + ")" : "(" + c.filter + ") and (" + pgm + ")";
    return dlt == DLT_EN10MB ? "(" + body + ") or (vlan and " + body + ")" : body;
}

// A compiled BPF program, freed on destruction.
class Filter {
  public:
    Filter(pcap_t* p, const Config& c) {
        const std::string expr = capture_filter(c, pcap_datalink(p));
        if (pcap_compile(p, &program_, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
            const std::string why = pcap_geterr(p);
            if (!c.filter.empty()) {
                throw UsageError("bad filter expression '" + c.filter + "': " + why);
            }
            throw RuntimeError("cannot compile the capture filter: " + why);
        }
    }
    ~Filter() { pcap_freecode(&program_); }
    Filter(const Filter&) = delete;
    Filter& operator=(const Filter&) = delete;

    // Live captures filter in the kernel.
    void install(pcap_t* p) {
        if (pcap_setfilter(p, &program_) != 0) {
            throw RuntimeError(std::string("cannot set the capture filter: ") + pcap_geterr(p));
        }
    }
    // Files are filtered here, so that frame numbers stay those of the file.
    bool matches(const pcap_pkthdr& header, const std::uint8_t* data) const {
        return pcap_offline_filter(&program_, &header, data) != 0;
    }

  private:
    bpf_program program_{};
};

PcapHandle open_file(const std::string& path) {
    char err[PCAP_ERRBUF_SIZE] = {};
    PcapHandle p(pcap_open_offline(path.c_str(), err));
    if (!p) throw RuntimeError("cannot read '" + path + "': " + err);
    return p;
}

PcapHandle open_live(const std::string& iface) {
    char err[PCAP_ERRBUF_SIZE] = {};
    PcapHandle p(pcap_create(iface.c_str(), err));
    if (!p) throw RuntimeError("cannot open interface '" + iface + "': " + err);
    pcap_set_snaplen(p.get(), kSnapLength);
    pcap_set_promisc(p.get(), 1);
    pcap_set_immediate_mode(p.get(), 1);
    const int rc = pcap_activate(p.get());
    if (rc < 0) {
        std::string why = pcap_geterr(p.get());
        if (rc == PCAP_ERROR_NO_SUCH_DEVICE) {
            why = "no such interface";
        } else if (rc == PCAP_ERROR_PERM_DENIED) {
            why = "permission denied (capturing needs root or CAP_NET_RAW): " + why;
        } else if (rc == PCAP_ERROR_IFACE_NOT_UP) {
            why = "interface is down";
        }
        throw RuntimeError("cannot capture on '" + iface + "': " + why);
    }
    if (rc > 0) std::cerr << "pgmdump: warning: " << iface << ": " << pcap_statustostr(rc) << '\n';
    if (pcap_setnonblock(p.get(), 1, err) != 0) {
        throw RuntimeError("cannot make the capture non-blocking: " + std::string(err));
    }
    return p;
}

struct Summary {
    std::uint64_t read = 0;
    std::uint64_t filtered_out = 0;
    std::uint64_t printed = 0;
    std::uint64_t decoded = 0;
    std::uint64_t not_pgm = 0;
    std::map<std::string, std::uint64_t> errors;  // "layer: reason" -> count

    void print(std::ostream& out) const {
        std::uint64_t error_total = 0;
        for (const auto& [reason, n] : errors)
            error_total += n;
        out << "pgmdump: " << read << " packets read, ";
        if (filtered_out != 0) out << filtered_out << " filtered out, ";
        out << decoded << " PGM decoded, " << not_pgm << " not PGM, " << error_total << " errors";
        const char* sep = ": ";
        for (const auto& [reason, n] : errors) {
            out << sep << reason << " " << n;
            sep = ", ";
        }
        out << '\n';
    }
};

class Dumper {
  public:
    Dumper(const Config& c, pcap_t* p, const Filter& filter, bool live)
        : config_(c), pcap_(p), filter_(filter), live_(live) {
        settings_.dlt = pcap_datalink(p);
        settings_.udp_ports = config_.udp_ports;
        settings_.verify_checksum = c.verify_checksum;
    }

    // Reads until the end of the file, the count, a signal or an error (thrown).
    void run() {
        if (live_) {
            capture_loop();
        } else {
            while (!done() && read_available()) {
            }
        }
    }

    const Summary& summary() const { return summary_; }

  private:
    bool done() const {
        return g_stop != 0 || (config_.count != 0 && summary_.printed >= config_.count);
    }

    void capture_loop() {
        const int fd = pcap_get_selectable_fd(pcap_);
        if (fd < 0) throw RuntimeError("the capture has no selectable descriptor");
        while (!done()) {
            pollfd pfd{fd, POLLIN, 0};
            const int rc = ::poll(&pfd, 1, kPollTimeoutMs);
            if (rc < 0 && errno != EINTR)
                throw RuntimeError(std::string("poll: ") + strerror(errno));
            // Drain whatever is there; with TPACKET_V3 data may be ready without POLLIN.
            read_available();
        }
    }

    // Handles the packets available now. False at the end of a file.
    bool read_available() {
        while (!done()) {
            pcap_pkthdr* header = nullptr;
            const std::uint8_t* data = nullptr;
            const int rc = pcap_next_ex(pcap_, &header, &data);
            if (rc == 1) {
                handle(*header, data);
            } else if (rc == 0) {
                return true;  // live: nothing more for now
            } else if (rc == PCAP_ERROR_BREAK) {
                return false;  // end of file
            } else {
                throw RuntimeError(std::string("reading packets: ") + pcap_geterr(pcap_));
            }
        }
        return true;
    }

    void handle(const pcap_pkthdr& header, const std::uint8_t* data) {
        ++summary_.read;
        pgm::cli::Frame frame;
        frame.number = summary_.read;
        frame.ts_sec = header.ts.tv_sec;
        frame.ts_usec = static_cast<std::int32_t>(header.ts.tv_usec);
        frame.wire_length = header.len;
        frame.data = pgm::Bytes(data, header.caplen);
        const Decoded d = pgm::cli::decode_frame(frame, settings_);
        // A frame cut inside its link header cannot be judged by the filter: show it.
        const bool link_broken = d.error_layer == pgm::cli::Layer::Link && !d.not_pgm();
        if (!live_ && !link_broken && !filter_.matches(header, data)) {
            ++summary_.filtered_out;
            return;
        }
        if (d.not_pgm()) {
            ++summary_.not_pgm;
            return;
        }
        if (d.pgm_decoded()) ++summary_.decoded;
        if (d.error != nullptr) {
            ++summary_.errors[std::string(pgm::cli::to_string(d.error_layer)) + ": " + d.error];
        }
        ++summary_.printed;
        const pgm::cli::Json j = pgm::cli::to_json(d);
        std::cout << (config_.json ? j.dump() : pgm::cli::to_text(j)) << '\n';
        if (live_) std::cout.flush();
    }

    const Config& config_;
    pcap_t* pcap_;
    const Filter& filter_;
    bool live_;
    pgm::cli::DecodeSettings settings_;
    Summary summary_;
};

int run(const Config& c) {
    const bool live = !c.interface.empty();
    PcapHandle p = live ? open_live(c.interface) : open_file(c.file);
    const int dlt = pcap_datalink(p.get());
    if (!pgm::link_type_supported(dlt)) {
        const char* name = pcap_datalink_val_to_name(dlt);
        throw RuntimeError("link type " + std::string(name != nullptr ? name : "?") + " (" +
                           std::to_string(dlt) + ") is not supported");
    }
    Filter filter(p.get(), c);
    if (live) filter.install(p.get());
    install_signal_handlers();
    Dumper dumper(c, p.get(), filter, live);
    int status = kExitOk;
    try {
        dumper.run();
    } catch (const RuntimeError& e) {
        std::cout.flush();
        std::cerr << "pgmdump: " << e.what() << '\n';
        status = kExitRuntime;
    }
    std::cout.flush();
    dumper.summary().print(std::cerr);
    pcap_stat stats{};
    if (live && pcap_stats(p.get(), &stats) == 0 && stats.ps_drop != 0) {
        std::cerr << "pgmdump: " << stats.ps_drop << " packets dropped by the kernel\n";
    }
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const std::optional<Config> config = parse_arguments(argc, argv);
        if (!config) {
            print_usage(std::cout);
            return kExitOk;
        }
        return run(*config);
    } catch (const UsageError& e) {
        std::cerr << "pgmdump: " << e.what() << '\n';
        print_usage(std::cerr);
        return kExitUsage;
    } catch (const RuntimeError& e) {
        std::cerr << "pgmdump: " << e.what() << '\n';
        return kExitRuntime;
    } catch (const std::exception& e) {
        std::cerr << "pgmdump: " << e.what() << '\n';
        return kExitRuntime;
    }
}
