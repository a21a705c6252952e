#include "dataplane/fastpath_controller.h"

#include <sys/epoll.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <fstream>

#include "dataplane/fastpath.h"
#include "dataplane/log.h"

namespace pgm::dataplane {

namespace {
// Ethernet header and one VLAN tag: what a frame holds beyond the MTU.
constexpr unsigned kMaxLinkHeader = 18;

// Three heartbeats may be missed (a slow reload, a long burst) before the program fails open.
Duration heartbeat_interval(const DataplaneConfig& c) {
    return c.fail_open_after / 4;
}

std::uint64_t monotonic_ns() {
    // The program compares with bpf_ktime_get_coarse_ns(), CLOCK_MONOTONIC_COARSE: the same
    // time line as CLOCK_MONOTONIC, the steady clock on Linux, less than a tick behind.
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

FastPathOptions options_of(const DataplaneConfig& c, std::span<const std::uint16_t> udp_ports) {
    FastPathOptions o;
    for (std::uint16_t p : udp_ports)
        if (o.udp_ports.size() < FP_MAX_UDP_PORTS) o.udp_ports.push_back(p);
    o.stale_after_ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(c.fail_open_after).count());
    return o;
}
}  // namespace

FastPathController::FastPathController(EventLoop& loop, const DataplaneConfig& config,
                                       std::span<const std::uint16_t> udp_ports,
                                       router::Router& router,
                                       const router::Environment& environment, PuntHandler on_punt,
                                       std::function<void()> on_punt_batch_end)
    : loop_(loop),
      config_(config),
      udp_ports_(udp_ports.begin(), udp_ports.end()),
      router_(router),
      environment_(environment),
      on_punt_(std::move(on_punt)),
      on_punt_batch_end_(std::move(on_punt_batch_end)) {
    if (config_.fast_path == FastPathMode::Off) {
        reason_ = "off in the configuration ([dataplane] fast-path = off)";
        return;
    }
    if (udp_ports_.size() > FP_MAX_UDP_PORTS) {
        reason_ = "more than " + std::to_string(FP_MAX_UDP_PORTS) +
                  " UDP encapsulation ports configured (the program recognises that many)";
    } else {
        try {
            fast_path_ = std::make_unique<FastPath>(options_of(config_, udp_ports_));
        } catch (const FastPathError& e) {
            reason_ = e.what();
        }
    }
    if (!fast_path_) {
        if (config_.fast_path == FastPathMode::On)
            throw std::runtime_error("kernel fast path ([dataplane] fast-path = on): " + reason_);
        log::notice("kernel fast path not used, every packet goes through pgmd: " + reason_);
        return;
    }
    fast_path_->set_leave_attached(config_.on_exit == FastPathExit::FailOpen);
    // With multicast routing on in the kernel, a route for a PGM group (smcroute, pimd,
    // FRR) would forward the SPMs, RDATA and NCFs pgmd forwards too: the program drops them
    // once pgmd's capture has them. Without it there is nothing to protect against, and a
    // PGM application on the router host itself still gets them.
    update_consume();
    fast_path_->heartbeat(monotonic_ns());
    fast_path_->set_enabled(true);
    loop_.add(fast_path_->punt_fd(), EPOLLIN, [this](std::uint32_t) { on_punts_readable(); });
    punt_fd_added_ = true;
    arm_heartbeat();
    const FastPath::Ids ids = fast_path_->ids();
    log::notice("kernel fast path loaded (BPF program id " + std::to_string(ids.program) +
                "): ODATA forwarded in the kernel, failing open after " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::milliseconds>(config_.fail_open_after)
                        .count()) +
                " ms without pgmd");
}

