#include "dataplane/daemon.h"

#include <pcap/dlt.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "dataplane/linklayer.h"
#include "dataplane/log.h"

namespace pgm::dataplane {

namespace {
// How often the captures' drop counts are read and new drops logged: often enough for the
// log to place an overload in time, and far more often than libpcap's 32-bit counts wrap.
constexpr Duration kCaptureDropsInterval = std::chrono::seconds(10);

// Each pgmd needs its own RAND_NODE_ID (§14.5), so that a parent's POLL_MASK selects a
// random subset of its children: the router core is seeded from the kernel's entropy.
DaemonConfig with_random_seed(DaemonConfig c) {
    std::random_device entropy;
    c.router.random_seed = (std::uint64_t{entropy()} << 32) | entropy();
    return c;
}
// A TSI as pgmctl and pgmdump write it: 12 hex digits of GSI, a dot, the source port.
std::string tsi_text(const Tsi& tsi) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (std::uint8_t b : tsi.gsi.bytes) {
        out += kDigits[b >> 4];
        out += kDigits[b & 0x0F];
    }
    return out + "." + std::to_string(tsi.source_port);
}
// What a group's members want when it is not every source: ", sources A B" (INCLUDE mode
// and static sources), ", excluding A B" (EXCLUDE mode); "" for any source.
std::string sources_text(const Membership::GroupState& g) {
    if (g.is_static) return "";
    std::string wanted, excluded;
    for (const auto& [source, st] : g.sources) {
        if (st.excluded && !st.is_static) {
            excluded += " " + source.to_string();
        } else if (st.is_static || (!g.exclude && st.expires != kNever)) {
            wanted += " " + source.to_string();
        }
    }
    if (g.learnt() && g.exclude) return excluded.empty() ? "" : ", excluding" + excluded;
    return wanted.empty() ? "" : ", sources" + wanted;
}
}  // namespace

Daemon::Daemon(EventLoop& loop, DaemonConfig config)
    : loop_(loop),
      config_(with_random_seed(std::move(config))),
      membership_(config_.igmp),
      router_(config_.router, *this) {
    netlink_ = std::make_unique<Netlink>(loop_, [this] { sync_interfaces(); });
    sinks_ = std::make_unique<LocalDeliverySinks>(loop_, config_.udp_ports);
    const router::Environment& environment = *this;
    fast_path_ = std::make_unique<FastPathController>(
        loop_, config_.dataplane, config_.udp_ports, router_, environment,
        [this](IfIndex i, std::span<const std::uint8_t> frame) { on_punt(i, frame); },
        [this] { on_capture_batch_end(); });
    sync_interfaces();
    // Members inherited from a previous pgmd were made up for the interfaces served now;
    // a later activation (a link flap, an interface that appears) learns its own from
    // reports, rather than making them up (and querying for them) again (D39.4).
    fast_path_->forget_inherited();
    for (const InterfaceConfig& ic : config_.interfaces) {
        if (!netlink_->ifindex_of(ic.name)) {
            log::warning("interface " + ic.name + " does not exist (yet): served when it appears");
        }
    }
    capture_drops_timer_ = loop_.add_timer(EventLoop::now() + kCaptureDropsInterval,
                                           [this] { on_capture_drops_timer(); });
}

Daemon::~Daemon() {
    if (timer_ != 0) loop_.cancel_timer(timer_);
    if (capture_drops_timer_ != 0) loop_.cancel_timer(capture_drops_timer_);
    // Captures remove themselves from the loop; the rest closes with its owners. The fast
    // path goes after them (detached, or left to fail open: [dataplane] on-exit).
    active_.clear();
    fast_path_.reset();
}

std::string Daemon::interface_name(IfIndex ifindex) const {
    auto it = netlink_->links().find(ifindex);
    if (it != netlink_->links().end()) return it->second.name;
    return std::to_string(ifindex);
}

// --- Environment --------------------------------------------------------------------------

std::optional<Nla> Daemon::interface_address(IfIndex ifindex, Nla::Family family) const {
    if (family != Nla::Family::Ipv4) return std::nullopt;  // IPv6: later (decisions.md D15)
    return netlink_->ipv4_address(ifindex);
}

