// DOC: pgmsend, a PGM source on the host stack (pgm::Source on a dataplane::HostTransport).
//
// Owns one transport session: reads messages from stdin (one per line, or --binary with a
// 4-byte big-endian length prefix), from --file, or generates them (--size/--count/--duration:
// each carries the "PGMT" test header of tests/interop, sequence, count, length, then the
// filler byte i == seq * 7 + i), and sends them on --group/--port out of --interface, native
// (raw IP protocol 113, needs CAP_NET_RAW) or UDP-encapsulated (--udp-port). With
// --framing zmq each message is wrapped as ZeroMQ's pgm:// and epgm:// PUB does, so a ZeroMQ
// SUB can read it.
//
// Life cycle: parse arguments (exit 2 on bad ones), open the transport (exit 1 with the reason:
// unknown interface address, missing CAP_NET_RAW), announce the session with SPMs for
// --start-delay, send every message at --rate (TXW_MAX_RTE), keep answering NAKs for --linger,
// then close: the last data is followed by SPMs with OPT_FIN, sent for a short tail. SIGINT or
// SIGTERM ends the data or linger phase early and closes the same way. --loss drops a seeded
// random share of the ODATA before it is sent (repairs are never dropped). Prints a JSON
// summary on stdout with --json. Exit status 0 when every message was handed to the source.
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cli/host_tool.h"
#include "dataplane/event_loop.h"
#include "dataplane/host_transport.h"
#include "protocol/fec.h"
#include "protocol/source.h"

namespace po = boost::program_options;
using pgm::Bytes;
using pgm::Clock;
using pgm::Time;
using pgm::cli::check;
using pgm::cli::kPgmtHeader;
using pgm::cli::UsageError;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kMaxMessage = 1u << 24;  // --binary length prefix bound

// ZeroMQ's PGM framing: a 2-byte offset of the first message start in the APDU, then
// v1-encoded frames (size + 1 in one byte, or 0xFF and 8 bytes; a flags byte; the body).
std::vector<std::uint8_t> zmq_frame(const std::vector<std::uint8_t>& body) {
    std::vector<std::uint8_t> out;
    out.reserve(body.size() + 12);
    out.push_back(0);
    out.push_back(0);  // offset 0: a message starts right after the offset field
    const std::uint64_t size = body.size() + 1;
    if (size < 0xFF) {
        out.push_back(static_cast<std::uint8_t>(size));
    } else {
        out.push_back(0xFF);
        for (int s = 56; s >= 0; s -= 8)
            out.push_back(static_cast<std::uint8_t>(size >> s));
    }
    out.push_back(0);  // flags: no MORE
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

std::optional<pgm::Gsi> parse_gsi(const std::string& text) {
    std::string hex;
    for (char c : text) {
        if (c == ':' || c == '-' || c == '.') continue;
        if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
        hex.push_back(c);
    }
    if (hex.size() != 12) return std::nullopt;
    pgm::Gsi g;
    for (int i = 0; i < 6; ++i)
        g.bytes[i] = static_cast<std::uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
    return g;
}

std::string gsi_text(const pgm::Gsi& g) {
    char buf[13];
    std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x%02x%02x", g.bytes[0], g.bytes[1], g.bytes[2],
                  g.bytes[3], g.bytes[4], g.bytes[5]);
    return buf;
}