FastPathController::~FastPathController() {
    if (heartbeat_timer_ != 0) loop_.cancel_timer(heartbeat_timer_);
    if (punt_fd_added_) loop_.remove(fast_path_->punt_fd());
    if (fast_path_ && config_.on_exit == FastPathExit::FailOpen && !attached_.empty()) {
        log::notice(
            "leaving the kernel fast path attached: it forwards the groups on its own "
            "once pgmd's heartbeat is " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::milliseconds>(config_.fail_open_after)
                    .count()) +
            " ms old ([dataplane] on-exit = fail-open)");
    }
    // FastPath's destructor detaches every interface unless it was told to leave them.
}

void FastPathController::arm_heartbeat() {
    heartbeat_timer_ =
        loop_.add_timer(EventLoop::now() + heartbeat_interval(config_), [this] { on_heartbeat(); });
}

void FastPathController::on_heartbeat() {
    heartbeat_timer_ = 0;
    arm_heartbeat();
    // Interface slots given back since the last heartbeat may be given again now: no program
    // run that found them in an entry written before is still going (fastpath_slots.h).
    fast_path_->release_held_slots();
    guarded("heartbeat", [&] {
        fast_path_->heartbeat(monotonic_ns());
        update_consume();
        check_attachments();
    });
    sync_table();
    guarded("reading counters", [&] { refresh_all(); });
}

void FastPathController::update_consume() {
    // mc_forwarding is 1 while a multicast routing daemon (smcroute, pimd, FRR) holds the
    // kernel's multicast routing socket: only then can a route forward PGM a second time.
    std::ifstream f("/proc/sys/net/ipv4/conf/all/mc_forwarding");
    int on = 0;
    const bool consume = (f >> on) && on != 0;
    if (consume != consume_) {
        fast_path_->set_consume(consume);
        consume_ = consume;
        log::notice(std::string("kernel multicast routing is ") + (consume ? "on" : "off") +
                    ": the fast path " + (consume ? "drops" : "leaves to the stack") +
                    " the multicast PGM pgmd's capture takes");
    }
}

void FastPathController::check_attachments() {
    // Someone removed the clsact qdisc or replaced pgmd's filter: the capture still leaves
    // the eligible ODATA to the program, so nobody would forward it. Attach again.
    for (IfIndex ifindex : attached_) {
        if (fast_path_->still_attached(ifindex)) continue;
        log::warning(interfaces_[ifindex].name +
                     ": pgmd's fast-path filter was removed from the interface; attaching "
                     "it again");
        fast_path_->attach(ifindex, fast_path_->mac_of(ifindex));
    }
}

void FastPathController::refresh_all() {
    if (!fast_path_) return;
    for (const auto& [key, session] : table_.sessions)
        fold_progress(key);
    fold_interface_counters();
}

bool FastPathController::attach(IfIndex ifindex, const std::string& name, const LinkInfo& link) {
    InterfaceStatus& st = interfaces_[ifindex];
    st.name = name;
    st.kernel = false;
    st.reason.clear();
    if (!fast_path_) {
        st.reason = reason_;
        return false;
    }
    if (!link.ethernet) {
        st.reason = "not an Ethernet interface";
    } else if (link.has_master) {
        // The program drops what it forwards or punts: on a bridge (or bond) port the
        // master would no longer see that ODATA, and its other ports would lose it.
        st.reason = "enslaved to a bridge, bond or VRF";
    } else if (link.mtu + kMaxLinkHeader > FP_PUNT_MAX_BYTES) {
        // A punted frame is copied whole up to FP_PUNT_MAX_BYTES; larger ones would be lost.
        st.reason = "MTU " + std::to_string(link.mtu) +
                    " larger than the fast path hands to "
                    "pgmd (" +
                    std::to_string(FP_PUNT_MAX_BYTES - kMaxLinkHeader) + ")";
    }
    if (!st.reason.empty()) {
        log::notice(name + ": " + st.reason + ": its ODATA is forwarded by pgmd (user space)");
        return false;
    }
    try {
        fast_path_->heartbeat(monotonic_ns());  // activating interfaces can take a while
        fast_path_->attach(ifindex, link.mac);
    } catch (const FastPathError& e) {
        st.reason = e.what();
        log::warning(name + ": kernel fast path not attached, forwarded by pgmd: " + st.reason);
        return false;
    }
    st.kernel = true;
    st.reason.clear();
    attached_.insert(ifindex);
    // Detached while the table could not be written, and so still in the kernel: its slot
    // and counters were kept, and what was folded of them stands.
    if (detaching_.erase(ifindex) == 0) folded_if_[ifindex] = fp_if_stats{};
    sync_table();
    return true;
}