std::optional<IfIndex> Daemon::route_interface(const Nla& address) const {
    return netlink_->route_interface(address);
}

void Daemon::group_members(const Nla& source, const Nla& group, std::vector<IfIndex>& out) const {
    membership_.members(source, group, out);
}

// --- Packets and timers -------------------------------------------------------------------

void Daemon::on_pgm(IfIndex ifindex, const LocatedPgm& located) {
    const Arrival arrival{ifindex, located.ip};
    // A NAK is checked against the session's lead (D14.4): fold in what the kernel forwarded
    // since the last heartbeat first, or a NAK for fresh ODATA would look premature.
    constexpr std::uint8_t kNak = 0x08, kNnak = 0x09;
    if (located.pgm.size() >= 16 && (located.pgm[4] == kNak || located.pgm[4] == kNnak)) {
        Tsi tsi;
        std::memcpy(tsi.gsi.bytes.data(), located.pgm.data() + 8, 6);
        // Sent towards the source: the data source's port is the destination port.
        tsi.source_port = static_cast<std::uint16_t>(located.pgm[2] << 8 | located.pgm[3]);
        fast_path_->refresh_session(tsi);
    }
    router_.on_packet(arrival, located.pgm, EventLoop::now(), out_);
    // Built into the transmitter's queue now: out_ may reference the captured frame, which
    // is valid only during this call. Sent, and the timer re-armed, at the batch's end.
    transmitter_.queue(out_);
    out_.clear();
}

void Daemon::on_punt(IfIndex ifindex, std::span<const std::uint8_t> frame) {
    // The program punts from tc ingress, where the frame starts at its Ethernet header.
    const LinkResult link = extract_ip(DLT_EN10MB, Bytes(frame.data(), frame.size()));
    if (!link || link.ethertype != kEthertypeIpv4) return;
    LocateOptions options;
    options.verify_udp_checksum = false;  // as for captured frames (capture.cc)
    const LocatedPgm located = locate_pgm(link.ip, config_.udp_ports, options);
    if (located) on_pgm(ifindex, located);
}

void Daemon::membership_changed() {
    log_membership_changes();
    fast_path_->set_groups(fail_open_groups(membership_));
    fast_path_->sync_table();
    update_joins();
}

std::vector<SourceGroup> Daemon::learnt_source_joins(IfIndex ifindex) const {
    std::vector<SourceGroup> out;
    for (const auto& [downstream, sg] : source_wanted_) {
        const auto upstream = netlink_->route_interface(sg.source);
        if (!upstream || *upstream != ifindex || *upstream == downstream) continue;
        if (std::find(out.begin(), out.end(), sg) == out.end()) out.push_back(sg);
    }
    return out;
}

void Daemon::update_source_wanted() {
    std::vector<std::pair<IfIndex, SourceGroup>> wanted;
    membership_.source_specific(wanted);
    // A pair stays while its interface still wants S's traffic of G. In EXCLUDE mode a
    // requested source stops being requested whenever an any-source member there reports
    // IS_EX (RFC 3376 §6.4.1 deletes X-A) and comes back at its INCLUDE member's next
    // report: leaving and joining upstream at every query round would have an SSM router
    // upstream prune S meanwhile, though the link wants S all along.
    std::vector<IfIndex> members;
    for (const auto& held : source_wanted_) {
        if (std::find(wanted.begin(), wanted.end(), held) != wanted.end()) continue;
        membership_.members(held.second.source, held.second.group, members);
        if (std::find(members.begin(), members.end(), held.first) != members.end())
            wanted.push_back(held);
    }
    source_wanted_ = std::move(wanted);
}

