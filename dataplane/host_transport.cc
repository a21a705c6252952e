#include "dataplane/host_transport.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <tuple>
#include <utility>

namespace pgm::dataplane {

namespace {

constexpr std::size_t kMaxDatagram = 65536;
constexpr std::int64_t kMaxPlausibleWait = 60'000'000'000LL;  // ns: no socket holds a minute
constexpr std::int64_t kNoLimit = std::numeric_limits<std::int64_t>::max();
constexpr std::size_t kControlSize = 128;

in_addr to_in_addr(const Nla& n) {
    in_addr a{};
    a.s_addr = htonl(n.ipv4_host_order());
    return a;
}

Nla from_in_addr(in_addr a) {
    return Nla::ipv4(ntohl(a.s_addr));
}

[[noreturn]] void fail(const std::string& what, int err) {
    const bool permission = err == EPERM || err == EACCES;
    std::string msg = what + ": " + std::strerror(err);
    if (permission)
        msg +=
            " (raw sockets for native PGM, IP protocol 113, need CAP_NET_RAW: run as root, "
            "grant cap_net_raw, or use UDP encapsulation)";
    throw HostTransportError(msg, permission);
}

void set_int(int fd, int level, int name, int value, const char* what) {
    if (setsockopt(fd, level, name, &value, sizeof value) < 0) fail(what, errno);
}

// Large buffers absorb bursts; the FORCE variants (CAP_NET_ADMIN) pass rmem_max/wmem_max.
// Returns what the kernel then reports (twice the effective request) and whether it clamped.
std::pair<int, bool> set_buffer(int fd, int force, int plain, int bytes) {
    if (bytes > 0 && setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof bytes) < 0)
        (void)setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes);  // clamped by the kernel
    int actual = 0;
    socklen_t len = sizeof actual;
    if (getsockopt(fd, SOL_SOCKET, plain, &actual, &len) < 0) actual = 0;
    const bool clamped = bytes > 0 && static_cast<long long>(actual) < 2LL * bytes;
    return {actual, clamped};
}

}  // namespace

std::optional<IfIndex> interface_index_of(const Nla& address) {
    if (!address.is_ipv4()) return std::nullopt;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) < 0) return std::nullopt;
    std::optional<IfIndex> found;
    const in_addr want = to_in_addr(address);
    for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
        if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
        const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
        if (sin->sin_addr.s_addr != want.s_addr) continue;
        const unsigned index = if_nametoindex(i->ifa_name);
        if (index != 0) {
            found = index;
            break;
        }
    }
    freeifaddrs(list);
    return found;
}

// --- HostTransport ----------------------------------------------------------------------------