void FastPathController::link_changed(IfIndex ifindex, const LinkInfo& link) {
    if (!fast_path_ || !attached_.contains(ifindex) || !link.ethernet ||
        fast_path_->mac_of(ifindex) == link.mac)
        return;
    const std::string& name = interfaces_[ifindex].name;
    if (!guarded("writing an interface's new MAC address",
                 [&] { fast_path_->set_mac(ifindex, link.mac); }))
        return;
    log::notice(name + ": MAC address now " + mac_text(link.mac) +
                ": the fast path's copies out of it carry it");
    sync_table();
}

std::vector<InheritedMembers> FastPathController::inherited_members(IfIndex ifindex) const {
    if (!fast_path_) return {};
    return dataplane::inherited_members(fast_path_->inherited_groups(), ifindex);
}

std::string FastPathController::inherit_skipped() const {
    return fast_path_ ? fast_path_->inherit_skipped() : std::string();
}

void FastPathController::detach(IfIndex ifindex) {
    if (!attached_.contains(ifindex)) return;
    guarded("folding counters", [&] { fold_interface_counters(); });  // kept in the core
    attached_.erase(ifindex);
    auto it = interfaces_.find(ifindex);
    if (it != interfaces_.end()) {
        it->second.kernel = false;
        it->second.reason = "not served";
    }
    // The session entries carry the interface (ifindex, MAC, counter slot) and the program
    // sends out of whatever an entry names: they are rewritten first, then the interface and
    // its slot go, so that no entry sends out of an interface pgmd no longer serves nor
    // counts in a slot given to another. When that write fails, the interface stays in the
    // kernel (filter, entry, slot) until a later sync succeeds (finish_detaches()).
    detaching_.insert(ifindex);
    sync_table();
}

void FastPathController::finish_detaches() {
    // Called after a successful write: no entry names an interface of detaching_ any more.
    while (!detaching_.empty()) {
        const IfIndex ifindex = *detaching_.begin();
        detaching_.erase(detaching_.begin());
        folded_if_.erase(ifindex);
        guarded("detaching", [&] { fast_path_->detach(ifindex); });
    }
}

bool FastPathController::guarded(const char* what, const std::function<void()>& fn) {
    // A map or netlink error must not take pgmd (and with it every group) down: it is
    // logged, and the heartbeat's next sync writes the table again.
    try {
        fn();
        return true;
    } catch (const std::exception& e) {
        log::error(std::string("kernel fast path: ") + what + ": " + e.what());
    }
    // Unknown state: what the kernel holds is read back, so that the next write erases the
    // entries of sessions pgmd dropped and gives no session a slot an entry still holds. If
    // that fails too, the next write_table() tries again before it builds.
    recover_ = true;
    try {
        recover_table();
    } catch (const std::exception& e) {
        log::error(std::string("kernel fast path: reading the tables back: ") + e.what());
    }
    return false;
}

void FastPathController::recover_table() {
    const auto sessions = fast_path_->read_sessions();
    const auto groups = fast_path_->read_groups();
    table_ = recovered_table(sessions, groups, table_, attempt_ ? &*attempt_ : nullptr);
    attempt_.reset();
    recover_ = false;
}

void FastPathController::forget_inherited() {
    if (fast_path_) fast_path_->forget_inherited_groups();
}

