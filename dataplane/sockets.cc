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

// The transmit queue: packets of one capture batch (64 frames, each copied to a few
// interfaces) fit many times over; a full queue is flushed early.
constexpr std::size_t kArenaBytes = 1 << 20;
// IPv4 header with Router Alert (24) and a UDP header (8), rounded up.
constexpr std::size_t kMaxHeaderBytes = 64;
constexpr std::size_t kMaxMessagesPerCall = 1024;  // UIO_MAXIOV: sendmmsg's vlen bound

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
    no_router_alert_.erase(ifindex);
}

void Transmitter::set_router_alert(IfIndex ifindex, bool allowed) {
    if (allowed)
        no_router_alert_.erase(ifindex);
    else
        no_router_alert_.insert(ifindex);
}

Transmitter::Transmitter() : arena_(std::make_unique_for_overwrite<std::uint8_t[]>(kArenaBytes)) {
    queued_.reserve(kMaxMessagesPerCall);
    msgs_.reserve(kMaxMessagesPerCall);
    iovs_.reserve(kMaxMessagesPerCall);
    addrs_.reserve(kMaxMessagesPerCall);
}

void Transmitter::send(const Output& out) {
    queue(out);
    flush();
}

void Transmitter::queue(const Output& out) {
    for (const Transmit& t : out.transmits()) {
        const Bytes pgm = out.bytes(t);
        const std::size_t need = pgm.size() + kMaxHeaderBytes;
        if (need > kArenaBytes) {
            ++stats_.errors;
            continue;
        }
        if (arena_used_ + need > kArenaBytes || queued_.size() >= kMaxMessagesPerCall) flush();
        const auto size = build(t, pgm, MutableBytes(arena_.get() + arena_used_, need));
        if (!size) continue;
        queued_.push_back({t.ifindex, static_cast<std::uint32_t>(arena_used_),
                           static_cast<std::uint32_t>(*size)});
        arena_used_ += (*size + 7) & ~std::size_t{7};
    }
}

void Transmitter::flush() {
    if (queued_.empty()) return;
    // Usually one interface or two per batch: one pass over the queue per interface.
    for (const auto& [ifindex, fd] : sockets_) {
        msgs_.clear();
        iovs_.clear();
        addrs_.clear();
        for (const Queued& q : queued_) {
            if (q.ifindex != ifindex) continue;
            std::uint8_t* p = arena_.get() + q.offset;
            sockaddr_in to{};
            to.sin_family = AF_INET;
            std::memcpy(&to.sin_addr, p + 16, 4);
            addrs_.push_back(to);
            iovs_.push_back(iovec{p, q.length});
        }
        if (iovs_.empty()) continue;
        for (std::size_t i = 0; i < iovs_.size(); ++i) {
            mmsghdr m{};
            m.msg_hdr.msg_name = &addrs_[i];
            m.msg_hdr.msg_namelen = sizeof(sockaddr_in);
            m.msg_hdr.msg_iov = &iovs_[i];
            m.msg_hdr.msg_iovlen = 1;
            msgs_.push_back(m);
        }
        flush_interface(fd.get(), msgs_.size());
    }
    // Packets for interfaces that have no socket (any more).
    for (const Queued& q : queued_)
        if (!sockets_.contains(q.ifindex)) ++stats_.errors;
    queued_.clear();
    arena_used_ = 0;
}

void Transmitter::flush_interface(int fd, std::size_t count) {
    std::size_t i = 0;
    while (i < count) {
        ++stats_.send_calls;
        const int n = sendmmsg(fd, msgs_.data() + i, static_cast<unsigned>(count - i), 0);
        if (n > 0) {
            i += static_cast<std::size_t>(n);
            stats_.sent += static_cast<std::uint64_t>(n);
            if (i == count) break;
            // sendmmsg stops at the first message that fails and returns how many went
            // before it: the message at i failed (a firewall's EPERM, EAGAIN). It is not
            // sent again: a second attempt would go through the firewall twice.
        }
        ++stats_.errors;  // this message failed (EAGAIN: buffer full); go on with the next
        ++i;
    }
}

std::optional<std::size_t> Transmitter::build(const Transmit& t, Bytes pgm, MutableBytes into) {
    Ipv4Params ip;
    ip.source = t.ip_source;
    ip.destination = t.ip_destination;
    ip.ttl = t.ttl;
    ip.router_alert = t.router_alert && !no_router_alert_.contains(t.ifindex);
    ip.id = next_id_++;
    std::optional<UdpPorts> udp;
    if (t.encapsulation == Encapsulation::Udp) udp = UdpPorts{t.udp_port, t.udp_port};
    const auto size = build_ipv4(into, ip, udp, pgm);
    if (!size) ++stats_.errors;
    return size;
}

bool Transmitter::send(const Transmit& t, Bytes pgm) {
    const auto size = build(t, pgm, buffer_);
    if (!size) return false;
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
    ++stats_.send_calls;
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

std::vector<std::string> GroupJoins::set(IfIndex ifindex, const std::vector<Nla>& groups,
                                         const std::vector<SourceGroup>& sourced) {
    std::vector<std::string> errors;
    Joined& j = joins_[ifindex];
    if (j.wanted && j.wanted->groups == groups && j.wanted->sourced == sourced)
        return j.wanted->errors;
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
    auto change_source = [&](const SourceGroup& sg, int option) {
        group_source_req r{};
        r.gsr_interface = ifindex;
        auto put = [](sockaddr_storage& to, const Nla& a) {
            sockaddr_in in{};
            in.sin_family = AF_INET;
            std::memcpy(&in.sin_addr, a.address().data(), 4);
            std::memcpy(&to, &in, sizeof in);
        };
        put(r.gsr_source, sg.source);
        put(r.gsr_group, sg.group);
        if (setsockopt(j.socket.get(), IPPROTO_IP, option, &r, sizeof r) != 0) {
            errors.push_back((option == MCAST_JOIN_SOURCE_GROUP ? "join " : "leave ") +
                             sg.group.to_string() + " source " + sg.source.to_string() + ": " +
                             std::strerror(errno));
            return false;
        }
        return true;
    };
    auto any_source = [&](const Nla& g) {
        return std::find(groups.begin(), groups.end(), g) != groups.end();
    };
    // Leaves first: a group that turns from source-specific to any-source (or back) must be
    // left one way before it is joined the other.
    for (auto it = j.sourced.begin(); it != j.sourced.end();) {
        if (any_source(it->group) ||
            std::find(sourced.begin(), sourced.end(), *it) == sourced.end()) {
            change_source(*it, MCAST_LEAVE_SOURCE_GROUP);
            it = j.sourced.erase(it);
        } else {
            ++it;
        }
    }
    for (auto it = j.groups.begin(); it != j.groups.end();) {
        if (!any_source(*it)) {
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
    for (const auto& sg : sourced) {
        if (any_source(sg.group)) continue;
        if (std::find(j.sourced.begin(), j.sourced.end(), sg) != j.sourced.end()) continue;
        if (change_source(sg, MCAST_JOIN_SOURCE_GROUP)) j.sourced.push_back(sg);
    }
    j.wanted = Joined::Wanted{groups, sourced, errors};
    return errors;
}

}  // namespace pgm::dataplane
