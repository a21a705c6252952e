// DOC: pgmrecv, a PGM receiver on the host stack (pgm::Receiver on a dataplane::HostTransport).
//
// Owns one receiver for --group/--port on the interface of --interface, native (raw IP
// protocol 113, needs CAP_NET_RAW) or UDP-encapsulated (--udp-port). Every APDU delivered in
// order is written to stdout (or --output FILE): one per line, or with --binary as a 4-byte
// big-endian length and the bytes; --quiet writes nothing. With --framing zmq the APDUs are
// read as ZeroMQ's pgm:// / epgm:// PUB writes them and each ZeroMQ message is one message.
// With --verify every message must carry the "PGMT" test header (tests/interop, pgmsend's
// generated messages): sequence order and content are checked.
//
// Life cycle: parse arguments (exit 2 on bad ones), open the transport (exit 1 with the
// reason), optionally create --ready-file, then receive until --count messages arrived,
// --timeout seconds passed, SIGINT/SIGTERM, or (without --count) the sessions it received
// data from have all ended (another source's session on the same group:port ending, one
// that delivered nothing here, is reported and does not end the run). --loss
// drops a seeded random share of the incoming ODATA before the receiver sees it (the
// receiver then NAKs for it). Prints a JSON summary with --json. Exit status: 0, or 1 when
// there was unrecoverable loss, fewer than --count messages, or (with --verify) a bad or
// out-of-order message.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "cli/host_tool.h"
#include "dataplane/event_loop.h"
#include "dataplane/host_transport.h"
#include "protocol/receiver.h"

namespace po = boost::program_options;
using pgm::Bytes;
using pgm::Clock;
using pgm::Time;
using pgm::cli::check;
using pgm::cli::UsageError;
using namespace std::chrono_literals;

