#include "dataplane/fastpath.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "dataplane/bpf/pgm_fastpath.skel.h"
#include "dataplane/fastpath_table.h"
#include "protocol/seq.h"

namespace pgm::dataplane {

namespace {

// Collects libbpf's warnings while it is alive, so that a failure can be explained in one
// line (libbpf otherwise prints them, verifier log included, to stderr).
class LibbpfMessages {
  public:
    LibbpfMessages() {
        active_ = this;
        previous_ = libbpf_set_print(&LibbpfMessages::print);
    }
    ~LibbpfMessages() {
        libbpf_set_print(previous_);
        active_ = nullptr;
    }
    LibbpfMessages(const LibbpfMessages&) = delete;
    LibbpfMessages& operator=(const LibbpfMessages&) = delete;

    // The kernel verifier's verdict, when a program load log was printed: the last line of
    // the log that is not its statistics.
    std::optional<std::string> verifier_reason() const {
        const auto begin = text_.find("-- BEGIN PROG LOAD LOG --");
        if (begin == std::string::npos) return std::nullopt;
        auto end = text_.find("-- END PROG LOAD LOG --", begin);
        if (end == std::string::npos) end = text_.size();
        std::string reason;
        std::size_t at = text_.find('\n', begin);
        while (at != std::string::npos && at < end) {
            const std::size_t next = text_.find('\n', at + 1);
            std::string line = text_.substr(at + 1, std::min(next, end) - at - 1);
            if (!line.empty() && line.rfind("processed ", 0) != 0 &&
                line.rfind("verification time", 0) != 0 && line.rfind("stack depth", 0) != 0 &&
                line.rfind("-- END", 0) != 0) {
                reason = std::move(line);
            }
            at = next;
        }
        return reason.empty() ? std::optional<std::string>("(empty log)") : reason;
    }
    // libbpf's last message line, "" if none.
    std::string last_line() const {
        std::string t = text_;
        while (!t.empty() && t.back() == '\n')
            t.pop_back();
        const auto nl = t.rfind('\n');
        return nl == std::string::npos ? t : t.substr(nl + 1);
    }

  private:
    static int print(libbpf_print_level level, const char* format, va_list args) {
        if (level == LIBBPF_DEBUG || active_ == nullptr) return 0;
        va_list copy;
        va_copy(copy, args);
        const int n = std::vsnprintf(nullptr, 0, format, copy);
        va_end(copy);
        if (n <= 0) return 0;
        std::string s(static_cast<std::size_t>(n) + 1, '\0');
        std::vsnprintf(s.data(), s.size(), format, args);
        s.resize(static_cast<std::size_t>(n));
        active_->text_ += s;
        return n;
    }

