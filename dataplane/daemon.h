// DOC: The network element on real Linux interfaces: wires the router core
// (router::Router) to capture, raw sockets, netlink and IGMP membership on one event loop.
//
// How a packet goes through: a served interface's Capture hands each inbound PGM packet
// (native or UDP-encapsulated) to Router::on_packet() with the interface and IP fields; the
// Transmits the core appends to its Output are built into the Transmitter's queue (raw IP,
// one socket per interface) and the Output is cleared; at the end of each capture batch
// (up to 64 frames) the queue is sent, one sendmmsg() per interface, and the timer re-armed.
// Timer output is sent at once. IGMP packets from the same captures go
// to Membership. One loop timer is kept at the earlier of the core's and Membership's next
// deadlines. The Environment the core asks is answered from the Netlink snapshot (addresses,
// longest-prefix routes) and Membership (static groups + IGMP, per source: a session goes
// where its source is wanted). Upstream joins are the configured ones plus, on the interface
// of the route towards each source, the (source, group) pairs members downstream want
// source-specific (update_joins), so that routers upstream deliver SSM groups.
//
// Owns the set of active interfaces: a configured interface is served (capture, transmit
// socket, membership, upstream joins) while its link exists and is up; when it goes down
// or disappears the core is told (Router::interface_down) and its membership is dropped;
// when it comes back it is served again. reload() applies a new configuration in place:
// timers and caps (Router::reconfigure), each served interface's own timers, NAK caps and
// router assist (Router::set_interface_settings, D38), interfaces added or removed, static groups,
// joins, ports and capture buffer size (captures reopened); sessions and repair state on
// interfaces still served are kept.
// Packets the captures lost (Capture::Drops) are read from every capture every
// kCaptureDropsInterval, when asked (capture_drops()) and before a capture is closed, and
// summed per interface across the captures an interface has had (link flaps, reloads), so
// they outlive each pcap handle; a warning is logged when the timer finds new drops.
// State changes are logged at info, one line each: sessions created, ended by FIN, expired
// or removed (Router::take_session_events, after each batch and timer), groups gained and
// lost per interface (static or IGMP) and the IGMP querier changing; interfaces starting
// and stopping being served are notices.
// Life cycle: constructed after the configuration is checked (throws std::runtime_error if
// netlink or the local-delivery sockets cannot be opened); runs on the loop's thread, so
// the control server reads router() there too, without locks.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dataplane/capture.h"
#include "dataplane/daemon_config.h"
#include "dataplane/event_loop.h"
#include "dataplane/fastpath_controller.h"
#include "dataplane/membership.h"
#include "dataplane/netlink.h"
#include "dataplane/sockets.h"
#include "router/router.h"

namespace pgm::dataplane {

class Daemon : private router::Environment {
  public:
    Daemon(EventLoop& loop, DaemonConfig config);
    ~Daemon() override;
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    void reload(DaemonConfig config);
    // Router state was changed from outside (pgmctl clear): re-arm the timer.
    void state_changed() { reschedule(); }

    const router::Router& router() const { return router_; }
    router::Router& router() { return router_; }
    const Membership& membership() const { return membership_; }
    const Netlink& netlink() const { return *netlink_; }
    const DaemonConfig& config() const { return config_; }
    const Transmitter& transmitter() const { return transmitter_; }
    const GroupJoins& joins() const { return joins_; }
    // The interfaces with members of `group` (what the core is told).
    void members(const Nla& source, const Nla& group, std::vector<IfIndex>& out) const {
        group_members(source, group, out);
    }

    // Each configured interface as pgmctl shows it: "served", "down" (the link exists but is
    // down, or could not be served) or "absent" (no such link now).
    struct InterfaceStatus {
        std::string name;
        std::optional<IfIndex> ifindex;
        const char* state = "absent";
    };
    std::vector<InterfaceStatus> interface_status() const;
    // Zeroes one interface's capture drop totals (`pgmctl clear counters interface IF`).
    void clear_capture_drops(IfIndex ifindex);

    struct ActiveInterface {
        std::string name;
        std::unique_ptr<Capture> capture;
    };
    const std::map<IfIndex, ActiveInterface>& active_interfaces() const { return active_; }
    // The interface's name (from netlink), or its index as text.
    std::string interface_name(IfIndex ifindex) const;

