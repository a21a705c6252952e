// DOC: The user-space half of pgmd's kernel ODATA fast path: loads pgm_fastpath.bpf.c (the
// object is embedded in pgmd through its libbpf skeleton, nothing is installed beside it),
// attaches it to tc clsact ingress of the served interfaces, and reads and writes its maps
// as dataplane/bpf/fastpath_abi.h defines them (that header is the contract: which packets
// the program owns, what it does with them, when it fails open).
//
// Owns: the loaded program and its maps (one private set per FastPath: BPF objects are
// global, not per network namespace, so nothing is pinned or shared by name), the perf
// buffer that carries punted frames, and one cls_bpf filter per attached interface at the
// fixed handle/priority kTcHandle/kTcPriority. attach() replaces whatever filter sits there,
// so a restarted pgmd takes over from the program a killed (or leave-attached) pgmd left
// behind; that program keeps failing open until then, because its heartbeat is stale.
// detach() removes pgmd's filter only: the clsact qdisc stays, whoever created it, because
// other tools may have hung their own filters on it since and an empty clsact costs nothing.
//
// Life cycle: constructed when pgmd starts the fast path (throws FastPathError with a
// one-line reason when the kernel or the permissions do not allow it; probe() tells the
// same without keeping anything). The program starts disabled (it passes everything):
// install sessions/groups and interfaces, heartbeat(), then set_enabled(true). The owner
// calls heartbeat() regularly with CLOCK_MONOTONIC; when it stops for longer than
// stale_after, the program fails open. The destructor detaches every interface unless
// set_leave_attached(true) was called, in which case the filters (and with them the program
// and its maps) stay in the kernel and fail open once the heartbeat is stale.
// Slots (fastpath_abi.h): attach() gives each interface an fp_if_stats slot (round robin,
// SlotRing) and zeroes its counters, detach() gives it back (held until
// release_held_slots(), fastpath_slots.h); session slots (fp_progress) are
// the forwarding table's (build_fastpath_table()), and reset_progress() zeroes one when it is
// given to a session. The fp_progress array is sized at load to session_slots().
// Not thread-safe: use it from one thread (pgmd's loop). While loading, attaching and
// detaching it borrows libbpf's process-wide print callback to turn libbpf's messages (the
// verifier's log included) into the exception text instead of stderr.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/bpf/fastpath_abi.h"
#include "dataplane/fastpath_slots.h"
#include "protocol/io.h"

struct pgm_fastpath;  // the libbpf skeleton (generated from pgm_fastpath.bpf.c)
struct perf_buffer;

namespace pgm::dataplane {

class FastPathError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct FastPathOptions {
    std::vector<std::uint16_t> udp_ports;  // at most FP_MAX_UDP_PORTS, none 0
    std::uint64_t stale_after_ns = 3'000'000'000;
};

class FastPath {
  public:
    // pgmd's filter on every interface: cls_bpf handle and priority (priority 1 runs before
    // any filter added with tc's defaults).
    static constexpr std::uint32_t kTcHandle = 0x5047;  // "PG"
    static constexpr std::uint32_t kTcPriority = 1;

    // A session's progress summed over the CPUs: the highest lead among them (RFC 1982
    // comparison), the trail that came with it, and total packets/IP bytes.
    struct Progress {
        std::uint32_t lead = 0;
        std::uint32_t trail = 0;
        std::uint64_t packets = 0;
        std::uint64_t bytes = 0;
        std::uint64_t forwarded = 0;  // of `packets`, sent on (not dropped for their TTL)
    };
    struct Ids {
        std::uint32_t program = 0;
        std::vector<std::pair<std::string, std::uint32_t>> maps;  // name, id
    };
    // A punted frame: the arrival interface and the frame from its Ethernet header.
    using PuntHandler = std::function<void(IfIndex, std::span<const std::uint8_t>)>;

    explicit FastPath(const FastPathOptions& options);
    ~FastPath();
    FastPath(const FastPath&) = delete;
    FastPath& operator=(const FastPath&) = delete;

    // "" when a FastPath can be constructed here, else the reason (FastPathError's text).
    static std::string probe();

    // Starts switching on `ifindex`, whose MAC address is the Ethernet source of the
    // frames the program sends out of it, and gives it a counter slot with zeroed counters.
    // Idempotent (a new MAC replaces the old one; slot and counters are kept): session
    // entries naming it carry its MAC and slot and must then be rewritten.
    void attach(IfIndex ifindex, const std::array<std::uint8_t, 6>& mac);
    // A new MAC address of an attached interface: its fp_interfaces entry only (one map
    // write; on failure nothing changed). Session entries naming it must then be rewritten.
    void set_mac(IfIndex ifindex, const std::array<std::uint8_t, 6>& mac);
    // Removes pgmd's filter (an interface already gone is fine) and the interface's
    // fp_interfaces entry, and gives its slot back: read if_stats() before, and rewrite the
    // session entries naming it first (the program sends out of whatever an entry names).
    // The slot is held until release_held_slots(), not given to the next attach().
    void detach(IfIndex ifindex);
    // Frees the interface slots detach() gave back before this call. pgmd calls it at each
    // heartbeat: a program run that looked up an entry naming a detached interface has
    // ended long before, and the slot can be zeroed and given again.
    void release_held_slots() { if_slots_.release_held(); }
    bool attached(IfIndex ifindex) const { return attached_.count(ifindex) != 0; }
    void set_leave_attached(bool leave) { leave_attached_ = leave; }

