#include "control/server.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace pgm::control {

using dataplane::EventLoop;

namespace {

using Json = nlohmann::json;

constexpr int kListenBacklog = 16;
// After EMFILE and the like the listening socket stays readable; it is left alone this long
// instead of spinning on it.
constexpr Duration kAcceptRetryDelay = std::chrono::milliseconds(100);

[[noreturn]] void throw_errno(int error, const std::string& path, const char* what) {
    throw std::system_error(error, std::generic_category(), "control socket " + path + ": " + what);
}

sockaddr_un address_of(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        throw_errno(ENAMETOOLONG, path, "path empty or longer than sun_path");
    std::memcpy(addr.sun_path, path.data(), path.size());
    return addr;
}

Json error_reply(std::string message) {
    return Json{{"ok", false}, {"error", std::move(message)}};
}

// Something at `path` already: a live server (refuse), a stale socket (remove it), or not a
// socket at all (refuse: it is not ours to delete).
void clear_path(const std::string& path, const sockaddr_un& addr) {
    struct stat st {};
    if (lstat(path.c_str(), &st) < 0) {
        if (errno == ENOENT) return;
        throw_errno(errno, path, "lstat");
    }
    if (!S_ISSOCK(st.st_mode)) throw_errno(EEXIST, path, "exists and is not a socket");
    const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) throw_errno(errno, path, "socket");
    const int r = connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    const int error = r == 0 ? 0 : errno;
    close(probe);
    // EAGAIN: the backlog is full, so someone is listening.
    if (r == 0 || error == EAGAIN || error == EINPROGRESS)
        throw_errno(EADDRINUSE, path, "a running server answers there (is pgmd already running?)");
    if (error == ECONNREFUSED) {
        if (unlink(path.c_str()) < 0 && errno != ENOENT) throw_errno(errno, path, "unlink stale");
        return;
    }
    if (error != ENOENT) throw_errno(error, path, "probing the existing socket");
}

std::vector<gid_t> groups_of_peer(int fd, gid_t primary) {
    std::vector<gid_t> groups{primary};
#ifdef SO_PEERGROUPS
    std::vector<gid_t> buffer(32);
    for (int attempt = 0; attempt < 2; ++attempt) {
        socklen_t length = static_cast<socklen_t>(buffer.size() * sizeof(gid_t));
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, buffer.data(), &length) == 0) {
            groups.insert(groups.end(), buffer.begin(),
                          buffer.begin() + static_cast<std::ptrdiff_t>(length / sizeof(gid_t)));
            break;
        }
        if (errno != ERANGE) break;  // unknown: only the primary group counts (less access)
        buffer.resize(length / sizeof(gid_t) + 1);
    }
#endif
    return groups;
}

}  // namespace

void clear_socket_path(const std::string& path) {
    clear_path(path, address_of(path));
}

bool may_change_state(uid_t peer_uid, const std::vector<gid_t>& peer_groups, uid_t daemon_uid,
                      gid_t socket_group) {
    if (peer_uid == 0 || peer_uid == daemon_uid) return true;
    return std::find(peer_groups.begin(), peer_groups.end(), socket_group) != peer_groups.end();
}

ControlServer::ControlServer(EventLoop& loop, std::string path, mode_t mode,
                             std::optional<gid_t> group, Handler handler)
    : ControlServer(loop, std::move(path), mode, group, std::move(handler), Limits{}) {}

ControlServer::ControlServer(EventLoop& loop, std::string path, mode_t mode,
                             std::optional<gid_t> group, Handler handler, Limits limits)
    : loop_(loop), path_(std::move(path)), handler_(std::move(handler)), limits_(limits) {
    const sockaddr_un addr = address_of(path_);
    clear_path(path_, addr);

    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw_errno(errno, path_, "socket");
    bool bound = false;
    auto fail = [&](const char* what) {
        const int error = errno;
        close(listen_fd_);
        if (bound) unlink(path_.c_str());
        throw_errno(error, path_, what);
    };
    // Created owner-only and opened up by chmod once the group is right, so no one gets in
    // through a moment of wider access. umask is per process: the daemon sets this up before
    // it starts any thread.
    const mode_t old_umask = umask(0177);
    const int r = bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    umask(old_umask);
    if (r < 0) fail("bind");
    bound = true;
    if (group && chown(path_.c_str(), static_cast<uid_t>(-1), *group) < 0) fail("chown");
    if (chmod(path_.c_str(), mode) < 0) fail("chmod");
    struct stat st {};
    if (stat(path_.c_str(), &st) < 0) fail("stat");
    socket_group_ = st.st_gid;
    socket_dev_ = st.st_dev;
    socket_ino_ = st.st_ino;
    if (listen(listen_fd_, kListenBacklog) < 0) fail("listen");
    try {
        loop_.add(listen_fd_, EPOLLIN, [this](std::uint32_t) { on_listen_ready(); });
    } catch (const std::system_error& e) {
        errno = e.code().value();
        fail("epoll_ctl");
    }
}

ControlServer::~ControlServer() {
    if (accept_retry_timer_) loop_.cancel_timer(*accept_retry_timer_);
    while (!clients_.empty())
        close_client(clients_.begin()->first);
    loop_.remove(listen_fd_);
    close(listen_fd_);
    struct stat st {};
    if (stat(path_.c_str(), &st) == 0 && st.st_dev == socket_dev_ && st.st_ino == socket_ino_)
        unlink(path_.c_str());
}