void Daemon::update_joins() {
    update_source_wanted();
    for (const auto& [ifindex, a] : active_) {
        const InterfaceConfig* ic = config_.find_interface(a.name);
        if (ic == nullptr) continue;
        std::vector<SourceGroup> sourced = ic->join_sources;
        for (const SourceGroup& sg : learnt_source_joins(ifindex))
            if (std::find(sourced.begin(), sourced.end(), sg) == sourced.end())
                sourced.push_back(sg);
        std::vector<std::string> errors = joins_.set(ifindex, ic->join_groups, sourced);
        // A join that failed is tried again when the wanted joins of the interface change or
        // the links do (sync_interfaces()), and logged once.
        std::vector<std::string>& logged = join_errors_logged_[ifindex];
        for (const std::string& e : errors)
            if (std::find(logged.begin(), logged.end(), e) == logged.end())
                log::error(a.name + ": " + e);
        logged = std::move(errors);
    }
}

void Daemon::on_capture_batch_end() {
    transmitter_.flush();
    log_session_events();
    reschedule();
}

void Daemon::log_session_events() {
    for (const router::SessionEvent& e : router_.take_session_events()) {
        if (!log::enabled(LogLevel::Info)) continue;  // taken all the same: bounded
        log::info("session " + tsi_text(e.tsi) + " " + e.source.to_string() + " -> " +
                  e.group.to_string() + " from " + interface_name(e.upstream_interface) + ": " +
                  router::to_string(e.kind));
    }
    if (router_.session_events_lost() != session_events_lost_logged_) {
        log::info(std::to_string(router_.session_events_lost() - session_events_lost_logged_) +
                  " session changes not logged (too many at once)");
        session_events_lost_logged_ = router_.session_events_lost();
    }
}

void Daemon::log_membership_changes() {
    std::map<IfIndex, LoggedMembership> now;
    for (const auto& [ifindex, st] : membership_.interfaces()) {
        LoggedMembership& m = now[ifindex];
        for (const auto& [group, g] : st.groups) {
            const bool learnt = g.expires != kNever;
            m.groups[group] = std::string(g.is_static ? (learnt ? "static+IGMP" : "static")
                                                      : (learnt ? "IGMP" : "static sources")) +
                              sources_text(g);
        }
        if (st.querier && st.address)
            m.querier = st.address->to_string() + " (pgmd)";
        else if (st.other_querier)
            m.querier = st.other_querier->to_string();
    }
    if (log::enabled(LogLevel::Info)) {
        for (const auto& [ifindex, m] : now) {
            auto before = logged_membership_.find(ifindex);
            if (before == logged_membership_.end()) continue;  // newly served: "serving" said it
            const std::string name = interface_name(ifindex);
            for (const auto& [group, source] : m.groups) {
                auto old = before->second.groups.find(group);
                if (old == before->second.groups.end())
                    log::info(name + ": members of " + group.to_string() + " (" + source + ")");
                else if (old->second != source)
                    log::info(name + ": members of " + group.to_string() + " now " + source);
            }
            for (const auto& [group, source] : before->second.groups)
                if (!m.groups.contains(group))
                    log::info(name + ": no more members of " + group.to_string());
            if (m.querier != before->second.querier)
                log::info(name + ": IGMP querier " + (m.querier.empty() ? "none" : m.querier));
        }
    }
    logged_membership_ = std::move(now);
}

void Daemon::on_igmp(IfIndex ifindex, Bytes ip_packet) {
    const auto message = parse_igmp(ip_packet);
    if (!message) return;
    const std::uint64_t version = membership_.version();
    membership_.on_igmp(ifindex, *message, EventLoop::now(), queries_);
    // Forwarding and joins (route lookups, setsockopt) are recomputed only when who wants
    // what changed: most reports refresh timers, and queries change at most the querier.
    if (membership_.version() != version) {
        membership_changed();
    } else if (message->kind == IgmpMessage::Kind::Query) {
        log_membership_changes();  // the querier may have changed
    }
    if (membership_.sources_refused() != 0 && !sources_refused_logged_) {
        sources_refused_logged_ = true;
        log::warning(interface_name(ifindex) + ": IGMPv3 reports for a group name more than " +
                     std::to_string(Membership::kMaxLearntSources) +
                     " sources: the others are not learnt (logged once)");
    }
    send_queries();
    reschedule();
}

