#include "control/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace pgm::control {

namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

class Connection {
  public:
    ~Connection() {
        if (fd_ >= 0) close(fd_);
    }
    int fd_ = -1;
};

int remaining_ms(SteadyClock::time_point deadline) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now());
    return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

// Waits for `events` on fd until the deadline; false on timeout.
bool wait_for(int fd, short events, SteadyClock::time_point deadline) {
    for (;;) {
        pollfd p{fd, events, 0};
        const int n = poll(&p, 1, remaining_ms(deadline));
        if (n > 0) return true;
        if (n == 0) return false;
        if (errno != EINTR) return false;
    }
}

}  // namespace

ClientReply exchange(const std::string& path, const Json& request,
                     std::chrono::milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    char seconds_text[32];
    std::snprintf(seconds_text, sizeof seconds_text, "%g s", timeout.count() / 1000.0);
    const std::string seconds = seconds_text;
    auto fail = [](ClientStatus code, std::string problem) {
        ClientReply o;
        o.status = code;
        o.problem = std::move(problem);
        return o;
    };
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return fail(ClientStatus::BadPath, "socket path too long: " + path);
    std::memcpy(addr.sun_path, path.data(), path.size());

    Connection c;
    c.fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd_ < 0)
        return fail(ClientStatus::NoAnswer, std::string("socket: ") + std::strerror(errno));
    for (;;) {
        if (connect(c.fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) break;
        const int error = errno;
        if (error == ENOENT)
            return fail(ClientStatus::NotRunning,
                        "pgmd is not running (no control socket at " + path + ")");
        if (error == ECONNREFUSED)
            return fail(ClientStatus::NotRunning,
                        "pgmd is not running (control socket " + path + " refuses connections)");
        if (error == EAGAIN && SteadyClock::now() < deadline) {
            // The daemon's backlog is full: it is there but busy. Try again shortly.
            poll(nullptr, 0, std::min(10, remaining_ms(deadline)));
            continue;
        }
        if (error == EINTR) continue;
        if (error == EAGAIN)
            return fail(ClientStatus::NoAnswer, "pgmd did not accept within " + seconds);
        return fail(ClientStatus::NoAnswer,
                    "cannot connect to " + path + ": " + std::strerror(error));
    }

    const std::string line = request.dump() + "\n";
    std::size_t sent = 0;
    while (sent < line.size()) {
        const ssize_t n =
            send(c.fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
            wait_for(c.fd_, POLLOUT, deadline))
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return fail(ClientStatus::NoAnswer, "pgmd did not take the request within " + seconds);
        return fail(ClientStatus::NoAnswer,
                    std::string("sending the request: ") + std::strerror(errno));
    }

    std::string received;
    for (;;) {
        const std::size_t newline = received.find('\n');
        if (newline != std::string::npos) {
            received.resize(newline);
            break;
        }
        char buffer[65536];
        const ssize_t n = recv(c.fd_, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n > 0) {
            received.append(buffer, static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0)
            return fail(ClientStatus::NoAnswer, "pgmd closed the connection without a reply");
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return fail(ClientStatus::NoAnswer,
                        std::string("reading the reply: ") + std::strerror(errno));
        if (!wait_for(c.fd_, POLLIN, deadline))
            return fail(ClientStatus::NoAnswer, "no reply from pgmd within " + seconds);
    }

    ClientReply o;
    o.reply = Json::parse(received, nullptr, false);
    if (o.reply.is_discarded() || !o.reply.is_object() || !o.reply.contains("ok") ||
        !o.reply["ok"].is_boolean())
        return fail(ClientStatus::NoAnswer, "pgmd sent a reply that is not a control reply");
    if (!o.reply["ok"].get<bool>()) {
        o.status = ClientStatus::DaemonError;
        const Json& error = o.reply.value("error", Json("(no reason given)"));
        o.problem = error.is_string() ? error.get<std::string>() : error.dump();
    }
    return o;
}

}  // namespace pgm::control
