#include "dataplane/event_loop.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace pgm::dataplane {

namespace {
[[noreturn]] void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}
}  // namespace

EventLoop::EventLoop() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw_errno("epoll_create1");
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd_ < 0) throw_errno("timerfd_create");
    add(timer_fd_, EPOLLIN, [this](std::uint32_t) {
        std::uint64_t expirations;
        while (read(timer_fd_, &expirations, sizeof expirations) > 0) {
        }
        armed_at_ = kNever;
        run_due_timers();
    });
}

EventLoop::~EventLoop() {
    if (signal_fd_ >= 0) close(signal_fd_);
    if (timer_fd_ >= 0) close(timer_fd_);
    if (epoll_fd_ >= 0) close(epoll_fd_);
}

void EventLoop::add(int fd, std::uint32_t events, FdHandler handler) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) < 0) throw_errno("epoll_ctl(ADD)");
    handlers_[fd] = std::make_shared<FdHandler>(std::move(handler));
}

void EventLoop::modify(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) < 0) throw_errno("epoll_ctl(MOD)");
}

void EventLoop::remove(int fd) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);  // may already be closed: ignore errors
    handlers_.erase(fd);
}

EventLoop::TimerId EventLoop::add_timer(Time at, Callback callback) {
    const TimerId id = next_timer_id_++;
    if (at == kNever) return id;
    timers_.push(Timer{at, id});
    timer_callbacks_.emplace(id, std::move(callback));
    arm_timerfd();
    return id;
}

void EventLoop::cancel_timer(TimerId id) {
    timer_callbacks_.erase(id);
}  // lazily dropped from the heap

void EventLoop::arm_timerfd() {
    while (!timers_.empty() && !timer_callbacks_.contains(timers_.top().id))
        timers_.pop();
    if (timers_.empty()) return;
    const Time at = timers_.top().at;
    if (at >= armed_at_) return;
    armed_at_ = at;
    itimerspec spec{};
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
    if (ns <= 0) ns = 1;  // 0 would disarm
    spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    // steady_clock is CLOCK_MONOTONIC on Linux, so the deadline is absolute on that clock.
    if (timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr) < 0)
        throw_errno("timerfd_settime");
}

void EventLoop::run_due_timers() {
    const Time t = now();
    while (!timers_.empty() && timers_.top().at <= t) {
        const Timer due = timers_.top();
        timers_.pop();
        auto it = timer_callbacks_.find(due.id);
        if (it == timer_callbacks_.end()) continue;
        Callback cb = std::move(it->second);
        timer_callbacks_.erase(it);
        cb();
    }
    arm_timerfd();
}

void EventLoop::add_signal(int signo, Callback callback) {
    signal_callbacks_[signo] = std::move(callback);
    sigset_t set;
    sigemptyset(&set);
    for (const auto& [s, cb] : signal_callbacks_)
        sigaddset(&set, s);
    if (sigprocmask(SIG_BLOCK, &set, nullptr) < 0) throw_errno("sigprocmask");
    const bool first = signal_fd_ < 0;
    signal_fd_ = signalfd(signal_fd_, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd_ < 0) throw_errno("signalfd");
    if (first) add(signal_fd_, EPOLLIN, [this](std::uint32_t) { on_signal(); });
}

void EventLoop::on_signal() {
    signalfd_siginfo info;
    while (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        auto it = signal_callbacks_.find(static_cast<int>(info.ssi_signo));
        if (it != signal_callbacks_.end()) it->second();
    }
}

void EventLoop::run_once(Duration timeout) {
    epoll_event events[64];
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
    const int n =
        epoll_wait(epoll_fd_, events, 64, timeout == Duration::max() ? -1 : static_cast<int>(ms));
    if (n < 0) {
        if (errno == EINTR) return;
        throw_errno("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
        auto it = handlers_.find(events[i].data.fd);
        if (it == handlers_.end()) continue;           // removed by an earlier handler this round
        std::shared_ptr<FdHandler> keep = it->second;  // survives remove() inside the handler
        (*keep)(events[i].events);
    }
    run_due_timers();  // timers due while handlers ran, without waiting for the timerfd
}

void EventLoop::run() {
    while (!stopped_)
        run_once(Duration::max());
}

}  // namespace pgm::dataplane