    static inline LibbpfMessages* active_ = nullptr;
    libbpf_print_fn_t previous_ = nullptr;
    std::string text_;
};

std::string errno_text(int err) {
    return std::strerror(err < 0 ? -err : err);
}

// One line an operator can act on, from libbpf's error code and its messages.
std::string explain(const std::string& what, int err, const LibbpfMessages& messages) {
    if (err < 0) err = -err;
    std::string why;
    if (err == EPERM) {
        why =
            "no permission to use BPF (pgmd needs root, or CAP_BPF, CAP_PERFMON and "
            "CAP_NET_ADMIN)";
    } else if (auto verdict = messages.verifier_reason()) {
        why = "the kernel's verifier rejected the program: " + *verdict;
    } else {
        why = errno_text(err);
        const std::string line = messages.last_line();
        if (!line.empty()) why += " (" + line + ")";
    }
    return "BPF fast path: " + what + ": " + why;
}

void map_update(bpf_map* map, const void* key, const void* value, std::uint64_t flags,
                const char* what) {
    if (bpf_map_update_elem(bpf_map__fd(map), key, value, flags) != 0) {
        throw FastPathError(std::string("BPF fast path: cannot update ") + bpf_map__name(map) +
                            " (" + what + "): " + errno_text(errno));
    }
}

void map_erase(bpf_map* map, const void* key) {
    if (bpf_map_delete_elem(bpf_map__fd(map), key) != 0 && errno != ENOENT) {
        throw FastPathError(std::string("BPF fast path: cannot erase from ") + bpf_map__name(map) +
                            ": " + errno_text(errno));
    }
}

bpf_tc_hook ingress_hook(IfIndex ifindex) {
    bpf_tc_hook hook;
    std::memset(&hook, 0, sizeof hook);  // libbpf checks that unknown tail bytes are zero
    hook.sz = sizeof hook;
    hook.ifindex = static_cast<int>(ifindex);
    hook.attach_point = BPF_TC_INGRESS;
    return hook;
}

bpf_tc_opts pgmd_filter() {
    bpf_tc_opts opts;
    std::memset(&opts, 0, sizeof opts);
    opts.sz = sizeof opts;
    opts.handle = FastPath::kTcHandle;
    opts.priority = FastPath::kTcPriority;
    return opts;
}

}  // namespace

FastPath::FastPath(const FastPathOptions& options) {
    LibbpfMessages messages;
    skel_ = pgm_fastpath__open();
    if (skel_ == nullptr) {
        throw FastPathError(explain("cannot open the embedded program", errno, messages));
    }
    // fp_progress is a per-CPU array, allocated whole for every possible CPU: as many slots
    // as the budget allows, FP_MAX_SESSIONS at most (the forwarding table holds no more
    // sessions than there are slots).
    const int possible = libbpf_num_possible_cpus();
    if (possible > 0) {
        const std::uint64_t per_slot = static_cast<std::uint64_t>(possible) * sizeof(fp_progress);
        session_slots_ = static_cast<std::uint32_t>(
            std::clamp<std::uint64_t>(kProgressBudgetBytes / per_slot, 1024, FP_MAX_SESSIONS));
    }
    if (bpf_map__set_max_entries(skel_->maps.fp_progress, session_slots_) != 0) {
        const int err = errno;
        pgm_fastpath__destroy(skel_);
        throw FastPathError(explain("cannot size fp_progress", err, messages));
    }
    if (int err = pgm_fastpath__load(skel_); err != 0) {
        pgm_fastpath__destroy(skel_);
        throw FastPathError(explain("cannot load the program", err, messages));
    }
    ncpus_ = libbpf_num_possible_cpus();
    punts_ = perf_buffer__new(bpf_map__fd(skel_->maps.fp_punts), 64, &FastPath::on_sample,
                              &FastPath::on_lost, this, nullptr);
    if (punts_ == nullptr || ncpus_ <= 0) {
        const int err = errno;
        if (punts_ != nullptr) perf_buffer__free(punts_);
        pgm_fastpath__destroy(skel_);
        throw FastPathError(explain("cannot open the punt perf buffer", err, messages));
    }
    try {
        config_.stale_after_ns = options.stale_after_ns;
        config_.abi_version = FP_ABI_VERSION;  // for the pgmd that takes over from this one
        set_udp_ports(options.udp_ports);      // writes the configuration: disabled, no heartbeat
    } catch (...) {
        perf_buffer__free(punts_);
        pgm_fastpath__destroy(skel_);
        throw;
    }
}

FastPath::~FastPath() {
    if (leave_attached_) {
        // Stale at once (0 is never fresh): the programs left behind fail open now, instead
        // of punting to a perf buffer nobody reads until fail-open-after has passed.
        try {
            heartbeat(0);
        } catch (const FastPathError&) {
        }
    } else {
        while (!attached_.empty()) {
            try {
                detach(attached_.begin()->first);
            } catch (const FastPathError&) {
                attached_.erase(attached_.begin());  // nothing more can be done about it
            }
        }
    }
    perf_buffer__free(punts_);
    pgm_fastpath__destroy(skel_);
}

std::string FastPath::probe() {
    try {
        FastPath probe_instance{FastPathOptions{}};
    } catch (const FastPathError& e) {
        return e.what();
    }
    return "";
}

void FastPath::set_mac(IfIndex ifindex, const std::array<std::uint8_t, 6>& mac) {
    auto it = attached_.find(ifindex);
    if (it == attached_.end())
        throw FastPathError("BPF fast path: interface " + std::to_string(ifindex) +
                            " is not attached");
    fp_interface entry{};
    std::memcpy(entry.mac, mac.data(), mac.size());
    entry.slot = it->second.slot;
    if (bpf_map_update_elem(bpf_map__fd(skel_->maps.fp_interfaces), &ifindex, &entry, BPF_EXIST) !=
        0) {
        throw FastPathError("BPF fast path: cannot update fp_interfaces (MAC address): " +
                            errno_text(errno));
    }
    it->second.mac = mac;
}

void FastPath::attach(IfIndex ifindex, const std::array<std::uint8_t, 6>& mac) {
    const bool known = attached_.contains(ifindex);
    FastPathInterface ifc;
    if (known) {
        ifc.slot = attached_[ifindex].slot;  // counters kept
    } else {
        const auto slot = if_slots_.take();
        if (!slot) {
            throw FastPathError("BPF fast path: cannot attach to interface " +
                                std::to_string(ifindex) + ": already on " +
                                std::to_string(FP_MAX_INTERFACES) + " interfaces");
        }
        ifc.slot = static_cast<std::uint16_t>(*slot);
        // A slot given back may hold the counters of the interface that had it.
        const std::uint32_t key = ifc.slot;
        std::vector<fp_if_stats> zeros(static_cast<std::size_t>(ncpus_));
        if (bpf_map_update_elem(bpf_map__fd(skel_->maps.fp_if_stats), &key, zeros.data(),
                                BPF_ANY) != 0) {
            const int err = errno;
            if_slots_.give_back(ifc.slot);
            throw FastPathError("BPF fast path: cannot count on interface " +
                                std::to_string(ifindex) + ": " + errno_text(err));
        }
    }
    ifc.mac = mac;
    // On a failure below, an interface attached before stays as it was (slot and entry).
    auto fail = [&] {
        if (!known) forget_interface(ifindex, ifc.slot);
    };
    fp_interface entry{};
    std::memcpy(entry.mac, mac.data(), mac.size());
    entry.slot = ifc.slot;
    if (bpf_map_update_elem(bpf_map__fd(skel_->maps.fp_interfaces), &ifindex, &entry, BPF_ANY) !=
        0) {
        const int err = errno;
        fail();
        throw FastPathError("BPF fast path: cannot update fp_interfaces (interface): " +
                            errno_text(err));
    }

    LibbpfMessages messages;
    bpf_tc_hook hook = ingress_hook(ifindex);
    int err = bpf_tc_hook_create(&hook);
    if (err != 0 && err != -EEXIST) {
        fail();
        throw FastPathError(
            explain("cannot create the clsact qdisc on interface " + std::to_string(ifindex), err,
                    messages));
    }
    // A previous pgmd's program still there (killed, or on-exit = fail-open): keep what it
    // knew of the groups' members before this one replaces it.
    bpf_tc_opts query = pgmd_filter();
    if (bpf_tc_query(&hook, &query) == 0 && query.prog_id != 0) inherit_groups(query.prog_id);
    bpf_tc_opts opts = pgmd_filter();
    opts.prog_fd = program_fd();
    opts.flags = BPF_TC_F_REPLACE;  // take over from a previous pgmd's filter
    err = bpf_tc_attach(&hook, &opts);
    if (err != 0) {
        fail();
        throw FastPathError(
            explain("cannot attach to interface " + std::to_string(ifindex), err, messages));
    }
    attached_[ifindex] = ifc;
}

void FastPath::detach(IfIndex ifindex) {
    LibbpfMessages messages;
    bpf_tc_hook hook = ingress_hook(ifindex);
    bpf_tc_opts opts = pgmd_filter();
    const int err = bpf_tc_detach(&hook, &opts);
    if (auto it = attached_.find(ifindex); it != attached_.end()) {
        const std::uint16_t slot = it->second.slot;
        attached_.erase(it);
        forget_interface(ifindex, slot);
    }
    // ENOENT: no such filter (or qdisc); EINVAL: no filter chain at pgmd's priority any
    // more (the kernel's "Cannot find specified filter chain"); ENODEV: the interface is
    // gone, and its filters with it. All mean "not attached", which is what was asked.
    if (err != 0 && err != -ENOENT && err != -ENODEV && err != -EINVAL) {
        throw FastPathError(
            explain("cannot detach from interface " + std::to_string(ifindex), err, messages));
    }
}

void FastPath::forget_interface(IfIndex ifindex, std::uint16_t slot) {
    bpf_map_delete_elem(bpf_map__fd(skel_->maps.fp_interfaces), &ifindex);
    if_slots_.give_back(slot);  // held until release_held_slots(), zeroed when given again
}

void FastPath::write_config() {
    const std::uint32_t key = 0;
    map_update(skel_->maps.fp_config, &key, &config_, BPF_ANY, "configuration");
}

void FastPath::heartbeat(std::uint64_t monotonic_ns) {
    config_.heartbeat_ns = monotonic_ns;
    write_config();
}

void FastPath::set_enabled(bool enabled) {
    config_.flags =
        enabled ? (config_.flags | FP_CONFIG_ENABLED) : (config_.flags & ~FP_CONFIG_ENABLED);
    write_config();
}

void FastPath::set_consume(bool consume) {
    config_.flags =
        consume ? (config_.flags | FP_CONFIG_CONSUME) : (config_.flags & ~FP_CONFIG_CONSUME);
    write_config();
}

void FastPath::set_udp_ports(std::span<const std::uint16_t> ports) {
    if (ports.size() > FP_MAX_UDP_PORTS) {
        throw FastPathError("BPF fast path: at most " + std::to_string(FP_MAX_UDP_PORTS) +
                            " UDP encapsulation ports, not " + std::to_string(ports.size()));
    }
    fp_config next = config_;
    std::memset(next.udp_ports, 0, sizeof next.udp_ports);
    for (std::size_t i = 0; i < ports.size(); ++i) {
        if (ports[i] == 0) throw FastPathError("BPF fast path: UDP port 0");
        next.udp_ports[i] = ports[i];
    }
    config_ = next;
    write_config();
}

void FastPath::set_stale_after(std::uint64_t ns) {
    config_.stale_after_ns = ns;
    write_config();
}

void FastPath::upsert_session(const fp_session_key& key, const fp_session& session) {
    if (session.n_egress > FP_MAX_EGRESS) {
        throw FastPathError("BPF fast path: a session has more than " +
                            std::to_string(FP_MAX_EGRESS) + " egress interfaces");
    }
    if (session.slot >= session_slots_) {
        throw FastPathError("BPF fast path: session slot " + std::to_string(session.slot) +
                            " beyond the " + std::to_string(session_slots_) + " there are");
    }
    map_update(skel_->maps.fp_sessions, &key, &session, BPF_ANY, "session");
}

void FastPath::erase_session(const fp_session_key& key) {
    map_erase(skel_->maps.fp_sessions, &key);
}

void FastPath::upsert_group(const fp_group_key& key, const fp_group& group) {
    if (group.n_ifindex > FP_MAX_EGRESS) {
        throw FastPathError("BPF fast path: a group has more than " +
                            std::to_string(FP_MAX_EGRESS) + " interfaces");
    }
    map_update(skel_->maps.fp_groups, &key, &group, BPF_ANY, "group");
}

void FastPath::erase_group(const fp_group_key& key) {
    map_erase(skel_->maps.fp_groups, &key);
}

namespace {

// Every entry of a hash map, by bpf_map_get_next_key. An entry erased during the walk is
// left out; an error other than the end of the map throws.
template <class Key, class Value>
std::vector<std::pair<Key, Value>> read_map(bpf_map* map) {
    std::vector<std::pair<Key, Value>> entries;
    const int fd = bpf_map__fd(map);
    Key key{};
    Key next{};
    const Key* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        Value v{};
        if (bpf_map_lookup_elem(fd, &next, &v) == 0) {
            entries.emplace_back(next, v);
        } else if (errno != ENOENT) {
            throw FastPathError(std::string("BPF fast path: cannot read ") + bpf_map__name(map) +
                                ": " + errno_text(errno));
        }
        key = next;
        prev = &key;
    }
    if (errno != ENOENT) {
        throw FastPathError(std::string("BPF fast path: cannot walk ") + bpf_map__name(map) + ": " +
                            errno_text(errno));
    }
    return entries;
}

}  // namespace

