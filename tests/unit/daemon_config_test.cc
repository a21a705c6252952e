// pgmd's configuration file: every key, defaults, units, and errors that name their line.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "dataplane/daemon_config.h"
#include "dataplane/route_table.h"

namespace pgm::dataplane {
namespace {

using namespace std::chrono_literals;

DaemonConfig parse(const std::string& text) {
    std::istringstream in(text);
    return parse_config(in, "test.conf");
}

// The line and reason of the ConfigError `text` raises.
std::pair<int, std::string> error_of(const std::string& text) {
    try {
        parse(text);
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.file(), "test.conf");
        return {e.line(), e.reason()};
    }
    ADD_FAILURE() << "no error for:\n" << text;
    return {-1, ""};
}

TEST(DaemonConfig, MinimalFileGivesTheDefaults) {
    const DaemonConfig c = parse("[interface eth0]\n");
    ASSERT_EQ(c.interfaces.size(), 1u);
    EXPECT_EQ(c.interfaces[0].name, "eth0");
    EXPECT_TRUE(c.interfaces[0].igmp_querier);
    EXPECT_TRUE(c.interfaces[0].static_groups.empty());
    EXPECT_EQ(c.udp_ports, std::vector<std::uint16_t>{3055});
    EXPECT_EQ(c.router.nak_repeat_period, router::RouterConfig{}.nak_repeat_period);
    EXPECT_EQ(c.router.session_lifetime, 300s);
    EXPECT_EQ(c.control.socket, "/run/pgmd/pgmd.sock");
    EXPECT_EQ(c.control.mode, 0660u);
    EXPECT_EQ(c.log_level, LogLevel::Notice);
    EXPECT_EQ(c.igmp.group_membership_interval(), 260s);  // 2 * 125 s + 10 s
    EXPECT_EQ(c.capture.buffer_bytes, std::size_t{8} << 20);
    EXPECT_EQ(c.dataplane.fast_path, FastPathMode::Auto);
    EXPECT_EQ(c.dataplane.fail_open_after, 1s);
    EXPECT_EQ(c.dataplane.on_exit, FastPathExit::Remove);
}

TEST(DaemonConfig, EveryKeyIsRead) {
    const DaemonConfig c = parse(R"(# a comment
log-level = debug
udp-ports = 3055 4000
udp-ports = 4001   # repeatable
[control]
socket = /run/pgmd/ctl.sock
mode = 0640
group = pgmd
[capture]
buffer-bytes = 65536
[dataplane]
fast-path = off
fail-open-after = 250ms
on-exit = fail-open
[timers]
nak-repeat-period = 50ms
nak-rpt-ivl = 2s
nak-rdata-ivl = 1min
nak-elim-ivl = 3s
rdata-hold = 0s
session-lifetime = 600s
[limits]
max-sessions = 10
max-repair-states = 20
max-rdata-hold-bytes = 4096
max-naks-per-second-per-interface = 0
[igmp]
robustness = 3
query-interval = 60s
query-response-interval = 5s
last-member-query-interval = 500ms
[interface eth0]
join-groups = 239.192.0.1
igmp-querier = no
[interface  eth1 ]
static-groups = 239.192.0.1 239.192.0.2
static-groups = 239.192.0.3
)");
    EXPECT_EQ(c.log_level, LogLevel::Debug);
    EXPECT_EQ(c.udp_ports, (std::vector<std::uint16_t>{3055, 4000, 4001}));
    EXPECT_EQ(c.control.socket, "/run/pgmd/ctl.sock");
    EXPECT_EQ(c.control.mode, 0640u);
    EXPECT_EQ(c.control.group, "pgmd");
    EXPECT_EQ(c.capture.buffer_bytes, 65536u);
    EXPECT_EQ(c.dataplane.fast_path, FastPathMode::Off);
    EXPECT_EQ(c.dataplane.fail_open_after, 250ms);
    EXPECT_EQ(c.dataplane.on_exit, FastPathExit::FailOpen);
    EXPECT_EQ(c.router.nak_repeat_period, 50ms);
    EXPECT_EQ(c.router.nak_rpt_ivl, 2s);
    EXPECT_EQ(c.router.nak_rdata_ivl, 60s);
    EXPECT_EQ(c.router.nak_elim_ivl, 3s);
    EXPECT_EQ(c.router.rdata_hold, Duration::zero());
    EXPECT_EQ(c.router.max_rdata_hold_bytes, 4096u);
    EXPECT_EQ(c.router.session_lifetime, 600s);
    EXPECT_EQ(c.router.max_sessions, 10u);
    EXPECT_EQ(c.router.max_repair_states, 20u);
    EXPECT_EQ(c.router.max_naks_per_second_per_interface, 0u);
    EXPECT_EQ(c.igmp.robustness, 3u);
    EXPECT_EQ(c.igmp.query_interval, 60s);
    EXPECT_EQ(c.igmp.query_response_interval, 5s);
    EXPECT_EQ(c.igmp.last_member_query_interval, 500ms);
    ASSERT_EQ(c.interfaces.size(), 2u);
    EXPECT_EQ(c.interfaces[0].join_groups, std::vector<Nla>{*Nla::parse("239.192.0.1")});
    EXPECT_FALSE(c.interfaces[0].igmp_querier);
    EXPECT_EQ(c.interfaces[1].name, "eth1");
    EXPECT_EQ(c.interfaces[1].static_groups.size(), 3u);
}

TEST(DaemonConfig, ErrorsNameTheLineAndTheReason) {
    // The router core holds interface sets as 64 bits: the 65th interface is refused at its line.
    std::string many;
    for (int i = 0; i < 65; ++i)
        many += "[interface e" + std::to_string(i) + "]\n";
    EXPECT_EQ(error_of(many), std::make_pair(65, std::string("more than 64 interfaces")));
    EXPECT_EQ(error_of("[interface eth0]\nnonsense\n"),
              std::make_pair(2, std::string("expected 'key = value' or '[section]'")));
    EXPECT_EQ(error_of("# x\n\n[timers]\nnak-rpt-ivl = 100\n[interface eth0]\n").first, 4);
    EXPECT_NE(error_of("[timers]\nnak-rpt-ivl = 100\n[interface e]\n").second.find("unit"),
              std::string::npos);
    EXPECT_EQ(error_of("[interface eth0]\nstatic-groups = 10.0.0.1\n").first, 2);
    EXPECT_EQ(error_of("[interface eth0]\ncolour = blue\n").second,
              "unknown key 'colour' in [interface eth0]");
    EXPECT_EQ(error_of("[interface eth0]\n[nope]\nx = 1\n"),
              std::make_pair(2, std::string("unknown section [nope]")));
    EXPECT_EQ(error_of("log-level = loud\n[interface e]\n").first, 1);
    EXPECT_EQ(error_of("udp-ports = 0\n[interface e]\n").first, 1);
    EXPECT_EQ(error_of("[limits]\nmax-sessions = -1\n[interface e]\n").first, 2);
    EXPECT_EQ(error_of("[interface e]\n[control]\nmode = 999\n").first, 3);
    EXPECT_EQ(error_of("[interface e]\n[control]\nsocket = relative.sock\n").first, 3);
    EXPECT_EQ(error_of("[interface e]\n[capture]\nbuffer-bytes = 65535\n"),
              std::make_pair(3, std::string("buffer-bytes: '65535' is not a whole number in "
                                            "65536..1073741824")));
    EXPECT_EQ(error_of("[interface e]\n[dataplane]\nfast-path = maybe\n"),
              std::make_pair(3, std::string("fast-path: 'maybe' is not auto, on or off")));
    EXPECT_EQ(error_of("[interface e]\n[dataplane]\nfail-open-after = 10ms\n"),
              std::make_pair(3, std::string("fail-open-after: '10ms' is not within 100ms..60s")));
    EXPECT_EQ(error_of("[interface e]\n[dataplane]\non-exit = linger\n").first, 3);
    EXPECT_EQ(error_of("log-level = info\nlog-level = debug\n[interface e]\n"),
              std::make_pair(2, std::string("'log-level' is given twice (first on line 1)")));
    EXPECT_EQ(error_of("[interface e]\n[interface e]\n").first, 2);
    EXPECT_EQ(error_of("[interface e]\nigmp-querier = no\nigmp-querier = yes\n"),
              std::make_pair(3, std::string("'igmp-querier' is given twice in [interface e] "
                                            "(first on line 2)")));
    // List keys add up, in interface sections too.
    EXPECT_EQ(parse("[interface e]\nstatic-groups = 239.1.1.1\nstatic-groups = 239.1.1.2\n")
                  .interfaces.at(0)
                  .static_groups.size(),
              2u);
    EXPECT_EQ(error_of("[interface a-very-long-interface-name]\n").first, 1);
    EXPECT_EQ(error_of("[interface e]\nigmp-querier = perhaps\n").first, 2);
    EXPECT_EQ(error_of("[interface e]\nstatic-groups =\n").first, 2);
    // Whole-file errors have line 0.
    EXPECT_EQ(error_of("log-level = info\n").first, 0);
    EXPECT_EQ(error_of("[interface e]\n[timers]\nnak-elim-ivl = 20s\n").first, 0);
}

// The message of a value above the maximum names the real range, minimum included (it said
// 0..1073741824 while 65536 is the least accepted).
TEST(DaemonConfig, BufferBytesRangeIsTheRealOne) {
    EXPECT_EQ(error_of("[interface e]\n[capture]\nbuffer-bytes = 1073741825\n"),
              std::make_pair(3, std::string("buffer-bytes: '1073741825' is not a whole number in "
                                            "65536..1073741824")));
}

// A section pgmd does not know is named at its header's line, whether it has keys or not:
// a mistyped [interface NAME] would otherwise leave an interface silently unserved.
TEST(DaemonConfig, UnknownSectionsAreNamed) {
    EXPECT_EQ(error_of("[timer]\nnak-rpt-ivl = 2s\n[interface e]\n"),
              std::make_pair(1, std::string("unknown section [timer]")));
    EXPECT_EQ(error_of("[interface e]\n[interfaces eth1]\n"),
              std::make_pair(2, std::string("unknown section [interfaces eth1] (an interface is "
                                            "[interface NAME])")));
    EXPECT_EQ(error_of("[interface e]\n[Interface eth1]\nstatic-groups = 239.1.1.1\n"),
              std::make_pair(2, std::string("unknown section [Interface eth1] (an interface is "
                                            "[interface NAME])")));
    EXPECT_EQ(error_of("[interface e]\n[iface eth1]\n").first, 2);
    // Every known section with a key is still accepted, also when empty.
    EXPECT_NO_THROW(
        parse("[control]\n[timers]\n[limits]\n[igmp]\n[dlr]\n[capture]\n"
              "[dataplane]\n[interface e]\n"));
}

// Link-local groups (224.0.0.0/24) are never forwarded by a router (RFC 5771): as static or
// joined groups they would make pgmd forward what no router may.
TEST(DaemonConfig, LinkLocalGroupsAreRefused) {
    EXPECT_EQ(error_of("[interface e]\nstatic-groups = 239.1.1.1 224.0.0.22\n"),
              std::make_pair(2, std::string("static-groups: '224.0.0.22' is link-local "
                                            "(224.0.0.0/24): routers never forward it")));
    EXPECT_EQ(error_of("[interface e]\njoin-groups = 224.0.0.255\n").first, 2);
    EXPECT_NO_THROW(parse("[interface e]\nstatic-groups = 224.0.1.1 239.255.255.255\n"));
}

// A temporary directory removed with its files at the end of the test.
class TempDir {
  public:
    TempDir() {
        std::string pattern = ::testing::TempDir() + "pgmd_config_XXXXXX";
        if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp";
        path_ = pattern;
    }
    ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
    std::string write(const std::string& name, const std::string& text) const {
        const std::string file = path_ + "/" + name;
        std::ofstream(file) << text;
        return file;
    }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

std::string load_error(const std::string& path) {
    try {
        load_config(path);
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.file(), path);
        return e.what();
    }
    ADD_FAILURE() << "no error for " << path;
    return "";
}

// A file that cannot be read is a ConfigError naming the file and the reason (strerror);
// a directory used to escape as an uncaught std::ios_base::failure (abort, rc 134).
TEST(DaemonConfig, UnreadableFilesNameTheReason) {
    const TempDir dir;
    EXPECT_EQ(load_error(dir.path()), dir.path() + ": cannot be read: Is a directory");
    EXPECT_EQ(load_error(dir.path() + "/missing.conf"),
              dir.path() + "/missing.conf: cannot be read: No such file or directory");
    const std::string good = dir.write("ok.conf", "[interface eth0]\n");
    EXPECT_EQ(load_config(good).interfaces.size(), 1u);
}

// [control] group must name an existing group: checked when the file is loaded (pgmd -F, start,
// reload), at the key's line, instead of failing only at start-up without file:line.
TEST(DaemonConfig, ControlGroupMustExist) {
    const TempDir dir;
    const std::string bad =
        dir.write("bad.conf", "[interface e]\n[control]\ngroup = nosuchgroup-pgmd-test\n");
    EXPECT_EQ(load_error(bad), bad + ":3: group: no group named 'nosuchgroup-pgmd-test'");
    const std::string good = dir.write("good.conf", "[interface e]\n[control]\ngroup = root\n");
    EXPECT_EQ(load_config(good).control.group, "root");
}

TEST(DaemonConfig, DlrSection) {
    EXPECT_FALSE(parse("[interface eth0]\n").router.dlr.enabled());  // no DLR by default
    const DaemonConfig c = parse(R"([interface eth0]
[dlr]
group = 239.192.0.0/16
group = 239.1.2.3 source 10.0.0.1   # repeatable; one group, one source
cache-bytes = 1048576
cache-packets = 512
)");
    const router::DlrConfig& d = c.router.dlr;
    ASSERT_EQ(d.scopes.size(), 2u);
    EXPECT_EQ(d.scopes[0].group, *Nla::parse("239.192.0.0"));
    EXPECT_EQ(d.scopes[0].prefix_length, 16u);
    EXPECT_FALSE(d.scopes[0].source.has_value());
    EXPECT_EQ(d.scopes[1].prefix_length, 32u);
    EXPECT_EQ(d.scopes[1].source, Nla::parse("10.0.0.1"));
    EXPECT_EQ(d.cache_bytes_per_session, 1048576u);
    EXPECT_EQ(d.cache_packets_per_session, 512u);
    EXPECT_TRUE(d.scopes[0].matches(*Nla::parse("10.9.9.9"), *Nla::parse("239.192.200.1")));
    EXPECT_FALSE(d.scopes[0].matches(*Nla::parse("10.9.9.9"), *Nla::parse("239.193.0.1")));
    EXPECT_FALSE(d.scopes[1].matches(*Nla::parse("10.0.0.2"), *Nla::parse("239.1.2.3")));

    EXPECT_EQ(error_of("[interface eth0]\n[dlr]\ngroup = 10.0.0.0/8\n"),
              std::make_pair(3, std::string("group: '10.0.0.0/8' is not an IPv4 multicast group "
                                            "or prefix")));
    EXPECT_EQ(error_of("[interface eth0]\n[dlr]\ngroup = 239.0.0.0/40\n").first, 3);
    EXPECT_EQ(error_of("[interface eth0]\n[dlr]\ngroup = 239.1.1.1 from 10.0.0.1\n").first, 3);
    EXPECT_EQ(error_of("[interface eth0]\n[dlr]\ncache-packets = 0\n"),
              std::make_pair(3, std::string("cache-packets: must be positive")));
    EXPECT_EQ(error_of("[interface eth0]\n[dlr]\ncache-bytes = 1\ncache-bytes = 2\n").first, 4);
    // Every sequence of the span costs a slot even as a hole: the span is bounded.
    EXPECT_EQ(error_of("[interface eth0]\n[dlr]\ncache-packets = 65537\n").first, 3);
    EXPECT_EQ(parse("[interface eth0]\n[dlr]\ncache-packets = 65536\n")
                  .router.dlr.cache_packets_per_session,
              65536u);
    EXPECT_EQ(parse("[interface eth0]\n").router.dlr.cache_bytes_total, std::size_t{256} << 20);
    EXPECT_EQ(parse("[interface eth0]\n[dlr]\ncache-bytes-total = 1000000\n")
                  .router.dlr.cache_bytes_total,
              1000000u);
    EXPECT_EQ(error_of("[interface eth0]\n[dlr]\ncache-bytes-total = 0\n"),
              std::make_pair(3, std::string("cache-bytes-total: must be positive")));
}

// NCF rate limit (decisions.md D33) on by default; App. E containment (D34, D35) opt-in.
TEST(DaemonConfig, NcfRateLimitAndContainmentKeys) {
    const DaemonConfig defaults = parse("[interface eth0]\n");
    EXPECT_EQ(defaults.router.ncf_repeat_interval, Duration(50ms));
    EXPECT_EQ(defaults.router.dup_nak_max, 0u);
    EXPECT_FALSE(defaults.router.nbr_unreach);

    const DaemonConfig c = parse(R"([interface eth0]
[timers]
ncf-repeat-interval = 0s
[containment]
dup-nak-max = 20
nbr-unreach = yes
)");
    EXPECT_EQ(c.router.ncf_repeat_interval, Duration::zero());
    EXPECT_EQ(c.router.dup_nak_max, 20u);
    EXPECT_TRUE(c.router.nbr_unreach);

    EXPECT_EQ(error_of("[interface eth0]\n[containment]\nnbr-unreach = maybe\n"),
              std::make_pair(3, std::string("nbr-unreach: 'maybe' is not yes or no")));
    EXPECT_EQ(error_of("[interface eth0]\n[containment]\ndup-nak-max = -1\n").first, 3);
    EXPECT_EQ(error_of("[interface eth0]\n[containment]\ndup-nak-max = 2000000\n").first, 3);
    EXPECT_EQ(error_of("[interface eth0]\n[timers]\nncf-repeat-interval = 50\n").first, 3);
}

// The network-element side of DLRs (decisions.md D28): discovery polls, off by default.
TEST(DaemonConfig, DlrDiscoveryKeys) {
    const DaemonConfig defaults = parse("[interface eth0]\n");
    EXPECT_FALSE(defaults.router.discover_dlrs);
    EXPECT_EQ(defaults.router.dlr_poll_interval, Duration(30s));
    EXPECT_EQ(defaults.router.dlr_poll_backoff, Duration(100ms));

    const DaemonConfig c = parse(R"([interface eth0]
[dlr]
discover-dlrs = yes
discovery-interval = 2min
discovery-backoff = 250ms
)");
    EXPECT_TRUE(c.router.discover_dlrs);
    EXPECT_EQ(c.router.dlr_poll_interval, Duration(120s));
    EXPECT_EQ(c.router.dlr_poll_backoff, Duration(250ms));
    EXPECT_FALSE(c.router.dlr.enabled());  // discovering DLRs does not make pgmd one
    EXPECT_FALSE(parse("[interface eth0]\n[dlr]\ndiscover-dlrs = off\n").router.discover_dlrs);

    EXPECT_EQ(error_of("[interface eth0]\n[dlr]\ndiscover-dlrs = maybe\n"),
              std::make_pair(3, std::string("discover-dlrs: 'maybe' is not yes or no")));
    EXPECT_EQ(error_of("[interface eth0]\n[dlr]\ndiscovery-interval = 30\n"),
              std::make_pair(3, std::string("discovery-interval: '30' is not a positive duration "
                                            "with a unit (ms, s, min)")));
    EXPECT_EQ(error_of("[interface eth0]\n[dlr]\ndiscovery-interval = 0s\n").first, 3);
    EXPECT_EQ(error_of("\n[interface eth0]\n[dlr]\ndiscovery-backoff = 2min\n"),
              std::make_pair(4, std::string("discovery-backoff: at most 60s (POLL_BO_IVL)")));
    EXPECT_EQ(error_of("[interface eth0]\n[dlr]\ndiscover-dlrs = yes\ndiscover-dlrs = no\n").first,
              4);
}

// What a reload reports as changed: each key whose value differs, in config_keys() order,
// interface keys by section, and interface sections added or removed.
TEST(DaemonConfig, ChangedKeysNameWhatAReloadChanges) {
    const DaemonConfig before = parse(
        "log-level = notice\n[timers]\nnak-rpt-ivl = 2s\n[control]\nmode = 0660\n"
        "[interface eth0]\nstatic-groups = 239.1.1.1\n[interface eth1]\n");
    EXPECT_TRUE(changed_keys(before, before).empty());
    const DaemonConfig after = parse(
        "log-level = info\n[timers]\nnak-rpt-ivl = 3s\n[control]\nmode = 0600\n"
        "[dlr]\ngroup = 239.2.0.0/16\n"
        "[interface eth0]\nstatic-groups = 239.1.1.2\nigmp-querier = no\n[interface eth2]\n");
    EXPECT_EQ(
        changed_keys(before, after),
        (std::vector<std::string>{"log-level", "control.mode", "timers.nak-rpt-ivl", "dlr.group",
                                  "interface eth0.static-groups", "interface eth0.igmp-querier",
                                  "interface eth1 (removed)", "interface eth2 (added)"}));
    // The random seed pgmd draws at start is no key: never reported.
    DaemonConfig seeded = before;
    seeded.router.random_seed = 12345;
    EXPECT_TRUE(changed_keys(seeded, before).empty());
}

// render_config(): the configuration in force as a file that reads back to the same
// configuration (parse -> render -> parse renders the same text, and a reload from it would
// report nothing changed).
void expect_round_trip(const std::string& text, const std::string& origin) {
    SCOPED_TRACE(origin);
    const DaemonConfig original = parse(text);
    const std::string rendered = render_config(original);
    DaemonConfig reparsed;
    try {
        reparsed = parse(rendered);
    } catch (const ConfigError& e) {
        FAIL() << e.what() << "\nin the rendered text:\n" << rendered;
    }
    EXPECT_EQ(render_config(reparsed), rendered);
    EXPECT_EQ(changed_keys(original, reparsed), std::vector<std::string>{});
    EXPECT_EQ(reparsed.router.dlr.scopes.size(), original.router.dlr.scopes.size());
    EXPECT_EQ(reparsed.interfaces, original.interfaces);
    EXPECT_EQ(reparsed.udp_ports, original.udp_ports);
    EXPECT_EQ(reparsed.control, original.control);
    EXPECT_EQ(reparsed.metrics, original.metrics);
    EXPECT_EQ(reparsed.dataplane, original.dataplane);
    EXPECT_EQ(reparsed.igmp, original.igmp);
    EXPECT_EQ(reparsed.capture, original.capture);
    EXPECT_EQ(reparsed.log_level, original.log_level);
}

std::string read_source_file(const std::string& path) {
    std::ifstream in(std::string(PGM_SOURCE_DIR) + "/" + path);
    EXPECT_TRUE(in) << path;
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every key set away from its default, in the forms a person writes (2min, lists over
// several lines, a DLR scope with a source).
const char* const kEveryKeySet =
    "log-level = debug\nudp-ports = 3056 4000\nudp-ports = 5000\n"
    "[control]\nsocket = /run/p/x.sock\nmode = 600\ngroup = root\n"
    "[timers]\nnak-repeat-period = 250ms\nnak-rpt-ivl = 1500ms\nnak-rdata-ivl = 2min\n"
    "nak-elim-ivl = 700ms\nrdata-hold = 0s\nncf-repeat-interval = 20ms\n"
    "session-lifetime = 10min\n"
    "[limits]\nmax-sessions = 7\nmax-rdata-hold-bytes = 0\nmax-repair-states = 9\n"
    "max-naks-per-second-per-interface = 0\n"
    "max-naks-per-second-per-neighbour = 0\nmax-nak-neighbours-per-interface = 5\n"
    "[containment]\ndup-nak-max = 30\nnbr-unreach = yes\n"
    "[igmp]\nrobustness = 3\nquery-interval = 1min\nquery-response-interval = 2500ms\n"
    "last-member-query-interval = 100ms\n"
    "[dlr]\ngroup = 239.192.0.0/16\ngroup = 239.1.2.3 source 10.0.0.1\n"
    "group = 239.3.0.0/24 source 10.0.0.2\ncache-bytes = 1000\ncache-bytes-total = 2000\n"
    "cache-packets = 10\ndiscover-dlrs = on\ndiscovery-interval = 5s\n"
    "discovery-backoff = 60s\n"
    "[capture]\nbuffer-bytes = 65536\n"
    "[dataplane]\nfast-path = no\nfail-open-after = 100ms\non-exit = fail-open\n"
    "[metrics]\ntextfile = /tmp/x/pgmd.prom\ninterval = 1min\nsessions = false\n"
    "[interface eth0]\nstatic-groups = 239.1.1.1 239.1.1.2\nstatic-groups = 239.1.1.3\n"
    "join-groups = 239.9.9.9\nigmp-querier = no\nrouter-alert = no\nrouter-assist = no\n"
    "nak-repeat-period = 50ms\nnak-rpt-ivl = 3s\nnak-rdata-ivl = 4s\nnak-elim-ivl = 2s\n"
    "max-naks-per-second = 77\nmax-naks-per-second-per-neighbour = 0\n[interface veth-b.7]\n";

TEST(DaemonConfig, RenderedConfigReadsBackTheSame) {
    expect_round_trip("[interface eth0]\n", "defaults");
    expect_round_trip(kEveryKeySet, "every key set");
    expect_round_trip(read_source_file("dist/pgmd.conf.example"), "dist/pgmd.conf.example");
    // The examples of docs/configuration.md.
    const std::string doc = read_source_file("docs/configuration.md");
    int examples = 0;
    for (std::size_t at = doc.find("```ini\n"); at != std::string::npos;
         at = doc.find("```ini\n", at + 1)) {
        const std::size_t begin = at + 7;
        expect_round_trip(doc.substr(begin, doc.find("```", begin) - begin),
                          "docs/configuration.md example " + std::to_string(++examples));
    }
    EXPECT_GE(examples, 1);
}

TEST(DaemonConfig, RenderedConfigHasEveryKeyAndTheValuesInForce) {
    const DaemonConfig c = parse(kEveryKeySet);
    const std::string text = render_config(c);
    // Values as the parser reads them: durations in s or ms, octal modes, yes/no.
    for (const char* line :
         {"log-level = debug\n", "udp-ports = 3056 4000 5000\n", "mode = 0600\n",
          "nak-repeat-period = 250ms\n", "nak-rpt-ivl = 1500ms\n", "nak-rdata-ivl = 120s\n",
          "rdata-hold = 0s\n", "query-response-interval = 2500ms\n", "group = 239.192.0.0/16\n",
          "group = 239.1.2.3 source 10.0.0.1\n", "group = 239.3.0.0/24 source 10.0.0.2\n",
          "discover-dlrs = yes\n", "fast-path = off\n", "on-exit = fail-open\n", "sessions = no\n",
          "static-groups = 239.1.1.1 239.1.1.2 239.1.1.3\n", "igmp-querier = no\n",
          "router-alert = no\n", "[interface veth-b.7]\n"}) {
        EXPECT_NE(text.find(line), std::string::npos) << line << "missing in\n" << text;
    }
    // Every key of the table is in the text, unset ones commented out (defaults).
    const std::string defaults = render_config(parse("[interface eth0]\n"));
    for (std::string key : config_keys()) {
        if (key.starts_with("interface NAME.")) key = key.substr(15);
        if (const auto dot = key.find('.'); dot != std::string::npos) key = key.substr(dot + 1);
        EXPECT_TRUE(defaults.find("\n" + key + " = ") != std::string::npos ||
                    defaults.find("\n# " + key + " =\n") != std::string::npos)
            << key;
    }
    EXPECT_NE(defaults.find("\n# textfile =\n"), std::string::npos);
    EXPECT_NE(defaults.find("\nsession-lifetime = 300s\n"), std::string::npos);
    EXPECT_NE(defaults.find("\n# static-groups =\n"), std::string::npos);
}

// docs/configuration.md's key tables (one per `## [section]`, rows "| `key` | default |")
// list exactly the keys of the table, with the defaults render_config() writes: a default
// in backticks is the value, "(none)" and the like an unset key.
TEST(DaemonConfig, ConfigurationDocListsEveryKeyWithItsDefault) {
    // The defaults as rendered: "section.key" -> value ("" when written commented out).
    std::map<std::string, std::string> rendered;
    {
        std::istringstream in(render_config(parse("[interface eth0]\n")));
        std::string line;
        std::string section;
        while (std::getline(in, line)) {
            if (line.starts_with("[")) {
                section = line.starts_with("[interface ") ? "interface NAME"
                                                          : line.substr(1, line.size() - 2);
                continue;
            }
            const bool unset = line.starts_with("# ") && line.ends_with(" =");
            if (line.empty() || (line.starts_with("#") && !unset)) continue;
            const std::string body = unset ? line.substr(2) : line;
            const auto eq = body.find(" =");
            const std::string key = body.substr(0, eq);
            rendered[section.empty() ? key : section + "." + key] =
                unset ? "" : body.substr(eq + 3);
        }
    }
    std::map<std::string, std::string> documented;
    std::istringstream doc(read_source_file("docs/configuration.md"));
    std::string line;
    std::string section;
    bool in_keys = false;  // inside a section with a key table
    while (std::getline(doc, line)) {
        if (line.starts_with("## ")) {
            in_keys = line == "## Global keys" || line.starts_with("## `[");
            section = line.starts_with("## `[") ? line.substr(5, line.find("]`") - 5) : "";
            if (section.starts_with("interface ")) section = "interface NAME";
            continue;
        }
        if (!in_keys || !line.starts_with("| `")) continue;
        const auto key_end = line.find('`', 3);
        const std::string key = line.substr(3, key_end - 3);
        const auto cell = line.find("| ", key_end) + 2;
        std::string value = line.substr(cell, line.find(" |", cell) - cell);
        value = value.starts_with("`") ? value.substr(1, value.find('`', 1) - 1) : "";
        documented[section.empty() ? key : section + "." + key] = value;
    }
    EXPECT_EQ(documented, rendered);
    std::vector<std::string> keys;
    for (const auto& [key, value] : documented)
        keys.push_back(key);
    std::vector<std::string> listed = config_keys();
    std::sort(listed.begin(), listed.end());
    EXPECT_EQ(keys, listed);
}

// `GROUP source ADDRESS` in static-groups and join-groups: source-specific (SSM) entries
// beside the any-source groups, rendered back the same way.
TEST(DaemonConfig, GroupsWithASourceAreSourceSpecific) {
    const DaemonConfig c = parse(
        "[interface e]\n"
        "static-groups = 239.1.1.1 232.1.1.1 source 10.0.0.1 232.1.1.1 source 10.0.0.2\n"
        "join-groups = 232.1.1.1 source 10.0.0.1\njoin-groups = 239.1.1.2\n");
    const InterfaceConfig& i = c.interfaces.at(0);
    EXPECT_EQ(i.static_groups, std::vector<Nla>{*Nla::parse("239.1.1.1")});
    const Nla ssm = *Nla::parse("232.1.1.1");
    EXPECT_EQ(i.static_sources, (std::vector<SourceGroup>{{*Nla::parse("10.0.0.1"), ssm},
                                                          {*Nla::parse("10.0.0.2"), ssm}}));
    EXPECT_EQ(i.join_groups, std::vector<Nla>{*Nla::parse("239.1.1.2")});
    EXPECT_EQ(i.join_sources, (std::vector<SourceGroup>{{*Nla::parse("10.0.0.1"), ssm}}));
    expect_round_trip(
        "[interface e]\nstatic-groups = 232.1.1.1 source 10.0.0.1 239.1.1.1\n"
        "join-groups = 232.1.1.1 source 10.0.0.1\n",
        "source-specific groups");
    EXPECT_EQ(changed_keys(c, parse("[interface e]\nstatic-groups = 239.1.1.1\n"
                                    "join-groups = 232.1.1.1 source 10.0.0.1 239.1.1.2\n")),
              std::vector<std::string>{"interface e.static-groups"});
    EXPECT_EQ(error_of("[interface e]\nstatic-groups = 232.1.1.1 source\n"),
              std::make_pair(2, std::string("static-groups: no address after 'source'")));
    EXPECT_EQ(error_of("[interface e]\njoin-groups = 232.1.1.1 source 239.1.1.1\n"),
              std::make_pair(2, std::string("join-groups: source '239.1.1.1' is not an IPv4 "
                                            "unicast address")));
    EXPECT_EQ(error_of("[interface e]\njoin-groups = source 10.0.0.1\n").second,
              "join-groups: 'source' must follow a group ('GROUP source ADDRESS')");
}

// The NAK fairness keys (D36): defaults, values, and the errors for bad ones.
TEST(DaemonConfig, NakNeighbourKeys) {
    const DaemonConfig d = parse("[interface eth0]\n");
    EXPECT_EQ(d.router.max_naks_per_second_per_neighbour, 10000u);
    EXPECT_EQ(d.router.max_nak_neighbours_per_interface, 1024u);
    const DaemonConfig c = parse(
        "[limits]\nmax-naks-per-second-per-neighbour = 250\n"
        "max-nak-neighbours-per-interface = 65536\n[interface eth0]\n");
    EXPECT_EQ(c.router.max_naks_per_second_per_neighbour, 250u);
    EXPECT_EQ(c.router.max_nak_neighbours_per_interface, 65536u);
    for (const char* bad :
         {"max-nak-neighbours-per-interface = 0", "max-nak-neighbours-per-interface = 65537",
          "max-naks-per-second-per-neighbour = -1", "max-naks-per-second-per-neighbour = many",
          "max-naks-per-second-per-neighbour = 62", "max-naks-per-second-per-interface = 62",
          "max-naks-per-second-per-interface = 1"}) {
        try {
            parse(std::string("[limits]\n") + bad + "\n[interface eth0]\n");
            ADD_FAILURE() << bad << " was accepted";
        } catch (const ConfigError& e) {
            const std::string key(bad, std::string_view(bad).find(' '));
            EXPECT_NE(std::string(e.what()).find("test.conf:2: " + key), std::string::npos)
                << e.what();
        }
    }
}

// A VLAN interface's name has a dot: its keys are its own (the key is after the last dot).
TEST(DaemonConfig, InterfaceNameWithADotKeepsItsKeys) {
    const DaemonConfig c = parse("[interface eth0.100]\nigmp-querier = no\n");
    ASSERT_EQ(c.interfaces.size(), 1u);
    EXPECT_EQ(c.interfaces[0].name, "eth0.100");
    EXPECT_FALSE(c.interfaces[0].igmp_querier);
}

// changed_keys() compares the rendered values of the whole table: the [metrics], [capture]
// and [dataplane] keys too.
TEST(DaemonConfig, ChangedKeysCoverEveryKey) {
    const DaemonConfig defaults = parse("[interface eth0]\n[interface veth-b.7]\n");
    std::vector<std::string> expected;
    // Every key of the table: kEveryKeySet must set each one (the interface keys on eth0).
    for (const std::string& key : config_keys())
        if (!key.starts_with("interface ")) expected.push_back(key);
    for (const std::string& key : config_keys())
        if (key.starts_with("interface NAME."))
            expected.push_back("interface eth0." +
                               key.substr(std::string("interface NAME.").size()));
    EXPECT_EQ(changed_keys(defaults, parse(kEveryKeySet)), expected);
}

TEST(DaemonConfig, ErrorMessageIsFileLineReason) {
    try {
        parse("[interface eth0]\nbogus = 1\n");
        FAIL();
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "test.conf:2: unknown key 'bogus' in [interface eth0]");
    }
}

TEST(DaemonConfig, Durations) {
    EXPECT_EQ(parse_duration("100ms"), Duration(100ms));
    EXPECT_EQ(parse_duration("5 s"), Duration(5s));
    EXPECT_EQ(parse_duration("2min"), Duration(120s));
    EXPECT_FALSE(parse_duration("5"));
    EXPECT_FALSE(parse_duration("5h"));
    EXPECT_FALSE(parse_duration("-5s"));
    EXPECT_FALSE(parse_duration("1.5s"));
    EXPECT_FALSE(parse_duration(""));
    // Review finding 3: up to 24 h; nine digits of minutes would overflow the nanoseconds.
    EXPECT_EQ(parse_duration("1440min"), Duration(24h));
    EXPECT_EQ(parse_duration("86400s"), Duration(24h));
    EXPECT_FALSE(parse_duration("1441min"));
    EXPECT_FALSE(parse_duration("999999999min"));
    EXPECT_EQ(parse_milliseconds("999999999min"), std::chrono::minutes(999999999));
    try {
        parse("[interface up]\nnak-rpt-ivl = 999999999min\n");
        ADD_FAILURE() << "999999999min was accepted";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.reason(),
                  "nak-rpt-ivl: '999999999min' is longer than 1440min (24 h), the "
                  "longest duration accepted");
    }
}

TEST(RouteTable, LongestPrefixThenLowestMetric) {
    const std::vector<RouteEntry> table = {
        {0, 0, 0, 1},              // default via 1
        {0x0A000000, 8, 100, 2},   // 10/8 metric 100 via 2
        {0x0A000000, 8, 50, 3},    // 10/8 metric 50 via 3
        {0x0A010000, 16, 500, 4},  // 10.1/16 via 4
        {0x0A010200, 24, 0, 5},    // 10.1.2/24 via 5
        {0x0A010203, 32, 0, 6},    // host route
    };
    EXPECT_EQ(longest_prefix_match(table, 0xC0A80001), 1u);  // 192.168.0.1: default
    EXPECT_EQ(longest_prefix_match(table, 0x0A090909), 3u);  // 10.9.9.9: lower metric
    EXPECT_EQ(longest_prefix_match(table, 0x0A01FF01), 4u);
    EXPECT_EQ(longest_prefix_match(table, 0x0A010201), 5u);
    EXPECT_EQ(longest_prefix_match(table, 0x0A010203), 6u);
    EXPECT_FALSE(longest_prefix_match(std::span<const RouteEntry>(table).subspan(1), 0xC0A80001));
    EXPECT_FALSE(longest_prefix_match({}, 0x0A000001));
}

// GlobalKeySetter: keys of the table as a file's lines would set them (pgmsim's router
// options): the same checks and reasons, a single key given twice refused, a list key
// replacing the list it found at its first line and adding up after.
TEST(DaemonConfig, GlobalKeySetterAppliesKeysWithTheFilesChecks) {
    DaemonConfig c;
    c.router.dlr.scopes.push_back({});  // from elsewhere (pgmsim: --router-option)
    GlobalKeySetter setter(c, "opts");
    setter.set("timers.nak-rpt-ivl", "3s", 4);
    EXPECT_EQ(c.router.nak_rpt_ivl, std::chrono::seconds(3));
    setter.set("dlr.group", "239.1.0.0/16", 5);
    setter.set("dlr.group", "239.2.0.0/16", 6);
    EXPECT_EQ(c.router.dlr.scopes.size(), 2u);
    auto error = [&](const std::string& key, const std::string& value) {
        try {
            GlobalKeySetter fresh(c, "opts");
            fresh.set(key, value, 7);
        } catch (const ConfigError& e) {
            return e.file() + ":" + std::to_string(e.line()) + ": " + e.reason();
        }
        return std::string("accepted");
    };
    EXPECT_EQ(error("timers.nak-rpt-ivl", "soon"),
              "opts:7: nak-rpt-ivl: 'soon' is not a positive duration with a unit (ms, s, min)");
    EXPECT_EQ(error("timers.nosuch", "1s"), "opts:7: unknown key 'timers.nosuch'");
    EXPECT_EQ(error("timers.nak-rpt-ivl", ""), "opts:7: no value for 'timers.nak-rpt-ivl'");
    try {
        setter.set("timers.nak-rpt-ivl", "4s", 7);
        ADD_FAILURE() << "a key given twice was accepted";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.reason(), "'timers.nak-rpt-ivl' is given twice (first on line 4)");
    }
    EXPECT_EQ(c.router.nak_rpt_ivl, std::chrono::seconds(3));  // a refused value changes nothing
}

