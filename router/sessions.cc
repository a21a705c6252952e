#include "router/sessions.h"

namespace pgm::router {

const char* to_string(SessionEvent::Kind kind) {
    switch (kind) {
        case SessionEvent::Kind::Created:
            return "created";
        case SessionEvent::Kind::Fin:
            return "ended by its source (FIN)";
        case SessionEvent::Kind::Expired:
            return "expired";
        case SessionEvent::Kind::Removed:
            return "removed (upstream interface down)";
    }
    return "?";
}

Session* SessionTable::create(const Tsi& tsi, Time now) {
    if (sessions_.size() >= config_.max_sessions) return nullptr;
    Session* s = &sessions_[tsi];
    if (next_sweep_ == kNever) next_sweep_ = now + config_.session_lifetime;
    return s;
}

void SessionTable::note_event(SessionEvent::Kind kind, const Tsi& tsi, const Session& s) {
    if (events_.size() >= kMaxSessionEvents) {
        ++events_lost_;
        return;
    }
    events_.push_back(SessionEvent{kind, tsi, s.source, s.group, s.upstream_interface});
}

std::vector<SessionEvent> SessionTable::take_events() {
    std::vector<SessionEvent> out;
    out.swap(events_);
    return out;
}

}  // namespace pgm::router
