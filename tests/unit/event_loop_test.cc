// Tests of the epoll/timerfd/signalfd event loop: real descriptors and signals, no sleeps:
// every wait is bounded by the loop's own timers.
#include "dataplane/event_loop.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <vector>

namespace pgm::dataplane {
namespace {

using namespace std::chrono_literals;

TEST(EventLoop, TimersRunInDeadlineOrderAndCancelledOnesDoNot) {
    EventLoop loop;
    std::vector<int> order;
    const Time t0 = EventLoop::now();
    loop.add_timer(t0 + 30ms, [&] { order.push_back(3); });
    loop.add_timer(t0 + 10ms, [&] { order.push_back(1); });
    auto cancelled = loop.add_timer(t0 + 20ms, [&] { order.push_back(2); });
    loop.cancel_timer(cancelled);
    loop.add_timer(t0 + 40ms, [&] { loop.stop(); });
    loop.run();
    EXPECT_EQ(order, (std::vector<int>{1, 3}));
    EXPECT_GE(EventLoop::now() - t0, 40ms);
}

TEST(EventLoop, PastDeadlineRunsAtOnceAndNeverDoesNotRun) {
    EventLoop loop;
    bool ran = false;
    loop.add_timer(EventLoop::now() - 1s, [&] { ran = true; });
    loop.add_timer(kNever, [] { FAIL() << "kNever timer ran"; });
    loop.add_timer(EventLoop::now() + 5ms, [&] { loop.stop(); });
    loop.run();
    EXPECT_TRUE(ran);
}

TEST(EventLoop, ReadableDescriptorDispatchesAndCanRemoveItself) {
    EventLoop loop;
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    int calls = 0;
    loop.add(fds[0], EPOLLIN, [&](std::uint32_t events) {
        EXPECT_TRUE(events & EPOLLIN);
        char c;
        ASSERT_EQ(read(fds[0], &c, 1), 1);
        EXPECT_EQ(c, 'x');
        ++calls;
        loop.remove(fds[0]);
        loop.stop();
    });
    ASSERT_EQ(write(fds[1], "x", 1), 1);
    loop.add_timer(EventLoop::now() + 2s, [&] { loop.stop(); });  // bound, should not fire
    loop.run();
    EXPECT_EQ(calls, 1);
    close(fds[0]);
    close(fds[1]);
}

TEST(EventLoop, SignalIsDeliveredOnTheLoop) {
    EventLoop loop;
    int got = 0;
    loop.add_signal(SIGUSR1, [&] {
        ++got;
        loop.stop();
    });
    loop.add_timer(EventLoop::now() + 2s, [&] { loop.stop(); });  // bound
    ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
    loop.run();
    EXPECT_EQ(got, 1);
}

}  // namespace
}  // namespace pgm::dataplane