    // Packets each interface's captures lost since start (or clear_capture_drops()), read
    // from the open captures now. Interfaces that stopped being served keep their totals.
    const std::map<IfIndex, Capture::Drops>& capture_drops();
    void clear_capture_drops();

    // Kernel multicast routes for groups this configuration serves (warned about at start).
    std::vector<KernelMroute> conflicting_mroutes() const;

    // The kernel fast path (`pgmctl show fastpath`).
    FastPathController::Status fast_path_status() const { return fast_path_->status(); }
    // Brings the core's counters and leads up to date with what the kernel forwarded.
    void refresh_from_fast_path() { fast_path_->refresh_all(); }

  private:
    // Environment.
    std::optional<Nla> interface_address(IfIndex ifindex, Nla::Family family) const override;
    std::optional<IfIndex> route_interface(const Nla& address) const override;
    void group_members(const Nla& source, const Nla& group,
                       std::vector<IfIndex>& out) const override;

    void on_pgm(IfIndex ifindex, const LocatedPgm& located);
    // A frame the kernel fast path handed over (ODATA it does not forward itself).
    void on_punt(IfIndex ifindex, std::span<const std::uint8_t> frame);
    // Membership changed: the fast path's groups and table follow at once.
    void membership_changed();
    // Joins every served interface's configured groups, and the (source, group) pairs that
    // members downstream want source-specific (requested sources in either filter mode,
    // static sources) on the interface of the route towards the source, so that upstream
    // routers deliver SSM.
    void update_joins();
    // The pairs of source_wanted_ whose source is routed through `ifindex`.
    std::vector<SourceGroup> learnt_source_joins(IfIndex ifindex) const;
    void update_source_wanted();
    void on_capture_batch_end();
    void on_igmp(IfIndex ifindex, Bytes ip_packet);
    void on_timer();
    void send_output();
    void send_queries();
    void reschedule();

    // Serves every configured interface that is up, stops serving the others.
    void sync_interfaces();
    void activate(const InterfaceConfig& ic, IfIndex ifindex);
    void deactivate(IfIndex ifindex, const char* why);
    // Router::set_interface_settings, the refusal (no slot of its own, D38) logged.
    void apply_interface_settings(IfIndex ifindex, const InterfaceConfig& ic);
    std::unique_ptr<Capture> open_capture(const std::string& name, IfIndex ifindex);
    // Adds what `capture` dropped since it was last asked to the interface's totals.
    void take_capture_drops(IfIndex ifindex, Capture& capture);
    void on_capture_drops_timer();
    // The info lines of the class comment.
    void log_session_events();
    void log_membership_changes();

    EventLoop& loop_;
    DaemonConfig config_;
    Membership membership_;
    router::Router router_;
    std::unique_ptr<Netlink> netlink_;
    std::unique_ptr<LocalDeliverySinks> sinks_;
    Transmitter transmitter_;
    GroupJoins joins_;
    std::map<IfIndex, ActiveInterface> active_;
    // After router_ (it drives it) and before the captures (attached before they open).
    std::unique_ptr<FastPathController> fast_path_;

    Output out_;
    std::vector<IgmpQuery> queries_;
    EventLoop::TimerId timer_ = 0;
    Time timer_at_ = kNever;

    std::map<IfIndex, Capture::Drops> capture_drops_;
    // capture_drops_ as of the last warning about them.
    std::map<IfIndex, Capture::Drops> capture_drops_logged_;
    EventLoop::TimerId capture_drops_timer_ = 0;

    // Membership as last logged: per interface, each group's source ("static", "IGMP",
    // "static+IGMP") and the querier's address ("" while none is known).
    struct LoggedMembership {
        std::map<Nla, std::string, bool (*)(const Nla&, const Nla&)> groups{&Membership::nla_less};
        std::string querier;
    };
    std::map<IfIndex, LoggedMembership> logged_membership_;
    std::uint64_t session_events_lost_logged_ = 0;
    std::map<IfIndex, std::vector<std::string>> join_errors_logged_;
    // (downstream interface, (S, G)) wanted source-specific: Membership::source_specific(),
    // plus the pairs held before that their interface still wants (update_source_wanted()).
    std::vector<std::pair<IfIndex, SourceGroup>> source_wanted_;
    // Whether the cap on learnt sources (Membership::kMaxLearntSources) was logged: once.
    bool sources_refused_logged_ = false;
};

}  // namespace pgm::dataplane
