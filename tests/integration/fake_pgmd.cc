// DOC: fake_pgmd, a stand-in daemon for pgmctl's integration test: a real router::Router
// fed with a few synthetic packets, served over a real ControlServer with the real request
// dispatcher, but no capture, no sockets to the network and a frozen clock, so that every
// value pgmctl shows is known in advance (tests/integration/pgmctl_test.py lists them).
//
// State at start: ifindex 1 "up0" towards the sources, 2 "down1" and 3 "down2" with
// receivers. Session 0a0b0c0d0e0f.1000 (10.0.0.1 -> 239.1.2.3, native) with a pending NAK
// for sqn 42 from down1 and an anticipated repair for sqn 50; session 112233445566.2000
// (10.0.0.7 -> 239.1.2.4, UDP-encapsulated on port 3055, its source has sent FIN) with a null-NAK
// state for sqn 7 from down2; one packet with a bad checksum on down2; 591 packets lost by down1's
// capture (CaptureDrops; `clear counters` zeroes them). `show status`, `show groups` and
// `show running-config` answer fixed data; the configuration names a fourth interface,
// gone0, that is absent; `set log-level` keeps the level for `show status`. The clock stands 1.05 s
// after the first SPM and 50 ms after the NAKs.
//
// Life cycle: `fake_pgmd --socket PATH [--mode OCTAL] [--group GID] [--odata-every-ms N]`
// (N: an ODATA of the first session arrives on up0 every N ms, so counters move) sets up, prints
// "ready" on stdout, and serves until SIGINT or SIGTERM; then the socket is removed.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "control/router_json.h"
#include "control/server.h"
#include "dataplane/event_loop.h"
#include "protocol/spec.h"
#include "router/router.h"

namespace {

using namespace std::chrono_literals;
using namespace pgm;

const Nla kUpstreamAddress = *Nla::parse("10.0.0.2");
const Nla kDown1Address = *Nla::parse("10.1.0.1");
const Nla kDown2Address = *Nla::parse("10.2.0.1");

class FakeEnvironment : public router::Environment {
  public:
    std::optional<Nla> interface_address(IfIndex ifindex, Nla::Family) const override {
        switch (ifindex) {
            case 1:
                return kUpstreamAddress;
            case 2:
                return kDown1Address;
            case 3:
                return kDown2Address;
        }
        return std::nullopt;
    }
    std::optional<IfIndex> route_interface(const Nla& address) const override {
        switch (address.ipv4_host_order() >> 8) {
            case 0x0a0000:
                return 1;
            case 0x0a0100:
                return 2;
            case 0x0a0200:
                return 3;
        }
        return std::nullopt;
    }
    void group_members(const Nla&, const Nla&, std::vector<IfIndex>& out) const override {
        out = {1, 2, 3};
    }
};

struct FakeSession {
    Gsi gsi;
    std::uint16_t source_port;
    std::uint16_t destination_port;
    Nla source;
    Nla group;
    Encapsulation encapsulation = Encapsulation::Native;

    PacketSpec downstream(PacketType type, Fields fields) const {
        PacketSpec s;
        s.type = type;
        s.source_port = source_port;
        s.destination_port = destination_port;
        s.gsi = gsi;
        s.fields = fields;
        return s;
    }
    PacketSpec spm(std::uint32_t sqn, bool fin = false) const {
        PacketSpec s =
            downstream(PacketType::Spm, SpmFields{Sqn(sqn), Sqn(1), Sqn(100), source, 0});
        if (fin) s.options.push_back(OptFin{});
        return s;
    }
    PacketSpec upstream(PacketType type, std::uint32_t sqn) const {
        PacketSpec s = downstream(type, NakFields{Sqn(sqn), source, group});
        std::swap(s.source_port, s.destination_port);
        return s;
    }
    PacketSpec odata(std::uint32_t sqn) const {
        PacketSpec s = downstream(PacketType::Odata, DataFields{Sqn(sqn), Sqn(1)});
        s.payload = {1, 2, 3};
        return s;
    }
    PacketSpec ncf(std::uint32_t sqn) const {
        return downstream(PacketType::Ncf, NakFields{Sqn(sqn), source, group});
    }
};

class Feeder {
  public:
    explicit Feeder(router::Router& r) : router_(r) {}
    void operator()(IfIndex ifindex, const FakeSession& session, const Nla& ip_source,
                    const Nla& ip_destination, const PacketSpec& spec, Time now,
                    bool corrupt = false) {
        auto bytes = build(spec);
        if (!bytes) {
            std::cerr << "fake_pgmd: cannot build a packet\n";
            std::exit(1);
        }
        if (corrupt) (*bytes)[6] ^= 0xFF;  // the checksum
        Arrival a;
        a.ifindex = ifindex;
        a.ip.source = ip_source;
        a.ip.destination = ip_destination;
        a.ip.ttl = 16;
        a.ip.router_alert = true;
        a.ip.encapsulation = session.encapsulation;
        a.ip.udp_destination_port =
            session.encapsulation == Encapsulation::Udp ? kDefaultUdpEncapsulationPort : 0;
        router_.on_packet(a, Bytes(bytes->data(), bytes->size()), now, out_);
        out_.clear();
    }