// Splits a byte stream into messages: lines (without '\n'), or length-prefixed records.
class MessageReader {
  public:
    explicit MessageReader(bool binary) : binary_(binary) {}
    // Appends what `data` completes to `out`; false on a bad length prefix.
    bool feed(const std::uint8_t* data, std::size_t n, std::deque<std::vector<std::uint8_t>>& out) {
        buf_.insert(buf_.end(), data, data + n);
        std::size_t pos = 0;
        for (;;) {
            if (binary_) {
                if (buf_.size() - pos < 4) break;
                const std::uint32_t len = (std::uint32_t{buf_[pos]} << 24) |
                                          (std::uint32_t{buf_[pos + 1]} << 16) |
                                          (std::uint32_t{buf_[pos + 2]} << 8) | buf_[pos + 3];
                if (len > kMaxMessage) return false;
                if (buf_.size() - pos - 4 < len) break;
                out.emplace_back(buf_.begin() + static_cast<std::ptrdiff_t>(pos + 4),
                                 buf_.begin() + static_cast<std::ptrdiff_t>(pos + 4 + len));
                pos += 4 + len;
            } else {
                auto it = std::find(buf_.begin() + static_cast<std::ptrdiff_t>(pos), buf_.end(),
                                    std::uint8_t{'\n'});
                if (it == buf_.end()) break;
                out.emplace_back(buf_.begin() + static_cast<std::ptrdiff_t>(pos), it);
                pos = static_cast<std::size_t>(it - buf_.begin()) + 1;
            }
        }
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos));
        return true;
    }
    // At end of input: a last line without '\n' is a message; a partial record is an error.
    bool finish(std::deque<std::vector<std::uint8_t>>& out) {
        if (buf_.empty()) return true;
        if (binary_) return false;
        out.push_back(std::move(buf_));
        buf_.clear();
        return true;
    }

  private:
    bool binary_;
    std::vector<std::uint8_t> buf_;
};

struct Options {
    std::string group = "239.192.0.1";
    std::uint16_t port = 7500;
    std::string interface;
    std::uint16_t udp_port = 0;
    std::optional<std::uint16_t> sport;
    std::string gsi;
    bool router_alert = false;
    bool multicast_loop = false;
    unsigned ttl = 16;
    std::string file;
    bool binary = false;
    std::optional<std::size_t> size;
    std::optional<std::uint64_t> count;
    std::optional<double> duration;
    std::uint64_t rate = 10'000'000;
    double loss = 0;
    std::uint64_t seed = 1;
    double linger = 2.0;
    double start_delay = 0.3;
    std::uint32_t txw_sqns = 0;  // 0: chosen from the message count and the memory
    double txw_secs = 30;
    double txw_min_secs = 0.5;
    double nak_hold = 1.0;
    std::uint64_t sndbuf = 0;  // 0: sized for --rate
    std::uint64_t rcvbuf = 1u << 20;
    std::size_t mtu = 1500;
    std::string framing = "plain";
    // FEC (RFC 3208 §11): transmission group size (0: off), block size, proactive parity.
    std::uint32_t fec_k = 0;
    std::uint32_t fec_n = 0;
    std::uint32_t fec_proactive = 0;
    bool fec_ondemand = false;
    bool json = false;
    bool quiet = false;
};

