// DOC: The daemon's control socket: an AF_UNIX stream server speaking newline-delimited JSON
// (one request line in, one reply line out), driven by the EventLoop.
//
// Owns the listening socket, its path in the file system and every client connection. It
// knows nothing of PGM: each request object goes to the `Handler` with the credentials of
// the peer (SO_PEERCRED, SO_PEERGROUPS), and whatever the handler returns is the reply. The
// server itself answers only what the handler never sees: lines that are not a JSON object,
// lines over the size limit (answered, then the connection is closed), and handler
// exceptions (answered as internal errors). Access control is split: the file mode and
// group decide who may connect at all; `PeerCredentials::may_change_state` tells the handler
// whether this peer may also change state (root, the daemon's own user, or a member of the
// socket's group), so read-only commands can be served to anyone who can connect.
//
// Life cycle: the constructor refuses a path where a live server answers or where something
// other than a socket lies, removes a stale socket, binds with the requested mode and group,
// and registers with the loop; clients come and go as the loop runs; the destructor closes
// every connection and unlinks the path (if it is still this server's socket). Requests of
// one client are answered in order; a client whose replies are not being read is not read
// from until they are, so no buffer grows without bound.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataplane/event_loop.h"

namespace pgm::control {

struct PeerCredentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    // Root, the daemon's effective user, or a member of the socket's group: may issue
    // commands that change state (clear, reload). Everyone else who can connect may read.
    bool may_change_state = false;
};

// What the constructor does first, for a daemon that wants to know before it starts serving:
// throws std::system_error when a live server answers at `path` or something other than a
// socket lies there; removes a stale socket (one nobody listens on).
void clear_socket_path(const std::string& path);

// The rule behind PeerCredentials::may_change_state, separate so it can be tested for
// identities a test cannot take on. `peer_groups`: primary and supplementary groups.
bool may_change_state(uid_t peer_uid, const std::vector<gid_t>& peer_groups, uid_t daemon_uid,
                      gid_t socket_group);

class ControlServer {
  public:
    using Handler =
        std::function<nlohmann::json(const nlohmann::json& request, const PeerCredentials&)>;

    struct Limits {
        std::size_t max_request_bytes = 64 * 1024;         // one line, newline excluded
        std::size_t max_clients = 64;                      // more are accepted and closed at once
        Duration idle_timeout = std::chrono::seconds(60);  // no request for this long: closed
    };

    // Throws std::system_error (with the path in the message) when the socket cannot be
    // set up, including when another live server answers at `path`.
    ControlServer(dataplane::EventLoop& loop, std::string path, mode_t mode,
                  std::optional<gid_t> group, Handler handler);
    ControlServer(dataplane::EventLoop& loop, std::string path, mode_t mode,
                  std::optional<gid_t> group, Handler handler, Limits limits);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    const std::string& path() const { return path_; }
    gid_t socket_group() const { return socket_group_; }
    std::size_t client_count() const { return clients_.size(); }

  private:
    struct Client {
        int fd = -1;
        PeerCredentials peer;
        std::string in;              // bytes received, not yet answered
        std::string out;             // reply bytes; out_sent of them already written
        std::size_t out_sent = 0;    // (an offset, so a large reply is not copied per write)
        std::uint32_t interest = 0;  // events registered with the loop
        bool close_after_flush = false;
        bool peer_closed = false;
        std::optional<dataplane::EventLoop::TimerId> idle_timer;

        std::size_t pending_output() const { return out.size() - out_sent; }
    };

    void on_listen_ready();
    void on_client_event(int fd, std::uint32_t events);
    // Reads what is there, up to just past the request limit; false on a read error.
    bool read_from(Client& c);
    // Answers complete lines, in order, while no reply is waiting to be written.
    void process_lines(Client& c);
    void answer(Client& c, std::string_view line);
    void queue_reply(Client& c, const nlohmann::json& reply);
    // Writes what the socket takes; false on a write error.
    bool flush(Client& c);
    void update_interest(Client& c);
    void arm_idle_timer(Client& c);
    void close_client(int fd);

    dataplane::EventLoop& loop_;
    std::string path_;
    Handler handler_;
    Limits limits_;
    int listen_fd_ = -1;
    std::optional<dataplane::EventLoop::TimerId> accept_retry_timer_;
    gid_t socket_group_ = 0;
    dev_t socket_dev_ = 0;  // identity of the socket file, so the destructor unlinks only it
    ino_t socket_ino_ = 0;
    std::unordered_map<int, std::unique_ptr<Client>> clients_;
};

}  // namespace pgm::control
