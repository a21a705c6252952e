// DOC: Group membership per interface, the answer to router::Environment::group_members():
// static groups from the configuration, plus groups learnt from IGMPv1/v2/v3 reports that
// capture sees (RFC 2236 §6, RFC 3376 §6, router side), with pgmd as IGMP querier on the
// interfaces where no lower-addressed querier is present.
//
// Sans-I/O like the cores: the daemon hands in each IGMP packet (the IP packet, from capture)
// with its interface and the time, calls on_timer() when next_deadline() is due, and sends
// the queries listed in the returned `IgmpQuery`s (build_igmp_query() writes the IP packet).
// Source filtering is kept per interface and group as RFC 3376 §6 has a router keep it: a
// filter mode (INCLUDE: the listed sources only; EXCLUDE: every source but the excluded
// ones), source timers, and the group timer in EXCLUDE mode; IGMPv1/v2 reports are
// EXCLUDE {} (any source) and put the group in IGMPv2 compatibility mode (§7.3.2). A PGM
// session is forwarded onto an interface when its source (the IP source of its SPMs and
// ODATA) is wanted there: members(source, group). Static groups are any-source, static
// (source, group) pairs source-specific. As querier pgmd sends group-specific and
// group-and-source-specific queries where §6.4.2 says so (without the S flag).
// Life cycle: interfaces are added when served and up, removed when they go down or leave
// the configuration (their learnt groups go with them); timers may be replaced on reload.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "dataplane/daemon_config.h"
#include "protocol/io.h"
#include "protocol/nla.h"

namespace pgm::dataplane {

// An IGMPv3 group record's type (RFC 3376 §4.2.12).
enum class IgmpRecordType : std::uint8_t {
    IsInclude = 1,  // MODE_IS_INCLUDE (current state)
    IsExclude = 2,  // MODE_IS_EXCLUDE
    ToInclude = 3,  // CHANGE_TO_INCLUDE_MODE (filter mode change)
    ToExclude = 4,  // CHANGE_TO_EXCLUDE_MODE
    Allow = 5,      // ALLOW_NEW_SOURCES (source list change)
    Block = 6,      // BLOCK_OLD_SOURCES
};

// One IGMP message, as far as a multicast router needs it.
struct IgmpMessage {
    enum class Kind : std::uint8_t { Query, Join, Leave };
    // The any-source view of an IGMPv3 group record: a join of the group (EXCLUDE, or
    // INCLUDE of some sources) or a leave (INCLUDE of nothing); BLOCK records are left out.
    struct Record {
        Kind kind;  // Join or Leave
        Nla group;
    };
    // An IGMPv3 group record as sent.
    struct GroupRecord {
        IgmpRecordType type;
        Nla group;
        std::vector<Nla> sources;
    };
    Nla source;              // IP source
    Kind kind = Kind::Join;  // Query, or Join/Leave for v1/v2 reports and leaves
    Nla group;               // the group of a v1/v2 report/leave or group-specific query
    Duration max_response{};
    std::vector<Record> records;  // IGMPv3 report: one per group record that matters
    // 1, 2 or 3 for a parsed report or leave; 0 when made up (not from a host).
    std::uint8_t version = 0;
    std::vector<GroupRecord> group_records;  // IGMPv3 report: every record with a group
    std::vector<Nla> query_sources;          // group-and-source-specific query: its sources
    // An IGMPv3 query's S flag (Suppress Router-Side Processing, RFC 3376 §4.1.5): routers
    // that hear it do not lower their timers (§6.6.1).
    bool suppress = false;
};

// Parses an IPv4 packet carrying IGMP; nullopt if it is not one this module uses (bad
// checksum, truncated, unknown type).
std::optional<IgmpMessage> parse_igmp(Bytes ip_packet);

struct IgmpQuery {
    IfIndex ifindex = 0;
    Nla source;  // our address on the interface
    Nla group;   // empty (None) for a General Query
    Duration max_response{};
    std::vector<Nla> sources = {};  // a group-and-source-specific query's sources
};

// An IGMPv3 query (RFC 3376 §4.1; IGMPv2 hosts read it as a v2 query) in an IPv4 packet with
// TTL 1, the Router Alert option and TOS 0xC0, for a raw socket with IP_HDRINCL. General
// queries go to 224.0.0.1. Returns the size written (igmp_query_size(q)), 0 if `out` is
// smaller. kIgmpQueryPacketSize is the size of a query without sources.
inline constexpr std::size_t kIgmpQueryPacketSize = 24 + 12;
// Sources a query carries at most (a 1500-byte MTU; more are left for later queries).
inline constexpr std::size_t kMaxIgmpQuerySources = 366;
inline std::size_t igmp_query_size(const IgmpQuery& q) {
    return kIgmpQueryPacketSize + 4 * std::min(q.sources.size(), kMaxIgmpQuerySources);
}
std::size_t build_igmp_query(MutableBytes out, const IgmpQuery& q, const IgmpTimers& timers);

class Membership {
  public:
    explicit Membership(IgmpTimers timers) : timers_(timers) {}

    void set_timers(const IgmpTimers& timers) { timers_ = timers; }
    // Starts serving `ifindex`; a querier starts with the startup queries (RFC 3376 §7.6.1).
    // `static_groups` are members for any source, `static_sources` for their source only.
    void add_interface(IfIndex ifindex, std::optional<Nla> address, bool querier,
                       std::vector<Nla> static_groups, Time now,
                       const std::vector<SourceGroup>& static_sources = {});
    void remove_interface(IfIndex ifindex);
    bool has_interface(IfIndex ifindex) const { return interfaces_.contains(ifindex); }
    void set_static_groups(IfIndex ifindex, std::vector<Nla> groups,
                           const std::vector<SourceGroup>& static_sources = {});
    void set_address(IfIndex ifindex, std::optional<Nla> address);
    void set_querier_enabled(IfIndex ifindex, bool enabled, Time now);

