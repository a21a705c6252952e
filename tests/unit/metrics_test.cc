// pgmd's Prometheus textfile (cli/metrics.h): the text for a router's JSON (names, units,
// labels, HELP/TYPE, escaping, session series), the atomic write, and the [metrics] keys.
#include "cli/metrics.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "dataplane/daemon_config.h"
#include "router/counters.h"

namespace pgm::cli {
namespace {

using namespace std::chrono_literals;

Json counters_with(std::map<std::string, std::uint64_t> values) {
    Json c = Json::object();
    for (const char* name : router::kCounterNames)
        c[name] = 0;
    c["CaptureDrops"] = 0;
    c["CaptureIfDrops"] = 0;
    for (const auto& [k, v] : values)
        c[k] = v;
    return c;
}

Snapshot example() {
    Snapshot s;
    s.version = "0.1.0";
    s.start_time_seconds = 1700000000.7;
    s.interfaces =
        Json{{"interfaces",
              Json::array(
                  {Json{{"ifindex", 2},
                        {"name", "up0"},
                        {"upstream_sessions", 1},
                        {"repair_states", 0},
                        {"counters", counters_with({{"InOdata", 300}})}},
                   Json{{"ifindex", 3},
                        {"name", nullptr},
                        {"upstream_sessions", 0},
                        {"repair_states", 2},
                        {"counters", counters_with({{"OutOdata", 299}, {"CaptureDrops", 4}})}}})}};
    Json session_counters = Json::object();
    for (const char* name : router::kCounterNames)
        session_counters[name] = 0;
    session_counters["InOdata"] = 300;
    session_counters["NakEliminated"] = 5;
    s.sessions = Json{{"sessions", Json::array({Json{{"tsi", "0a0b0c0d0e0f.1000"},
                                                     {"source", "10.1.0.1"},
                                                     {"group", "239.192.0.1"},
                                                     {"data_destination_port", 7500},
                                                     {"upstream_ifindex", 2},
                                                     {"upstream_interface", "up0"},
                                                     {"counters", session_counters}}})}};
    s.counters = Json{{"malformed_by_reason", {{"BadChecksum", 3}, {"Truncated", 0}}}};
    s.fast_path = Json{{"mode", "kernel"},
                       {"interfaces", Json::array({Json{{"ifindex", 2},
                                                        {"name", "up0"},
                                                        {"mode", "kernel"},
                                                        {"forwarded_packets", 300},
                                                        {"forwarded_bytes", 73200}}})}};
    return s;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

bool has_line(const std::string& text, const std::string& line) {
    for (const std::string& l : lines_of(text))
        if (l == line) return true;
    return false;
}

TEST(Metrics, SnakeCaseOfThePgmMibNames) {
    EXPECT_EQ(snake_case("InSpms"), "in_spms");
    EXPECT_EQ(snake_case("NakForwardedDLR"), "nak_forwarded_dlr");
    EXPECT_EQ(snake_case("NNakEliminated"), "n_nak_eliminated");
    EXPECT_EQ(snake_case("RdataEliminatedOIF"), "rdata_eliminated_oif");
    EXPECT_EQ(snake_case("CaptureIfDrops"), "capture_if_drops");
}

TEST(Metrics, EveryCounterIsDescribedAndNamedUniquely) {
    std::set<std::string> names;
    for (const char* name : router::kCounterNames) {
        EXPECT_FALSE(counter_description(name).empty()) << name << " has no # HELP text";
        EXPECT_TRUE(names.insert(snake_case(name)).second) << name << ": name taken twice";
    }
    EXPECT_FALSE(counter_description("CaptureDrops").empty());
    EXPECT_TRUE(counter_description("NoSuchCounter").empty());
}

// docs/operations.md "Reading the counters" has a row for each counter, with its description.
TEST(Metrics, OperationsGuideDescribesEveryCounter) {
    std::ifstream in(PGMD_SOURCE_DIR "/docs/operations.md");
    ASSERT_TRUE(in) << "cannot read docs/operations.md";
    std::stringstream text;
    text << in.rdbuf();
    for (const char* name : router::kCounterNames) {
        const std::string row = "| `" + std::string(name) + "` | `" + snake_case(name) +
                                "_total` | " + std::string(counter_description(name));
        EXPECT_NE(text.str().find(row), std::string::npos)
            << "docs/operations.md has no row " << row;
    }
}

TEST(Metrics, InterfaceCountersAllWrittenWithUnitsAndLabels) {
    const std::string text = prometheus_text(example());
    EXPECT_TRUE(has_line(text, "pgmd_interface_in_odata_total{interface=\"up0\"} 300")) << text;
    EXPECT_TRUE(has_line(text, "pgmd_interface_in_odata_total{interface=\"#3\"} 0"));
    EXPECT_TRUE(has_line(text, "pgmd_interface_out_odata_total{interface=\"#3\"} 299"));
    EXPECT_TRUE(has_line(text, "pgmd_interface_capture_drops_total{interface=\"#3\"} 4"));
    EXPECT_TRUE(has_line(text, "pgmd_interface_repair_states{interface=\"#3\"} 2"));
    EXPECT_TRUE(has_line(text, "pgmd_interface_upstream_sessions{interface=\"up0\"} 1"));
    EXPECT_TRUE(has_line(text, "pgmd_info{version=\"0.1.0\"} 1"));
    EXPECT_TRUE(has_line(text, "pgmd_start_time_seconds 1700000000"));
    EXPECT_TRUE(has_line(text, "pgmd_sessions 1"));
    EXPECT_TRUE(has_line(text, "pgmd_malformed_total{reason=\"BadChecksum\"} 3"));
    EXPECT_TRUE(has_line(text, "pgmd_malformed_total{reason=\"Truncated\"} 0"));
    EXPECT_TRUE(has_line(text, "pgmd_fastpath_kernel{interface=\"up0\"} 1"));
    EXPECT_TRUE(has_line(text, "pgmd_fastpath_forwarded_bytes_total{interface=\"up0\"} 73200"));
    EXPECT_TRUE(has_line(text, "# TYPE pgmd_fastpath_forwarded_packets_total counter"));
    // Every router counter, per interface, both interfaces.
    for (const char* name : router::kCounterNames) {
        const std::string metric = "pgmd_interface_" + snake_case(name) + "_total";
        EXPECT_TRUE(has_line(text, "# TYPE " + metric + " counter")) << metric;
        EXPECT_NE(text.find(metric + "{interface=\"up0\"} "), std::string::npos) << metric;
    }
}

TEST(Metrics, SessionSeriesOnlyOnceNonZeroAndOptional) {
    Snapshot s = example();
    std::string text = prometheus_text(s);
    const std::string labels =
        "{interface=\"up0\",group=\"239.192.0.1\",source=\"10.1.0.1\",port=\"7500\","
        "tsi=\"0a0b0c0d0e0f.1000\"}";
    EXPECT_TRUE(has_line(text, "pgmd_session_in_odata_total" + labels + " 300")) << text;
    EXPECT_TRUE(has_line(text, "pgmd_session_nak_eliminated_total" + labels + " 5"));
    EXPECT_EQ(text.find("pgmd_session_in_spms_total"), std::string::npos);
    s.per_session = false;
    text = prometheus_text(s);
    EXPECT_EQ(text.find("pgmd_session_"), std::string::npos);
    EXPECT_TRUE(has_line(text, "pgmd_sessions 1"));
}

TEST(Metrics, EachFamilyHasOneHelpAndTypeBeforeItsSamples) {
    const std::string text = prometheus_text(example());
    std::set<std::string> typed;
    std::string current;
    for (const std::string& line : lines_of(text)) {
        ASSERT_FALSE(line.empty());
        if (line.starts_with("# HELP ")) {
            current = line.substr(7, line.find(' ', 7) - 7);
            continue;
        }
        if (line.starts_with("# TYPE ")) {
            const std::string name = line.substr(7, line.find(' ', 7) - 7);
            EXPECT_EQ(name, current) << "TYPE without its HELP: " << line;
            EXPECT_TRUE(typed.insert(name).second) << name << " typed twice";
            const std::string type = line.substr(line.rfind(' ') + 1);
            EXPECT_TRUE(type == "counter" || type == "gauge") << line;
            EXPECT_EQ(type == "counter", name.ends_with("_total")) << line;
            continue;
        }
        const std::string name = line.substr(0, line.find_first_of("{ "));
        EXPECT_EQ(name, current) << "sample outside its family: " << line;
    }
}

TEST(Metrics, LabelValuesAreEscaped) {
    Snapshot s = example();
    s.interfaces["interfaces"][0]["name"] = "a\"b\\c\nd";
    const std::string text = prometheus_text(s);
    EXPECT_NE(text.find("{interface=\"a\\\"b\\\\c\\nd\"}"), std::string::npos) << text;
}

TEST(Metrics, EmptyStateStillSaysWhoWroteIt) {
    Snapshot s;
    s.version = "0.1.0";
    const std::string text = prometheus_text(s);
    EXPECT_TRUE(has_line(text, "pgmd_info{version=\"0.1.0\"} 1"));
    EXPECT_TRUE(has_line(text, "pgmd_sessions 0"));
}

class MetricsFiles : public ::testing::Test {
  protected:
    void SetUp() override {
        char templ[] = "/tmp/metrics_test.XXXXXX";
        ASSERT_NE(mkdtemp(templ), nullptr);
        dir_ = templ;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::string dir_;
};

TEST_F(MetricsFiles, WriteIsAtomicReadableAndLeavesNoTemporaryFile) {
    const std::string path = dir_ + "/pgmd.prom";
    ASSERT_EQ(write_file_atomically(path, "first\n"), "");
    ASSERT_EQ(write_file_atomically(path, "second\n"), "");
    std::ifstream in(path);
    std::stringstream content;
    content << in.rdbuf();
    EXPECT_EQ(content.str(), "second\n");
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(dir_))
        files.push_back(e.path().filename());
    EXPECT_EQ(files, std::vector<std::string>{"pgmd.prom"});
}

// What a pgmd killed between creating and renaming its temporary file left: removed, and
// nothing else (other files, other exporters' temporaries).
TEST_F(MetricsFiles, StaleTemporaryFilesOfThisFileAreRemoved) {
    for (const char* name : {".pgmd.prom.Ab12Cd", ".pgmd.prom.zzzzzz", ".other.prom.Ab12Cd",
                             "pgmd.prom", ".pgmd.prom.toolong1", "node.prom"})
        std::ofstream(dir_ + "/" + name) << "x\n";
    remove_stale_temporary_files(dir_ + "/pgmd.prom");
    std::set<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(dir_))
        files.insert(e.path().filename());
    EXPECT_EQ(files, (std::set<std::string>{".other.prom.Ab12Cd", "pgmd.prom",
                                            ".pgmd.prom.toolong1", "node.prom"}));
}

TEST_F(MetricsFiles, WriteIntoAMissingDirectorySaysWhy) {
    const std::string error = write_file_atomically(dir_ + "/nosuch/pgmd.prom", "x\n");
    EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;
}

dataplane::DaemonConfig parse(const std::string& text) {
    std::istringstream in(text);
    return dataplane::parse_config(in, "test.conf");
}

std::string error_of(const std::string& text) {
    try {
        parse(text);
    } catch (const dataplane::ConfigError& e) {
        return std::to_string(e.line()) + ": " + e.reason();
    }
    return "no error";
}

TEST(MetricsConfig, DefaultsKeysAndRanges) {
    const dataplane::DaemonConfig d = parse("[interface eth0]\n");
    EXPECT_TRUE(d.metrics.textfile.empty());
    EXPECT_EQ(d.metrics.interval, 15s);
    EXPECT_TRUE(d.metrics.sessions);
    const dataplane::DaemonConfig c = parse(
        "[metrics]\ntextfile = /var/lib/prometheus/node-exporter/pgmd.prom\ninterval = 5s\n"
        "sessions = no\n[interface eth0]\n");
    EXPECT_EQ(c.metrics.textfile, "/var/lib/prometheus/node-exporter/pgmd.prom");
    EXPECT_EQ(c.metrics.interval, 5s);
    EXPECT_FALSE(c.metrics.sessions);
    EXPECT_EQ(error_of("[metrics]\ntextfile = pgmd.prom\n"),
              "2: textfile: 'pgmd.prom' is not an absolute path ending in .prom");
    EXPECT_EQ(error_of("[metrics]\ntextfile = /tmp/pgmd.txt\n"),
              "2: textfile: '/tmp/pgmd.txt' is not an absolute path ending in .prom");
    EXPECT_EQ(error_of("[metrics]\ntextfile = /tmp/.prom\n"),
              "2: textfile: '/tmp/.prom' is not an absolute path ending in .prom");
    EXPECT_EQ(error_of("\n[metrics]\ninterval = 500ms\n"),
              "3: interval: '500ms' is not within 1s..60min");
    EXPECT_EQ(error_of("[metrics]\ninterval = 61min\n"),
              "2: interval: '61min' is not within 1s..60min");
    EXPECT_EQ(error_of("[metrics]\nsessions = maybe\n"), "2: sessions: 'maybe' is not yes or no");
}

TEST_F(MetricsFiles, LoadRefusesATextfileInAMissingDirectoryAtItsLine) {
    const std::string conf = dir_ + "/pgmd.conf";
    std::ofstream(conf) << "[interface eth0]\n[metrics]\ntextfile = " << dir_
                        << "/nosuch/pgmd.prom\n";
    try {
        dataplane::load_config(conf);
        ADD_FAILURE() << "loaded";
    } catch (const dataplane::ConfigError& e) {
        EXPECT_EQ(e.line(), 3);
        EXPECT_EQ(e.reason(),
                  "textfile: directory " + dir_ + "/nosuch/: No such file or directory");
    }
    std::ofstream(conf) << "[interface eth0]\n[metrics]\ntextfile = " << dir_ << "/pgmd.prom\n";
    EXPECT_EQ(dataplane::load_config(conf).metrics.textfile, dir_ + "/pgmd.prom");
}

}  // namespace
}  // namespace pgm::cli
