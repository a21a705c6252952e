// DOC: The daemon's and the tools' single-threaded event loop: epoll over file descriptors,
// one timerfd for every timer (armed to the earliest deadline), and signalfd for signals.
//
// Life cycle: construct; add() descriptors, timers and signals; run() until stop(). All
// handlers run on the loop's thread, one at a time, so the sans-I/O cores they drive need
// no locks. Handlers may add and remove descriptors and timers, including their own.
// Time is std::chrono::steady_clock, the same clock the cores are given.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <unordered_map>
#include <vector>

#include "protocol/io.h"

namespace pgm::dataplane {

class EventLoop {
  public:
    using FdHandler = std::function<void(std::uint32_t epoll_events)>;
    using Callback = std::function<void()>;
    using TimerId = std::uint64_t;

    EventLoop();  // throws std::system_error when epoll/timerfd cannot be created
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    // `events`: EPOLLIN, EPOLLOUT... The loop does not own or close `fd`.
    void add(int fd, std::uint32_t events, FdHandler handler);
    void modify(int fd, std::uint32_t events);
    void remove(int fd);

    // Runs `callback` once at `at` (or at once if `at` has passed). kNever: never.
    TimerId add_timer(Time at, Callback callback);
    void cancel_timer(TimerId id);

    // Blocks `signo` for the process and runs `callback` on the loop when it arrives.
    void add_signal(int signo, Callback callback);

    // Runs until stop(); returns at once if stop() was called before.
    void run();
    // Runs one round: waits at most `timeout` for events, dispatches them and due timers.
    void run_once(Duration timeout);
    void stop() { stopped_ = true; }
    bool stopped() const { return stopped_; }

    static Time now() { return Clock::now(); }

  private:
    struct Timer {
        Time at;
        TimerId id;
        bool operator>(const Timer& o) const { return at > o.at || (at == o.at && id > o.id); }
    };
    void arm_timerfd();
    void run_due_timers();
    void on_signal();

    int epoll_fd_ = -1;
    int timer_fd_ = -1;
    int signal_fd_ = -1;
    bool stopped_ = false;
    std::unordered_map<int, std::shared_ptr<FdHandler>> handlers_;
    std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
    std::unordered_map<TimerId, Callback> timer_callbacks_;
    TimerId next_timer_id_ = 1;
    Time armed_at_ = kNever;
    std::map<int, Callback> signal_callbacks_;
};

}  // namespace pgm::dataplane