void Daemon::on_timer() {
    timer_ = 0;
    timer_at_ = kNever;
    const Time now = EventLoop::now();
    router_.on_timer(now, out_);
    send_output();
    log_session_events();
    const std::uint64_t version = membership_.version();
    const bool membership_due = membership_.next_deadline() <= now;
    membership_.on_timer(now, queries_);
    if (membership_.version() != version) {
        membership_changed();  // learnt groups or sources expired
    } else if (membership_due) {
        // A group learnt by IGMP that is also static expired to static, or another querier
        // went silent and pgmd took over: nothing to forward differently, something to log.
        log_membership_changes();
    }
    send_queries();
    reschedule();
}

void Daemon::send_output() {
    transmitter_.send(out_);
    out_.clear();
}

void Daemon::send_queries() {
    std::vector<std::uint8_t> packet;
    for (const IgmpQuery& q : queries_) {
        packet.resize(igmp_query_size(q));
        const std::size_t n = build_igmp_query(packet, q, config_.igmp);
        transmitter_.send_ip(q.ifindex, Bytes(packet.data(), n));
        log::debug(
            "IGMP " +
            std::string(q.group.is_ipv4() ? "query for " + q.group.to_string() : "general query") +
            (q.sources.empty() ? "" : " (" + std::to_string(q.sources.size()) + " sources)") +
            " on " + interface_name(q.ifindex));
    }
    queries_.clear();
}

void Daemon::reschedule() {
    const Time at = std::min(router_.next_deadline(), membership_.next_deadline());
    if (at == timer_at_) return;
    if (timer_ != 0) loop_.cancel_timer(timer_);
    timer_ = 0;
    timer_at_ = at;
    if (at != kNever) timer_ = loop_.add_timer(at, [this] { on_timer(); });
}

// --- Capture drops ------------------------------------------------------------------------

void Daemon::take_capture_drops(IfIndex ifindex, Capture& capture) {
    capture_drops_[ifindex] += capture.take_drops();
}

const std::map<IfIndex, Capture::Drops>& Daemon::capture_drops() {
    for (auto& [ifindex, a] : active_)
        if (a.capture) take_capture_drops(ifindex, *a.capture);
    return capture_drops_;
}

void Daemon::clear_capture_drops() {
    capture_drops();  // what the open captures dropped so far is cleared too
    for (auto& [ifindex, drops] : capture_drops_)
        drops = {};
    capture_drops_logged_.clear();
}

void Daemon::clear_capture_drops(IfIndex ifindex) {
    capture_drops();
    capture_drops_[ifindex] = {};
    capture_drops_logged_.erase(ifindex);
}

std::vector<Daemon::InterfaceStatus> Daemon::interface_status() const {
    std::vector<InterfaceStatus> out;
    for (const InterfaceConfig& ic : config_.interfaces) {
        InterfaceStatus st{ic.name, netlink_->ifindex_of(ic.name), "absent"};
        if (st.ifindex) st.state = active_.contains(*st.ifindex) ? "served" : "down";
        out.push_back(std::move(st));
    }
    return out;
}

void Daemon::on_capture_drops_timer() {
    capture_drops_timer_ = loop_.add_timer(EventLoop::now() + kCaptureDropsInterval,
                                           [this] { on_capture_drops_timer(); });
    for (const auto& [ifindex, drops] : capture_drops()) {
        Capture::Drops& logged = capture_drops_logged_[ifindex];
        if (drops == logged) continue;
        log::warning("capture on " + interface_name(ifindex) + ": " +
                     std::to_string(drops.kernel - logged.kernel) +
                     " packets dropped by the kernel (capture buffer full), " +
                     std::to_string(drops.interface - logged.interface) +
                     " by the interface, since the last report; pgmd never saw them "
                     "(CaptureDrops, CaptureIfDrops; [capture] buffer-bytes)");
        logged = drops;
    }
}

// --- Interfaces ---------------------------------------------------------------------------

std::unique_ptr<Capture> Daemon::open_capture(const std::string& name, IfIndex ifindex) {
    // Where the fast path is attached, the capture leaves the ODATA it owns to it.
    return std::make_unique<Capture>(
        loop_, name, ifindex, config_.udp_ports, config_.capture.buffer_bytes,
        [this](IfIndex i, const LocatedPgm& p) { on_pgm(i, p); },
        [this](IfIndex i, Bytes ip) { on_igmp(i, ip); }, [this] { on_capture_batch_end(); },
        fast_path_->attached(ifindex));
}