// Per-interface settings (decisions.md D38): unset they are the global values; set they
// override them for that interface only; the effective timers of each interface must obey
// the global rules, with errors that name the interface, both values and where they come
// from; a reload reports each changed key.
TEST(DaemonConfig, PerInterfaceSettingsOverrideTheGlobalValues) {
    const DaemonConfig c = parse(
        "[timers]\nnak-rdata-ivl = 3s\n[limits]\nmax-naks-per-second-per-interface = 500\n"
        "[interface up]\nnak-rdata-ivl = 20s\nnak-elim-ivl = 5s\nnak-rpt-ivl = 2s\n"
        "nak-repeat-period = 250ms\n"
        "[interface dn]\nrouter-assist = no\nmax-naks-per-second = 0\n"
        "max-naks-per-second-per-neighbour = 100\n[interface plain]\n");
    const router::InterfaceSettings& up = c.interfaces.at(0).router;
    EXPECT_EQ(up.nak_rdata_ivl, std::optional<Duration>(20s));
    EXPECT_EQ(up.nak_elim_ivl, std::optional<Duration>(5s));
    EXPECT_EQ(up.nak_rpt_ivl, std::optional<Duration>(2s));
    EXPECT_EQ(up.nak_repeat_period, std::optional<Duration>(250ms));
    EXPECT_TRUE(up.router_assist);
    EXPECT_FALSE(up.max_naks_per_second.has_value());
    const router::InterfaceSettings& dn = c.interfaces.at(1).router;
    EXPECT_FALSE(dn.router_assist);
    EXPECT_EQ(dn.max_naks_per_second, std::optional<std::uint32_t>(0));
    EXPECT_EQ(dn.max_naks_per_second_per_neighbour, std::optional<std::uint32_t>(100));
    EXPECT_EQ(c.interfaces.at(2).router, router::InterfaceSettings{});
    // Resolved against the globals: what the router core applies.
    const router::EffectiveInterfaceSettings e_dn = c.router.effective(dn);
    EXPECT_EQ(e_dn.timers, c.router.nak_timers());
    EXPECT_EQ(e_dn.max_naks_per_second, 0u);
    EXPECT_EQ(c.router.effective(c.interfaces.at(2).router).max_naks_per_second, 500u);
    EXPECT_EQ(c.router.effective(up).timers, (router::NakTimers{250ms, 2s, 20s, 5s}));
    expect_round_trip(
        "[interface up]\nnak-rdata-ivl = 20s\nnak-elim-ivl = 5s\n[interface dn]\n"
        "router-assist = no\nmax-naks-per-second = 0\n",
        "per-interface settings");
    // A reload reports the keys that changed, interface by interface.
    EXPECT_EQ(
        changed_keys(parse("[interface up]\n[interface dn]\n"),
                     parse("[interface up]\nnak-rdata-ivl = 20s\n[interface dn]\n"
                           "router-assist = no\n")),
        (std::vector<std::string>{"interface up.nak-rdata-ivl", "interface dn.router-assist"}));
}