HostTransport::HostTransport(EventLoop& loop, const HostTransportConfig& config)
    : loop_(loop), config_(config) {
    if (!config_.interface_address.is_ipv4())
        throw HostTransportError("the interface address must be an IPv4 address", false);
    if (config_.group.family() != Nla::Family::None &&
        (!config_.group.is_ipv4() || !config_.group.is_multicast()))
        throw HostTransportError("the group must be an IPv4 multicast address", false);
    const auto index = interface_index_of(config_.interface_address);
    if (!index)
        throw HostTransportError(
            "no interface has the address " + config_.interface_address.to_string(), false);
    ifindex_ = *index;

    const bool udp = config_.encapsulation == Encapsulation::Udp;
    fd_ = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_RAW) | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 udp ? static_cast<int>(IPPROTO_UDP) : static_cast<int>(kIpProtocolPgm));
    if (fd_ < 0) fail(udp ? "UDP socket" : "raw socket (IP protocol 113)", errno);
    try {
        if (udp) {
            set_int(fd_, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
            sockaddr_in any{};
            any.sin_family = AF_INET;
            any.sin_port = htons(config_.udp_port);
            any.sin_addr.s_addr = htonl(INADDR_ANY);
            if (bind(fd_, reinterpret_cast<const sockaddr*>(&any), sizeof any) < 0)
                fail("bind UDP port " + std::to_string(config_.udp_port), errno);
            set_int(fd_, IPPROTO_IP, IP_RECVTTL, 1, "IP_RECVTTL");
        }
        set_int(fd_, IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO");
        // The kernel's arrival time of each packet: how long it waited in the socket.
        set_int(fd_, SOL_SOCKET, SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS");
        buffers_report_.receive_requested = config_.receive_buffer;
        buffers_report_.send_requested = config_.send_buffer;
        std::tie(buffers_report_.receive_actual, buffers_report_.receive_clamped) =
            set_buffer(fd_, SO_RCVBUFFORCE, SO_RCVBUF, config_.receive_buffer);
        std::tie(buffers_report_.send_actual, buffers_report_.send_clamped) =
            set_buffer(fd_, SO_SNDBUFFORCE, SO_SNDBUF, config_.send_buffer);

        ip_mreqn mreq{};
        mreq.imr_address = to_in_addr(config_.interface_address);
        mreq.imr_ifindex = static_cast<int>(ifindex_);
        if (setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &mreq, sizeof mreq) < 0)
            fail("IP_MULTICAST_IF " + config_.interface_address.to_string(), errno);
        set_int(fd_, IPPROTO_IP, IP_MULTICAST_LOOP, config_.multicast_loop ? 1 : 0,
                "IP_MULTICAST_LOOP");
        set_int(fd_, IPPROTO_IP, IP_MULTICAST_TTL, config_.multicast_ttl, "IP_MULTICAST_TTL");
        if (config_.group.family() != Nla::Family::None) {
            mreq.imr_multiaddr = to_in_addr(config_.group);
            if (setsockopt(fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) < 0)
                fail("join " + config_.group.to_string() + " on " +
                         config_.interface_address.to_string(),
                     errno);
        }
        const std::size_t batch = std::max<std::size_t>(1, config_.receive_batch);
        buffers_.assign(batch, std::vector<std::uint8_t>(kMaxDatagram));
        controls_.assign(batch, std::vector<std::uint8_t>(kControlSize));
        msgs_.resize(batch);
        iovs_.resize(batch);
        names_.resize(batch);
        loop_.add(fd_, EPOLLIN, [this](std::uint32_t events) { on_events(events); });
    } catch (...) {
        close(fd_);
        fd_ = -1;
        throw;
    }
}

HostTransport::~HostTransport() {
    if (fd_ >= 0) {
        loop_.remove(fd_);
        close(fd_);  // leaves the group
    }
}

void HostTransport::on_events(std::uint32_t events) {
    // At most a few batches per wake-up, so that timers and other descriptors get their turn.
    if (events & (EPOLLIN | EPOLLERR)) receive(8, kNoLimit);
    if (events & EPOLLOUT) flush_queue();
}

void HostTransport::drain(std::size_t max_packets) {
    timespec wall{};
    clock_gettime(CLOCK_REALTIME, &wall);
    const std::int64_t until = wall.tv_sec * 1'000'000'000LL + wall.tv_nsec;
    receive((max_packets + buffers_.size() - 1) / buffers_.size(), until);
}

void HostTransport::receive(std::size_t max_rounds, std::int64_t until_ns) {
    const std::size_t batch = buffers_.size();
    std::vector<mmsghdr>& msgs = msgs_;  // sized with buffers_ in the constructor
    std::vector<iovec>& iovs = iovs_;
    std::vector<sockaddr_in>& names = names_;
    for (std::size_t round = 0; round < max_rounds; ++round) {
        for (std::size_t i = 0; i < batch; ++i) {
            iovs[i] = iovec{buffers_[i].data(), buffers_[i].size()};
            msgs[i] = mmsghdr{};
            msgs[i].msg_hdr.msg_name = &names[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_control = controls_[i].data();
            msgs[i].msg_hdr.msg_controllen = controls_[i].size();
        }
        const int n =
            recvmmsg(fd_, msgs.data(), static_cast<unsigned>(batch), MSG_DONTWAIT, nullptr);
        if (n <= 0) break;  // EAGAIN (or a transient error: the next wake-up retries)
        const Time now = Clock::now();
        timespec wall{};
        clock_gettime(CLOCK_REALTIME, &wall);
        std::int64_t newest_ns = 0;  // the batch's latest kernel arrival time
        for (int i = 0; i < n; ++i) {
            const msghdr& h = msgs[i].msg_hdr;
            if (h.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
                ++stats_.not_pgm;
                continue;
            }
            Arrival a;
            a.ifindex = ifindex_;
            int ttl = -1;
            std::optional<in_addr> destination;
            for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr;
                 c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                    timespec at;
                    std::memcpy(&at, CMSG_DATA(c), sizeof at);
                    newest_ns =
                        std::max<std::int64_t>(newest_ns, at.tv_sec * 1'000'000'000LL + at.tv_nsec);
                    const std::int64_t waited =
                        (wall.tv_sec - at.tv_sec) * 1'000'000'000LL + (wall.tv_nsec - at.tv_nsec);
                    // CLOCK_REALTIME: a step of the clock gives nonsense; not counted.
                    if (waited >= 0 && waited < kMaxPlausibleWait) {
                        ++stats_.queue_delay_samples;
                        stats_.queue_delay_total_ns += static_cast<std::uint64_t>(waited);
                        stats_.queue_delay_max_ns =
                            std::max(stats_.queue_delay_max_ns, static_cast<std::uint64_t>(waited));
                    }
                    continue;
                }
                if (c->cmsg_level != IPPROTO_IP) continue;
                if (c->cmsg_type == IP_PKTINFO) {
                    in_pktinfo info;
                    std::memcpy(&info, CMSG_DATA(c), sizeof info);
                    a.ifindex = static_cast<IfIndex>(info.ipi_ifindex);
                    destination = info.ipi_addr;  // the header's destination address
                } else if (c->cmsg_type == IP_TTL) {
                    std::memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
                }
            }
            const Bytes datagram(buffers_[i].data(), msgs[i].msg_len);
            Bytes pgm;
            if (config_.encapsulation == Encapsulation::Native) {
                // Raw IPv4 sockets receive the IP header too.
                const LocatedPgm located = locate_pgm(datagram, {});
                if (!located || located.ip.encapsulation != Encapsulation::Native) {
                    ++stats_.not_pgm;
                    continue;
                }
                a.ip = located.ip;
                pgm = located.pgm;
            } else {
                if (!destination) {
                    ++stats_.not_pgm;
                    continue;
                }
                a.ip.version = 4;
                a.ip.source = from_in_addr(names[i].sin_addr);
                a.ip.destination = from_in_addr(*destination);
                a.ip.ttl = static_cast<std::uint8_t>(ttl < 0 ? 0 : ttl);
                a.ip.encapsulation = Encapsulation::Udp;
                a.ip.udp_source_port = ntohs(names[i].sin_port);
                a.ip.udp_destination_port = config_.udp_port;
                pgm = datagram;
            }
            ++stats_.packets_received;
            stats_.bytes_received += pgm.size();
            if (on_receive_) on_receive_(a, pgm, now);
        }
        if (on_batch_) on_batch_(now);
        if (static_cast<std::size_t>(n) < batch) break;
        if (newest_ns > until_ns) break;  // a drain reads what arrived before it, no more
    }
}

HostTransport::SendResult HostTransport::send_now(const Transmit& t, Bytes pgm) {
    if (!t.ip_destination.is_ipv4()) {
        ++stats_.send_errors;
        stats_.last_send_errno = EAFNOSUPPORT;
        return SendResult::Error;
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr = to_in_addr(t.ip_destination);
    to.sin_port = config_.encapsulation == Encapsulation::Udp ? htons(t.udp_port) : 0;
    iovec iov{const_cast<std::uint8_t*>(pgm.data()), pgm.size()};
    // Control messages: the TTL of this packet, and the Router Alert option when asked.
    alignas(cmsghdr) std::array<std::uint8_t, CMSG_SPACE(sizeof(int)) + CMSG_SPACE(4)> control{};
    msghdr h{};
    h.msg_name = &to;
    h.msg_namelen = sizeof to;
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control.data();
    h.msg_controllen = CMSG_SPACE(sizeof(int)) + (t.router_alert ? CMSG_SPACE(4) : 0);
    cmsghdr* c = CMSG_FIRSTHDR(&h);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_TTL;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    const int ttl = t.ttl == 0 ? 1 : t.ttl;
    std::memcpy(CMSG_DATA(c), &ttl, sizeof ttl);
    if (t.router_alert) {
        c = CMSG_NXTHDR(&h, c);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_RETOPTS;
        c->cmsg_len = CMSG_LEN(4);
        const std::uint8_t ra[4] = {0x94, 0x04, 0x00, 0x00};  // RFC 2113
        std::memcpy(CMSG_DATA(c), ra, sizeof ra);
    }
    if (sendmsg(fd_, &h, MSG_DONTWAIT) >= 0) {
        ++stats_.packets_sent;
        stats_.bytes_sent += pgm.size();
        return SendResult::Sent;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return SendResult::WouldBlock;
    ++stats_.send_errors;
    stats_.last_send_errno = errno;
    return SendResult::Error;
}

bool HostTransport::send(const Transmit& t, Bytes pgm) {
    if (queue_.empty()) {
        switch (send_now(t, pgm)) {
            case SendResult::Sent:
                return true;
            case SendResult::Error:
                return false;
            case SendResult::WouldBlock:
                ++stats_.send_blocked;
                loop_.modify(fd_, EPOLLIN | EPOLLOUT);
                break;
        }
    }
    queue_.push_back(Queued{t, std::vector<std::uint8_t>(pgm.begin(), pgm.end())});
    stats_.queue_peak = std::max(stats_.queue_peak, queue_.size() - queue_head_);
    return true;
}

void HostTransport::send(const Output& out) {
    for (const Transmit& t : out.transmits())
        send(t, out.bytes(t));
}

void HostTransport::flush_queue() {
    while (queue_head_ < queue_.size()) {
        const Queued& q = queue_[queue_head_];
        const SendResult r = send_now(q.transmit, q.pgm);
        if (r == SendResult::WouldBlock) return;  // EPOLLOUT stays armed
        ++queue_head_;
    }
    queue_.clear();
    queue_head_ = 0;
    loop_.modify(fd_, EPOLLIN);
    if (on_writable_) on_writable_();
}

// --- HostSession ------------------------------------------------------------------------------

namespace {
// Bounds the work done before a timer: a socket buffer's worth of packets (8 MiB of 1000-byte
// packets is about 4,000 with the kernel's per-packet overhead).
constexpr std::size_t kTimerDrainPackets = 8192;
}  // namespace

template <class Core>
HostSession<Core>::HostSession(EventLoop& loop, HostTransport& transport, Core& core)
    : loop_(loop), transport_(transport), core_(core) {
    transport_.set_receive_handler(
        [this](const Arrival& a, Bytes pgm, Time now) { on_packet(a, pgm, now); });
    transport_.set_batch_handler([this](Time now) { flush(now); });
    transport_.set_writable_handler([this] { arm(); });
    arm();
}

template <class Core>
HostSession<Core>::~HostSession() {
    if (timer_) loop_.cancel_timer(*timer_);
    transport_.set_receive_handler(nullptr);
    transport_.set_batch_handler(nullptr);
    transport_.set_writable_handler(nullptr);
}

template <class Core>
void HostSession<Core>::on_packet(const Arrival& a, Bytes pgm, Time now) {
    if (rx_filter_ && rx_filter_(a, pgm)) {
        ++stats_.rx_dropped;
        return;
    }
    core_.on_packet(a, pgm, now, out_);
}

template <class Core>
void HostSession<Core>::on_timer() {
    timer_.reset();
    timer_at_ = kNever;
    const Time now = Clock::now();
    if constexpr (std::is_same_v<Core, Source>) {
        if (!transport_.writable()) return;  // re-armed by the writable handler
    }
    if (now >= core_.next_deadline()) {
        in_timer_ = true;  // the drain's flushes do not re-arm: armed once, below
        transport_.drain(kTimerDrainPackets);
        in_timer_ = false;
        if constexpr (std::is_same_v<Core, Source>) {
            // The drain's NCFs and RDATA may have filled the socket: new ODATA would only
            // pile up in the transport's queue (the writable handler re-arms).
            if (!transport_.writable()) return;
        }
        ++stats_.timer_calls;
        const Time at = Clock::now();
        core_.on_timer(at, out_);
        flush(at);
    } else {
        arm();  // the deadline moved later since the timer was set
    }
}

template <class Core>
void HostSession<Core>::flush(Time now) {
    in_flush_ = true;
    for (const Transmit& t : out_.transmits()) {
        const Bytes pgm = out_.bytes(t);
        if (tx_filter_ && tx_filter_(t, pgm)) {
            ++stats_.tx_dropped;
            continue;
        }
        transport_.send(t, pgm);
    }
    out_.clear();
    if (after_) after_(now);
    in_flush_ = false;
    arm();
}

template <class Core>
void HostSession<Core>::poke() {
    if (!in_flush_) arm();
}

template <class Core>
void HostSession<Core>::arm() {
    if (in_timer_) return;
    if constexpr (std::is_same_v<Core, Source>) {
        if (!transport_.writable()) return;
    }
    const Time due = core_.next_deadline();
    if (due == kNever) {
        if (timer_) loop_.cancel_timer(*timer_);
        timer_.reset();
        timer_at_ = kNever;
        return;
    }
    // A timer set earlier than needed only fires early (on_timer re-arms): keep it, so that
    // a deadline moving later does not leave a cancelled entry in the loop's heap each time.
    if (timer_ && timer_at_ <= due) return;
    if (timer_) loop_.cancel_timer(*timer_);
    timer_at_ = due;
    timer_ = loop_.add_timer(due, [this] { on_timer(); });
}

template class HostSession<Source>;
template class HostSession<Receiver>;

}  // namespace pgm::dataplane
