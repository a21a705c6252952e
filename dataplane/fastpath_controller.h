// DOC: pgmd's control of its kernel fast path (decisions.md D31): keeps the eBPF program's
// maps (dataplane/fastpath.h, the contract in dataplane/bpf/fastpath_abi.h) in step with the
// router core, and the core in step with what the kernel forwarded.
//
// Owns the FastPath (program, maps, punt buffer) when it loaded, the table last written to
// the kernel (FastPathTable), the kernel counters last folded into the core, and the
// heartbeat timer. Every heartbeat (a quarter of fail-open-after, so that three can be late
// before the program fails open) it writes the heartbeat, rebuilds the table from the core
// and membership and writes the difference, and folds the kernel's per-session progress (the
// lead, D14.4; ODATA counts) and per-interface counters into the core, so that `show
// counters` and the NAK checks are true whichever path forwarded. The daemon also calls
// sync_table() right after a membership change (a new member must get the kernel's copies at
// once, not a heartbeat later) and refresh_session() before a NAK reaches the core (the lead
// the core checks it against must include what the kernel forwarded a moment ago).
//
// Life cycle: constructed by the Daemon before any interface is served. mode Off: nothing is
// loaded; Auto: a program that does not load is logged once with the reason and pgmd runs
// in user space; On: it throws. attach() when an interface starts being served (before its
// capture opens, so that eligible ODATA is never captured and punted both), detach() when it
// stops (after its capture closed). On destruction the programs are removed, or left to fail
// open ([dataplane] on-exit).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "dataplane/daemon_config.h"
#include "dataplane/event_loop.h"
#include "dataplane/fastpath_table.h"
#include "dataplane/netlink.h"
#include "router/router.h"

namespace pgm::dataplane {

class FastPath;

class FastPathController {
  public:
    // `members`: the membership the core sees (for fail-open groups too).
    using PuntHandler = std::function<void(IfIndex, std::span<const std::uint8_t>)>;
    FastPathController(EventLoop& loop, const DataplaneConfig& config,
                       std::span<const std::uint16_t> udp_ports, router::Router& router,
                       const router::Environment& environment, PuntHandler on_punt,
                       std::function<void()> on_punt_batch_end);
    ~FastPathController();
    FastPathController(const FastPathController&) = delete;
    FastPathController& operator=(const FastPathController&) = delete;

    // True when the program is loaded (interfaces may still be in user space).
    bool loaded() const { return fast_path_ != nullptr; }
    // Why it is not loaded ("" when it is).
    const std::string& reason() const { return reason_; }

    // Starts kernel forwarding on an interface pgmd now serves; false (and why in the log
    // and in show) when it stays in user space: not Ethernet, or the attach failed.
    bool attach(IfIndex ifindex, const std::string& name, const LinkInfo& link);
    void detach(IfIndex ifindex);
    // The daemon saw `link` change (netlink): a new MAC address of an attached interface is
    // written to the program, and the session entries that send out of it rewritten, so
    // that the copies leave with the interface's own Ethernet source.
    void link_changed(IfIndex ifindex, const LinkInfo& link);
    bool attached(IfIndex ifindex) const { return attached_.contains(ifindex); }
    // Groups that had members on `ifindex` in the program of a previous pgmd this one took
    // over from (FastPath::inherited_groups): the daemon treats them as reported, so that a
    // restart does not stop forwarding to receivers until they answer the next IGMP query.
    // Per group as an IGMPv3 record would say it (inherited_members() of fastpath_table.h).
    std::vector<InheritedMembers> inherited_members(IfIndex ifindex) const;
    // Why members could not be inherited ("" when they were, or there was nothing).
    std::string inherit_skipped() const;