  private:
    router::Router& router_;
    Output out_;
};

}  // namespace

int main(int argc, char** argv) {
    std::string socket_path;
    mode_t mode = 0660;
    std::optional<gid_t> group;
    Duration odata_every = Duration::zero();
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string key = argv[i];
        if (key == "--socket")
            socket_path = argv[i + 1];
        else if (key == "--mode")
            mode = static_cast<mode_t>(std::strtoul(argv[i + 1], nullptr, 8));
        else if (key == "--group")
            group = static_cast<gid_t>(std::strtoul(argv[i + 1], nullptr, 10));
        else if (key == "--odata-every-ms")
            odata_every = std::chrono::milliseconds(std::strtoul(argv[i + 1], nullptr, 10));
        else
            socket_path.clear();
    }
    if (socket_path.empty() || argc % 2 == 0) {
        std::cerr << "usage: fake_pgmd --socket PATH [--mode OCTAL] [--group GID] "
                     "[--odata-every-ms N]\n";
        return 2;
    }

    // Every timer set, so that the times pgmctl_test.py expects do not follow the defaults.
    router::RouterConfig config;
    config.nak_repeat_period = 100ms;
    config.nak_rpt_ivl = 1s;
    config.nak_rdata_ivl = 10s;
    config.nak_elim_ivl = 5s;
    config.session_lifetime = 300s;
    config.rdata_hold = 5s;
    FakeEnvironment environment;
    router::Router router(config, environment);
    Feeder feed(router);
    const Time t0 = Clock::now();
    const FakeSession a{{{0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}},
                        1000,
                        7500,
                        *Nla::parse("10.0.0.1"),
                        *Nla::parse("239.1.2.3")};
    const FakeSession b{{{0x11, 0x22, 0x33, 0x44, 0x55, 0x66}},
                        2000,
                        7600,
                        *Nla::parse("10.0.0.7"),
                        *Nla::parse("239.1.2.4"),
                        Encapsulation::Udp};
    feed(1, a, a.source, a.group, a.spm(5), t0);
    feed(1, b, b.source, b.group, b.spm(9, /*fin=*/true), t0);
    feed(2, a, *Nla::parse("10.1.0.5"), kDown1Address, a.upstream(PacketType::Nak, 42), t0 + 1s);
    feed(1, a, a.source, a.group, a.ncf(50), t0 + 1s);
    feed(3, b, *Nla::parse("10.2.0.9"), kDown2Address, b.upstream(PacketType::Nnak, 7), t0 + 1s);
    feed(3, b, *Nla::parse("10.2.0.9"), b.group, b.spm(10), t0 + 1s, /*corrupt=*/true);
    const Time frozen = t0 + 1050ms;

    const std::map<IfIndex, std::string> names{{1, "up0"}, {2, "down1"}, {3, "down2"}};
    int reloads = 0;
    std::string log_level = "notice";
    std::map<IfIndex, control::CaptureDrops> capture_drops{{2, {591, 0}}};
    control::RouterView view{
        router,
        [&](IfIndex i) {
            auto it = names.find(i);
            return it == names.end() ? std::string() : it->second;
        },
        [&] { return frozen; },
        [&] {
            return control::ReloadResult{true, "fake reload " + std::to_string(++reloads)};
        },
        {},
        [&] { return capture_drops; },
        [&] { capture_drops[2] = {}; },
        // A fast path with one kernel and one user-space interface (pgmctl_test.py).
        [&] {
            return control::Json{{"mode", "kernel"},
                                 {"configured", "auto"},
                                 {"program_id", 42},
                                 {"maps", {{"fp_sessions", 7}, {"fp_if_stats", 9}}},
                                 {"sessions_in_kernel", 1},
                                 {"sessions_in_user_space", 0},
                                 {"user_space_reasons", control::Json::object()},
                                 {"heartbeat_ms", 250},
                                 {"fail_open_after_ms", 1000},
                                 {"on_exit", "remove"},
                                 {"interfaces",
                                  {{{"ifindex", 2},
                                    {"name", "up0"},
                                    {"mode", "kernel"},
                                    {"forwarded_packets", 1234},
                                    {"forwarded_bytes", 1234000},
                                    {"out_packets", 0},
                                    {"out_bytes", 0},
                                    {"punted_packets", 5},
                                    {"punt_lost_packets", 0},
                                    {"drop_ttl", 1},
                                    {"drop_redirect_error", 0},
                                    {"failopen_packets", 0},
                                    {"passed_packets", 77}},
                                   {{"ifindex", 9},
                                    {"name", "tun0"},
                                    {"mode", "user space"},
                                    {"reason", "not an Ethernet interface"},
                                    {"forwarded_packets", 0},
                                    {"forwarded_bytes", 0},
                                    {"out_packets", 0},
                                    {"out_bytes", 0},
                                    {"punted_packets", 0},
                                    {"punt_lost_packets", 0},
                                    {"drop_ttl", 0},
                                    {"drop_redirect_error", 0},
                                    {"failopen_packets", 0},
                                    {"passed_packets", 0}}}}};
        },
        // show status: the daemon's part (pgmctl_test.py).
        [&] {
            return control::Json{{"version", "0.0-fake"},
                                 {"pid", 4242},
                                 {"started", "2026-01-02T03:04:05Z"},
                                 {"uptime_s", 3725.0},
                                 {"config_file", "/etc/fake.conf"},
                                 {"last_reload", nullptr},
                                 {"log_level", log_level},
                                 {"configured_log_level", "notice"},
                                 {"fast_path", "kernel"},
                                 {"fast_path_configured", "auto"},
                                 {"interfaces_configured", 4},
                                 {"interfaces_served", 3},
                                 {"groups", 2},
                                 {"control_socket", socket_path}};
        },
        // show groups: a static and an IGMP member on down1, pgmd the querier there; up0
        // joined towards the sources, another router its querier.
        [&] {
            using control::Json;
            return Json{
                {"interfaces",
                 {{{"name", "up0"},
                   {"ifindex", 1},
                   {"state", "served"},
                   {"address", "10.0.0.2"},
                   {"igmp_querier",
                    {{"enabled", true}, {"role", "non-querier"}, {"address", "10.0.0.1"}}},
                   {"groups", Json::array()},
                   {"joined", {"239.1.2.3"}}},
                  {{"name", "down1"},
                   {"ifindex", 2},
                   {"state", "served"},
                   {"address", "10.1.0.1"},
                   {"igmp_querier",
                    {{"enabled", true}, {"role", "querier"}, {"address", "10.1.0.1"}}},
                   {"groups",
                    {{{"group", "239.1.2.3"}, {"source", "static"}, {"expires_in_s", nullptr}},
                     {{"group", "239.1.2.4"}, {"source", "igmp"}, {"expires_in_s", 250.5}}}},
                   {"joined", Json::array()}}}}};
        },
        // Three interfaces served, one configured but absent.
        [&] {
            return std::vector<control::RouterView::ConfiguredInterface>{
                {"up0", 1, "served"},
                {"down1", 2, "served"},
                {"down2", 3, "served"},
                {"gone0", std::nullopt, "absent"}};
        },
        [&](IfIndex i) { capture_drops[i] = {}; },
        [&](const std::string& level) {
            static const char* const kLevels[] = {"none",   "err",  "warning",
                                                  "notice", "info", "debug"};
            if (level == "default") {
                log_level = "notice";
            } else if (std::find(std::begin(kLevels), std::end(kLevels), level) ==
                       std::end(kLevels)) {
                throw std::invalid_argument("log-level: '" + level + "' is not a level");
            } else {
                log_level = level;
            }
            return control::Json{{"log_level", log_level}, {"configured_log_level", "notice"}};
        },
        [&](const Nla& source, const Nla& g) {
            std::vector<IfIndex> out;
            environment.group_members(source, g, out);
            return out;
        },
        [&] {
            return control::Json{{"file", "/etc/fake.conf"},
                                 {"loaded_at", "2026-01-01T00:00:00Z"},
                                 {"overrides", control::Json::array()},
                                 {"text",
                                  "# pgmd running configuration: /etc/fake.conf as loaded at "
                                  "2026-01-01T00:00:00Z\nlog-level = notice\n\n[interface up0]\n"}};
        },
    };

    try {
        dataplane::EventLoop loop;
        loop.add_signal(SIGINT, [&] { loop.stop(); });
        loop.add_signal(SIGTERM, [&] { loop.stop(); });
        control::ControlServer server(
            loop, socket_path, mode, group,
            [&](const nlohmann::json& request, const control::PeerCredentials& peer) {
                return control::handle_request(request, view, peer);
            });
        // --odata-every-ms: session a's ODATA keeps arriving on up0, so that counters move
        // (pgmctl's rates in watch mode).
        std::uint32_t odata_sqn = 100;
        std::function<void()> tick = [&] {
            feed(1, a, a.source, a.group, a.odata(++odata_sqn), frozen);
            loop.add_timer(dataplane::EventLoop::now() + odata_every, tick);
        };
        if (odata_every > Duration::zero())
            loop.add_timer(dataplane::EventLoop::now() + odata_every, tick);
        std::cout << "ready" << std::endl;
        loop.run();
    } catch (const std::exception& e) {
        std::cerr << "fake_pgmd: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