void FastPathController::remove_stale(IfIndex ifindex, const std::string& name) {
    if (!fast_path_ || attached_.contains(ifindex)) return;
    try {
        if (fast_path_->remove_foreign(ifindex)) {
            log::notice(name +
                        ": removed a previous pgmd's fast-path program (the interface "
                        "is not served now)");
        }
    } catch (const std::exception& e) {
        log::warning(name + ": cannot remove a previous pgmd's fast-path program: " + e.what());
    }
}

void FastPathController::set_groups(std::vector<GroupMembers> groups) {
    groups_ = std::move(groups);
}

bool FastPathController::sync_table() {
    if (!fast_path_) return false;
    if (!guarded("writing the forwarding table", [&] { write_table(); })) return false;
    finish_detaches();
    return true;
}

void FastPathController::write_table() {
    if (recover_) recover_table();
    std::vector<SkippedSession> skipped;
    FastPathInputs in;
    for (const auto& [ifindex, ifc] : fast_path_->interfaces())
        if (attached_.contains(ifindex)) in.attached.emplace(ifindex, ifc);
    in.groups = groups_;
    in.previous = &table_;
    in.session_slots = fast_path_->session_slots();
    FastPathTable now = build_fastpath_table(router_, environment_, std::move(in), &skipped);
    skipped_ = std::move(skipped);
    const FastPathDiff d = diff(table_, now);
    if (d.empty()) {
        table_ = std::move(now);  // the same entries; slots held for this build are free now
        return;
    }
    attempt_ = now;  // what the kernel may partly hold if a write below fails
    // Erasures first: a full map has room for the upserts, and a slot is free before it is
    // given again. A session leaving the kernel is folded first so its last packets are
    // counted; its slot is zeroed when a session takes it.
    for (const fp_session_key& k : d.session_erasures) {
        fold_progress(k);
        fast_path_->erase_session(k);
        folded_.erase(k);
    }
    for (const fp_group_key& g : d.group_erasures)
        fast_path_->erase_group(g);
    for (const auto& [k, s] : d.session_upserts) {
        const auto was = table_.sessions.find(k);
        if (was == table_.sessions.end() || was->second.slot != s.slot) {
            // A new entry, in a slot of its own: neither the session that had the slot
            // before nor an earlier life of the same TSI may lend it their lead.
            if (was != table_.sessions.end()) fold_progress(k);
            fast_path_->reset_progress(s.slot);
            folded_.erase(k);
        } else {
            fold_progress(k);  // counted with the egress set it was copied to
        }
        fast_path_->upsert_session(k, s);
    }
    for (const auto& [g, members] : d.group_upserts)
        fast_path_->upsert_group(g, members);
    table_ = std::move(now);
    attempt_.reset();
}

void FastPathController::fold_progress(const fp_session_key& key) {
    // The slot and egress set the kernel has for it: those of the table last written.
    const auto it = table_.sessions.find(key);
    if (it == table_.sessions.end()) return;
    const auto p = fast_path_->progress(it->second.slot);
    if (!p) return;
    FoldedProgress& folded = folded_[key];
    const std::uint64_t packets = p->packets - std::min(p->packets, folded.packets);
    // Those dropped for their TTL arrived (InOdata) but went nowhere (no OutOdata).
    const std::uint64_t forwarded = p->forwarded - std::min(p->forwarded, folded.forwarded);
    folded = {p->packets, p->forwarded};
    const std::uint64_t egress = it->second.n_egress;
    router_.note_kernel_odata(tsi_of(key), Sqn(p->lead), packets, forwarded * egress);
    if (egress == 0) {
        // Installed to keep its lead and drop its ODATA in the kernel: nowhere to send it,
        // as the core counts ODATA of a group without members.
        router_.add_session_counts(tsi_of(key), router::Counter::OdataNoMembers, forwarded);
        router_.add_interface_counts(it->second.upstream_ifindex, router::Counter::OdataNoMembers,
                                     forwarded);
    }
}

