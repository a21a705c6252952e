// DOC: Group membership per interface, the answer to router::Environment::group_members():
// static groups from the configuration, plus groups learnt from IGMPv1/v2/v3 reports that
// capture sees (RFC 2236 §6, RFC 3376 §6, router side), with pgmd as IGMP querier on the
// interfaces where no lower-addressed querier is present.
//
// Sans-I/O like the cores: the daemon hands in each IGMP packet (the IP packet, from capture)
// with its interface and the time, calls on_timer() when next_deadline() is due, and sends
// the queries listed in the returned `IgmpQuery`s (build_igmp_query() writes the IP packet).
// Source filtering is not kept: PGM groups are any-source, so any report that asks for some
// traffic of a group makes the interface a member of the whole group.
// Life cycle: interfaces are added when served and up, removed when they go down or leave
// the configuration (their learnt groups go with them); timers may be replaced on reload.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "dataplane/daemon_config.h"
#include "protocol/io.h"
#include "protocol/nla.h"

namespace pgm::dataplane {

// One IGMP message, as far as a multicast router needs it.
struct IgmpMessage {
    enum class Kind : std::uint8_t { Query, Join, Leave };
    struct Record {
        Kind kind;  // Join or Leave
        Nla group;
    };
    Nla source;              // IP source
    Kind kind = Kind::Join;  // Query, or Join/Leave for v1/v2 reports and leaves
    Nla group;               // the group of a v1/v2 report/leave or group-specific query
    Duration max_response{};
    std::vector<Record> records;  // IGMPv3 report: one per group record that matters
};

// Parses an IPv4 packet carrying IGMP; nullopt if it is not one this module uses (bad
// checksum, truncated, unknown type).
std::optional<IgmpMessage> parse_igmp(Bytes ip_packet);

struct IgmpQuery {
    IfIndex ifindex = 0;
    Nla source;  // our address on the interface
    Nla group;   // empty (None) for a General Query
    Duration max_response{};
};

// An IGMPv3 query (RFC 3376 §4.1; IGMPv2 hosts read it as a v2 query) in an IPv4 packet with
// TTL 1, the Router Alert option and TOS 0xC0, for a raw socket with IP_HDRINCL. General
// queries go to 224.0.0.1. Returns the size written (at most kIgmpQueryPacketSize).
inline constexpr std::size_t kIgmpQueryPacketSize = 24 + 12;
std::size_t build_igmp_query(MutableBytes out, const IgmpQuery& q, const IgmpTimers& timers);

class Membership {
  public:
    explicit Membership(IgmpTimers timers) : timers_(timers) {}

    void set_timers(const IgmpTimers& timers) { timers_ = timers; }
    // Starts serving `ifindex`; a querier starts with the startup queries (RFC 3376 §7.6.1).
    void add_interface(IfIndex ifindex, std::optional<Nla> address, bool querier,
                       std::vector<Nla> static_groups, Time now);
    void remove_interface(IfIndex ifindex);
    bool has_interface(IfIndex ifindex) const { return interfaces_.contains(ifindex); }
    void set_static_groups(IfIndex ifindex, std::vector<Nla> groups);
    void set_address(IfIndex ifindex, std::optional<Nla> address);
    void set_querier_enabled(IfIndex ifindex, bool enabled, Time now);

    void on_igmp(IfIndex ifindex, const IgmpMessage& m, Time now, std::vector<IgmpQuery>& out);
    void on_timer(Time now, std::vector<IgmpQuery>& out);
    Time next_deadline() const;

    // Interfaces with members of `group` (replaces the contents of `out`).
    void members(const Nla& group, std::vector<IfIndex>& out) const;

    // Inspection.
    struct GroupState {
        Time expires = kNever;  // learnt membership ends (kNever: static only)
        bool is_static = false;
        int queries_left = 0;  // group-specific queries still to send after a leave
        Time next_query = kNever;
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
    void join(InterfaceState& s, const Nla& group, Time now);
    void leave(IfIndex ifindex, InterfaceState& s, const Nla& group, Time now,
               std::vector<IgmpQuery>& out);
    void become_querier(IfIndex ifindex, InterfaceState& s, Time now);

    IgmpTimers timers_;
    std::map<IfIndex, InterfaceState> interfaces_;
};

}  // namespace pgm::dataplane
