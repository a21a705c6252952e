// DOC: pgmd's side of systemd's service protocol (sd_notify(3), Type=notify in
// dist/pgmd.service.in): READY=1 once the configured interfaces are served and the control
// socket answers, RELOADING=1 then READY=1 around a reload, STOPPING=1 at a clean stop,
// STATUS= lines for `systemctl status`, and WATCHDOG=1 keep-alives from the event loop when
// the unit sets WatchdogSec= (a hung loop then gets pgmd restarted).
//
// Owns the watchdog timer. Without NOTIFY_SOCKET in the environment (not under systemd, or
// Type=simple) every call does nothing; libsystemd's sd_notify() does the socket work.
// Life cycle: created by pgmd on the loop's thread before it serves; lives until exit.
#pragma once

#include <string>

#include "dataplane/event_loop.h"

namespace pgm::dataplane {

class ServiceNotifier {
  public:
    // Starts the watchdog keep-alives when the service manager asked for them
    // (WATCHDOG_USEC, sd_watchdog_enabled(3)): every half interval, from the loop.
    explicit ServiceNotifier(EventLoop& loop);
    ~ServiceNotifier();
    ServiceNotifier(const ServiceNotifier&) = delete;
    ServiceNotifier& operator=(const ServiceNotifier&) = delete;

    void ready(const std::string& status);
    void reloading();
    void stopping();
    void status(const std::string& status);

    // Whether the watchdog is on (for the log), and its keep-alive period.
    bool watchdog() const { return watchdog_period_ != Duration::zero(); }

  private:
    void keep_alive();

    EventLoop& loop_;
    Duration watchdog_period_{};
    EventLoop::TimerId timer_ = 0;
};

}  // namespace pgm::dataplane
