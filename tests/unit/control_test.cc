// Tests of the control plane: the AF_UNIX control server on real sockets in a temporary
// directory, the JSON of a real router::Router fed with real packets, and the request
// dispatcher. No sleeps: every wait pumps the event loop until the awaited reply, end of
// stream or child exit, bounded by a deadline.
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include "control/client.h"
#include "control/router_json.h"
#include "control/server.h"
#include "protocol/spec.h"

namespace pgm::control {
namespace {

using namespace std::chrono_literals;
using dataplane::EventLoop;

// --- Sockets ----------------------------------------------------------------------------------

class TempDir {
  public:
    TempDir() {
        char pattern[] = "/tmp/pgmd_control_test.XXXXXX";
        if (!mkdtemp(pattern)) throw std::system_error(errno, std::generic_category(), "mkdtemp");
        path_ = pattern;
        chmod(path_.c_str(), 0755);  // so an unprivileged child can reach the socket
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

int connect_to(const std::string& path) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// A client driven from the test thread; the server runs on `loop` in the same thread, so
// every wait pumps the loop until the client's socket has what it waits for.
class TestClient {
  public:
    TestClient(EventLoop& loop, const std::string& path) : loop_(loop), fd_(connect_to(path)) {}
    ~TestClient() {
        if (fd_ >= 0) close(fd_);
    }
    bool connected() const { return fd_ >= 0; }

    void send_text(const std::string& text) {
        ASSERT_EQ(send(fd_, text.data(), text.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(text.size()));
    }
    void shutdown_write() { ASSERT_EQ(shutdown(fd_, SHUT_WR), 0); }
    // The next reply line; nullopt at end of stream (or, with a test failure, on timeout).
    std::optional<std::string> line() {
        const Time deadline = EventLoop::now() + 2s;
        for (;;) {
            if (auto newline = buffer_.find('\n'); newline != std::string::npos) {
                std::string l = buffer_.substr(0, newline);
                buffer_.erase(0, newline + 1);
                return l;
            }
            if (eof_) return std::nullopt;
            if (EventLoop::now() > deadline) {
                ADD_FAILURE() << "no reply within 2 s";
                return std::nullopt;
            }
            loop_.run_once(10ms);
            pollfd p{fd_, POLLIN, 0};
            if (poll(&p, 1, 0) <= 0) continue;
            char chunk[65536];
            const ssize_t n = recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
            if (n > 0) buffer_.append(chunk, static_cast<std::size_t>(n));
            if (n == 0 || (n < 0 && errno != EAGAIN)) eof_ = true;
        }
    }
    Json request(const Json& request) {
        send_text(request.dump() + "\n");
        auto l = line();
        return l ? Json::parse(*l) : Json();
    }

  private:
    EventLoop& loop_;
    int fd_;
    std::string buffer_;
    bool eof_ = false;
};

Json echo(const Json& request, const PeerCredentials& peer) {
    return Json{{"ok", true},
                {"data",
                 {{"request", request},
                  {"pid", peer.pid},
                  {"uid", peer.uid},
                  {"may_change_state", peer.may_change_state}}}};
}

TEST(ControlServer, AnswersEachLineInOrderWithThePeerCredentials) {
    TempDir dir;
    EventLoop loop;
    ControlServer server(loop, dir.file("pgmd.sock"), 0660, std::nullopt, echo);
    TestClient client(loop, server.path());
    ASSERT_TRUE(client.connected());
    client.send_text("{\"n\":1}\n{\"n\":2}\r\n\n");  // two requests in one write, CRLF, blank
    const Json first = Json::parse(*client.line());
    const Json second = Json::parse(*client.line());
    EXPECT_EQ(first["data"]["request"], (Json{{"n", 1}}));
    EXPECT_EQ(second["data"]["request"], (Json{{"n", 2}}));
    EXPECT_EQ(first["data"]["pid"], getpid());
    EXPECT_EQ(first["data"]["uid"], getuid());
    EXPECT_EQ(first["data"]["may_change_state"], true);  // the daemon's own user
}

TEST(ControlServer, ServesSeveralClientsAtOnce) {
    TempDir dir;
    EventLoop loop;
    ControlServer server(loop, dir.file("pgmd.sock"), 0660, std::nullopt, echo);
    TestClient a(loop, server.path());
    TestClient b(loop, server.path());
    a.send_text("{\"from\":");  // half a request: must not hold up b
    EXPECT_EQ(b.request(Json{{"from", "b"}})["data"]["request"]["from"], "b");
    a.send_text("\"a\"}\n");
    EXPECT_EQ(Json::parse(*a.line())["data"]["request"]["from"], "a");
    EXPECT_EQ(server.client_count(), 2u);
}

TEST(ControlServer, GarbageGetsAnErrorReplyAndTheConnectionStaysUsable) {
    TempDir dir;
    EventLoop loop;
    ControlServer server(loop, dir.file("pgmd.sock"), 0660, std::nullopt, echo);
    TestClient client(loop, server.path());
    client.send_text("hello\n");
    const Json garbage = Json::parse(*client.line());
    EXPECT_EQ(garbage["ok"], false);
    EXPECT_NE(garbage["error"].get<std::string>().find("not valid JSON"), std::string::npos);
    client.send_text("[1,2]\n");
    const Json array = Json::parse(*client.line());
    EXPECT_EQ(array, (Json{{"ok", false}, {"error", "request must be a JSON object"}}));
    EXPECT_EQ(client.request(Json{{"n", 3}})["ok"], true);
}

TEST(ControlServer, OversizedRequestIsAnsweredAndTheConnectionClosed) {
    TempDir dir;
    EventLoop loop;
    ControlServer::Limits limits;
    limits.max_request_bytes = 1024;
    ControlServer server(loop, dir.file("pgmd.sock"), 0660, std::nullopt, echo, limits);
    TestClient client(loop, server.path());
    client.send_text(std::string(5000, 'x'));  // no newline: never a complete line
    const Json reply = Json::parse(*client.line());
    EXPECT_EQ(reply, (Json{{"ok", false}, {"error", "request longer than 1024 bytes"}}));
    EXPECT_EQ(client.line(), std::nullopt);  // then end of stream
    EXPECT_EQ(server.client_count(), 0u);
}

TEST(ControlServer, UnterminatedLastLineIsStillAnswered) {
    TempDir dir;
    EventLoop loop;
    ControlServer server(loop, dir.file("pgmd.sock"), 0660, std::nullopt, echo);
    TestClient client(loop, server.path());
    client.send_text("{\"n\":5}");
    client.shutdown_write();  // as `printf ... | socat - UNIX-CONNECT:...` does
    EXPECT_EQ(Json::parse(*client.line())["data"]["request"]["n"], 5);
    EXPECT_EQ(client.line(), std::nullopt);
}

TEST(ControlServer, HandlerExceptionBecomesAnInternalError) {
    TempDir dir;
    EventLoop loop;
    ControlServer server(
        loop, dir.file("pgmd.sock"), 0660, std::nullopt,
        [](const Json&, const PeerCredentials&) -> Json { throw std::runtime_error("boom"); });
    TestClient client(loop, server.path());
    EXPECT_EQ(client.request(Json::object()),
              (Json{{"ok", false}, {"error", "internal error: boom"}}));
}

TEST(ControlServer, IdleClientsAreClosed) {
    TempDir dir;
    EventLoop loop;
    ControlServer::Limits limits;
    limits.idle_timeout = 50ms;
    ControlServer server(loop, dir.file("pgmd.sock"), 0660, std::nullopt, echo, limits);
    TestClient client(loop, server.path());
    EXPECT_EQ(client.line(), std::nullopt);  // end of stream, from the idle timer
    EXPECT_EQ(server.client_count(), 0u);
}

TEST(ControlServer, ClientsOverTheLimitAreTurnedAway) {
    TempDir dir;
    EventLoop loop;
    ControlServer::Limits limits;
    limits.max_clients = 1;
    ControlServer server(loop, dir.file("pgmd.sock"), 0660, std::nullopt, echo, limits);
    TestClient first(loop, server.path());
    EXPECT_EQ(first.request(Json{{"n", 1}})["ok"], true);
    TestClient second(loop, server.path());
    EXPECT_EQ(Json::parse(*second.line()),
              (Json{{"ok", false}, {"error", "too many control clients"}}));
    EXPECT_EQ(second.line(), std::nullopt);
    EXPECT_EQ(first.request(Json{{"n", 2}})["ok"], true);
}

TEST(ControlServer, SocketGetsTheModeAndGroupAndIsRemovedAfterwards) {
    TempDir dir;
    EventLoop loop;
    const std::string path = dir.file("pgmd.sock");
    // A group we may give the file to: any when root, else our own.
    const gid_t group = geteuid() == 0 ? 65534 : getegid();
    {
        ControlServer server(loop, path, 0640, group, echo);
        struct stat st {};
        ASSERT_EQ(stat(path.c_str(), &st), 0);
        EXPECT_TRUE(S_ISSOCK(st.st_mode));
        EXPECT_EQ(st.st_mode & 07777, 0640u);
        EXPECT_EQ(st.st_gid, group);
        EXPECT_EQ(server.socket_group(), group);
    }
    EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(ControlServer, RefusesToStartWhereALiveServerAnswers) {
    TempDir dir;
    EventLoop loop;
    const std::string path = dir.file("pgmd.sock");
    ControlServer first(loop, path, 0660, std::nullopt, echo);
    try {
        ControlServer second(loop, path, 0660, std::nullopt, echo);
        FAIL() << "second server started";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code().value(), EADDRINUSE);
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    }
    TestClient client(loop, path);  // the first one is untouched
    EXPECT_EQ(client.request(Json{{"n", 1}})["ok"], true);
}

TEST(ControlServer, ReplacesAStaleSocket) {
    TempDir dir;
    EventLoop loop;
    const std::string path = dir.file("pgmd.sock");
    {  // A daemon that died without unlinking its socket.
        const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path.copy(addr.sun_path, sizeof addr.sun_path - 1);
        ASSERT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
        close(fd);
    }
    ControlServer server(loop, path, 0660, std::nullopt, echo);
    TestClient client(loop, path);
    EXPECT_EQ(client.request(Json{{"n", 1}})["ok"], true);
}

TEST(ControlServer, RefusesAPathThatIsNotASocketAndLeavesItAlone) {
    TempDir dir;
    EventLoop loop;
    const std::string path = dir.file("pgmd.sock");
    std::ofstream(path) << "precious";
    EXPECT_THROW(ControlServer(loop, path, 0660, std::nullopt, echo), std::system_error);
    std::ifstream in(path);
    std::string content;
    in >> content;
    EXPECT_EQ(content, "precious");
}

TEST(ControlServer, DestructorLeavesAPathThatIsNoLongerItsSocket) {
    TempDir dir;
    EventLoop loop;
    const std::string path = dir.file("pgmd.sock");
    {
        ControlServer server(loop, path, 0660, std::nullopt, echo);
        std::filesystem::remove(path);
        std::ofstream(path) << "someone else's";
    }
    EXPECT_TRUE(std::filesystem::exists(path));
}

// A ControlServer on its own loop in a thread, for a client that blocks (control::exchange).
class ServerThread {
  public:
    ServerThread(const std::string& path, ControlServer::Handler handler)
        : server_(loop_, path, 0660, std::nullopt, std::move(handler)), thread_([this] {
              while (!stop_)
                  loop_.run_once(10ms);
          }) {}
    ~ServerThread() {
        stop_ = true;
        thread_.join();
    }
    const std::string& path() const { return server_.path(); }

  private:
    EventLoop loop_;
    ControlServer server_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

TEST(ControlClient, ExchangesOneRequestForItsReply) {
    TempDir dir;
    ServerThread server(dir.file("pgmd.sock"), echo);
    const ClientReply r = exchange(server.path(), Json{{"n", 1}}, 2s);
    ASSERT_EQ(r.status, ClientStatus::Ok) << r.problem;
    EXPECT_EQ(r.reply["data"]["request"], (Json{{"n", 1}}));
    EXPECT_EQ(r.reply["data"]["pid"], getpid());
}

TEST(ControlClient, ARefusalAndAReplyThatIsNoControlReplyAreTold) {
    TempDir dir;
    ServerThread refuses(dir.file("refuses.sock"), [](const Json&, const PeerCredentials&) {
        return Json{{"ok", false}, {"error", "no such session"}};
    });
    ClientReply r = exchange(refuses.path(), Json{{"n", 1}}, 2s);
    EXPECT_EQ(r.status, ClientStatus::DaemonError);
    EXPECT_EQ(r.problem, "no such session");
    EXPECT_EQ(r.reply["ok"], false);
    ServerThread odd(dir.file("odd.sock"), [](const Json&, const PeerCredentials&) {
        return Json{{"hello", 1}};
    });
    r = exchange(odd.path(), Json{{"n", 1}}, 2s);
    EXPECT_EQ(r.status, ClientStatus::NoAnswer);
    EXPECT_EQ(r.problem, "pgmd sent a reply that is not a control reply");
}

TEST(ControlClient, NoDaemonBadPathsAndSilenceAreTold) {
    TempDir dir;
    ClientReply r = exchange(dir.file("none.sock"), Json::object(), 2s);
    EXPECT_EQ(r.status, ClientStatus::NotRunning);
    EXPECT_EQ(r.problem,
              "pgmd is not running (no control socket at " + dir.file("none.sock") + ")");
    // A socket file nobody listens on (a daemon that died without removing it).
    const int stale = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    dir.file("stale.sock").copy(addr.sun_path, sizeof addr.sun_path - 1);
    ASSERT_EQ(bind(stale, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    close(stale);
    r = exchange(dir.file("stale.sock"), Json::object(), 2s);
    EXPECT_EQ(r.status, ClientStatus::NotRunning);
    EXPECT_NE(r.problem.find("refuses connections"), std::string::npos) << r.problem;
    r = exchange("/" + std::string(200, 'x'), Json::object(), 2s);
    EXPECT_EQ(r.status, ClientStatus::BadPath);
    r = exchange("", Json::object(), 2s);
    EXPECT_EQ(r.status, ClientStatus::BadPath);
    // Listening but never answering (a stuck daemon): the deadline ends the wait.
    const int silent = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    dir.file("silent.sock").copy(addr.sun_path, sizeof addr.sun_path - 1);
    ASSERT_EQ(bind(silent, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(silent, 4), 0);
    r = exchange(dir.file("silent.sock"), Json::object(), 100ms);
    close(silent);
    EXPECT_EQ(r.status, ClientStatus::NoAnswer);
    EXPECT_EQ(r.problem, "no reply from pgmd within 0.1 s");
}

TEST(ControlServer, MayChangeStateIsRootTheDaemonUserOrTheSocketGroup) {
    const uid_t daemon = 1000;
    const gid_t socket_group = 50;
    EXPECT_TRUE(control::may_change_state(0, {0}, daemon, socket_group));
    EXPECT_TRUE(control::may_change_state(daemon, {1000}, daemon, socket_group));
    EXPECT_TRUE(control::may_change_state(2000, {2000, 50}, daemon, socket_group));
    EXPECT_FALSE(control::may_change_state(2000, {2000, 51}, daemon, socket_group));
}

// --- Router state as JSON -----------------------------------------------------------------------

const Nla kSource = *Nla::parse("10.0.0.1");
const Nla kGroup = *Nla::parse("239.1.2.3");
const Nla kReceiver = *Nla::parse("10.1.0.5");
const Nla kDown1Address = *Nla::parse("10.1.0.1");
constexpr std::uint16_t kSourcePort = 1000;
constexpr std::uint16_t kDestinationPort = 7500;
const Gsi kGsi{{0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}};
const std::string kTsiText = "0a0b0c0d0e0f.1000";

// up0 (ifindex 1) towards the source, down1 (2) and down2 (3) with receivers.
class TestEnvironment : public router::Environment {
  public:
    std::optional<Nla> interface_address(IfIndex ifindex, Nla::Family) const override {
        switch (ifindex) {
            case 1:
                return Nla::parse("10.0.0.2");
            case 2:
                return kDown1Address;
            case 3:
                return Nla::parse("10.2.0.1");
        }
        return std::nullopt;
    }
    std::optional<IfIndex> route_interface(const Nla& address) const override {
        const std::uint32_t a = address.ipv4_host_order();
        if ((a >> 8) == 0x0a0000) return 1;
        if ((a >> 8) == 0x0a0100) return 2;
        if ((a >> 8) == 0x0a0200) return 3;
        return std::nullopt;
    }
    void group_members(const Nla&, const Nla&, std::vector<IfIndex>& out) const override {
        out = {1, 2, 3};
    }
};

PacketSpec downstream(PacketType type, Fields fields) {
    PacketSpec s;
    s.type = type;
    s.source_port = kSourcePort;
    s.destination_port = kDestinationPort;
    s.gsi = kGsi;
    s.fields = fields;
    return s;
}

PacketSpec spm(std::uint32_t sqn) {
    return downstream(PacketType::Spm, SpmFields{Sqn(sqn), Sqn(1), Sqn(100), kSource, 0});
}

PacketSpec nak(std::uint32_t sqn) {
    PacketSpec s = downstream(PacketType::Nak, NakFields{Sqn(sqn), kSource, kGroup});
    std::swap(s.source_port, s.destination_port);  // upstream: DPORT is the data-source port
    return s;
}

PacketSpec ncf(std::uint32_t sqn) {
    return downstream(PacketType::Ncf, NakFields{Sqn(sqn), kSource, kGroup});
}

// Every timer set here, so that the expected times do not follow changes of the defaults.
router::RouterConfig pinned_config() {
    router::RouterConfig c;
    c.nak_repeat_period = 100ms;
    c.nak_rpt_ivl = 1s;
    c.nak_rdata_ivl = 10s;
    c.nak_elim_ivl = 5s;
    c.session_lifetime = 300s;
    c.rdata_hold = 5s;
    return c;
}

class RouterJson : public ::testing::Test {
  protected:
    void feed(IfIndex ifindex, const Nla& source, const Nla& destination, const PacketSpec& spec,
              bool corrupt = false) {
        auto bytes = build(spec);
        ASSERT_TRUE(bytes);
        if (corrupt) (*bytes)[6] ^= 0xFF;  // checksum
        Arrival a;
        a.ifindex = ifindex;
        a.ip.source = source;
        a.ip.destination = destination;
        a.ip.ttl = 16;
        a.ip.router_alert = true;
        router.on_packet(a, Bytes(bytes->data(), bytes->size()), now, out);
        out.clear();
    }
    // The session, a pending NAK (sqn 42, from down1) and an anticipated repair (sqn 50).
    void build_state() {
        feed(1, kSource, kGroup, spm(5));
        now = t0 + 1s;
        feed(2, kReceiver, kDown1Address, nak(42));
        feed(1, kSource, kGroup, ncf(50));
        now = t0 + 1050ms;
    }
    Json request(const Json& r, bool may_change_state = true) {
        PeerCredentials peer;
        peer.uid = may_change_state ? 0 : 65534;
        peer.may_change_state = may_change_state;
        return handle_request(r, view, peer);
    }

    TestEnvironment env;
    router::Router router{pinned_config(), env};
    Output out;
    const Time t0 = Time{} + 1000s;
    Time now = t0;
    std::map<IfIndex, std::string> names{{1, "up0"}, {2, "down1"}, {3, "down2"}};
    int state_changes = 0;
    std::map<IfIndex, CaptureDrops> capture_drops;
    RouterView view{
        router,
        [this](IfIndex i) { return names.contains(i) ? names[i] : std::string(); },
        [this] { return now; },
        {},
        [this] { ++state_changes; },
        [this] { return capture_drops; },
        [this] {
            for (auto& [ifindex, d] : capture_drops)
                d = {};
        },
        {},
        {},
        {},
        {},
        {},
        {},
        {},
        {},
    };
};

TEST_F(RouterJson, SessionsDescribeThePathStateOfEachSession) {
    build_state();
    now = t0 + 2500ms;
    Json sessions = sessions_json(view, {})["sessions"];
    ASSERT_EQ(sessions.size(), 1u);
    Json s = sessions[0];
    const Json counters = s["counters"];
    s.erase("counters");
    EXPECT_EQ(s, Json::parse(R"({
        "tsi": "0a0b0c0d0e0f.1000", "gsi": "0a0b0c0d0e0f", "source_port": 1000,
        "source": "10.0.0.1", "group": "239.1.2.3", "data_destination_port": 7500,
        "upstream_neighbour": "10.0.0.1", "upstream_ifindex": 1, "upstream_interface": "up0",
        "last_spm_sqn": 5, "trail": 1, "lead": 100, "window_size": 100,
        "age_s": 2.5, "last_spm_age_s": 2.5, "expires_in_s": 297.5,
        "encapsulation": "native", "udp_port": null, "last_ttl": 16, "repair_states": 2,
        "dlrs": [], "fin": false, "outgoing_interfaces": []
    })"));
    EXPECT_EQ(counters.size(), router::kCounterCount);
    EXPECT_EQ(counters["InSpms"], 1);
    EXPECT_EQ(counters["OutSpms"], 2);  // to down1 and down2
    EXPECT_EQ(counters["InNaks"], 1);
    EXPECT_EQ(counters["OutNaks"], 1);
    EXPECT_EQ(counters["NcfAnticipated"], 1);
}

// An upstream DLR announces itself with a multicast redirecting POLR as the source (RFC 3208
// §9.5.2.1, decisions.md D28): the session lists it with its address, interface and parity
// capability (PGM-MIB DlrAddress, dlrCanProvideParity), in the JSON and in the text table.
TEST_F(RouterJson, SessionsListTheirKnownDlrs) {
    build_state();
    PacketSpec polr = downstream(PacketType::Polr, PolrFields{Sqn(0), 0});
    std::swap(polr.source_port, polr.destination_port);  // upstream port orientation (§8.3)
    polr.options.push_back(OptRedirect{*Nla::parse("10.0.0.9")});
    polr.extra_flags = kOptParity;
    feed(1, kSource, kGroup, polr);
    now = t0 + 3s;
    const Json dlrs = sessions_json(view, {})["sessions"][0]["dlrs"];
    EXPECT_EQ(dlrs, Json::parse(R"([{
        "role": "upstream", "address": "10.0.0.9", "ifindex": 1, "interface": "up0",
        "can_provide_parity": true, "learnt_age_s": 1.95
    }])"));
}

TEST_F(RouterJson, RepairShowsPhaseInterfacesAndTimeLeftOnEachDeadline) {
    build_state();
    EXPECT_EQ(repair_json(view, {}), Json::parse(R"({"repair": [
        {"tsi": "0a0b0c0d0e0f.1000", "sqn": 42, "parity": false, "phase": "pending",
         "interfaces": [{"ifindex": 2, "name": "down1"}],
         "timers": {"nak_repeat": 0.05, "nak_rpt_ivl": 0.95}},
        {"tsi": "0a0b0c0d0e0f.1000", "sqn": 50, "parity": false, "phase": "anticipated",
         "interfaces": [],
         "timers": {"nak_elim_ivl": 4.95, "nak_rdata_ivl": 9.95}}
    ]})"));
    now = t0 + 20s;  // every deadline passed, the timer not yet run: nothing negative
    EXPECT_EQ(repair_json(view, {})["repair"][1]["timers"],
              (Json{{"nak_elim_ivl", 0.0}, {"nak_rdata_ivl", 0.0}}));
}

TEST_F(RouterJson, RepairedStateShowsTheTimeLeftOnTheHold) {
    router::RouterConfig config = pinned_config();
    config.rdata_hold = 2s;
    router.reconfigure(config);
    build_state();
    now = t0 + 1s;
    feed(1, kSource, kGroup, downstream(PacketType::Rdata, DataFields{Sqn(42), Sqn(1)}));
    now = t0 + 1500ms;
    EXPECT_EQ(repair_json(view, {})["repair"][0], Json::parse(R"(
        {"tsi": "0a0b0c0d0e0f.1000", "sqn": 42, "parity": false, "phase": "repaired",
         "interfaces": [{"ifindex": 2, "name": "down1"}],
         "timers": {"rdata_hold": 1.5}})"));
}

TEST_F(RouterJson, InterfacesCountTheirSessionsAndOwedRepairs) {
    build_state();
    names.erase(3);  // no name known: null
    const Json interfaces = interfaces_json(view, {})["interfaces"];
    ASSERT_EQ(interfaces.size(), 3u);
    EXPECT_EQ(interfaces[0]["ifindex"], 1);
    EXPECT_EQ(interfaces[0]["name"], "up0");
    EXPECT_EQ(interfaces[0]["upstream_sessions"], 1);
    EXPECT_EQ(interfaces[0]["counters"]["InSpms"], 1);
    EXPECT_EQ(interfaces[1]["name"], "down1");
    EXPECT_EQ(interfaces[1]["repair_states"], 1);
    EXPECT_EQ(interfaces[1]["counters"]["OutNcfs"], 1);
    EXPECT_EQ(interfaces[2]["ifindex"], 3);
    EXPECT_TRUE(interfaces[2]["name"].is_null());
}

TEST_F(RouterJson, CountersHaveTotalsPerInterfaceAndMalformedReasons) {
    build_state();
    feed(3, kReceiver, kGroup, spm(6), /*corrupt=*/true);
    const Json c = counters_json(view, {});
    EXPECT_EQ(c["totals"].size(), router::kCounterCount + 2);  // + CaptureDrops, CaptureIfDrops
    for (std::size_t i = 0; i < router::kCounterCount; ++i)
        EXPECT_TRUE(c["totals"].contains(router::kCounterNames[i])) << router::kCounterNames[i];
    EXPECT_EQ(c["totals"]["CaptureDrops"], 0);
    EXPECT_EQ(c["totals"]["CaptureIfDrops"], 0);
    EXPECT_EQ(c["totals"]["InSpms"], 1);
    EXPECT_EQ(c["totals"]["OutSpms"], 2);
    EXPECT_EQ(c["totals"]["Malformed"], 1);
    EXPECT_EQ(c["malformed_by_reason"]["BadChecksum"], 1);
    EXPECT_EQ(c["malformed_by_reason"]["Truncated"], 0);
    ASSERT_EQ(c["interfaces"].size(), 3u);
    EXPECT_EQ(c["interfaces"][2]["name"], "down2");
    EXPECT_EQ(c["interfaces"][2]["counters"]["Malformed"], 1);
    EXPECT_EQ(c["interfaces"][2]["counters"]["OutSpms"], 1);

    Filter down2;
    down2.interface = "3";
    const Json only = counters_json(view, down2);
    ASSERT_EQ(only["interfaces"].size(), 1u);
    EXPECT_EQ(only["interfaces"][0]["name"], "down2");
}

TEST_F(RouterJson, CaptureDropsAreInterfaceCountersSummedInTotalsAndCleared) {
    build_state();
    capture_drops[2] = {591, 3};
    capture_drops[7] = {10, 0};  // captured on, no packet reached the router: still listed
    names[7] = "quiet7";
    const Json c = counters_json(view, {});
    EXPECT_EQ(c["totals"]["CaptureDrops"], 601);
    EXPECT_EQ(c["totals"]["CaptureIfDrops"], 3);
    ASSERT_EQ(c["interfaces"].size(), 4u);
    EXPECT_EQ(c["interfaces"][0]["counters"]["CaptureDrops"], 0);  // up0: none reported
    EXPECT_EQ(c["interfaces"][1]["counters"]["CaptureDrops"], 591);
    EXPECT_EQ(c["interfaces"][1]["counters"]["CaptureIfDrops"], 3);
    EXPECT_EQ(c["interfaces"][1]["counters"]["OutNcfs"], 1);  // the router's, beside them
    EXPECT_EQ(c["interfaces"][3]["name"], "quiet7");
    EXPECT_EQ(c["interfaces"][3]["counters"]["CaptureDrops"], 10);
    EXPECT_EQ(c["interfaces"][3]["counters"]["InSpms"], 0);
    EXPECT_EQ(c["interfaces"][3]["counters"].size(), router::kCounterCount + 2);

    Filter quiet;
    quiet.interface = "quiet7";
    const Json interfaces = interfaces_json(view, quiet)["interfaces"];
    ASSERT_EQ(interfaces.size(), 1u);
    EXPECT_EQ(interfaces[0]["ifindex"], 7);
    EXPECT_EQ(interfaces[0]["upstream_sessions"], 0);
    EXPECT_EQ(interfaces[0]["counters"]["CaptureDrops"], 10);

    // Sessions are not captured: their counters are the router's alone.
    EXPECT_FALSE(sessions_json(view, {})["sessions"][0]["counters"].contains("CaptureDrops"));

    ASSERT_EQ(request(Json{{"command", "clear"}, {"what", "counters"}})["ok"], true);
    const Json cleared = counters_json(view, {});
    EXPECT_EQ(cleared["totals"]["CaptureDrops"], 0);
    EXPECT_EQ(cleared["totals"]["CaptureIfDrops"], 0);
    EXPECT_EQ(cleared["interfaces"][1]["counters"]["CaptureDrops"], 0);
}

TEST_F(RouterJson, FiltersSelectByInterfaceGroupAndTsi) {
    build_state();
    auto sessions = [&](Json filter) {
        return request(Json{
            {"command", "show"}, {"what", "sessions"}, {"filter", filter}})["data"]["sessions"]
            .size();
    };
    auto repairs = [&](Json filter) {
        return request(Json{
            {"command", "show"}, {"what", "repair"}, {"filter", filter}})["data"]["repair"]
            .size();
    };
    EXPECT_EQ(sessions({{"group", "239.1.2.3"}}), 1u);
    EXPECT_EQ(sessions({{"group", "239.9.9.9"}}), 0u);
    EXPECT_EQ(sessions({{"tsi", kTsiText}}), 1u);
    EXPECT_EQ(sessions({{"tsi", "0a0b0c0d0e0f.1001"}}), 0u);
    EXPECT_EQ(sessions({{"interface", "up0"}}), 1u);
    EXPECT_EQ(sessions({{"interface", 1}}), 1u);
    EXPECT_EQ(sessions({{"interface", "down1"}}), 0u);
    EXPECT_EQ(repairs({{"interface", "down1"}}), 1u);  // only sqn 42 is owed there
    EXPECT_EQ(repairs({{"group", "239.1.2.3"}, {"tsi", kTsiText}}), 2u);
    EXPECT_EQ(repairs({{"group", "239.9.9.9"}}), 0u);
}

TEST_F(RouterJson, BadRequestsGetAReason) {
    auto error = [&](const Json& r) {
        const Json reply = request(r);
        EXPECT_EQ(reply["ok"], false) << r;
        return reply.value("error", "");
    };
    EXPECT_EQ(error(Json::array()), "request must be a JSON object");
    EXPECT_EQ(error(Json::object()), "request has no \"command\"");
    EXPECT_EQ(error(Json{{"command", 5}}), "\"command\" must be a string");
    EXPECT_EQ(error(Json{{"command", "fly"}}),
              "unknown command \"fly\" (ping, show, clear, set or reload)");
    EXPECT_EQ(error(Json{{"command", "ping"}, {"colour", "red"}}),
              "unknown key \"colour\" in request");
    EXPECT_EQ(error(Json{{"command", "show"}}), "request has no \"what\"");
    EXPECT_EQ(
        error(Json{{"command", "show"}, {"what", "routes"}}),
        "cannot show \"routes\" (status, interfaces, groups, sessions, repair, counters, dlr, "
        "fastpath or running-config)");
    EXPECT_EQ(error(Json{{"command", "show"}, {"what", "counters"}, {"filter", {{"group", "x"}}}}),
              "show counters cannot be filtered by group");
    EXPECT_EQ(error(Json{{"command", "show"}, {"what", "sessions"}, {"filter", 3}}),
              "\"filter\" must be an object");
    EXPECT_EQ(error(Json{{"command", "show"}, {"what", "sessions"}, {"filter", {{"group", "x"}}}}),
              "filter group must be an IPv4 or IPv6 address");
    EXPECT_EQ(error(Json{{"command", "show"}, {"what", "sessions"}, {"filter", {{"tsi", "ab.1"}}}}),
              "filter tsi must be GSI.PORT (12 hex digits, a dot, a port)");
    EXPECT_EQ(
        error(Json{{"command", "show"}, {"what", "sessions"}, {"filter", {{"interface", true}}}}),
        "filter interface must be a name or an ifindex");
    EXPECT_EQ(error(Json{{"command", "clear"}, {"what", "sessions"}}),
              "cannot clear \"sessions\" (counters or repair)");
    EXPECT_EQ(
        error(Json{{"command", "clear"}, {"what", "repair"}, {"filter", {{"interface", "up0"}}}}),
        "clear repair cannot be filtered by interface");
    EXPECT_EQ(
        error(
            Json{{"command", "show"}, {"what", "counters"}, {"filter", {{"interface", "nosuch"}}}}),
        "no interface \"nosuch\" (known: none)");
    EXPECT_EQ(error(Json{{"command", "set"}, {"what", "colour"}, {"value", "red"}}),
              "cannot set \"colour\" (log-level)");
    EXPECT_EQ(error(Json{{"command", "set"}, {"what", "log-level"}, {"value", "debug"}}),
              "this daemon has no log level to set");
    EXPECT_EQ(error(Json{{"command", "show"}, {"what", "running-config"}}),
              "this program has no configuration file");
}

// `show running-config` is the daemon's own JSON, passed through; it takes no filter.
TEST_F(RouterJson, RunningConfigIsTheDaemons) {
    view.running_config = [] { return Json{{"file", "/etc/pgmd.conf"}, {"text", "x = 1\n"}}; };
    const Json reply = request(Json{{"command", "show"}, {"what", "running-config"}});
    EXPECT_EQ(reply,
              (Json{{"ok", true}, {"data", {{"file", "/etc/pgmd.conf"}, {"text", "x = 1\n"}}}}));
    const Json filtered = request(
        Json{{"command", "show"}, {"what", "running-config"}, {"filter", {{"interface", "up0"}}}});
    EXPECT_EQ(filtered.value("error", ""), "show running-config cannot be filtered by interface");
}

// Scoped clears (IOS clear ip pgm router traffic IF, rtx-state GROUP) and the run-time log
// level go through the dispatcher with the same permission rule as the global ones.
TEST_F(RouterJson, ScopedClearsAndLogLevel) {
    build_state();
    capture_drops = {{2, {7, 1}}};
    view.clear_interface_capture_drops = [this](IfIndex i) { capture_drops[i] = {}; };
    const Json by_interface{
        {"command", "clear"}, {"what", "counters"}, {"filter", {{"interface", "up0"}}}};
    EXPECT_EQ(request(by_interface, false)["ok"], false);
    EXPECT_EQ(router.totals()[router::Counter::InSpms], 1u);
    EXPECT_EQ(
        request(by_interface),
        (Json{{"ok", true},
              {"data",
               {{"cleared", "counters"}, {"interface", {{"ifindex", 1}, {"name", "up0"}}}}}}));
    EXPECT_EQ(router.totals()[router::Counter::InSpms], 0u);
    EXPECT_EQ(router.sessions().begin()->second.counters[router::Counter::InSpms], 1u);
    EXPECT_EQ(capture_drops[2].kernel, 7u);  // another interface's
    request(Json{{"command", "clear"}, {"what", "counters"}, {"filter", {{"interface", 2}}}});
    EXPECT_EQ(capture_drops[2].kernel, 0u);
    EXPECT_EQ(request(Json{{"command", "clear"},
                           {"what", "counters"},
                           {"filter", {{"tsi", kTsiText}}}})["data"]["tsi"],
              kTsiText);
    EXPECT_EQ(router.sessions().begin()->second.counters[router::Counter::InSpms], 0u);

    EXPECT_EQ(request(Json{{"command", "clear"},
                           {"what", "repair"},
                           {"filter", {{"group", "239.9.9.9"}}}})["data"]["removed"],
              0);
    EXPECT_EQ(router.repairs().size(), 2u);
    EXPECT_EQ(request(Json{
                  {"command", "clear"}, {"what", "repair"}, {"filter", {{"group", "239.1.2.3"}}}}),
              (Json{{"ok", true},
                    {"data", {{"cleared", "repair"}, {"removed", 2}, {"group", "239.1.2.3"}}}}));
    EXPECT_TRUE(router.repairs().empty());

    std::string level = "notice";
    view.set_log_level = [&](const std::string& value) {
        if (value == "loud") throw std::invalid_argument("log-level: 'loud' is not a level");
        level = value;
        return Json{{"log_level", level}, {"configured_log_level", "notice"}};
    };
    const Json debug{{"command", "set"}, {"what", "log-level"}, {"value", "debug"}};
    EXPECT_EQ(request(debug, false)["error"],
              "permission denied: set log-level changes state and needs root or the control "
              "socket's group");
    EXPECT_EQ(level, "notice");
    EXPECT_EQ(request(debug)["data"]["log_level"], "debug");
    EXPECT_EQ(request(Json{{"command", "set"}, {"what", "log-level"}, {"value", "loud"}}),
              (Json{{"ok", false}, {"error", "log-level: 'loud' is not a level"}}));
}

// Status counts the sessions (and those ended by FIN) beside the daemon's part; the
// configured interfaces give show interfaces its state column and rows for absent ones;
// sessions list the member interfaces but their upstream as outgoing.
TEST_F(RouterJson, StatusInterfaceStateAndOutgoingInterfaces) {
    build_state();
    view.status = [] { return Json{{"version", "9.9"}}; };
    EXPECT_EQ(status_json(view), (Json{{"version", "9.9"},
                                       {"sessions", 1},
                                       {"sessions_fin", 0},
                                       {"repair_states", 2},
                                       {"held_rdata_bytes", 0}}));
    view.configured_interfaces = [] {
        return std::vector<RouterView::ConfiguredInterface>{{"up0", 1, "served"},
                                                            {"eth9", std::nullopt, "absent"}};
    };
    const Json interfaces = interfaces_json(view, {})["interfaces"];
    ASSERT_EQ(interfaces.size(), 4u);  // up0, down1, down2 (router), eth9 (configured)
    EXPECT_EQ(interfaces[0]["state"], "served");
    EXPECT_EQ(interfaces[1]["state"], "unconfigured");
    EXPECT_EQ(interfaces[3]["name"], "eth9");
    EXPECT_EQ(interfaces[3]["ifindex"], nullptr);
    EXPECT_EQ(interfaces[3]["state"], "absent");
    view.members = [](const Nla&, const Nla&) { return std::vector<IfIndex>{1, 3}; };
    EXPECT_EQ(sessions_json(view, {})["sessions"][0]["outgoing_interfaces"],
              Json::parse(R"([{"ifindex": 3, "name": "down2"}])"));
}

// D38: show interfaces gives each interface the settings in force: the router's resolved
// ones where it has the interface, else the configured ones against the global values;
// Router Alert as configured (null when the program does not say).
TEST_F(RouterJson, InterfacesShowTheSettingsInForce) {
    build_state();
    router::InterfaceSettings down1;
    down1.router_assist = false;
    down1.max_naks_per_second = 7;
    down1.nak_rdata_ivl = 20s;
    router.set_interface_settings(2, down1);
    router::InterfaceSettings absent;
    absent.nak_elim_ivl = 2s;
    view.configured_interfaces = [&] {
        return std::vector<RouterView::ConfiguredInterface>{
            {"down1", 2, "served", down1, false}, {"eth9", std::nullopt, "absent", absent, true}};
    };
    const Json interfaces = interfaces_json(view, {})["interfaces"];
    ASSERT_EQ(interfaces.size(), 4u);  // up0, down1, down2 (router), eth9 (configured)
    EXPECT_EQ(interfaces[1]["settings"], Json::parse(R"({"router_assist": false,
        "router_alert": false, "max_naks_per_second": 7,
        "max_naks_per_second_per_neighbour": 10000, "nak_repeat_period": 0.1,
        "nak_rpt_ivl": 1.0, "nak_rdata_ivl": 20.0, "nak_elim_ivl": 5.0})"));
    EXPECT_EQ(interfaces[0]["settings"]["router_assist"], true);
    EXPECT_EQ(interfaces[0]["settings"]["router_alert"], nullptr);  // not configured here
    EXPECT_EQ(interfaces[0]["settings"]["max_naks_per_second"], 50000);
    EXPECT_EQ(interfaces[3]["settings"]["nak_elim_ivl"], 2.0);
    EXPECT_EQ(interfaces[3]["settings"]["nak_rdata_ivl"], 10.0);
    EXPECT_EQ(interfaces[3]["settings"]["router_alert"], true);

    // Review finding 6: down1 went down and a reload changed its settings: the configured
    // ones show, not those its slot kept.
    router.interface_down(2);
    router::InterfaceSettings changed;
    changed.max_naks_per_second = 99;
    view.configured_interfaces = [&] {
        return std::vector<RouterView::ConfiguredInterface>{{"down1", 2, "down", changed, false}};
    };
    const Json after = interfaces_json(view, {})["interfaces"];
    ASSERT_EQ(after.size(), 3u);
    EXPECT_EQ(after[1]["settings"]["max_naks_per_second"], 99);
    EXPECT_EQ(after[1]["settings"]["router_assist"], true);
}

TEST_F(RouterJson, PingShowsWhetherThePeerMayChangeState) {
    EXPECT_EQ(request(Json{{"command", "ping"}}, false),
              Json::parse(R"({"ok": true, "data": {"pong": true,
                              "peer": {"uid": 65534, "may_change_state": false}}})"));
}

TEST_F(RouterJson, ClearCountersNeedsPermission) {
    build_state();
    const Json refused = request(Json{{"command", "clear"}, {"what", "counters"}}, false);
    EXPECT_EQ(refused["ok"], false);
    EXPECT_NE(refused["error"].get<std::string>().find("permission denied"), std::string::npos);
    EXPECT_EQ(router.totals()[router::Counter::InSpms], 1u);
    EXPECT_EQ(state_changes, 0);

    EXPECT_EQ(request(Json{{"command", "clear"}, {"what", "counters"}}),
              (Json{{"ok", true}, {"data", {{"cleared", "counters"}}}}));
    EXPECT_EQ(router.totals()[router::Counter::InSpms], 0u);
    EXPECT_EQ(router.sessions().begin()->second.counters[router::Counter::InSpms], 0u);
    EXPECT_EQ(state_changes, 1);
    EXPECT_EQ(router.sessions().size(), 1u);  // state is not counters
}

TEST_F(RouterJson, ClearRepairRemovesEveryEntry) {
    build_state();
    EXPECT_EQ(request(Json{{"command", "clear"}, {"what", "repair"}}, false)["ok"], false);
    EXPECT_EQ(router.repairs().size(), 2u);
    EXPECT_EQ(request(Json{{"command", "clear"}, {"what", "repair"}}),
              (Json{{"ok", true}, {"data", {{"cleared", "repair"}, {"removed", 2}}}}));
    EXPECT_TRUE(router.repairs().empty());
    EXPECT_EQ(state_changes, 1);
}

TEST_F(RouterJson, ReloadCallsTheDaemonsHookWhenAllowed) {
    EXPECT_EQ(request(Json{{"command", "reload"}}),
              (Json{{"ok", false}, {"error", "this daemon cannot reload its configuration"}}));
    int reloads = 0;
    bool succeed = true;
    view.reload = [&] {
        ++reloads;
        return ReloadResult{succeed, succeed ? "2 interfaces" : "line 3: unknown keyword"};
    };
    EXPECT_EQ(request(Json{{"command", "reload"}}, false)["ok"], false);
    EXPECT_EQ(reloads, 0);
    EXPECT_EQ(
        request(Json{{"command", "reload"}}),
        (Json{{"ok", true},
              {"data",
               {{"reloaded", true}, {"message", "2 interfaces"}, {"changed", Json::array()}}}}));
    succeed = false;
    EXPECT_EQ(request(Json{{"command", "reload"}}),
              (Json{{"ok", false}, {"error", "reload failed: line 3: unknown keyword"}}));
    EXPECT_EQ(reloads, 2);
}

TEST_F(RouterJson, DlrIsAnEmptyListWithANoteWhenNotConfigured) {
    const Json data = request(Json{{"command", "show"}, {"what", "dlr"}})["data"];
    EXPECT_EQ(data["enabled"], false);
    EXPECT_EQ(data["dlr"], Json::array());
    EXPECT_TRUE(data["note"].is_string());
}

// As a DLR: the cache of each session and what it did. ODATA 1, 2 and 4 (3 lost: a hole the
// DLR NAKs upstream itself), then a NAK for 2 from down1, answered from the cache.
TEST_F(RouterJson, DlrShowsTheCacheAndItsCounters) {
    router::RouterConfig c = pinned_config();
    router::DlrScope scope;
    scope.group = *Nla::parse("239.0.0.0");
    scope.prefix_length = 8;
    c.dlr.scopes.push_back(scope);
    c.dlr.cache_packets_per_session = 100;
    router.reconfigure(c);
    feed(1, kSource, kGroup, spm(5));
    for (std::uint32_t sqn : {1u, 2u, 4u}) {
        PacketSpec odata = downstream(PacketType::Odata, DataFields{Sqn(sqn), Sqn(1)});
        odata.payload.assign(10, 0xAB);
        feed(1, kSource, kGroup, odata);
    }
    feed(2, kReceiver, kDown1Address, nak(2));
    const Json data = request(Json{{"command", "show"}, {"what", "dlr"}})["data"];
    EXPECT_EQ(data["enabled"], true);
    EXPECT_FALSE(data.contains("note"));
    EXPECT_EQ(data["scopes"], (Json::array({Json{{"group", "239.0.0.0/8"}, {"source", nullptr}}})));
    EXPECT_EQ(data["cache_packets_per_session"], 100);
    ASSERT_EQ(data["dlr"].size(), 1u);
    const Json d = data["dlr"][0];
    EXPECT_EQ(d["tsi"], kTsiText);
    EXPECT_EQ(d["group"], kGroup.to_string());
    EXPECT_EQ(d["cache_packets"], 3);
    EXPECT_EQ(d["cache_bytes"], 3 * (16 + 8 + 10));
    EXPECT_EQ(d["cache_span"], 4);
    EXPECT_EQ(d["first_sqn"], 1);
    EXPECT_EQ(d["holes"], 1);
    EXPECT_EQ(d["gap_naks"], 1);
    EXPECT_EQ(d["hits"], 1);
    EXPECT_EQ(d["misses"], 0);
    EXPECT_EQ(d["naks_answered_locally"], 1);
    EXPECT_EQ(d["rdata_sent"], 1);
    EXPECT_EQ(d["nnaks_sent"], 1);
    EXPECT_EQ(d["evictions"], 0);
}

TEST(Tsi, TextRoundTripAndRejects) {
    const Tsi tsi{kGsi, 1000};
    EXPECT_EQ(tsi_to_string(tsi), kTsiText);
    EXPECT_EQ(parse_tsi(kTsiText), tsi);
    EXPECT_EQ(parse_tsi("0A0B0C0D0E0F.1000"), tsi);
    EXPECT_EQ(parse_tsi("0a0b0c0d0e0f.65535")->source_port, 65535);
    for (const char* bad :
         {"", "0a0b0c0d0e0f", "0a0b0c0d0e0f.", "0a0b0c0d0e0f.65536", "0a0b0c0d0e.1000",
          "0a0b0c0d0e0g.1000", "0a0b0c0d0e0f.10x", "0a0b0c0d0e0f.-1", "+a0b0c0d0e0f.1"})
        EXPECT_EQ(parse_tsi(bad), std::nullopt) << bad;
}

// --- The whole path: socket, server, dispatcher, router ----------------------------------------

TEST_F(RouterJson, OverTheSocketTheReplyIsTheSameJson) {
    build_state();
    TempDir dir;
    EventLoop loop;
    ControlServer server(loop, dir.file("pgmd.sock"), 0660, std::nullopt,
                         [this](const Json& r, const PeerCredentials& peer) {
                             return handle_request(r, view, peer);
                         });
    TestClient client(loop, server.path());
    EXPECT_EQ(client.request(Json{{"command", "show"}, {"what", "sessions"}}),
              (Json{{"ok", true}, {"data", sessions_json(view, {})}}));
    EXPECT_EQ(client.request(Json{{"command", "clear"}, {"what", "repair"}})["ok"], true);
    EXPECT_TRUE(router.repairs().empty());
}

// An unprivileged peer (a forked child that drops to nobody) may read but not clear. Needs
// root to change identity.
TEST_F(RouterJson, UnprivilegedPeerMayReadButNotClear) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to run a child as nobody";
    build_state();
    TempDir dir;
    EventLoop loop;
    ControlServer server(loop, dir.file("pgmd.sock"), 0666, std::nullopt,
                         [this](const Json& r, const PeerCredentials& peer) {
                             return handle_request(r, view, peer);
                         });
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // Child: no gtest assertions here; the exit status reports.
        if (setgroups(0, nullptr) < 0 || setgid(65534) < 0 || setuid(65534) < 0) _exit(10);
        const int fd = connect_to(dir.file("pgmd.sock"));
        if (fd < 0) _exit(11);
        auto ask = [fd](const char* line) {
            if (send(fd, line, std::strlen(line), MSG_NOSIGNAL) < 0) _exit(12);
            std::string got;
            char c;
            while (recv(fd, &c, 1, 0) == 1 && c != '\n')
                got += c;
            return Json::parse(got, nullptr, false);
        };
        const Json show = ask("{\"command\":\"show\",\"what\":\"sessions\"}\n");
        const Json clear = ask("{\"command\":\"clear\",\"what\":\"counters\"}\n");
        int status = 0;
        if (show.value("ok", false) != true || show["data"]["sessions"].size() != 1) status |= 1;
        if (clear.value("ok", true) != false) status |= 2;
        if (clear.value("error", "").find("permission denied") == std::string::npos) status |= 4;
        _exit(status);
    }
    int status = -1;
    const Time deadline = EventLoop::now() + 5s;
    while (waitpid(child, &status, WNOHANG) == 0 && EventLoop::now() < deadline)
        loop.run_once(10ms);
    if (EventLoop::now() >= deadline) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        FAIL() << "child did not finish";
    }
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(router.totals()[router::Counter::InSpms], 1u);  // not cleared
}

}  // namespace
}  // namespace pgm::control