void Daemon::activate(const InterfaceConfig& ic, IfIndex ifindex) {
    ActiveInterface a{ic.name, nullptr};
    // The program first: between the two, eligible ODATA is the program's alone (forwarded
    // or punted), never captured and punted both.
    fast_path_->attach(ifindex, ic.name, netlink_->links().at(ifindex));
    try {
        a.capture = open_capture(ic.name, ifindex);
        transmitter_.add_interface(ifindex, ic.name);
        transmitter_.set_router_alert(ifindex, ic.router_alert);
        apply_interface_settings(ifindex, ic);  // D38
    } catch (const std::exception& e) {
        log::error("cannot serve " + ic.name + ": " + e.what());
        transmitter_.remove_interface(ifindex);
        fast_path_->detach(ifindex);
        return;
    }
    const auto address = netlink_->ipv4_address(ifindex);
    membership_.add_interface(ifindex, address, ic.igmp_querier, ic.static_groups, EventLoop::now(),
                              ic.static_sources);
    // Members a previous pgmd had learnt (its program, taken over just now, listed them):
    // as if they had just reported, so that the ODATA keeps reaching them while the new
    // querier asks again; they expire as any learnt membership does if nobody answers. Each
    // group comes back in the filter mode and with the sources the program's entries had
    // (IGMPv3 INCLUDE/EXCLUDE, D39), as one made-up IGMPv3 record.
    if (const std::string why = fast_path_->inherit_skipped(); !why.empty())
        log::notice(ic.name + ": members not kept from the previous pgmd: " + why +
                    "; they are learnt again from their next reports");
    for (const auto& inherited : fast_path_->inherited_members(ifindex)) {
        IgmpMessage join;
        join.kind = IgmpMessage::Kind::Join;
        join.version = 3;
        join.group_records.push_back(
            {inherited.exclude ? IgmpRecordType::IsExclude : IgmpRecordType::IsInclude,
             inherited.group, inherited.sources});
        membership_.on_igmp(ifindex, join, EventLoop::now(), queries_);
        // Made up, they would last the Group Membership Interval (260 s) with nobody there:
        // ask at once (pgmd as querier), the members left answer within the Last Member
        // Query Time and keep the group (or its sources).
        membership_.query_group(ifindex, inherited.group, EventLoop::now());
        std::string sources;
        for (const Nla& source : inherited.sources)
            sources += (sources.empty() ? "" : " ") + source.to_string();
        log::info(ic.name + ": members of " + inherited.group.to_string() + " (" +
                  (inherited.exclude ? "exclude {" : "include {") + sources +
                  "}) kept from the previous pgmd's fast path");
    }
    active_[ifindex] = std::move(a);
    membership_changed();  // and the joins, now that the interface is served
    log::notice("serving " + ic.name + " (ifindex " + std::to_string(ifindex) + ", " +
                (address ? address->to_string() : std::string("no IPv4 address")) + ")");
    reschedule();
}

void Daemon::apply_interface_settings(IfIndex ifindex, const InterfaceConfig& ic) {
    if (router_.set_interface_settings(ifindex, ic.router)) return;
    log::error(ic.name + ": its [interface] settings are not applied: " +
               std::to_string(router::kMaxInterfaces) +
               " interfaces are served, so it shares the router's last interface slot with a "
               "live one, whose settings and counters its packets then use");
}

void Daemon::deactivate(IfIndex ifindex, const char* why) {
    auto it = active_.find(ifindex);
    if (it == active_.end()) return;
    log::notice("no longer serving " + it->second.name + ": " + why);
    router_.interface_down(ifindex);
    log_session_events();
    membership_.remove_interface(ifindex);
    joins_.remove_interface(ifindex);
    join_errors_logged_.erase(ifindex);
    transmitter_.remove_interface(ifindex);
    if (it->second.capture) take_capture_drops(ifindex, *it->second.capture);
    active_.erase(it);
    fast_path_->detach(ifindex);  // after the capture: no moment where neither sees ODATA
    membership_changed();
    reschedule();
}