namespace {

struct Options {
    std::string group = "239.192.0.1";
    std::uint16_t port = 7500;
    std::string interface;
    std::uint16_t udp_port = 0;
    bool multicast_loop = false;
    std::optional<std::uint64_t> count;
    double timeout = 0;  // 0: none
    std::string output;
    bool quiet = false;
    bool binary = false;
    bool verify = false;
    bool json = false;
    double loss = 0;
    std::uint64_t seed = 1;
    std::string framing = "plain";
    std::string ready_file;
    std::size_t rxw_sqns = 0;   // 0: from --rxw-bytes
    std::size_t rxw_bytes = 0;  // 0: from the memory
    std::uint64_t rcvbuf = 8u << 20;
    std::string rxw_full = "refuse";
    unsigned nak_bo_ivl_ms = 50;
    unsigned nak_rpt_ivl_ms = 200;
    unsigned nak_rdata_ivl_ms = 400;
    unsigned nak_ncf_retries = 20;
    unsigned nak_data_retries = 20;
    double fin_linger = 2.0;
    bool no_fec = false;
    bool no_parity_naks = false;
};

std::optional<Options> parse(int argc, char** argv) {
    Options o;
    std::uint32_t port = 0, udp_port = 0;
    po::options_description desc(
        "pgmrecv: receive messages as a PGM receiver\n"
        "usage: pgmrecv --interface ADDRESS [options]\nOptions");
    desc.add_options()("help,h", "this help")(
        "interface,i", po::value(&o.interface)->required(),
        "IPv4 address of the interface to receive on (an address, not a name)")(
        "group,g", po::value(&o.group)->default_value(o.group), "multicast group")(
        "port,p", po::value(&port)->default_value(7500), "data-destination port")(
        "udp-port", po::value(&udp_port)->default_value(0),
        "UDP encapsulation on this port; 0: native PGM (needs CAP_NET_RAW)")(
        "multicast-loop", po::bool_switch(&o.multicast_loop),
        "loop our multicast NAK copies back to this host")("count,n", po::value<std::uint64_t>(),
                                                           "stop after this many messages")(
        "timeout,t", po::value(&o.timeout)->default_value(0),
        "stop after this many seconds (0: no limit)")(
        "output,o", po::value(&o.output), "write messages to this file instead of stdout")(
        "quiet,q", po::bool_switch(&o.quiet), "write no messages (and no progress)")(
        "binary", po::bool_switch(&o.binary),
        "write each message with a 4-byte big-endian length prefix instead of a newline")(
        "verify", po::bool_switch(&o.verify),
        "check the PGMT test header: order and content (pgmsend --size/--count, "
        "tests/interop senders)")("json", po::bool_switch(&o.json),
                                  "print a JSON summary on stdout (messages then need --output "
                                  "or --quiet)")("loss", po::value(&o.loss)->default_value(0),
                                                 "drop this percentage of incoming ODATA (seeded)")(
        "seed", po::value(&o.seed)->default_value(1), "seed of --loss and NAK back-offs")(
        "framing", po::value(&o.framing)->default_value(o.framing),
        "plain, or zmq: read ZeroMQ PUB framing (pgm:// / epgm://)")(
        "ready-file", po::value(&o.ready_file), "create this file once the socket is open")(
        "rxw-sqns", po::value(&o.rxw_sqns)->default_value(0),
        "receive window bound in sequence numbers (0: --rxw-bytes / 512)")(
        "rxw-bytes", po::value(&o.rxw_bytes)->default_value(0),
        "receive window bound in bytes of payload held (0: 1/8 of the memory, 64 MiB..1 GiB)")(
        "rxw-full", po::value(&o.rxw_full)->default_value(o.rxw_full),
        "at a window bound: refuse (new data beyond it is not stored and is NAKed later, "
        "nothing repairable is lost) or evict (the oldest sequences are given up as lost)")(
        "rcvbuf", po::value(&o.rcvbuf)->default_value(o.rcvbuf),
        "SO_RCVBUF in bytes: a burst the kernel cannot queue is dropped (then repaired); a "
        "warning when clamped")("nak-bo-ivl-ms",
                                po::value(&o.nak_bo_ivl_ms)->default_value(o.nak_bo_ivl_ms),
                                "NAK back-off interval")(
        "nak-rpt-ivl-ms", po::value(&o.nak_rpt_ivl_ms)->default_value(o.nak_rpt_ivl_ms),
        "wait for an NCF before repeating a NAK")(
        "nak-rdata-ivl-ms", po::value(&o.nak_rdata_ivl_ms)->default_value(o.nak_rdata_ivl_ms),
        "wait for RDATA after an NCF")(
        "nak-ncf-retries", po::value(&o.nak_ncf_retries)->default_value(o.nak_ncf_retries),
        "NAK retries without NCF")(
        "nak-data-retries", po::value(&o.nak_data_retries)->default_value(o.nak_data_retries),
        "NAK retries without data")("fin-linger",
                                    po::value(&o.fin_linger)->default_value(o.fin_linger),
                                    "seconds a session lingers for repairs after OPT_FIN")(
        "no-fec", po::bool_switch(&o.no_fec),
        "ignore parity packets (FEC): repair with selective NAKs only")(
        "no-parity-naks", po::bool_switch(&o.no_parity_naks),
        "use parity packets, but NAK selectively even when the source offers on-demand parity");
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
    if (vm.count("count")) o.count = vm["count"].as<std::uint64_t>();
    check(o.timeout >= 0, "--timeout must be >= 0");
    check(o.loss >= 0 && o.loss <= 100, "--loss must be a percentage, 0..100");
    check(o.framing == "plain" || o.framing == "zmq", "--framing must be plain or zmq");
    check(o.rxw_full == "refuse" || o.rxw_full == "evict", "--rxw-full must be refuse or evict");
    check(o.rcvbuf <= 0x7FFFFFFF, "--rcvbuf must be below 2^31");
    check(o.nak_bo_ivl_ms >= 1 && o.nak_rpt_ivl_ms >= 1 && o.nak_rdata_ivl_ms >= 1,
          "NAK intervals must be at least 1 ms");
    check(o.fin_linger >= 0, "--fin-linger must be >= 0");
    check(!(o.json && o.output.empty() && !o.quiet),
          "--json prints on stdout: give --output FILE or --quiet for the messages");
    return o;
}

// ZeroMQ's PGM framing (see pgmsend.cc): per APDU a 2-byte offset of the first message that
// starts in it, then v1 frames that may span APDUs. A loss resets the stream: it is joined
// again at the next APDU where a message starts.
class ZmqDecoder {
  public:
    template <class F>
    void feed(Bytes apdu, F&& on_message) {
        if (apdu.size() < 2) return;
        const std::uint16_t offset = static_cast<std::uint16_t>((apdu[0] << 8) | apdu[1]);
        Bytes body = apdu.subspan(2);
        if (!joined_) {
            if (offset == 0xFFFF || offset > body.size()) return;
            body = body.subspan(offset);
            joined_ = true;
        }
        buf_.insert(buf_.end(), body.begin(), body.end());
        std::size_t pos = 0;
        for (;;) {
            const std::size_t avail = buf_.size() - pos;
            if (avail < 2) break;
            std::uint64_t size = buf_[pos];
            std::size_t head = 2;
            if (size == 0xFF) {
                if (avail < 10) break;
                size = 0;
                for (int i = 1; i <= 8; ++i)
                    size = (size << 8) | buf_[pos + static_cast<std::size_t>(i)];
                head = 10;
            }
            if (size == 0) {  // malformed: rejoin
                reset();
                return;
            }
            const std::uint64_t body_len = size - 1;
            if (avail - head < body_len) break;
            on_message(Bytes(buf_.data() + pos + head, static_cast<std::size_t>(body_len)));
            pos += head + static_cast<std::size_t>(body_len);
        }
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos));
    }
    void reset() {
        joined_ = false;
        buf_.clear();
    }

  private:
    bool joined_ = false;
    std::vector<std::uint8_t> buf_;
};