std::optional<Options> parse(int argc, char** argv) {
    Options o;
    std::uint32_t port = 0, udp_port = 0, sport = 0;
    po::options_description desc(
        "pgmsend: send messages as a PGM source\n"
        "usage: pgmsend --interface ADDRESS [options] < messages\n"
        "Messages come from stdin (one per line, or --binary), --file, or are generated\n"
        "(--size/--count/--duration).  Options");
    desc.add_options()("help,h", "this help")(
        "interface,i", po::value(&o.interface)->required(),
        "IPv4 address of the interface to send from (an address, not a name)")(
        "group,g", po::value(&o.group)->default_value(o.group), "multicast group")(
        "port,p", po::value(&port)->default_value(7500), "data-destination port")(
        "udp-port", po::value(&udp_port)->default_value(0),
        "UDP encapsulation on this port (unicast and multicast); 0: native PGM (needs "
        "CAP_NET_RAW)")("sport", po::value(&sport), "data-source port (default: random)")(
        "gsi", po::value(&o.gsi), "GSI, 12 hex digits (default: random)")(
        "router-alert", po::bool_switch(&o.router_alert),
        "IP Router Alert on SPM, NCF and RDATA (never on ODATA)")(
        "multicast-loop", po::bool_switch(&o.multicast_loop), "loop multicast back to this host")(
        "ttl", po::value(&o.ttl)->default_value(16), "multicast TTL")(
        "file,f", po::value(&o.file), "read messages from this file instead of stdin")(
        "binary", po::bool_switch(&o.binary),
        "messages are records with a 4-byte big-endian length prefix, not lines")(
        "size", po::value<std::size_t>(), "generate messages of this many bytes (>= 16)")(
        "count", po::value<std::uint64_t>(), "generate this many messages")(
        "duration", po::value<double>(), "generate messages for this many seconds")(
        "rate", po::value(&o.rate)->default_value(o.rate),
        "rate limit in bytes/s over everything sent, IP headers included (TXW_MAX_RTE)")(
        "loss", po::value(&o.loss)->default_value(0),
        "drop this percentage of ODATA before sending (seeded; repairs are sent)")(
        "seed", po::value(&o.seed)->default_value(1), "seed of --loss and of the source port")(
        "linger", po::value(&o.linger)->default_value(o.linger),
        "seconds to keep answering NAKs after the last message, before closing with FIN")(
        "start-delay", po::value(&o.start_delay)->default_value(o.start_delay, "0.3"),
        "seconds of SPMs announcing the session before the first data")(
        "txw-sqns", po::value(&o.txw_sqns),
        "transmit window in packets, 1..2147483647 (default: enough for the whole --count "
        "run, else 262144, at least 1024, at most 1/16 of the memory in --mtu packets)")(
        "txw-secs", po::value(&o.txw_secs)->default_value(o.txw_secs),
        "transmit window in seconds")(
        "txw-min-secs", po::value(&o.txw_min_secs)->default_value(o.txw_min_secs, "0.5"),
        "back-pressure: a full window keeps its oldest packet at least this long; new data "
        "waits (a rate above txw-sqns per txw-min-secs slows down instead of losing data)")(
        "nak-hold", po::value(&o.nak_hold)->default_value(o.nak_hold, "1.0"),
        "back-pressure: seconds a NAKed packet stays in a full window after its last NAK "
        "(cover the receivers' NAK_RDATA_IVL plus back-off and round trip)")(
        "sndbuf", po::value(&o.sndbuf),
        "SO_SNDBUF in bytes (default: 20 ms at --rate, 1..8 MiB); a warning when clamped")(
        "rcvbuf", po::value(&o.rcvbuf)->default_value(o.rcvbuf),
        "SO_RCVBUF in bytes (NAKs and SPMRs); a warning when clamped")(
        "mtu", po::value(&o.mtu)->default_value(o.mtu), "largest IP packet sent (max TPDU)")(
        "framing", po::value(&o.framing)->default_value(o.framing),
        "plain, or zmq: wrap each message as a ZeroMQ PUB on pgm:// / epgm:// does")(
        "fec-k", po::value(&o.fec_k),
        "FEC: Reed-Solomon parity over transmission groups of this many packets (a power of "
        "two, 2..128; OpenPGM-compatible); needs --fec-proactive or --fec-ondemand")(
        "fec-n", po::value(&o.fec_n),
        "FEC block size: fec-n - fec-k parity packets per group exist (fec-k < fec-n <= "
        "255; default: 2 x fec-k, at most 255)")(
        "fec-proactive", po::value(&o.fec_proactive),
        "FEC: send this many parity packets (ODATA) after each full group")(
        "fec-ondemand", po::bool_switch(&o.fec_ondemand),
        "FEC: advertise on-demand parity (receivers send parity NAKs, answered with parity "
        "RDATA); parity NAKs are answered whenever --fec-k is set")(
        "json", po::bool_switch(&o.json), "print a JSON summary on stdout")(
        "quiet,q", po::bool_switch(&o.quiet), "no progress messages on stderr");
    po::variables_map vm;
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    if (vm.count("help")) {
        std::cout << desc << "\n";
        return std::nullopt;
    }
    po::notify(vm);
    pgm::cli::check_ports(port, udp_port);
    o.port = static_cast<std::uint16_t>(port);
    o.udp_port = static_cast<std::uint16_t>(udp_port);
    if (vm.count("sport")) {
        check(sport >= 1 && sport <= 65535 && sport != port,
              "--sport must be 1..65535 and differ from --port");
        o.sport = static_cast<std::uint16_t>(sport);
    }
    check(o.ttl <= 255, "--ttl must be 0..255");
    if (vm.count("size")) o.size = vm["size"].as<std::size_t>();
    if (vm.count("count")) o.count = vm["count"].as<std::uint64_t>();
    if (vm.count("duration")) o.duration = vm["duration"].as<double>();
    const bool generated = o.size || o.count || o.duration;
    if (generated) {
        if (!o.size) o.size = 200;
        check(*o.size >= kPgmtHeader && *o.size <= 65000, "--size must be 16..65000");
        check(o.file.empty(),
              "--file and generated messages (--size/--count/--duration) "
              "exclude each other");
        check(!o.count || *o.count <= 0xFFFFFFFFull, "--count must be below 2^32");
        check(!o.duration || *o.duration > 0, "--duration must be positive");
    }
    check(o.rate >= 1000, "--rate must be at least 1000 bytes/s");
    check(o.loss >= 0 && o.loss <= 100, "--loss must be a percentage, 0..100");
    check(o.linger >= 0 && o.start_delay >= 0, "--linger and --start-delay must be >= 0");
    check(o.txw_secs > 0, "--txw-secs must be positive");
    check(!vm.count("txw-sqns") || (o.txw_sqns >= 1 && o.txw_sqns <= 0x7FFFFFFFu),
          "--txw-sqns must be 1..2147483647");
    check(o.txw_min_secs >= 0 && o.txw_min_secs < o.txw_secs,
          "--txw-min-secs must be >= 0 and below --txw-secs");
    check(o.nak_hold >= 0, "--nak-hold must be >= 0");
    check(o.rcvbuf <= 0x7FFFFFFF && o.sndbuf <= 0x7FFFFFFF,
          "--rcvbuf and --sndbuf must be below 2^31");
    if (!vm.count("sndbuf")) o.sndbuf = std::clamp<std::uint64_t>(o.rate / 50, 1u << 20, 8u << 20);
    check(o.mtu >= 256 && o.mtu <= 65535, "--mtu must be 256..65535");
    check(o.framing == "plain" || o.framing == "zmq", "--framing must be plain or zmq");
    if (o.fec_k != 0 && o.fec_n == 0) o.fec_n = std::min<std::uint32_t>(2 * o.fec_k, 255);
    check(o.fec_k == 0 || pgm::fec_params_valid(o.fec_k, o.fec_n),
          "--fec-k must be a power of two 2..128 and --fec-n above it, at most 255");
    check(o.fec_k != 0 || (o.fec_n == 0 && o.fec_proactive == 0 && !o.fec_ondemand),
          "--fec-n, --fec-proactive and --fec-ondemand need --fec-k");
    check(o.fec_k == 0 || o.fec_proactive > 0 || o.fec_ondemand,
          "--fec-k needs --fec-proactive H or --fec-ondemand");
    check(o.fec_proactive <= o.fec_n - o.fec_k, "--fec-proactive must be at most fec-n - fec-k");
    return o;
}