void Daemon::sync_interfaces() {
    // Interfaces to stop serving: gone, down, renamed, or no longer configured.
    std::vector<std::pair<IfIndex, const char*>> stop;
    for (const auto& [ifindex, a] : active_) {
        auto link = netlink_->links().find(ifindex);
        if (link == netlink_->links().end()) {
            stop.emplace_back(ifindex, "link removed");
        } else if (!link->second.up) {
            stop.emplace_back(ifindex, "link down");
        } else if (link->second.name != a.name || !config_.find_interface(a.name)) {
            stop.emplace_back(ifindex, "not in the configuration");
        }
    }
    for (const auto& [ifindex, why] : stop)
        deactivate(ifindex, why);
    for (const InterfaceConfig& ic : config_.interfaces) {
        const auto ifindex = netlink_->ifindex_of(ic.name);
        if (!ifindex || !netlink_->links().at(*ifindex).up) continue;
        if (!active_.contains(*ifindex)) {
            activate(ic, *ifindex);
        } else {
            membership_.set_address(*ifindex, netlink_->ipv4_address(*ifindex));
            fast_path_->link_changed(*ifindex, netlink_->links().at(*ifindex));
        }
    }
    // Learnt source-specific joins follow the routes towards their sources; joins that
    // failed are tried again, as addresses and routes may have changed.
    joins_.retry_failed();
    update_joins();
}

void Daemon::reload(DaemonConfig config) {
    const bool ports_changed = config.udp_ports != config_.udp_ports;
    const bool reopen_captures = ports_changed || config.capture != config_.capture;
    config_ = std::move(config);
    router_.reconfigure(config_.router);
    fast_path_->reconfigure(config_.dataplane, config_.udp_ports);
    membership_.set_timers(config_.igmp);
    if (ports_changed) {
        sinks_.reset();
        sinks_ = std::make_unique<LocalDeliverySinks>(loop_, config_.udp_ports);
    }
    if (reopen_captures) {
        // New filters or ring size; the core's state on these interfaces stays.
        for (auto& [ifindex, a] : active_) {
            if (a.capture) take_capture_drops(ifindex, *a.capture);
            a.capture.reset();
            try {
                a.capture = open_capture(a.name, ifindex);
            } catch (const std::exception& e) {
                log::error("cannot capture on " + a.name + ": " + e.what());
            }
        }
    }
    for (const auto& [ifindex, a] : active_) {
        const InterfaceConfig* ic = config_.find_interface(a.name);
        if (ic == nullptr) continue;  // stopped by sync_interfaces() below
        transmitter_.set_router_alert(ifindex, ic->router_alert);
        apply_interface_settings(ifindex, *ic);  // D38: at once
        membership_.set_static_groups(ifindex, ic->static_groups, ic->static_sources);
        membership_.set_querier_enabled(ifindex, ic->igmp_querier, EventLoop::now());
        membership_changed();  // after both: the querier role a reload changed is logged
    }
    sync_interfaces();
    reschedule();
    log::notice("configuration reloaded");
}

std::vector<KernelMroute> Daemon::conflicting_mroutes() const {
    std::vector<KernelMroute> out;
    for (const KernelMroute& m : read_kernel_mroutes()) {
        for (const InterfaceConfig& ic : config_.interfaces) {
            auto sourced = [&](const std::vector<SourceGroup>& v) {
                return std::any_of(v.begin(), v.end(),
                                   [&](const SourceGroup& sg) { return sg.group == m.group; });
            };
            const bool served = std::find(ic.static_groups.begin(), ic.static_groups.end(),
                                          m.group) != ic.static_groups.end() ||
                                std::find(ic.join_groups.begin(), ic.join_groups.end(), m.group) !=
                                    ic.join_groups.end() ||
                                sourced(ic.static_sources) || sourced(ic.join_sources);
            if (served) {
                out.push_back(m);
                break;
            }
        }
    }
    return out;
}

}  // namespace pgm::dataplane