std::vector<std::pair<fp_session_key, fp_session>> FastPath::read_sessions() const {
    return read_map<fp_session_key, fp_session>(skel_->maps.fp_sessions);
}

std::vector<std::pair<fp_group_key, fp_group>> FastPath::read_groups() const {
    return read_map<fp_group_key, fp_group>(skel_->maps.fp_groups);
}

std::optional<FastPath::Progress> FastPath::progress(std::uint32_t slot) const {
    // Per-CPU values come as one array of ncpus elements (each a multiple of 8 bytes).
    static_assert(sizeof(fp_progress) % 8 == 0);
    std::vector<fp_progress> cpus(static_cast<std::size_t>(ncpus_));
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.fp_progress), &slot, cpus.data()) != 0) {
        return std::nullopt;
    }
    // Only CPUs that saw the session since the last call may move the lead: a CPU that
    // stopped seeing it (IRQ affinity, RPS) keeps an old lead, which 2^31 sequences later
    // would compare as newer (RFC 1982) and drag the lead back.
    Seen& seen = seen_[slot];
    const bool first = seen.packets.size() != cpus.size();
    if (first) seen.packets.assign(cpus.size(), 0);
    Progress sum;
    bool any = false;
    for (std::size_t i = 0; i < cpus.size(); ++i) {
        const fp_progress& c = cpus[i];
        sum.packets += c.packets;
        sum.bytes += c.bytes;
        sum.forwarded += c.forwarded;
        const bool moved = first || c.packets != seen.packets[i];
        seen.packets[i] = c.packets;
        if (c.packets == 0 || !moved) continue;  // 0: this CPU noted no lead
        if (!any || Sqn{c.lead} > Sqn{sum.lead}) {
            sum.lead = c.lead;
            sum.trail = c.trail;
        }
        any = true;
    }
    if (any && (!seen.valid || Sqn{sum.lead} > Sqn{seen.lead})) {
        seen.lead = sum.lead;
        seen.trail = sum.trail;
        seen.valid = true;
    }
    if (!seen.valid) return std::nullopt;
    sum.lead = seen.lead;
    sum.trail = seen.trail;
    return sum;
}