void ControlServer::on_listen_ready() {
    for (;;) {
        const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            // Out of descriptors or memory: pause accepting rather than spin on the socket.
            loop_.modify(listen_fd_, 0);
            accept_retry_timer_ = loop_.add_timer(EventLoop::now() + kAcceptRetryDelay, [this] {
                accept_retry_timer_.reset();
                loop_.modify(listen_fd_, EPOLLIN);
            });
            return;
        }
        if (clients_.size() >= limits_.max_clients) {
            const std::string busy = error_reply("too many control clients").dump() + "\n";
            (void)send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            close(fd);
            continue;
        }
        auto client = std::make_unique<Client>();
        client->fd = fd;
        ucred cred{};
        socklen_t length = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) < 0) {
            close(fd);  // without credentials the peer gets nothing
            continue;
        }
        client->peer.pid = cred.pid;
        client->peer.uid = cred.uid;
        client->peer.gid = cred.gid;
        client->peer.may_change_state =
            may_change_state(cred.uid, groups_of_peer(fd, cred.gid), geteuid(), socket_group_);
        loop_.add(fd, EPOLLIN, [this, fd](std::uint32_t events) { on_client_event(fd, events); });
        client->interest = EPOLLIN;
        Client& c = *client;
        clients_.emplace(fd, std::move(client));
        arm_idle_timer(c);
    }
}

void ControlServer::on_client_event(int fd, std::uint32_t events) {
    auto it = clients_.find(fd);
    if (it == clients_.end()) return;
    Client& c = *it->second;
    if (events & EPOLLERR) return close_client(fd);
    if ((events & (EPOLLOUT | EPOLLHUP)) && !flush(c)) return close_client(fd);
    if ((events & (EPOLLIN | EPOLLHUP)) && c.pending_output() == 0 && !c.close_after_flush &&
        !read_from(c))
        return close_client(fd);
    process_lines(c);
    if ((c.close_after_flush || c.peer_closed) && c.pending_output() == 0) return close_client(fd);
    update_interest(c);
}

bool ControlServer::read_from(Client& c) {
    char buffer[4096];
    // Bounded: a line longer than the limit is refused without reading all of it.
    while (c.in.size() <= limits_.max_request_bytes) {
        const ssize_t n = recv(c.fd, buffer, sizeof buffer, 0);
        if (n > 0) {
            c.in.append(buffer, static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0) {
            c.peer_closed = true;
            return true;
        }
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK;
    }
    return true;
}

void ControlServer::process_lines(Client& c) {
    while (c.pending_output() == 0 && !c.close_after_flush) {
        const std::size_t newline = c.in.find('\n');
        const std::size_t line_length = newline == std::string::npos ? c.in.size() : newline;
        if (line_length > limits_.max_request_bytes) {
            c.in.clear();
            c.close_after_flush = true;
            queue_reply(c, error_reply("request longer than " +
                                       std::to_string(limits_.max_request_bytes) + " bytes"));
            return;
        }
        if (newline == std::string::npos) {
            // At end of stream an unterminated last line is still a request (printf | socat).
            if (!c.peer_closed || c.in.empty()) return;
            const std::string line = std::move(c.in);
            c.in.clear();
            answer(c, line);
            return;
        }
        const std::string line = c.in.substr(0, newline);
        c.in.erase(0, newline + 1);
        answer(c, line);
    }
}

void ControlServer::answer(Client& c, std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) return;  // blank line
    Json reply;
    try {
        const Json request = Json::parse(line);
        if (!request.is_object())
            reply = error_reply("request must be a JSON object");
        else
            reply = handler_(request, c.peer);
    } catch (const Json::parse_error& e) {
        reply = error_reply("request is not valid JSON (at byte " + std::to_string(e.byte) + ")");
    } catch (const std::exception& e) {
        reply = error_reply(std::string("internal error: ") + e.what());
    }
    queue_reply(c, reply);
    arm_idle_timer(c);
}

void ControlServer::queue_reply(Client& c, const Json& reply) {
    // Replacing invalid UTF-8 (an odd interface name) keeps dump() from throwing.
    c.out += reply.dump(-1, ' ', false, Json::error_handler_t::replace);
    c.out += '\n';
    if (!flush(c)) {
        c.out.clear();
        c.out_sent = 0;
        c.close_after_flush = true;
        c.peer_closed = true;
    }
}

bool ControlServer::flush(Client& c) {
    while (c.pending_output() > 0) {
        const ssize_t n =
            send(c.fd, c.out.data() + c.out_sent, c.pending_output(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c.out_sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    c.out.clear();
    c.out_sent = 0;
    return true;
}

void ControlServer::update_interest(Client& c) {
    // While a reply is waiting the client is not read: it cannot queue up more replies.
    const std::uint32_t wanted = c.pending_output() > 0 ? EPOLLOUT : EPOLLIN;
    if (wanted == c.interest) return;
    loop_.modify(c.fd, wanted);
    c.interest = wanted;
}

void ControlServer::arm_idle_timer(Client& c) {
    if (c.idle_timer) loop_.cancel_timer(*c.idle_timer);
    const int fd = c.fd;
    c.idle_timer = loop_.add_timer(EventLoop::now() + limits_.idle_timeout, [this, fd] {
        auto it = clients_.find(fd);
        if (it == clients_.end()) return;
        it->second->idle_timer.reset();  // this timer has fired: nothing to cancel
        close_client(fd);
    });
}

void ControlServer::close_client(int fd) {
    auto it = clients_.find(fd);
    if (it == clients_.end()) return;
    if (it->second->idle_timer) loop_.cancel_timer(*it->second->idle_timer);
    loop_.remove(fd);
    close(fd);
    clients_.erase(it);
}

}  // namespace pgm::control