// "0a0b0c0d0e0f.1000", as pgmsend and pgmctl print a TSI.
std::string tsi_text(const pgm::Tsi& tsi) {
    char text[32];
    const auto& g = tsi.gsi.bytes;
    std::snprintf(text, sizeof text, "%02x%02x%02x%02x%02x%02x.%u", g[0], g[1], g[2], g[3], g[4],
                  g[5], static_cast<unsigned>(tsi.source_port));
    return text;
}

class ReceiverApp {
  public:
    ReceiverApp(const Options& o, pgm::dataplane::EventLoop& loop)
        : o_(o), loop_(loop), loss_(o.loss, o.seed) {}

    int run() {
        const auto [address, group] = pgm::cli::parse_endpoints(o_.interface, o_.group);
        if (!o_.output.empty()) {
            out_ = std::fopen(o_.output.c_str(), "wb");
            if (!out_)
                throw std::runtime_error("--output " + o_.output + ": " + std::strerror(errno));
        } else if (!o_.quiet) {
            out_ = stdout;
        }

        auto tc = pgm::cli::transport_config(address, o_.udp_port, o_.multicast_loop);
        tc.group = group;
        tc.receive_buffer = static_cast<int>(o_.rcvbuf);
        tc.send_buffer = 1 << 20;  // NAKs and SPMRs only
        transport_.emplace(loop_, tc);
        pgm::cli::warn_clamped_buffers("pgmrecv", transport_->buffer_report());

        pgm::ReceiverConfig rc;
        rc.address = address;
        rc.group = group;
        rc.ifindex = transport_->ifindex();
        rc.data_destination_port = o_.port;
        rc.nak_bo_ivl = std::chrono::milliseconds(o_.nak_bo_ivl_ms);
        rc.nak_rpt_ivl = std::chrono::milliseconds(o_.nak_rpt_ivl_ms);
        rc.nak_rdata_ivl = std::chrono::milliseconds(o_.nak_rdata_ivl_ms);
        rc.nak_ncf_retries = o_.nak_ncf_retries;
        rc.nak_data_retries = o_.nak_data_retries;
        rc.fin_linger = pgm::cli::seconds(o_.fin_linger);
        // Bounds from the configuration and the memory, not a small fixed number: the
        // window must hold what arrives while the oldest loss is being repaired (the rate
        // times a few NAK_RDATA_IVL when repairs are lost too).
        std::uint64_t bytes = o_.rxw_bytes;
        if (bytes == 0) {
            const std::uint64_t memory = pgm::cli::physical_memory();
            bytes = memory ? std::clamp<std::uint64_t>(memory / 8, 64u << 20, 1u << 30) : 64u << 20;
        }
        rc.max_window_bytes = static_cast<std::size_t>(bytes);
        rc.max_window_sqns = o_.rxw_sqns ? o_.rxw_sqns
                                         : static_cast<std::size_t>(std::clamp<std::uint64_t>(
                                               bytes / 512, 1024, 0x7FFFFFFF));
        rc.window_full =
            o_.rxw_full == "evict" ? pgm::WindowFull::EvictOldest : pgm::WindowFull::RefuseNewest;
        rc.encapsulation = tc.encapsulation;
        rc.udp_port = tc.udp_port;
        rc.seed = o_.seed;
        rc.fec = !o_.no_fec;
        rc.parity_naks = !o_.no_parity_naks;
        receiver_.emplace(rc);
        session_.emplace(loop_, *transport_, *receiver_);
        if (loss_.active())
            session_->set_rx_filter([this](const pgm::Arrival&, Bytes pgm) { return loss_(pgm); });
        session_->set_after([this](Time) { drain(); });
        loop_.add_signal(SIGINT, [this] { loop_.stop(); });
        loop_.add_signal(SIGTERM, [this] { loop_.stop(); });
        start_ = Clock::now();
        if (o_.timeout > 0)
            loop_.add_timer(start_ + pgm::cli::seconds(o_.timeout), [this] {
                timed_out_ = true;
                loop_.stop();
            });
        if (!o_.ready_file.empty()) {
            const int fd =
                ::open(o_.ready_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0)
                throw std::runtime_error("--ready-file: " + std::string(std::strerror(errno)));
            ::close(fd);
        }
        if (o_.count && *o_.count == 0) loop_.stop();
        loop_.run();
        return finish();
    }