    void heartbeat(std::uint64_t monotonic_ns);
    void set_enabled(bool enabled);
    // FP_CONFIG_CONSUME: drop the multicast PGM left to pgmd's capture once it has it
    // (kernels with multicast routing, so that a route for the group cannot forward it again).
    void set_consume(bool consume);
    void set_udp_ports(std::span<const std::uint16_t> ports);
    void set_stale_after(std::uint64_t ns);

    void upsert_session(const fp_session_key& key, const fp_session& session);
    void erase_session(const fp_session_key& key);  // absent: nothing happens
    void upsert_group(const fp_group_key& key, const fp_group& group);
    void erase_group(const fp_group_key& key);

    // The entries fp_sessions and fp_groups hold, read back from the kernel: after a write
    // failed part way, pgmd no longer knows which of its changes were made.
    std::vector<std::pair<fp_session_key, fp_session>> read_sessions() const;
    std::vector<std::pair<fp_group_key, fp_group>> read_groups() const;

    // The progress in session slot `slot`; nullopt before the program noted any.
    std::optional<Progress> progress(std::uint32_t slot) const;
    // Zeroes slot `slot` (on every CPU) and forgets what progress() had seen of it: for a
    // session given the slot, which must not inherit the lead of the one that had it.
    void reset_progress(std::uint32_t slot);
    // fp_progress slots: FP_MAX_SESSIONS, fewer where a per-CPU array that large over the
    // possible CPUs would exceed kProgressBudgetBytes.
    std::uint32_t session_slots() const { return session_slots_; }
    static constexpr std::uint64_t kProgressBudgetBytes = 64u << 20;
    fp_if_stats if_stats(IfIndex ifindex) const;  // zeros when it is not attached

    // The attached interfaces, with their MAC and slot (for the forwarding table).
    const std::map<IfIndex, FastPathInterface>& interfaces() const { return attached_; }

    // Readable when punts are waiting; then drain_punts() hands each to `handler`, in the
    // order the program punted them across CPUs, and returns how many. Frames the kernel
    // could not queue are counted in lost_punts().
    int punt_fd() const;
    std::size_t drain_punts(const PuntHandler& handler);
    std::uint64_t lost_punts() const { return lost_punts_; }

    Ids ids() const;
    int program_fd() const;  // for BPF_PROG_TEST_RUN and diagnostics

    // The fail-open groups (fp_groups) of the program a previous pgmd left on the interfaces
    // attach() took over, read before replacing it: the members that pgmd had learnt, so
    // that this one forwards to them at once instead of after the next IGMP reports. Read by
    // the layout fp_config.abi_version names: FP_ABI_VERSION as they are; 0 (fp_groups keyed
    // by group, every source forwarded) as source-0 entries; any other layout not at all
    // (inherit_skipped() then says why), so that a map is never read as what it is not.
    const std::map<fp_group_key, fp_group, FpGroupKeyLess>& inherited_groups() const {
        return inherited_groups_;
    }
    const std::string& inherit_skipped() const { return inherit_skipped_; }
    void forget_inherited_groups() {
        inherited_groups_.clear();
        inherit_skipped_.clear();
    }

    // True while pgmd's filter on `ifindex` runs this program (someone may have removed
    // the clsact qdisc or replaced the filter).
    bool still_attached(IfIndex ifindex) const;
    // The MAC address attach() was given for `ifindex`.
    std::array<std::uint8_t, 6> mac_of(IfIndex ifindex) const;
    // Removes a pgm_fastpath program of another (earlier) pgmd from pgmd's handle on
    // `ifindex`; false when there is none.
    bool remove_foreign(IfIndex ifindex);

  private:
    void write_config();
    void inherit_groups(std::uint32_t prog_id);
    std::uint32_t filter_program(IfIndex ifindex) const;  // 0: no filter at pgmd's handle
    void forget_interface(IfIndex ifindex, std::uint16_t slot);
    static void on_sample(void* ctx, int cpu, void* data, std::uint32_t size);
    static void on_lost(void* ctx, int cpu, unsigned long long count);  // libbpf's __u64

    pgm_fastpath* skel_ = nullptr;
    perf_buffer* punts_ = nullptr;
    int ncpus_ = 0;
    std::uint32_t session_slots_ = FP_MAX_SESSIONS;
    fp_config config_{};
    std::map<IfIndex, FastPathInterface> attached_;
    SlotRing if_slots_{FP_MAX_INTERFACES};
    bool leave_attached_ = false;
    std::uint64_t lost_punts_ = 0;
    std::map<fp_group_key, fp_group, FpGroupKeyLess> inherited_groups_;
    std::string inherit_skipped_;
    // Per session slot: each CPU's packet count and the lead at the last progress().
    struct Seen {
        std::vector<std::uint64_t> packets;
        std::uint32_t lead = 0;
        std::uint32_t trail = 0;
        bool valid = false;
    };
    mutable std::map<std::uint32_t, Seen> seen_;
    // The punts of one drain_punts(), collected ring by ring (one per CPU), then handed on
    // in punt order: ODATA of one session punted on two CPUs must not reach pgmd reversed
    // (a DLR took the later one for a gap and NAKed the earlier upstream).
    struct Punt {
        std::uint64_t ktime_ns;
        IfIndex ifindex;
        std::vector<std::uint8_t> frame;
    };
    std::vector<Punt> punts_read_;
    bool draining_ = false;
};

}  // namespace pgm::dataplane