void FastPath::reset_progress(std::uint32_t slot) {
    seen_.erase(slot);
    std::vector<fp_progress> zeros(static_cast<std::size_t>(ncpus_));
    map_update(skel_->maps.fp_progress, &slot, zeros.data(), BPF_ANY, "session slot");
}

fp_if_stats FastPath::if_stats(IfIndex ifindex) const {
    static_assert(sizeof(fp_if_stats) % 8 == 0);
    std::vector<fp_if_stats> cpus(static_cast<std::size_t>(ncpus_));
    fp_if_stats sum{};
    const auto it = attached_.find(ifindex);
    if (it == attached_.end()) return sum;
    const std::uint32_t slot = it->second.slot;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.fp_if_stats), &slot, cpus.data()) != 0) {
        return sum;
    }
    for (const fp_if_stats& c : cpus) {
        sum.in_forwarded_packets += c.in_forwarded_packets;
        sum.in_forwarded_bytes += c.in_forwarded_bytes;
        sum.out_packets += c.out_packets;
        sum.out_bytes += c.out_bytes;
        sum.punted_packets += c.punted_packets;
        sum.punt_lost_packets += c.punt_lost_packets;
        sum.drop_ttl += c.drop_ttl;
        sum.drop_redirect_error += c.drop_redirect_error;
        sum.failopen_packets += c.failopen_packets;
        sum.passed_packets += c.passed_packets;
        sum.consumed_packets += c.consumed_packets;
    }
    return sum;
}