  private:
    void drain() {
        auto& events = receiver_->events();
        for (auto& ev : events) {
            if (auto* d = std::get_if<pgm::DataEvent>(&ev)) {
                receiving(d->tsi);
                if (o_.framing == "zmq")
                    zmq_.feed(d->apdu, [this](Bytes m) { message(m); });
                else
                    message(d->apdu);
            } else if (auto* l = std::get_if<pgm::LossEvent>(&ev)) {
                receiving(l->tsi);
                losses_ += l->count;
                zmq_.reset();
                if (!o_.quiet || o_.json)
                    std::fprintf(stderr, "pgmrecv: %u sequence numbers lost from %u (%s)\n",
                                 l->count, l->first_sqn.value(), pgm::to_string(l->reason));
            } else if (auto* e = std::get_if<pgm::SessionEndEvent>(&ev)) {
                // Only the end of a session this receiver got data from ends the run: another
                // source on the same group:port may come and go (its FIN is not ours).
                const auto it = std::find(sessions_.begin(), sessions_.end(), e->tsi);
                const bool ours = it != sessions_.end();
                if (!o_.quiet)
                    std::fprintf(stderr, "pgmrecv: session %s ended (%s)%s\n",
                                 tsi_text(e->tsi).c_str(), pgm::to_string(e->reason),
                                 ours ? "" : ", no data from it here: still receiving");
                if (!ours) continue;
                sessions_.erase(it);
                if (!sessions_.empty()) continue;
                // The session is over: whatever is missing now never comes (--count short).
                session_ended_ = true;
                loop_.stop();
            }
        }
        events.clear();
        if (out_) std::fflush(out_);
    }

    void receiving(const pgm::Tsi& tsi) {
        if (std::find(sessions_.begin(), sessions_.end(), tsi) == sessions_.end())
            sessions_.push_back(tsi);
    }

    void message(Bytes m) {
        const Time now = Clock::now();
        if (delivered_ == 0) first_at_ = now;
        last_at_ = now;
        ++delivered_;
        bytes_ += m.size();
        if (o_.verify) verify(m);
        if (out_) {
            if (o_.binary) {
                const std::uint8_t len[4] = {static_cast<std::uint8_t>(m.size() >> 24),
                                             static_cast<std::uint8_t>(m.size() >> 16),
                                             static_cast<std::uint8_t>(m.size() >> 8),
                                             static_cast<std::uint8_t>(m.size())};
                std::fwrite(len, 1, 4, out_);
                std::fwrite(m.data(), 1, m.size(), out_);
            } else {
                std::fwrite(m.data(), 1, m.size(), out_);
                std::fputc('\n', out_);
            }
        }
        if (o_.count && delivered_ >= *o_.count) loop_.stop();
    }

    void verify(Bytes m) {
        std::uint32_t seq = 0;
        if (const char* why = pgm::cli::check_pgmt(m, seq)) {
            if (++bad_ <= 10) std::fprintf(stderr, "pgmrecv: bad message: %s\n", why);
            return;
        }
        if (first_seq_ < 0) first_seq_ = seq;
        // The last message of the run (its count field): everything before it was delivered
        // or reported lost, in order, so nothing more is coming; stop rather than wait.
        if (m.size() >= 12) {
            const std::uint32_t total = (std::uint32_t{m[8]} << 24) | (std::uint32_t{m[9]} << 16) |
                                        (std::uint32_t{m[10]} << 8) | m[11];
            if (total != 0 && seq + 1 == total) loop_.stop();
        }
        if (static_cast<std::int64_t>(seq) != next_seq_) {
            if (in_order_)
                std::fprintf(stderr, "pgmrecv: out of order: got %u, expected %lld\n", seq,
                             static_cast<long long>(next_seq_));
            in_order_ = false;
        }
        next_seq_ = static_cast<std::int64_t>(seq) + 1;
    }

