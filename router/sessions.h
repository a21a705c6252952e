// DOC: The network element's session table (RFC 3208 §7.1), sans-I/O: the path state of
// every TSI (router/session.h), created by the first SPM that passes the RPF check (up to
// max_sessions), removed after session_lifetime without SPM (expire, at the sweep time
// next_sweep) or when its upstream interface goes away (remove_upstream); and the log of
// those changes for the owner (SessionEvent, take_events).
//
// Lookups go through a one-entry cache (packets come in bursts of one session); every
// removal resets it, and sessions never move (node-based map), so the cache and the
// Session& the router hands to its components stay valid until a removal.
// Life cycle: owned by the Router, as long as it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "protocol/io.h"
#include "protocol/nla.h"
#include "router/config.h"
#include "router/session.h"

namespace pgm::router {

// A change of the session table, for the owner's log (pgmd logs each at info). Kept until
// take_session_events(); past kMaxSessionEvents untaken ones further events are only counted.
struct SessionEvent {
    enum class Kind : std::uint8_t {
        Created,  // first SPM passed the RPF check
        Fin,      // first SPM with OPT_FIN
        Expired,  // session_lifetime without SPM
        Removed,  // its upstream interface went down
    };
    Kind kind = Kind::Created;
    Tsi tsi;
    Nla source;
    Nla group;
    IfIndex upstream_interface = 0;
};
inline constexpr std::size_t kMaxSessionEvents = 1024;
const char* to_string(SessionEvent::Kind kind);

class SessionTable {
  public:
    using Map = std::unordered_map<Tsi, Session>;
    explicit SessionTable(const RouterConfig& config) : config_(config) {}
    SessionTable(const SessionTable&) = delete;
    SessionTable& operator=(const SessionTable&) = delete;

    Session* find(const Tsi& tsi) {
        if (cached_ && cached_tsi_ == tsi) return cached_;
        auto it = sessions_.find(tsi);
        if (it == sessions_.end()) return nullptr;
        cached_tsi_ = tsi;
        cached_ = &it->second;
        return cached_;
    }
    // A new, empty session for `tsi` (its first SPM, at `now`); null at max_sessions.
    Session* create(const Tsi& tsi, Time now);
    const Map& all() const { return sessions_; }
    // For changes to every session that add or remove none (counters, Session::dlr).
    Map& all_sessions() { return sessions_; }

    // When the next session may expire (kNever: none).
    Time next_sweep() const { return next_sweep_; }
    // Removes the sessions past session_lifetime without SPM (Expired); gone(tsi) for each.
    template <class Gone>
    void expire(Time now, Gone&& gone) {
        erase_if(SessionEvent::Kind::Expired, gone,
                 [&](const Session& s) { return now - s.last_spm >= config_.session_lifetime; });
        Time oldest = kNever;
        for (const auto& [tsi, s] : sessions_)
            oldest = std::min(oldest, s.last_spm);
        next_sweep_ = sessions_.empty() ? kNever : oldest + config_.session_lifetime;
    }
    // Removes the sessions whose upstream interface was `ifindex` (Removed); gone(tsi) for
    // each.
    template <class Gone>
    void remove_upstream(IfIndex ifindex, Gone&& gone) {
        erase_if(SessionEvent::Kind::Removed, gone,
                 [&](const Session& s) { return s.upstream_interface == ifindex; });
    }

    void note_event(SessionEvent::Kind kind, const Tsi& tsi, const Session& s);
    // The events since the last call (oldest first), and how many were not kept.
    std::vector<SessionEvent> take_events();
    std::uint64_t events_lost() const { return events_lost_; }

  private:
    template <class Gone, class Pred>
    void erase_if(SessionEvent::Kind kind, Gone& gone, Pred&& pred) {
        cached_ = nullptr;
        std::erase_if(sessions_, [&](const auto& kv) {
            if (!pred(kv.second)) return false;
            note_event(kind, kv.first, kv.second);
            gone(kv.first);
            return true;
        });
    }

    const RouterConfig& config_;
    Map sessions_;
    Tsi cached_tsi_;
    Session* cached_ = nullptr;
    Time next_sweep_ = kNever;
    std::vector<SessionEvent> events_;
    std::uint64_t events_lost_ = 0;
};

}  // namespace pgm::router