int FastPath::punt_fd() const {
    return perf_buffer__epoll_fd(punts_);
}

std::size_t FastPath::drain_punts(const PuntHandler& handler) {
    punts_read_.clear();
    draining_ = true;
    perf_buffer__consume(punts_);
    draining_ = false;
    std::stable_sort(punts_read_.begin(), punts_read_.end(),
                     [](const Punt& a, const Punt& b) { return a.ktime_ns < b.ktime_ns; });
    for (const Punt& p : punts_read_)
        handler(p.ifindex, p.frame);
    return punts_read_.size();
}

void FastPath::on_sample(void* ctx, int /*cpu*/, void* data, std::uint32_t size) {
    auto* self = static_cast<FastPath*>(ctx);
    // The kernel pads a raw sample to 8 bytes: the frame length comes from the meta.
    fp_punt_meta meta;
    if (!self->draining_ || size < sizeof meta) return;
    std::memcpy(&meta, data, sizeof meta);
    if (meta.len > size - sizeof meta) return;
    const auto* frame = static_cast<const std::uint8_t*>(data) + sizeof meta;
    self->punts_read_.push_back(
        Punt{meta.ktime_ns, meta.ifindex, std::vector<std::uint8_t>(frame, frame + meta.len)});
}

void FastPath::on_lost(void* ctx, int /*cpu*/, unsigned long long count) {
    static_cast<FastPath*>(ctx)->lost_punts_ += count;
}