    // Groups with members outside any session (static, IGMP): they fail open too.
    void set_groups(std::vector<GroupMembers> groups);
    // Rebuilds the table and writes what changed; false when the write failed (logged; the
    // table is read back from the kernel and the next sync writes it again).
    bool sync_table();
    // Folds the kernel's progress for `tsi` into the core now (before a NAK of it).
    void refresh_session(const Tsi& tsi);
    // Folds every session's progress and every interface's counters into the core now
    // (before the control socket reads the core).
    void refresh_all();
    // Applies a reloaded configuration (fail-open-after, on-exit, ports).
    void reconfigure(const DataplaneConfig& config, std::span<const std::uint16_t> udp_ports);

    // Kernel counters of an interface, summed over CPUs, since it was attached (kept after
    // it was detached).
    struct InterfaceStatus {
        std::string name;
        bool kernel = false;
        std::string reason;  // why user space
        int slot = -1;       // its fp_if_stats slot while attached (for bpftool), else -1
        std::optional<std::array<std::uint8_t, 6>> mac;  // the Ethernet source of its copies
        fp_if_stats stats{};
    };
    struct Status {
        bool loaded = false;
        std::string reason;
        std::uint32_t program_id = 0;
        std::vector<std::pair<std::string, std::uint32_t>> maps;
        std::size_t sessions_in_kernel = 0;
        std::map<std::string, std::size_t> user_space_reasons;  // FastPathSkip name -> count
        std::uint64_t heartbeat_ms = 0;
        std::uint64_t fail_open_after_ms = 0;
        std::string on_exit;
        std::map<IfIndex, InterfaceStatus> interfaces;
    };
    Status status() const;

    // After the first interfaces are served: members inherited from a previous pgmd apply
    // to that start only, not to a later link flap.
    void forget_inherited();
    // An interface pgmd does not serve: a previous pgmd's program left on it (killed, or
    // on-exit = fail-open) would fail open there for ever; it is removed.
    void remove_stale(IfIndex ifindex, const std::string& name);

  private:
    void on_heartbeat();
    void write_table();
    void update_consume();
    void check_attachments();
    // Runs `fn`; on an exception logs it, reads the tables back from the kernel
    // (recover_table()) and returns false.
    bool guarded(const char* what, const std::function<void()>& fn);
    void recover_table();
    void finish_detaches();
    void fold_progress(const fp_session_key& key);
    void fold_interface_counters();
    void on_punts_readable();
    void arm_heartbeat();

    EventLoop& loop_;
    DataplaneConfig config_;
    std::vector<std::uint16_t> udp_ports_;
    router::Router& router_;
    const router::Environment& environment_;
    PuntHandler on_punt_;
    std::function<void()> on_punt_batch_end_;
    std::unique_ptr<FastPath> fast_path_;
    std::string reason_;
    std::set<IfIndex> attached_;
    std::map<IfIndex, InterfaceStatus> interfaces_;
    std::vector<GroupMembers> groups_;
    // What the kernel holds: the table last written, or read back after a failure.
    FastPathTable table_;
    // The table being written; kept when its write fails, for recovered_table().
    std::optional<FastPathTable> attempt_;
    // A failure left table_ unknown and reading it back failed too: write_table() retries.
    bool recover_ = false;
    // Interfaces pgmd stopped serving whose FastPath::detach waits for a successful write of
    // the table (entries may still send out of them and count in their slot).
    std::set<IfIndex> detaching_;
    std::vector<SkippedSession> skipped_;
    // Per session: the kernel's packet count last folded into the core.
    struct FoldedProgress {
        std::uint64_t packets = 0;
        std::uint64_t forwarded = 0;
    };
    std::map<fp_session_key, FoldedProgress, FpSessionKeyLess> folded_;
    // Per interface: the kernel counters last folded into the core's interface counters.
    std::map<IfIndex, fp_if_stats> folded_if_;
    EventLoop::TimerId heartbeat_timer_ = 0;
    bool punt_fd_added_ = false;
    bool consume_ = false;
};

}  // namespace pgm::dataplane
