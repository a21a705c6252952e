#include "cli/metrics.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "dataplane/log.h"
#include "router/counter_info.h"
#include "router/counters.h"

namespace pgm::cli {

namespace {

// The kernel fast path's per-interface counters (keys of `show fastpath`), their metric
// names (units in the name) and what they count.
struct FastPathCounter {
    const char* key;
    const char* metric;
    const char* help;
};
constexpr std::array<FastPathCounter, 11> kFastPathCounters = {{
    {"forwarded_packets", "pgmd_fastpath_forwarded_packets_total",
     "ODATA arriving on the interface forwarded in the kernel"},
    {"forwarded_bytes", "pgmd_fastpath_forwarded_bytes_total",
     "IP bytes of the ODATA arriving on the interface forwarded in the kernel"},
    {"out_packets", "pgmd_fastpath_out_packets_total",
     "copies the kernel sent out of the interface"},
    {"out_bytes", "pgmd_fastpath_out_bytes_total",
     "IP bytes of the copies the kernel sent out of the interface"},
    {"punted_packets", "pgmd_fastpath_punted_packets_total",
     "ODATA handed to pgmd by the kernel program"},
    {"punt_lost_packets", "pgmd_fastpath_punt_lost_packets_total",
     "packets the program could not hand to pgmd (too large, buffer full)"},
    {"drop_ttl", "pgmd_fastpath_ttl_dropped_packets_total",
     "packets the program dropped for TTL <= 1"},
    {"drop_redirect_error", "pgmd_fastpath_redirect_error_packets_total",
     "copies the kernel failed to send"},
    {"failopen_packets", "pgmd_fastpath_failopen_packets_total",
     "packets forwarded while failing open (pgmd's heartbeat stale)"},
    {"passed_packets", "pgmd_fastpath_passed_packets_total",
     "PGM passed on to the stack for pgmd's capture"},
    {"consumed_packets", "pgmd_fastpath_consumed_packets_total",
     "multicast PGM punted and dropped so that no kernel route forwards it"},
}};

// Label values: backslash, double quote and newline escaped (exposition format 0.0.4).
std::string escape_label(std::string_view value) {
    std::string out;
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string escape_help(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

using Labels = std::vector<std::pair<std::string, std::string>>;

// One metric family: its samples, written after # HELP and # TYPE.
class Family {
  public:
    Family(std::string name, std::string type, std::string help)
        : name_(std::move(name)), type_(std::move(type)), help_(std::move(help)) {}

    void add(const Labels& labels, const std::string& value) {
        samples_ += name_;
        if (!labels.empty()) {
            samples_ += '{';
            for (std::size_t i = 0; i < labels.size(); ++i) {
                if (i != 0) samples_ += ',';
                samples_ += labels[i].first + "=\"" + escape_label(labels[i].second) + '"';
            }
            samples_ += '}';
        }
        samples_ += ' ' + value + '\n';
    }
    void add(const Labels& labels, std::uint64_t value) { add(labels, std::to_string(value)); }

    // A family without samples is left out: its # TYPE alone would say nothing.
    void write(std::string& out) const {
        if (samples_.empty()) return;
        out += "# HELP " + name_ + ' ' + escape_help(help_) + '\n';
        out += "# TYPE " + name_ + ' ' + type_ + '\n';
        out += samples_;
    }

  private:
    std::string name_;
    std::string type_;
    std::string help_;
    std::string samples_;
};

std::string text_of(const Json& j) {
    if (j.is_string()) return j.get<std::string>();
    if (j.is_number_unsigned()) return std::to_string(j.get<std::uint64_t>());
    if (j.is_number_integer()) return std::to_string(j.get<std::int64_t>());
    return "";
}

std::optional<std::uint64_t> count_of(const Json& j) {
    if (j.is_number_unsigned()) return j.get<std::uint64_t>();
    if (j.is_number_integer() && j.get<std::int64_t>() >= 0)
        return static_cast<std::uint64_t>(j.get<std::int64_t>());
    return std::nullopt;
}

const Json& member(const Json& object, const char* key) {
    static const Json kNull;
    if (!object.is_object()) return kNull;
    auto it = object.find(key);
    return it == object.end() ? kNull : *it;
}

// An interface's name for the `interface` label: the kernel name, else "#IFINDEX" as
// pgmctl shows it.
std::string interface_label(const Json& object, const char* name_key, const char* index_key) {
    const Json& name = member(object, name_key);
    if (name.is_string()) return name.get<std::string>();
    return "#" + text_of(member(object, index_key));
}

std::string help_of(const std::string& counter, std::string_view where) {
    std::string_view d = counter_description(counter);
    return counter + " (" + std::string(where) +
           "): " + (d.empty() ? std::string("see docs/pgmctl.md") : std::string(d));
}

// Counter families in the order their names first appear, so that the output follows
// router/counters.h.
class CounterFamilies {
  public:
    CounterFamilies(std::string prefix, std::string where)
        : prefix_(std::move(prefix)), where_(std::move(where)) {}

    void add(const std::string& counter, const Labels& labels, std::uint64_t value) {
        auto it = std::find_if(families_.begin(), families_.end(),
                               [&](const auto& f) { return f.first == counter; });
        if (it == families_.end()) {
            families_.emplace_back(counter, Family(prefix_ + snake_case(counter) + "_total",
                                                   "counter", help_of(counter, where_)));
            it = families_.end() - 1;
        }
        it->second.add(labels, value);
    }
    void write(std::string& out) const {
        for (const auto& [counter, family] : families_)
            family.write(out);
    }

  private:
    std::string prefix_;
    std::string where_;
    std::vector<std::pair<std::string, Family>> families_;
};

}  // namespace

std::string snake_case(std::string_view camel) {
    std::string out;
    for (std::size_t i = 0; i < camel.size(); ++i) {
        const char c = camel[i];
        const bool upper = std::isupper(static_cast<unsigned char>(c)) != 0;
        if (upper && i > 0) {
            const bool prev_lower = std::islower(static_cast<unsigned char>(camel[i - 1])) != 0 ||
                                    std::isdigit(static_cast<unsigned char>(camel[i - 1])) != 0;
            const bool next_lower =
                i + 1 < camel.size() && std::islower(static_cast<unsigned char>(camel[i + 1])) != 0;
            const bool prev_upper = std::isupper(static_cast<unsigned char>(camel[i - 1])) != 0;
            // A word starts at an upper-case letter after a lower-case one ("InSpms"), or at
            // the last capital of an acronym followed by a word ("NNak" -> "n_nak").
            if (prev_lower || (prev_upper && next_lower)) out += '_';
        }
        out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

std::string_view counter_description(std::string_view name) {
    if (name.empty()) return {};
    for (std::size_t i = 0; i < router::kCounterNames.size(); ++i)
        if (router::kCounterNames[i] == name) return router::kCounterInfo[i].description;
    for (const auto& c : router::kCaptureCounterInfo)
        if (c.name == name) return c.info.description;
    return {};
}

std::string prometheus_text(const Snapshot& s) {
    std::string out;

    Family info("pgmd_info", "gauge", "pgmd's version (the value is always 1)");
    info.add({{"version", s.version}}, "1");
    info.write(out);
    Family start("pgmd_start_time_seconds", "gauge", "when pgmd started, in Unix time");
    start.add({}, std::to_string(static_cast<std::uint64_t>(s.start_time_seconds)));
    start.write(out);

    // Interfaces: gauges, then every counter (zero or not).
    Family upstream("pgmd_interface_upstream_sessions", "gauge",
                    "sessions whose upstream interface (towards the source) this is");
    Family repairs("pgmd_interface_repair_states", "gauge",
                   "repair states that owe RDATA on this interface");
    CounterFamilies interface_counters("pgmd_interface_", "per interface");
    for (const Json& i : member(s.interfaces, "interfaces")) {
        const Labels labels{{"interface", interface_label(i, "name", "ifindex")}};
        if (auto n = count_of(member(i, "upstream_sessions"))) upstream.add(labels, *n);
        if (auto n = count_of(member(i, "repair_states"))) repairs.add(labels, *n);
        const Json& counters = member(i, "counters");
        if (!counters.is_object()) continue;
        for (const auto& [name, value] : counters.items())
            if (auto n = count_of(value)) interface_counters.add(name, labels, *n);
    }
    upstream.write(out);
    repairs.write(out);
    interface_counters.write(out);

    // Sessions: how many, then the non-zero counters of each.
    const Json& sessions = member(s.sessions, "sessions");
    Family session_count("pgmd_sessions", "gauge", "sessions (TSIs) pgmd holds path state for");
    session_count.add({}, sessions.is_array() ? sessions.size() : 0);
    session_count.write(out);
    CounterFamilies session_counters("pgmd_session_", "per session");
    if (s.per_session) {
        for (const Json& j : sessions) {
            const Labels labels{
                {"interface", interface_label(j, "upstream_interface", "upstream_ifindex")},
                {"group", text_of(member(j, "group"))},
                {"source", text_of(member(j, "source"))},
                {"port", text_of(member(j, "data_destination_port"))},
                {"tsi", text_of(member(j, "tsi"))}};
            const Json& counters = member(j, "counters");
            if (!counters.is_object()) continue;
            for (const auto& [name, value] : counters.items())
                if (auto n = count_of(value); n && *n != 0) session_counters.add(name, labels, *n);
        }
    }
    session_counters.write(out);

    Family malformed("pgmd_malformed_total", "counter",
                     "PGM packets the parser refused, by reason (protocol/packet.h ParseError)");
    const Json& reasons = member(s.counters, "malformed_by_reason");
    if (reasons.is_object()) {
        for (const auto& [reason, value] : reasons.items())
            if (auto n = count_of(value)) malformed.add({{"reason", reason}}, *n);
    }
    malformed.write(out);

    // The kernel fast path, per interface.
    Family mode("pgmd_fastpath_kernel", "gauge",
                "1 when the interface's ODATA is forwarded by the kernel fast path, else 0");
    std::vector<Family> fast;
    for (const FastPathCounter& c : kFastPathCounters)
        fast.emplace_back(c.metric, "counter", c.help);
    for (const Json& i : member(s.fast_path, "interfaces")) {
        const Labels labels{{"interface", interface_label(i, "name", "ifindex")}};
        mode.add(labels, member(i, "mode") == "kernel" ? "1" : "0");
        for (std::size_t k = 0; k < kFastPathCounters.size(); ++k)
            if (auto n = count_of(member(i, kFastPathCounters[k].key))) fast[k].add(labels, *n);
    }
    mode.write(out);
    for (const Family& f : fast)
        f.write(out);
    return out;
}

std::string write_file_atomically(const std::string& path, std::string_view text) {
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
    const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    // Not ending in .prom: the collector ignores it while it is being written.
    std::string temp = dir + "." + base + ".XXXXXX";
    const int fd = mkostemp(temp.data(), O_CLOEXEC);
    if (fd < 0) return "cannot create a temporary file in " + dir + ": " + std::strerror(errno);
    std::string error;
    std::size_t done = 0;
    while (done < text.size() && error.empty()) {
        const ssize_t n = write(fd, text.data() + done, text.size() - done);
        if (n > 0)
            done += static_cast<std::size_t>(n);
        else if (n < 0 && errno != EINTR)
            error = std::string("cannot write ") + temp + ": " + std::strerror(errno);
    }
    if (error.empty() && fchmod(fd, 0644) != 0)
        error = std::string("cannot chmod ") + temp + ": " + std::strerror(errno);
    if (close(fd) != 0 && error.empty())
        error = std::string("cannot write ") + temp + ": " + std::strerror(errno);
    if (error.empty() && rename(temp.c_str(), path.c_str()) != 0)
        error = "cannot rename " + temp + " to " + path + ": " + std::strerror(errno);
    if (!error.empty()) unlink(temp.c_str());
    return error;
}

TextfileExporter::TextfileExporter(dataplane::EventLoop& loop, std::function<Snapshot()> snapshot)
    : loop_(loop), snapshot_(std::move(snapshot)) {}

TextfileExporter::~TextfileExporter() {
    if (timer_ != 0) loop_.cancel_timer(timer_);
    if (!config_.textfile.empty()) unlink(config_.textfile.c_str());
}

void remove_stale_temporary_files(const std::string& path) {
    // A pgmd killed between creating its temporary file and renaming it left one behind:
    // .BASE.XXXXXX in the same directory (the collector ignores it, the disk does not).
    const std::filesystem::path file(path);
    const std::string prefix = "." + file.filename().string() + ".";
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(file.parent_path(), ec)) {
        const std::string name = entry.path().filename().string();
        if (name.size() == prefix.size() + 6 && name.starts_with(prefix))
            std::filesystem::remove(entry.path(), ec);
    }
}

void TextfileExporter::configure(const dataplane::MetricsConfig& config) {
    if (!config_.textfile.empty() && config_.textfile != config.textfile)
        unlink(config_.textfile.c_str());
    config_ = config;
    if (timer_ != 0) loop_.cancel_timer(timer_);
    timer_ = 0;
    if (config_.textfile.empty()) return;
    remove_stale_temporary_files(config_.textfile);
    write_now();
}

void TextfileExporter::write_now() {
    if (config_.textfile.empty()) return;
    Snapshot s = snapshot_();
    s.per_session = config_.sessions;
    const std::string error = write_file_atomically(config_.textfile, prometheus_text(s));
    if (error != last_error_) {
        if (!error.empty())
            dataplane::log::warning("metrics: " + error + " (retried every interval)");
        else
            dataplane::log::notice("metrics: writing " + config_.textfile + " again");
        last_error_ = error;
    }
    arm();
}

void TextfileExporter::arm() {
    if (timer_ != 0) loop_.cancel_timer(timer_);
    timer_ = loop_.add_timer(dataplane::EventLoop::now() + config_.interval, [this] {
        timer_ = 0;
        write_now();
    });
}

}  // namespace pgm::cli