std::uint32_t FastPath::filter_program(IfIndex ifindex) const {
    bpf_tc_hook hook = ingress_hook(ifindex);
    bpf_tc_opts query = pgmd_filter();
    if (bpf_tc_query(&hook, &query) != 0) return 0;
    return query.prog_id;
}

bool FastPath::still_attached(IfIndex ifindex) const {
    const std::uint32_t id = filter_program(ifindex);
    return id != 0 && id == ids().program;
}

std::array<std::uint8_t, 6> FastPath::mac_of(IfIndex ifindex) const {
    auto it = attached_.find(ifindex);
    return it == attached_.end() ? std::array<std::uint8_t, 6>{} : it->second.mac;
}

bool FastPath::remove_foreign(IfIndex ifindex) {
    const std::uint32_t id = filter_program(ifindex);
    if (id == 0 || id == ids().program) return false;
    // Only a pgmd program: the handle could in theory be someone else's filter.
    const int prog = bpf_prog_get_fd_by_id(id);
    if (prog < 0) return false;
    bpf_prog_info info{};
    std::uint32_t len = sizeof info;
    const bool ours = bpf_obj_get_info_by_fd(prog, &info, &len) == 0 &&
                      std::string_view(info.name).starts_with("pgm_fastpath");
    close(prog);
    if (!ours) return false;
    LibbpfMessages messages;
    bpf_tc_hook hook = ingress_hook(ifindex);
    bpf_tc_opts opts = pgmd_filter();
    const int err = bpf_tc_detach(&hook, &opts);
    if (err != 0 && err != -ENOENT && err != -ENODEV && err != -EINVAL) {
        throw FastPathError(explain(
            "cannot remove the filter from interface " + std::to_string(ifindex), err, messages));
    }
    return true;
}

namespace {

// Every entry of the hash map `fd` whose key and value are Key and Value (sizes checked by
// the caller), by bpf_map_get_next_key; entries that vanish meanwhile are left out.
template <class Key, class Value, class Fn>
void walk_foreign_map(int fd, Fn&& fn) {
    Key key{};
    Key next{};
    const Key* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        Value v{};
        if (bpf_map_lookup_elem(fd, &next, &v) == 0) fn(next, v);
        key = next;
        prev = &key;
    }
}

// The maps of a program, by name: fd (the caller closes them) and info.
struct ForeignMap {
    int fd = -1;
    bpf_map_info info{};
};

}  // namespace