class Sender {
  public:
    Sender(const Options& o, pgm::dataplane::EventLoop& loop)
        : o_(o), loop_(loop), loss_(o.loss, o.seed) {}

    int run() {
        const auto [address, group] = pgm::cli::parse_endpoints(o_.interface, o_.group);

        // Input: a file or stdin, unless messages are generated.
        generated_ = o_.size.has_value();
        if (!generated_) open_input();

        auto tc = pgm::cli::transport_config(address, o_.udp_port, o_.multicast_loop);
        tc.multicast_ttl = static_cast<std::uint8_t>(o_.ttl);
        tc.send_buffer = static_cast<int>(o_.sndbuf);
        tc.receive_buffer = static_cast<int>(o_.rcvbuf);
        transport_.emplace(loop_, tc);  // throws HostTransportError
        pgm::cli::warn_clamped_buffers("pgmsend", transport_->buffer_report());

        pgm::SourceConfig sc;
        sc.address = address;
        sc.group = group;
        sc.ifindex = transport_->ifindex();
        sc.data_destination_port = o_.port;
        sc.source_port = o_.sport;
        std::random_device rd;
        sc.gsi = o_.gsi.empty() ? random_gsi(rd) : *parse_gsi(o_.gsi);
        sc.seed = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ o_.seed;
        sc.max_tpdu = o_.mtu;
        std::uint64_t txw = o_.txw_sqns;
        if (txw == 0) {
            // Enough for the whole run (nothing a receiver NAKs is ever gone before the end),
            // bounded by memory: the window keeps up to one --mtu packet per sequence number.
            const std::uint64_t memory = pgm::cli::physical_memory();
            const std::uint64_t cap =
                memory ? std::max<std::uint64_t>(1024, memory / 16 / o_.mtu) : 262144;
            const std::uint64_t want = o_.count ? *o_.count + 16 : 262144;
            txw = std::min<std::uint64_t>(std::clamp<std::uint64_t>(want, 1024, cap), 0x7FFFFFFF);
        }
        sc.txw_sqns = static_cast<std::uint32_t>(txw);
        sc.txw_secs = pgm::cli::seconds(o_.txw_secs);
        sc.txw_min_age = pgm::cli::seconds(o_.txw_min_secs);
        sc.nak_hold = pgm::cli::seconds(o_.nak_hold);
        // One NCF per distinct NAK is queued: shedding NAKs only makes receivers repeat them
        // NAK_RPT_IVL later, which holds the window longer.
        sc.max_pending_ncfs = 4096;
        sc.txw_max_rte = o_.rate;
        sc.rate_burst = std::max<std::size_t>(6000, o_.rate / 500);  // ~2 ms of data
        sc.ambient_spm = 500ms;
        sc.max_backlog_apdus = 4096;
        sc.encapsulation = tc.encapsulation;
        sc.udp_port = tc.udp_port;
        sc.router_alert = o_.router_alert;
        sc.ttl = static_cast<std::uint8_t>(o_.ttl);
        sc.fec_k = o_.fec_k;
        sc.fec_n = o_.fec_n;
        sc.fec_proactive = o_.fec_proactive;
        sc.fec_ondemand = o_.fec_ondemand;
        if (!sc.valid())
            throw UsageError(
                "the source configuration is not valid (check --mtu, "
                "--txw-sqns, --fec-k)");
        start_ = Clock::now();
        source_.emplace(sc, start_);
        session_.emplace(loop_, *transport_, *source_);
        if (loss_.active())
            session_->set_tx_filter([this](const pgm::Transmit&, Bytes pgm) { return loss_(pgm); });
        session_->set_after([this](Time now) { step(now); });
        loop_.add_signal(SIGINT, [this] { interrupt(); });
        loop_.add_signal(SIGTERM, [this] { interrupt(); });
        data_at_ = start_ + pgm::cli::seconds(o_.start_delay);
        if (o_.duration) end_gen_at_ = data_at_ + pgm::cli::seconds(*o_.duration);
        loop_.add_timer(data_at_, [this] { step(Clock::now()); });
        if (!o_.quiet)
            std::fprintf(stderr, "pgmsend: session %s.%u on %s:%u via %s (%s)\n",
                         gsi_text(sc.gsi).c_str(), source_->tsi().source_port, o_.group.c_str(),
                         o_.port, o_.interface.c_str(),
                         o_.udp_port ? ("udp " + std::to_string(o_.udp_port)).c_str() : "native");
        loop_.run();
        return finish();
    }

