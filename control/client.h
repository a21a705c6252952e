// DOC: The client end of pgmd's control protocol (control/server.h is the other): one request
// object sent as one line over the AF_UNIX stream socket, one reply line read back, all within
// a deadline, and the reply checked to be a control reply ({"ok": true|false, ...}).
//
// Owns nothing between calls: each exchange() opens a connection and closes it, so a caller
// that repeats requests (pgmctl's watch mode) survives a daemon restart. A full accept
// backlog (EAGAIN on connect) is retried until the deadline: the daemon is there but busy.
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

namespace pgm::control {

enum class ClientStatus {
    Ok,           // a reply with "ok": true
    DaemonError,  // a reply with "ok": false; `problem` is its "error"
    BadPath,      // the socket path is empty or too long for sockaddr_un
    NotRunning,   // no socket at the path, or nobody listening on it
    NoAnswer,     // no connection, request or reply within the deadline, or not a reply
};

struct ClientReply {
    ClientStatus status = ClientStatus::Ok;
    nlohmann::json reply;  // Ok and DaemonError: the whole reply object
    std::string problem;   // otherwise why, in words for an operator
};

ClientReply exchange(const std::string& socket_path, const nlohmann::json& request,
                     std::chrono::milliseconds timeout);

}  // namespace pgm::control
