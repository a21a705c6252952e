// DOC: The forwarding table pgmd writes into its kernel fast path's maps (fp_sessions and
// fp_groups of dataplane/bpf/fastpath_abi.h), derived from the router core's state, and the
// difference between two such tables, so that pgmd writes to the kernel only what changed.
//
// Pure computation: no libbpf, no sockets. The daemon (dataplane/fastpath.*) calls
// build_fastpath_table() whenever sessions, membership, the DLR configuration or the
// interfaces where the program is attached may have changed, diff()s the result against the
// table it last wrote, applies the diff to the maps (erasures first, so that a full map has
// room for the upserts), and keeps the new table.
//
// Which sessions the kernel forwards (everything else is forwarded by pgmd as before, either
// because the kernel does not know the TSI and punts its ODATA, or because it never sees it):
//   - IPv4 source and multicast group: the program parses IPv4 only;
//   - the upstream (RPF) interface is attached: ODATA only reaches the program there;
//   - every egress interface (group members for the session's source, minus the upstream
//     interface) is attached, and there are at most FP_MAX_EGRESS of them: the program can
//     send only out of attached interfaces and holds a fixed-size list; a session it could
//     serve only partly stays wholly in user space, where pgmd reaches every member;
//   - zero egress interfaces is fine: the core then counts the ODATA and sends nothing
//     (Router::on_odata), and so does the kernel.
// Sessions pgmd repairs as a Designated Local Repairer are installed with FP_SESSION_PUNT:
// their ODATA must reach the core so that it is cached. "Repairs" is both the sessions that
// already have a cache (Router::dlr_sessions()) and those the DLR scopes cover but which have
// none yet: the core creates a session's cache from its first ODATA, which the kernel would
// otherwise forward and never hand over.
//
// The groups map is for failing open (pgmd gone: the kernel forwards all PGM of a listed
// group out of the interfaces that want its source). It lists every IPv4 multicast group with
// members on attached interfaces, from the configured or learnt groups (GroupMembers: a group
// with members and no session yet must fail open too) and from the sessions' membership,
// members on interfaces that are not attached left out (the program cannot send there). Per
// group: a source-0 entry with the interfaces that want any source no interface names
// (IGMPv2, IGMPv3 EXCLUDE, static groups), and a (group, source) entry for each source some
// interface names (IGMPv3 INCLUDE and EXCLUDE lists, static sources, a session's source)
// whose interfaces differ from the source-0 entry's (an entry equal to it would change
// nothing). Bounds (fastpath_abi.h): at most FP_MAX_GROUP_SOURCES source entries per group,
// the lowest source addresses, and FP_MAX_GROUP_ENTRIES entries in all, one kept for every
// group; the sources left out are forwarded by the source-0 entry, which gets their
// interfaces too (more copies than wanted, never fewer), after the interfaces that wanted
// any source (the lowest FP_MAX_EGRESS per entry). Past FP_MAX_GROUPS groups (lowest kept)
// a group has no entry and does not fail open, as before sources were kept.
//
// Entries carry what the program needs to forward without further lookups: the session's
// fp_progress slot, the upstream interface's counter slot and, per egress, its ifindex, MAC
// and counter slot (from FastPathInputs::attached). An interface whose MAC or slot changes
// therefore changes the entries naming it, and the diff rewrites them. Session slots: a
// session already in the previous table keeps its slot (its lead is there); a new one takes
// the next free slot round robin (SlotRing, fastpath_slots.h), and the caller zeroes that
// slot (FastPath::reset_progress) before it writes the entry, so that it does not inherit the
// lead of the session that had it before. Every slot of the previous table counts as used,
// also those of sessions it erases: a slot freed by one build is given at the next build at
// the earliest, never in the same write as the erasure (a program run that looked up the
// erased entry may still write into the slot). At capacity a new session then waits one
// build (TableFull) for a slot freed by the build before.
//
// Deterministic: maps are ordered by their keys' wire bytes, egress lists ascending, so equal
// inputs give equal tables and diffs in the same order.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dataplane/bpf/fastpath_abi.h"
#include "dataplane/fastpath_slots.h"
#include "dataplane/membership.h"
#include "protocol/io.h"
#include "protocol/nla.h"
#include "protocol/packet.h"
#include "router/config.h"
#include "router/dlr.h"
#include "router/session.h"