void FastPathController::refresh_session(const Tsi& tsi) {
    if (!fast_path_) return;
    const fp_session_key key = fastpath_key(tsi);
    if (table_.sessions.contains(key)) fold_progress(key);
}

void FastPathController::fold_interface_counters() {
    using router::Counter;
    for (IfIndex ifindex : attached_) {
        const fp_if_stats now = fast_path_->if_stats(ifindex);
        fp_if_stats& was = folded_if_[ifindex];
        auto delta = [](std::uint64_t n, std::uint64_t w) { return n - std::min(n, w); };
        const std::uint64_t in = delta(now.in_forwarded_packets, was.in_forwarded_packets);
        const std::uint64_t ttl = delta(now.drop_ttl, was.drop_ttl);
        // The core counts InOdata for every ODATA that arrives, TtlExpired for those it then
        // cannot forward: the same for the kernel's.
        router_.add_interface_counts(ifindex, Counter::InOdata, in + ttl);
        router_.add_interface_counts(ifindex, Counter::TtlExpired, ttl);
        router_.add_interface_counts(ifindex, Counter::OutOdata,
                                     delta(now.out_packets, was.out_packets));
        was = now;
        interfaces_[ifindex].stats = now;
    }
}

void FastPathController::on_punts_readable() {
    const std::size_t n =
        fast_path_->drain_punts([this](IfIndex ifindex, std::span<const std::uint8_t> frame) {
            // Punts of an interface no longer served (detached a moment ago) are not ours.
            if (attached_.contains(ifindex)) on_punt_(ifindex, frame);
        });
    if (n != 0 && on_punt_batch_end_) on_punt_batch_end_();
}

void FastPathController::reconfigure(const DataplaneConfig& config,
                                     std::span<const std::uint16_t> udp_ports) {
    if (config.fast_path != config_.fast_path) {
        log::warning("[dataplane] fast-path changes at the next start of pgmd, not on reload");
    }
    const FastPathMode mode = config_.fast_path;
    config_ = config;
    config_.fast_path = mode;
    udp_ports_.assign(udp_ports.begin(), udp_ports.end());
    if (!fast_path_) return;
    guarded("reconfiguring", [&] {
        fast_path_->set_leave_attached(config_.on_exit == FastPathExit::FailOpen);
        // A fresh heartbeat first: a shorter fail-open-after must not find the last one
        // already stale.
        fast_path_->heartbeat(monotonic_ns());
        fast_path_->set_stale_after(options_of(config_, udp_ports_).stale_after_ns);
        fast_path_->set_udp_ports(options_of(config_, udp_ports_).udp_ports);
    });
    if (heartbeat_timer_ != 0) loop_.cancel_timer(heartbeat_timer_);
    arm_heartbeat();
    sync_table();  // a changed DLR scope punts its sessions at once
}

FastPathController::Status FastPathController::status() const {
    Status s;
    s.loaded = fast_path_ != nullptr;
    s.reason = reason_;
    s.heartbeat_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(heartbeat_interval(config_)).count());
    s.fail_open_after_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(config_.fail_open_after).count());
    s.on_exit = config_.on_exit == FastPathExit::FailOpen ? "fail-open" : "remove";
    s.interfaces = interfaces_;
    if (!fast_path_) return s;
    const FastPath::Ids ids = fast_path_->ids();
    s.program_id = ids.program;
    s.maps = ids.maps;
    s.sessions_in_kernel = table_.sessions.size();
    for (const SkippedSession& k : skipped_)
        ++s.user_space_reasons[name(k.why)];
    for (IfIndex ifindex : attached_) {
        s.interfaces[ifindex].stats = fast_path_->if_stats(ifindex);
        if (auto it = fast_path_->interfaces().find(ifindex);
            it != fast_path_->interfaces().end()) {
            s.interfaces[ifindex].slot = it->second.slot;
            s.interfaces[ifindex].mac = it->second.mac;
        }
    }
    return s;
}

}  // namespace pgm::dataplane