  private:
    static pgm::Gsi random_gsi(std::random_device& rd) {
        pgm::Gsi g;
        for (auto& b : g.bytes)
            b = static_cast<std::uint8_t>(rd());
        return g;
    }

    void open_input() {
        int fd = STDIN_FILENO;
        if (!o_.file.empty()) {
            fd = ::open(o_.file.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0) throw std::runtime_error("--file " + o_.file + ": " + std::strerror(errno));
        }
        input_fd_ = fd;
        reader_.emplace(o_.binary);
        // Pipes and terminals are read when readable; regular files whenever there is room.
        struct stat st {};
        if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
            const int flags = fcntl(fd, F_GETFL);
            if (flags >= 0) (void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
            try {
                loop_.add(fd, EPOLLIN, [this](std::uint32_t) {
                    read_input();
                    step(Clock::now());
                });
                input_polled_ = true;
            } catch (const std::system_error&) {
                input_polled_ = false;  // not pollable (e.g. /dev/null): read directly
            }
        }
    }

    // Reads what is available (a regular file: one chunk); marks end of input.
    void read_input() {
        if (input_done_) return;
        std::uint8_t buf[65536];
        for (int i = 0; i < 16 && pending_.size() < 4096; ++i) {
            const ssize_t n = ::read(input_fd_, buf, sizeof buf);
            if (n > 0) {
                if (!reader_->feed(buf, static_cast<std::size_t>(n), pending_))
                    return input_error("bad length prefix (--binary)");
                if (!input_polled_) break;
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
            if (n < 0) return input_error(std::strerror(errno));
            if (!reader_->finish(pending_)) return input_error("truncated last record (--binary)");
            input_done_ = true;
            if (input_polled_) loop_.remove(input_fd_);
            return;
        }
        // Too much queued: stop polling until the source has taken some.
        if (input_polled_ && pending_.size() >= 4096) loop_.modify(input_fd_, 0);
    }

    void input_error(const std::string& what) {
        std::fprintf(stderr, "pgmsend: input: %s\n", what.c_str());
        input_failed_ = true;
        input_done_ = true;
        if (input_polled_) loop_.remove(input_fd_);
    }

    std::vector<std::uint8_t> framed(std::vector<std::uint8_t> m) const {
        return o_.framing == "zmq" ? zmq_frame(m) : m;
    }

    // Feeds the source while it takes messages; moves through the phases.
    void step(Time now) {
        if (phase_ == Phase::Data && now >= data_at_) feed(now);
        if (phase_ == Phase::Linger && now >= linger_end_) close_source(now);
        if (phase_ == Phase::Closing && (source_->stats().spms_sent >= spms_at_close_ + 3 ||
                                         now >= close_deadline_ || source_->finished())) {
            phase_ = Phase::Done;
            loop_.stop();
        }
    }

    void feed(Time now) {
        bool took = false;
        for (;;) {
            if (generated_) {
                if (o_.count && generated_count_ >= *o_.count) break;
                if (o_.duration && now >= end_gen_at_) break;
                if (!next_) {
                    const auto total = static_cast<std::uint32_t>(o_.count.value_or(0));
                    next_ = framed(pgm::cli::make_pgmt(static_cast<std::uint32_t>(generated_count_),
                                                       total, *o_.size));
                }
            } else if (!next_) {
                if (pending_.empty() && !input_done_ && !input_polled_) read_input();
                if (pending_.empty()) break;
                next_ = framed(std::move(pending_.front()));
                pending_.pop_front();
                if (input_polled_ && !input_done_ && pending_.size() == 2048)
                    loop_.modify(input_fd_, EPOLLIN);
            }
            if (next_->size() > source_->max_apdu()) {
                std::fprintf(stderr,
                             "pgmsend: message of %zu bytes exceeds the largest APDU "
                             "(%zu): skipped\n",
                             next_->size(), source_->max_apdu());
                ++skipped_;
                next_.reset();
                if (generated_) ++generated_count_;
                continue;
            }
            if (!source_->send(*next_, now)) break;  // backlog full: retried after progress
            took = true;
            ++sent_;
            bytes_ += generated_ ? *o_.size : next_->size();
            next_.reset();
            if (generated_) ++generated_count_;
        }
        if (took) session_->poke();
        const bool all_taken = generated_ ? ((o_.count && generated_count_ >= *o_.count) ||
                                             (o_.duration && now >= end_gen_at_))
                                          : (input_done_ && pending_.empty() && !next_);
        if (o_.duration && generated_ && !all_taken && !gen_timer_) {
            gen_timer_ = true;
            loop_.add_timer(end_gen_at_, [this] { step(Clock::now()); });
        }
        if (all_taken && source_->backlog_apdus() == 0) {
            data_end_ = now;
            phase_ = Phase::Linger;
            linger_end_ = now + pgm::cli::seconds(o_.linger);
            if (!o_.quiet)
                std::fprintf(stderr, "pgmsend: %llu messages sent in %.3f s; lingering %.1f s\n",
                             static_cast<unsigned long long>(sent_),
                             std::chrono::duration<double>(now - data_at_).count(), o_.linger);
            loop_.add_timer(linger_end_, [this] { step(Clock::now()); });
        }
    }

    void close_source(Time now) {
        phase_ = Phase::Closing;
        spms_at_close_ = source_->stats().spms_sent;
        source_->close(now);
        session_->poke();
        close_deadline_ = now + 2s;
        loop_.add_timer(close_deadline_, [this] { step(Clock::now()); });
    }

    void interrupt() {
        const Time now = Clock::now();
        if (phase_ == Phase::Data) {
            interrupted_ = !(generated_ && !o_.count);  // an endless --duration run may be cut
            if (data_end_ == Time{}) data_end_ = now;
        }
        if (phase_ == Phase::Data || phase_ == Phase::Linger)
            close_source(now);
        else if (phase_ == Phase::Closing)
            loop_.stop();
    }

    int finish() {
        const auto& s = source_->stats();
        const Time end = data_end_ == Time{} ? Clock::now() : data_end_;
        const double secs = std::max(1e-9, std::chrono::duration<double>(end - data_at_).count());
        if (o_.json) {
            nlohmann::json j = {
                {"sent", sent_},
                {"bytes", bytes_},
                {"odata", s.odata_packets_sent},
                {"rdata", s.repair_packets_sent},
                {"ncfs", s.ncfs_sent},
                {"spms", s.spms_sent},
                {"naks_received", s.naks_received},
                {"naks_too_late", s.naks_too_late},
                {"naks_duplicate", s.naks_duplicate},
                {"naks_shed", s.naks_shed},
                {"naks_ignored", s.naks_ignored},
                {"parity_naks_received", s.parity_naks_received},
                {"parity_naks_too_late", s.parity_naks_too_late},
                {"parity_odata", s.parity_odata_sent},
                {"parity_rdata", s.parity_rdata_sent},
                {"window_stalls", s.window_stalls},
                {"repairs_expired", s.repairs_expired},
                {"txw_sqns", source_->config().txw_sqns},
                {"sndbuf", transport_->buffer_report().send_actual / 2},
                {"rcvbuf", transport_->buffer_report().receive_actual / 2},
                {"odata_dropped", loss_.dropped()},
                {"skipped", skipped_},
                {"elapsed", secs},
                {"messages_per_sec", static_cast<double>(sent_) / secs},
                {"send_errors", transport_->stats().send_errors},
                {"send_blocked", transport_->stats().send_blocked},
                {"rx_queue_delay_max_ms", transport_->stats().queue_delay_max_ns / 1e6},
                {"rx_queue_delay_mean_ms", pgm::cli::mean_queue_delay_ms(transport_->stats())},
                {"gsi", gsi_text(source_->tsi().gsi)},
                {"sport", source_->tsi().source_port},
                {"interrupted", interrupted_},
            };
            std::cout << j.dump() << std::endl;
        }
        if (transport_->stats().send_errors && !o_.quiet)
            std::fprintf(stderr, "pgmsend: %llu packets could not be sent (last error: %s)\n",
                         static_cast<unsigned long long>(transport_->stats().send_errors),
                         std::strerror(transport_->stats().last_send_errno));
        return (interrupted_ || input_failed_ || skipped_) ? 1 : 0;
    }

    enum class Phase { Data, Linger, Closing, Done };

    const Options& o_;
    pgm::dataplane::EventLoop& loop_;
    pgm::cli::OdataLoss loss_;
    std::optional<pgm::dataplane::HostTransport> transport_;
    std::optional<pgm::Source> source_;
    std::optional<pgm::dataplane::HostSession<pgm::Source>> session_;
    Phase phase_ = Phase::Data;
    Time start_{}, data_at_{}, data_end_{}, linger_end_{}, close_deadline_{};
    Time end_gen_at_ = pgm::kNever;
    bool gen_timer_ = false;
    std::uint64_t spms_at_close_ = 0;
    bool generated_ = false;
    std::uint64_t generated_count_ = 0;
    std::optional<std::vector<std::uint8_t>> next_;
    int input_fd_ = -1;
    bool input_polled_ = false, input_done_ = false, input_failed_ = false;
    std::optional<MessageReader> reader_;
    std::deque<std::vector<std::uint8_t>> pending_;
    std::uint64_t sent_ = 0, bytes_ = 0, skipped_ = 0;
    bool interrupted_ = false;
};

}  // namespace

int main(int argc, char** argv) {
    std::optional<Options> options;
    return pgm::cli::tool_main(
        "pgmsend",
        [&] {
            options = parse(argc, argv);
            if (options && !options->gsi.empty() && !parse_gsi(options->gsi))
                throw UsageError("--gsi: expected 12 hex digits");
            return options.has_value();
        },
        [&] {
            pgm::dataplane::EventLoop loop;
            Sender sender(*options, loop);
            return sender.run();
        });
}