TEST(DaemonConfig, PerInterfaceSettingsRefusedWithClearErrors) {
    // The interface's own elim against the global rdata, and the other way round.
    EXPECT_EQ(error_of("[interface up]\nnak-elim-ivl = 10s\n"),
              std::make_pair(2, std::string("[interface up]: nak-elim-ivl 10s must be shorter "
                                            "than nak-rdata-ivl 10s from [timers]")));
    EXPECT_EQ(error_of("[timers]\nnak-elim-ivl = 2s\n[interface up]\nrouter-assist = no\n"
                       "nak-rdata-ivl = 1500ms\n"),
              std::make_pair(5, std::string("[interface up]: nak-elim-ivl 2s from [timers] must "
                                            "be shorter than nak-rdata-ivl 1500ms")));
    EXPECT_EQ(error_of("[interface up]\nnak-rdata-ivl = 1s\nnak-elim-ivl = 1s\n").first, 3);
    // A global change that makes an interface's own value invalid is refused too.
    EXPECT_EQ(error_of("[timers]\nnak-elim-ivl = 3s\n[interface up]\nnak-rdata-ivl = 2s\n").second,
              "[interface up]: nak-elim-ivl 3s from [timers] must be shorter than "
              "nak-rdata-ivl 2s");
    EXPECT_EQ(error_of("[interface up]\nnak-repeat-period = 0ms\n"),
              std::make_pair(2, std::string("nak-repeat-period: '0ms' is not a positive duration "
                                            "with a unit (ms, s, min)")));
    EXPECT_EQ(error_of("[interface up]\nnak-rpt-ivl = 5\n").first, 2);
    EXPECT_EQ(error_of("[interface up]\nrouter-assist = maybe\n"),
              std::make_pair(2, std::string("router-assist: 'maybe' is not yes or no")));
    EXPECT_EQ(error_of("[interface up]\nmax-naks-per-second = -5\n"),
              std::make_pair(2, std::string("max-naks-per-second: '-5' is not a whole number "
                                            "in 0..1073741824")));
    EXPECT_EQ(error_of("[interface up]\nmax-naks-per-second-per-neighbour = 10\n").second,
              "max-naks-per-second-per-neighbour: 10 is below 63, the cost of one NAK with a "
              "full list (0: no such cap)");
    // Review finding 2: an interface cap below one full NAK list would shed long NAKs forever.
    EXPECT_EQ(error_of("[interface up]\nmax-naks-per-second = 62\n"),
              std::make_pair(2, std::string("max-naks-per-second: 62 is below 63, the cost of one "
                                            "NAK with a full list (0: unlimited)")));
    EXPECT_EQ(parse("[interface up]\nmax-naks-per-second = 63\n")
                  .interfaces[0]
                  .router.max_naks_per_second,
              63u);
    EXPECT_EQ(error_of("[interface up]\nrouter-assist = no\nrouter-assist = yes\n"),
              std::make_pair(3, std::string("'router-assist' is given twice in [interface up] "
                                            "(first on line 2)")));
    EXPECT_EQ(error_of("[interface up]\nmax-naks-per-second-per-interface = 5\n").second,
              "unknown key 'max-naks-per-second-per-interface' in [interface up]");
    EXPECT_EQ(error_of("[interface up]\nsession-lifetime = 5s\n").second,
              "unknown key 'session-lifetime' in [interface up]");
}

}  // namespace
}  // namespace pgm::dataplane