    void on_igmp(IfIndex ifindex, const IgmpMessage& m, Time now, std::vector<IgmpQuery>& out);
    // Asks the members of a learnt `group` whether they are still there, as after a leave:
    // in EXCLUDE mode group-specific queries (sent by on_timer()) and the group timer lowered
    // to the Last Member Query Time, in INCLUDE mode group-and-source-specific queries for
    // its requested sources and their timers lowered. Querier only (else nothing). For
    // members made up rather than reported (the daemon's inherited ones), so that they do
    // not last a whole Group Membership Interval when nobody is there.
    void query_group(IfIndex ifindex, const Nla& group, Time now);
    void on_timer(Time now, std::vector<IgmpQuery>& out);
    Time next_deadline() const;

    // Interfaces with members of `group` for some source (replaces the contents of `out`).
    void members(const Nla& group, std::vector<IfIndex>& out) const;
    // Interfaces where traffic of `group` from `source` is wanted (replaces `out`).
    void members(const Nla& source, const Nla& group, std::vector<IfIndex>& out) const;
    // The (source, group) pairs interfaces want source-specific, for the daemon to join them
    // upstream: static sources and requested ones (source timer running), in either filter
    // mode. In EXCLUDE mode the group is wanted for any source too, but an upstream join for
    // any source is `join-groups`' business; without the pair nobody would ask routers
    // upstream (SSM ones in particular) for S when an any-source member shares the link
    // with a member of (S, G). Replaces `out`; `out` has no duplicates per interface.
    void source_specific(std::vector<std::pair<IfIndex, SourceGroup>>& out) const;
    // Counts changes of who wants what (groups, sources, filter modes): the daemon compares
    // it before and after on_igmp()/on_timer() to know when forwarding must follow.
    std::uint64_t version() const { return version_; }
    // Learnt sources a group keeps at most per interface (static ones come on top): a host
    // that reports ever new sources would otherwise grow pgmd's memory and the work of every
    // change. Sources over the cap are refused (not learnt) and counted here.
    static constexpr std::size_t kMaxLearntSources = 64;
    std::uint64_t sources_refused() const { return sources_refused_; }

    // Inspection.
    struct SourceState {
        Time expires = kNever;  // the learnt source timer runs until then (kNever: not learnt)
        bool excluded = false;  // in EXCLUDE mode's exclude list (timer 0): not wanted
        bool is_static = false;
    };
    using SourceMap = std::map<Nla, SourceState, bool (*)(const Nla&, const Nla&)>;
    struct GroupState {
        // Learnt membership ends (kNever: static only): in EXCLUDE mode the group timer, in
        // INCLUDE mode the last source timer.
        Time expires = kNever;
        bool is_static = false;  // static for any source
        bool exclude = false;    // learnt filter mode EXCLUDE (else INCLUDE)
        // IGMPv1/v2 hosts reported until then (older host present, RFC 3376 §7.3.2).
        Time old_hosts_until{};
        SourceMap sources{&nla_less};
        int queries_left = 0;  // group(-and-source)-specific queries still to send
        Time next_query = kNever;
        std::vector<Nla> query_sources;  // those the queries ask about (empty: the group)

        // Whether traffic from `source` is wanted (RFC 3376 §6.3).
        bool wants(const Nla& source) const;
        // wants() of a source not in `sources`: a static group, or EXCLUDE mode.
        bool wants_unlisted() const { return is_static || (learnt() && exclude); }
        bool learnt() const { return expires != kNever; }
    };
    struct InterfaceState {
        std::optional<Nla> address;
        bool querier_enabled = true;
        bool querier = false;  // sending queries now
        std::optional<Nla> other_querier;
        Time other_querier_expires = kNever;
        Time next_general_query = kNever;
        int startup_queries_left = 0;
        std::map<Nla, GroupState, bool (*)(const Nla&, const Nla&)> groups{&nla_less};
    };
    const std::map<IfIndex, InterfaceState>& interfaces() const { return interfaces_; }
    static bool nla_less(const Nla& a, const Nla& b);

  private:
    // One group record (RFC 3376 §6.4.1, §6.4.2) at the router side.
    // Moves version() when the record changed the group's WantedState.
    void on_record(InterfaceState& s, IgmpRecordType type, const Nla& group,
                   const std::vector<Nla>& sources, Time now);
    void record(InterfaceState& s, IgmpRecordType type, const Nla& group,
                const std::vector<Nla>& sources, Time now);
    // Lowers timers and schedules the queries of "Send Q(G)" / "Send Q(G,A)" (querier only).
    void query_group(InterfaceState& s, GroupState& g, Time now);
    void query_sources(InterfaceState& s, GroupState& g, const std::vector<Nla>& sources, Time now);
    // A query heard from the querier: timers lowered as §6.6.1 says.
    void lower_timers(GroupState& g, const std::vector<Nla>& sources, Time until);
    // What forwarding and the joins depend on of `group` on `s` (whether it is there, its
    // mode, which sources are requested, excluded or static; not the timers): on_record()
    // moves version() only when a report changed it.
    using WantedState = std::vector<std::pair<Nla, std::uint8_t>>;
    static WantedState wanted_state(const InterfaceState& s, const Nla& group);
    // Recomputes `expires` of INCLUDE mode; true when the group may be dropped.
    static bool settle(GroupState& g);
    void become_querier(IfIndex ifindex, InterfaceState& s, Time now);

    IgmpTimers timers_;
    std::map<IfIndex, InterfaceState> interfaces_;
    std::uint64_t version_ = 0;
    std::uint64_t sources_refused_ = 0;
};

}  // namespace pgm::dataplane