    int finish() {
        if (out_ && out_ != stdout) std::fclose(out_);
        const auto& s = receiver_->stats();
        const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
        const double span =
            delivered_ > 1 ? std::chrono::duration<double>(last_at_ - first_at_).count() : 0.0;
        const bool short_count = o_.count && delivered_ < *o_.count;
        const bool verify_failed = o_.verify && (bad_ > 0 || !in_order_ || first_seq_ > 0);
        if (o_.json) {
            nlohmann::json j = {
                {"delivered", delivered_},
                {"bytes", bytes_},
                {"unrecoverable_losses", s.unrecoverable},
                {"naks_sent", s.naks_sent},
                {"nak_sqns_sent", s.nak_sqns_sent},
                {"duplicates", s.duplicates},
                {"odata", s.odata},
                {"rdata", s.rdata},
                {"ncfs_received", s.ncfs_received},
                {"window_refused", s.window_refused},
                {"parity_packets", s.parity_packets},
                {"parity_ignored", s.parity_ignored},
                {"parity_recovered", s.parity_recovered},
                {"parity_failed", s.parity_failed},
                {"parity_naks_sent", s.parity_naks_sent},
                {"rxw_sqns", receiver_->config().max_window_sqns},
                {"rxw_bytes", receiver_->config().max_window_bytes},
                {"buffered_bytes_peak", s.buffered_bytes_peak},
                {"buffered_sqns_peak", s.buffered_sqns_peak},
                {"rcvbuf", transport_->buffer_report().receive_actual / 2},
                {"rx_queue_delay_max_ms", transport_->stats().queue_delay_max_ns / 1e6},
                {"rx_queue_delay_mean_ms", pgm::cli::mean_queue_delay_ms(transport_->stats())},
                {"session_ended", session_ended_},
                {"odata_dropped", loss_.dropped()},
                {"throughput_bps", span > 0 ? static_cast<double>(bytes_) * 8 / span : 0.0},
                {"messages_per_sec", span > 0 ? static_cast<double>(delivered_ - 1) / span : 0.0},
                {"elapsed", elapsed},
                {"data_elapsed", span},
                {"timed_out", timed_out_},
                {"expected", o_.count ? nlohmann::json(*o_.count) : nlohmann::json(nullptr)},
            };
            if (o_.verify) {
                j["in_order"] = in_order_;
                j["bad"] = bad_;
                j["first_seq"] = first_seq_;
                j["last_seq"] = next_seq_ - 1;
            }
            std::cout << j.dump() << std::endl;
        }
        if (s.unrecoverable > 0)
            std::fprintf(stderr, "pgmrecv: %llu sequence numbers were unrecoverable\n",
                         static_cast<unsigned long long>(s.unrecoverable));
        if (short_count)
            std::fprintf(stderr, "pgmrecv: %llu of %llu messages%s\n",
                         static_cast<unsigned long long>(delivered_),
                         static_cast<unsigned long long>(*o_.count),
                         timed_out_ ? " before the timeout" : "");
        if (o_.verify && first_seq_ > 0)
            std::fprintf(stderr, "pgmrecv: the first message had sequence %lld, not 0\n",
                         static_cast<long long>(first_seq_));
        return (s.unrecoverable > 0 || losses_ > 0 || short_count || verify_failed) ? 1 : 0;
    }

    const Options& o_;
    pgm::dataplane::EventLoop& loop_;
    pgm::cli::OdataLoss loss_;
    std::optional<pgm::dataplane::HostTransport> transport_;
    std::optional<pgm::Receiver> receiver_;
    std::optional<pgm::dataplane::HostSession<pgm::Receiver>> session_;
    std::FILE* out_ = nullptr;
    ZmqDecoder zmq_;
    Time start_{}, first_at_{}, last_at_{};
    std::uint64_t delivered_ = 0, bytes_ = 0, bad_ = 0, losses_ = 0;
    std::int64_t first_seq_ = -1, next_seq_ = 0;
    bool in_order_ = true, timed_out_ = false, session_ended_ = false;
    // The sessions data (or losses) came from and that have not ended yet.
    std::vector<pgm::Tsi> sessions_;
};

}  // namespace

int main(int argc, char** argv) {
    std::optional<Options> options;
    return pgm::cli::tool_main(
        "pgmrecv",
        [&] {
            options = parse(argc, argv);
            return options.has_value();
        },
        [&] {
            pgm::dataplane::EventLoop loop;
            ReceiverApp app(*options, loop);
            return app.run();
        });
}