namespace pgm::router {
class Environment;
class Router;
}  // namespace pgm::router

namespace pgm::dataplane {

// fp_session_key compared as its bytes (GSI then source port, both as on the wire).
struct FpSessionKeyLess {
    bool operator()(const fp_session_key& a, const fp_session_key& b) const;
};

// The contents of the two maps, as they are written to the kernel.
struct FastPathTable {
    std::map<fp_session_key, fp_session, FpSessionKeyLess> sessions;
    // Key: (group, source), IPv4 addresses in network byte order (the map's key as is).
    std::map<fp_group_key, fp_group, FpGroupKeyLess> groups;
    // Where the search for a free session slot starts next time (not compared by ==).
    std::uint32_t next_session_slot = 0;
    // Session slots no entry of this table holds that the next build must not give either
    // (not compared by ==): a table recovered from the kernel after a failed write holds
    // the slots of the entries that write may have erased or zeroed (recovered_table()).
    std::vector<std::uint32_t> held_slots;

    friend bool operator==(const FastPathTable& a, const FastPathTable& b);
};

// What to write to the kernel to turn one table into another.
struct FastPathDiff {
    std::vector<std::pair<fp_session_key, fp_session>> session_upserts;
    std::vector<fp_session_key> session_erasures;
    std::vector<std::pair<fp_group_key, fp_group>> group_upserts;
    std::vector<fp_group_key> group_erasures;

