#include "dataplane/sockets.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace pgm::dataplane {

namespace {

[[noreturn]] void throw_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

constexpr std::uint8_t kPgmProtocol = 113;

// A classic BPF program of one instruction, "return 0": every packet is dropped before it
// is queued. The socket still counts as the destination, so no ICMP unreachable is sent.
void attach_drop_all(int fd) {
    static sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, 0}};
    sock_fprog prog{1, code};
    setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

}  // namespace

Fd::~Fd() {
    if (fd_ >= 0) ::close(fd_);
}

Fd& Fd::operator=(Fd&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = o.release();
    }
    return *this;
}

// --- LocalDeliverySinks -------------------------------------------------------------------

LocalDeliverySinks::LocalDeliverySinks(EventLoop& loop, std::span<const std::uint16_t> ports)
    : loop_(loop) {
    open(SOCK_RAW, kPgmProtocol, 0);
    for (std::uint16_t p : ports)
        open(SOCK_DGRAM, IPPROTO_UDP, p);
}

void LocalDeliverySinks::open(int type, int protocol, std::uint16_t port) {
    Fd fd(socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
    if (fd.get() < 0) throw_errno("socket for local delivery");
    attach_drop_all(fd.get());
    if (type == SOCK_DGRAM) {
        // Shared with PGM applications on this host (OpenPGM sets SO_REUSEADDR too).
        const int one = 1;
        setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
            throw_errno("bind UDP port " + std::to_string(port));
        }
    }
    const int raw = fd.get();
    loop_.add(raw, EPOLLIN, [raw](std::uint32_t) {
        std::uint8_t sink[2048];
        while (recv(raw, sink, sizeof sink, 0) >= 0) {
        }
    });
    fds_.push_back(std::move(fd));
}

LocalDeliverySinks::~LocalDeliverySinks() {
    for (const Fd& fd : fds_)
        loop_.remove(fd.get());
}

// --- Transmitter --------------------------------------------------------------------------

void Transmitter::add_interface(IfIndex ifindex, const std::string& name) {
    Fd fd(socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW));
    if (fd.get() < 0) throw_errno("raw socket for " + name);
    if (setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, name.c_str(),
                   static_cast<socklen_t>(name.size())) != 0) {
        throw_errno("SO_BINDTODEVICE " + name);
    }
    const int zero = 0;
    setsockopt(fd.get(), IPPROTO_IP, IP_MULTICAST_LOOP, &zero, sizeof zero);
    const int sndbuf = 1 << 20;
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    sockets_[ifindex] = std::move(fd);
}

void Transmitter::remove_interface(IfIndex ifindex) {
    sockets_.erase(ifindex);
}

void Transmitter::send(const Output& out) {
    for (const Transmit& t : out.transmits())
        send(t, out.bytes(t));
}

bool Transmitter::send(const Transmit& t, Bytes pgm) {
    Ipv4Params ip;
    ip.source = t.ip_source;
    ip.destination = t.ip_destination;
    ip.ttl = t.ttl;
    ip.router_alert = t.router_alert;
    ip.id = next_id_++;
    std::optional<UdpPorts> udp;
    if (t.encapsulation == Encapsulation::Udp) udp = UdpPorts{t.udp_port, t.udp_port};
    const auto size = build_ipv4(buffer_, ip, udp, pgm);
    if (!size) {
        ++stats_.errors;
        return false;
    }
    return send_ip(t.ifindex, Bytes(buffer_.data(), *size));
}

bool Transmitter::send_ip(IfIndex ifindex, Bytes packet) {
    auto it = sockets_.find(ifindex);
    if (it == sockets_.end() || packet.size() < 20) {
        ++stats_.errors;
        return false;
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    std::memcpy(&to.sin_addr, packet.data() + 16, 4);
    const ssize_t n = sendto(it->second.get(), packet.data(), packet.size(), 0,
                             reinterpret_cast<const sockaddr*>(&to), sizeof to);
    if (n != static_cast<ssize_t>(packet.size())) {
        ++stats_.errors;
        return false;
    }
    ++stats_.sent;
    return true;
}

// --- GroupJoins ---------------------------------------------------------------------------

std::vector<std::string> GroupJoins::set(IfIndex ifindex, const std::vector<Nla>& groups) {
    std::vector<std::string> errors;
    Joined& j = joins_[ifindex];
    if (j.socket.get() < 0) {
        j.socket = Fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP));
        if (j.socket.get() < 0) {
            errors.push_back(std::string("socket: ") + std::strerror(errno));
            return errors;
        }
        attach_drop_all(j.socket.get());  // unbound: it never receives, but be sure
    }
    auto change = [&](const Nla& g, int option) {
        ip_mreqn m{};
        std::memcpy(&m.imr_multiaddr, g.address().data(), 4);
        m.imr_ifindex = static_cast<int>(ifindex);
        if (setsockopt(j.socket.get(), IPPROTO_IP, option, &m, sizeof m) != 0) {
            errors.push_back((option == IP_ADD_MEMBERSHIP ? "join " : "leave ") + g.to_string() +
                             ": " + std::strerror(errno));
            return false;
        }
        return true;
    };
    for (auto it = j.groups.begin(); it != j.groups.end();) {
        if (std::find(groups.begin(), groups.end(), *it) == groups.end()) {
            change(*it, IP_DROP_MEMBERSHIP);
            it = j.groups.erase(it);
        } else {
            ++it;
        }
    }
    for (const Nla& g : groups) {
        if (std::find(j.groups.begin(), j.groups.end(), g) != j.groups.end()) continue;
        if (change(g, IP_ADD_MEMBERSHIP)) j.groups.push_back(g);
    }
    return errors;
}

}  // namespace pgm::dataplane
