#include "router/poll.h"

#include <chrono>

#include "protocol/write_packet.h"
#include "protocol/writer.h"
#include "router/transmit.h"

namespace pgm::router {

void PollResponder::on_poll(const Arrival& a, const PacketView& poll, Time now) {
    const PollFields& f = *poll.get<PollFields>();
    const Tsi tsi = poll.header.tsi();
    Session* sp = router_.session(tsi);
    if (!sp) {
        router_.count(a.ifindex, nullptr, Counter::PollTsiStateError);
        return;
    }
    Session& s = *sp;
    if (a.ifindex != s.upstream_interface) {
        router_.count(a.ifindex, &s, Counter::PollParentError);  // only our parent polls us
        return;
    }
    // A new POLL_SQN cancels the POLR still waiting for the previous one.
    if (!s.poll_sqn || *s.poll_sqn != f.sqn) {
        s.poll_sqn = f.sqn;
        s.poll_round0_seen = false;
        if (s.polr) {
            s.polr.reset();
            ++s.polr_generation;
        }
    }
    if (f.round == 0) s.poll_round0_seen = true;
    if (f.round != 0 && !s.poll_round0_seen) {
        router_.count(a.ifindex, &s, Counter::PollError);
        return;
    }
    if ((f.rand & f.mask) != (rand_node_id_ & f.mask)) {
        router_.count(a.ifindex, &s, Counter::PollRandomIgnore);
        return;
    }
    // GENERAL polls are answered; DLR polls only when we are a DLR for the session
    // (§9.5.2.2, redirecting POLR); unknown sub-types MUST NOT be answered.
    const bool dlr_poll = f.subtype == kPollDlr && s.dlr;
    if (f.subtype != kPollGeneral && !dlr_poll) {
        router_.count(a.ifindex, &s, Counter::PollTypeError);
        return;
    }
    const auto backoff = std::chrono::microseconds(
        f.backoff_ivl_us == 0 ? 0 : router_.next_random() % (std::uint64_t{f.backoff_ivl_us} + 1));
    s.polr = Session::PendingPolr{f.sqn, f.round, f.path, now + backoff, dlr_poll};
    timers_.push(PolrTimer{s.polr->at, tsi, ++s.polr_generation});
    router_.count(a.ifindex, &s, Counter::PollSuccess);
}

void PollResponder::on_timer(Time now, Output& out) {
    while (!timers_.empty() && timers_.top().at <= now) {
        const PolrTimer due = timers_.top();
        timers_.pop();
        Session* s = router_.session(due.tsi);
        if (!s || s->polr_generation != due.generation || !s->polr)
            continue;  // cancelled by a newer POLL_SQN, or the session is gone
        send_polr(due.tsi, *s, out);
    }
}

void PollResponder::send_polr(const Tsi& tsi, Session& s, Output& out) {
    const Session::PendingPolr p = *s.polr;
    s.polr.reset();
    const auto t = router_.upstream_transmit(s, p.to);  // unicast to POLL_PATH (§14.7.2)
    if (!t) return;
    const auto written = write_packet(out, kMaxPolrSize, *t, [&](PacketWriter& w) {
        // Upstream port orientation (§8.3): SPORT = data-destination port.
        w.begin(PacketType::Polr, s.data_destination_port, tsi.source_port, tsi.gsi);
        w.polr(PolrFields{p.sqn, p.round});
        if (p.redirect) w.redirect(OptRedirect{t->ip_source});  // we are its DLR (§9.5.2.2)
    });
    if (!written) return;
    router_.count(s.upstream_interface, &s, Counter::PolrOriginated);
    if (p.redirect) router_.count(s.upstream_interface, &s, Counter::DlrRedirectingPolrs);
}

}  // namespace pgm::router
