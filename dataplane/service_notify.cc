#include "dataplane/service_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <ctime>

namespace pgm::dataplane {

namespace {

void notify(const std::string& message) {
    // 0: keep NOTIFY_SOCKET, later messages need it. Errors are not pgmd's concern: without
    // a service manager listening there is nobody to tell.
    sd_notify(0, message.c_str());
}

}  // namespace

ServiceNotifier::ServiceNotifier(EventLoop& loop) : loop_(loop) {
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        watchdog_period_ = std::chrono::microseconds(usec / 2);
        keep_alive();
    }
}

ServiceNotifier::~ServiceNotifier() {
    if (timer_ != 0) loop_.cancel_timer(timer_);
}

void ServiceNotifier::ready(const std::string& status) {
    notify("READY=1\nSTATUS=" + status);
}

void ServiceNotifier::reloading() {
    // MONOTONIC_USEC: systemd >= 253 (Type=notify-reload) requires it with RELOADING=1 to
    // tell this reload from an earlier one; older versions ignore it.
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    const auto usec = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000u +
                      static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
    notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) +
           "\nSTATUS=reloading the configuration");
}

void ServiceNotifier::stopping() {
    notify("STOPPING=1\nSTATUS=stopping");
}

void ServiceNotifier::status(const std::string& status) {
    notify("STATUS=" + status);
}

void ServiceNotifier::keep_alive() {
    notify("WATCHDOG=1");
    timer_ = loop_.add_timer(EventLoop::now() + watchdog_period_, [this] {
        timer_ = 0;
        keep_alive();
    });
}

}  // namespace pgm::dataplane