void FastPath::inherit_groups(std::uint32_t prog_id) {
    if (prog_id == ids().program) return;  // our own filter already (attach() again)
    const int prog = bpf_prog_get_fd_by_id(prog_id);
    if (prog < 0) return;  // gone meanwhile, or no permission: nothing to inherit
    bpf_prog_info info{};
    std::vector<std::uint32_t> map_ids(16);
    info.nr_map_ids = static_cast<std::uint32_t>(map_ids.size());
    info.map_ids = reinterpret_cast<std::uintptr_t>(map_ids.data());
    std::uint32_t len = sizeof info;
    std::map<std::string, ForeignMap> maps;
    if (bpf_obj_get_info_by_fd(prog, &info, &len) == 0) {
        map_ids.resize(std::min<std::size_t>(info.nr_map_ids, map_ids.size()));
        for (std::uint32_t id : map_ids) {
            ForeignMap m;
            m.fd = bpf_map_get_fd_by_id(id);
            if (m.fd < 0) continue;
            std::uint32_t mlen = sizeof m.info;
            const std::string name =
                bpf_obj_get_info_by_fd(m.fd, &m.info, &mlen) == 0 ? m.info.name : "";
            if (name.empty() || maps.contains(name)) {
                close(m.fd);
                continue;
            }
            maps.emplace(name, m);
        }
    }
    close(prog);
    // The layout the previous pgmd filled its maps in: fp_config.abi_version (0 before the
    // field existed, when it was padding written as 0).
    std::optional<std::uint32_t> abi;
    if (auto c = maps.find("fp_config"); c != maps.end() &&
                                         c->second.info.value_size == sizeof(fp_config) &&
                                         c->second.info.key_size == sizeof(std::uint32_t)) {
        const std::uint32_t zero = 0;
        fp_config cfg{};
        if (bpf_map_lookup_elem(c->second.fd, &zero, &cfg) == 0) abi = cfg.abi_version;
    }
    const auto g = maps.find("fp_groups");
    if (g != maps.end() && abi) {
        const bpf_map_info& m = g->second.info;
        switch (foreign_groups_layout(*abi, m.key_size, m.value_size)) {
            case ForeignGroupsLayout::PerSource:
                walk_foreign_map<fp_group_key, fp_group>(
                    g->second.fd, [&](const fp_group_key& k, const fp_group& v) {
                        merge_inherited(inherited_groups_, k, v);
                    });
                break;
            case ForeignGroupsLayout::GroupOnly:
                // Keyed by the group alone, and every source forwarded: source-0 entries.
                walk_foreign_map<std::uint32_t, fp_group>(
                    g->second.fd, [&](std::uint32_t group, const fp_group& v) {
                        merge_inherited(inherited_groups_, fp_group_key{group, 0}, v);
                    });
                break;
            case ForeignGroupsLayout::Unreadable:
                inherit_skipped_ = "the previous pgmd's fast path has another map layout (ABI " +
                                   std::to_string(*abi) + ", this pgmd's " +
                                   std::to_string(FP_ABI_VERSION) + ")";
                break;
        }
    } else if (g != maps.end()) {
        inherit_skipped_ = "the previous pgmd's fast path has no readable configuration map";
    }
    for (auto& [name, m] : maps)
        close(m.fd);
}

FastPath::Ids FastPath::ids() const {
    Ids ids;
    bpf_prog_info prog{};
    std::uint32_t len = sizeof prog;
    if (bpf_obj_get_info_by_fd(program_fd(), &prog, &len) == 0) ids.program = prog.id;
    bpf_map* map = nullptr;
    bpf_object__for_each_map(map, skel_->obj) {
        bpf_map_info info{};
        len = sizeof info;
        if (bpf_obj_get_info_by_fd(bpf_map__fd(map), &info, &len) == 0) {
            ids.maps.emplace_back(bpf_map__name(map), info.id);
        }
    }
    return ids;
}

int FastPath::program_fd() const {
    return bpf_program__fd(skel_->progs.pgm_fastpath);
}

}  // namespace pgm::dataplane