    bool empty() const {
        return session_upserts.empty() && session_erasures.empty() && group_upserts.empty() &&
               group_erasures.empty();
    }
};

// Entries of `now` that are new or different from `old`, and keys of `old` that `now` lacks,
// each in key order.
FastPathDiff diff(const FastPathTable& old, const FastPathTable& now);

// Why a session of the core is not in the table (its ODATA stays with pgmd).
enum class FastPathSkip : std::uint8_t {
    NotIpv4,              // IPv6 source or group, or a group that is not IPv4 multicast
    UpstreamNotAttached,  // its RPF interface has no fast path
    EgressNotAttached,    // a member interface has no fast path
    TooManyEgress,        // more than FP_MAX_EGRESS member interfaces
    TableFull,            // more sessions qualify than there are session slots (highest keys
                          // left out), or no slot is free until the next build
};
const char* name(FastPathSkip skip);

struct SkippedSession {
    Tsi tsi;
    FastPathSkip why;
};

// Members of a group outside any session: static groups and IGMP-learnt ones.
struct GroupMembers {
    Nla group;
    // Interfaces that want the group's traffic from a source not in `sources`.
    std::vector<IfIndex> ifindexes;
    // Sources some interface names (an IGMPv3 source list, a static source), each with the
    // interfaces that want its traffic (in EXCLUDE mode, those that do not exclude it).
    struct Source {
        Nla source;
        std::vector<IfIndex> ifindexes;
    };
    std::vector<Source> sources = {};
};

// The groups of `membership` as the fail-open table needs them, in group order.
std::vector<GroupMembers> fail_open_groups(const Membership& membership);

// The shape of router::Environment::group_members(): interfaces with members of `group`
// for traffic from `source` (replaces the contents of `out`).
using GroupMembersFn =
    std::function<void(const Nla& source, const Nla& group, std::vector<IfIndex>& out)>;

struct FastPathInputs {
    const std::unordered_map<Tsi, router::Session>* sessions = nullptr;
    const std::unordered_map<Tsi, router::DlrSession>* dlr_sessions = nullptr;
    // The DLR scopes (RouterConfig::dlr): sessions they cover are punted even before the
    // core has made their cache. Null: only `dlr_sessions` are punted.
    const router::DlrConfig* dlr = nullptr;
    GroupMembersFn group_members;
    // Interfaces where the program runs, with their MAC and counter slot.
    std::map<IfIndex, FastPathInterface> attached;
    std::span<const GroupMembers> groups;
    // The table last written: its sessions keep their slots. Null: every session is new.
    const FastPathTable* previous = nullptr;
    // fp_progress slots (FastPath::session_slots()), at most FP_MAX_SESSIONS: no more
    // sessions are installed.
    std::uint32_t session_slots = FP_MAX_SESSIONS;
};

// The table for `in`. `skipped`, when given, receives the sessions left out and why, in key
// order (for logs and `show`).
FastPathTable build_fastpath_table(const FastPathInputs& in,
                                   std::vector<SkippedSession>* skipped = nullptr);

// The same from the core itself: its sessions, DLR caches and DLR configuration, with
// membership asked of `environment` as the core does (what `in` has of these is replaced;
// its interfaces, groups, previous table and slots are used as they are).
FastPathTable build_fastpath_table(const router::Router& router,
                                   const router::Environment& environment, FastPathInputs in,
                                   std::vector<SkippedSession>* skipped = nullptr);

// The table the kernel holds after a write failed part way (pgmd no longer knows which of
// the diff's changes were made): the entries read back from fp_sessions and fp_groups, each
// with the slot it has there, so that the next diff erases the entries of sessions pgmd
// dropped and the next build gives no session a slot an entry still holds. The slots of
// `before` (the table last written) and of `attempt` (the one whose write failed, if any)
// that no entry read back holds are held for the next build: the failed write may have
// erased their entries or zeroed them a moment ago. The slot cursor is `attempt`'s (past
// the slots it gave), else `before`'s.
FastPathTable recovered_table(std::span<const std::pair<fp_session_key, fp_session>> sessions,
                              std::span<const std::pair<fp_group_key, fp_group>> groups,
                              const FastPathTable& before, const FastPathTable* attempt);

// The members a previous pgmd's fail-open entries (`groups`, as FastPath::inherited_groups()
// read them) had on `ifindex`, per group as an IGMPv3 record would say it: where the group's
// source-0 entry lists the interface, EXCLUDE of the sources whose own entry leaves it out;
// else INCLUDE of the sources whose own entry lists it (none: not a member). A full source
// entry (FP_MAX_EGRESS interfaces) that leaves it out is no exclusion. Group order.
struct InheritedMembers {
    Nla group;
    bool exclude = false;
    std::vector<Nla> sources;
};
std::vector<InheritedMembers> inherited_members(
    const std::map<fp_group_key, fp_group, FpGroupKeyLess>& groups, IfIndex ifindex);

// How a previous program's fp_groups map is read (D39.3), from its fp_config.abi_version and
// the map's key and value sizes: per (group, source) (this layout), by group alone (ABI 0,
// every source forwarded: read as source-0 entries), or not at all (any other layout).
enum class ForeignGroupsLayout { PerSource, GroupOnly, Unreadable };
ForeignGroupsLayout foreign_groups_layout(std::uint32_t abi_version, std::uint32_t key_size,
                                          std::uint32_t value_size);

// One entry of a previous program added to the inherited ones: where an entry of the same
// key was read already (an interface carrying another previous program), the interfaces of
// both (the lowest FP_MAX_EGRESS), so that neither program's members are lost.
void merge_inherited(std::map<fp_group_key, fp_group, FpGroupKeyLess>& into,
                     const fp_group_key& key, const fp_group& entry);

// The key of `tsi` as the program reads it from the PGM header.
fp_session_key fastpath_key(const Tsi& tsi);
Tsi tsi_of(const fp_session_key& key);

}  // namespace pgm::dataplane
