// DOC: The host stacks' network I/O: PGM carried by the Linux kernel for one host session,
// natively (IP protocol 113 on a raw socket) or UDP-encapsulated on one configurable port,
// and `HostSession`, which runs a sans-I/O pgm::Source or pgm::Receiver on the EventLoop.
//
// HostTransport owns one non-blocking socket, registered with the loop:
//  - Native: a raw IPv4 socket of protocol 113. The kernel delivers a copy of every
//    protocol-113 packet for the host to it (unicast, and multicast of the groups joined on
//    any socket), IP header included; locate_pgm() finds the PGM packet. Sending does NOT
//    use IP_HDRINCL: the kernel builds the IP header, and the per-packet TTL and Router Alert
//    option are passed as IP_TTL / IP_RETOPTS control messages of sendmsg(). A host session
//    always sends with its own address, so spoofing (HDRINCL, build_ipv4) is not needed, and
//    native and UDP share one send path. Needs CAP_NET_RAW.
//  - UDP: a UDP socket bound to 0.0.0.0:udp_port with SO_REUSEADDR (several receivers on one
//    host share the port), used for unicast and multicast alike, both ways: OpenPGM and
//    ZeroMQ need the unicast port equal to the multicast port. IP_PKTINFO gives each
//    datagram's destination address (the group, or our address for a unicast NAK), IP_RECVTTL
//    its TTL. No privilege needed.
// Both join `group` (IP_ADD_MEMBERSHIP) on the interface of `interface_address`, send
// multicast out of it (IP_MULTICAST_IF) and set IP_MULTICAST_LOOP as configured.
//
// Life cycle: construct (throws HostTransportError, whose message says what to do, e.g. that
// raw sockets need CAP_NET_RAW), set_receive_handler(), then the loop delivers every PGM
// packet to the handler; send() writes an Output's transmits. A send that would block is kept
// in order in a queue (flushed on EPOLLOUT) and writable() turns false until it drains; the
// writable handler runs once it has. Destruction removes the socket from the loop and closes
// it (leaving the group).
//
// HostSession<Core> (Core = pgm::Source or pgm::Receiver) feeds the core each packet and a
// timer at next_deadline(), sends its Output, and calls the `after` hook so the application
// can drain receiver events or queue APDUs; after changing the core itself (send(), close()),
// the application calls poke(). Before the core's timer runs, the socket is drained (up to
// kTimerDrainPackets): a receiver whose socket holds a backlog of ODATA would otherwise
// repeat a NAK whose NCF or RDATA arrived in time but waits, unread, behind that backlog
// (each spurious repeat costs the source an RDATA and the receiver a duplicate, which slows
// it further), and a source would send new ODATA before reading the NAKs queued for it. While the
// transport is blocked, a Source's timer is held (backpressure: ODATA stays in its backlog instead
// of piling up in the queue). Optional filters drop chosen incoming or outgoing packets (test loss
// injection).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "dataplane/event_loop.h"
#include "protocol/io.h"
#include "protocol/receiver.h"
#include "protocol/source.h"

namespace pgm::dataplane {

// Set-up failures. `permission` is true for EPERM/EACCES (raw sockets without CAP_NET_RAW).
class HostTransportError : public std::runtime_error {
  public:
    HostTransportError(const std::string& what, bool permission)
        : std::runtime_error(what), permission_(permission) {}
    bool permission() const { return permission_; }

  private:
    bool permission_;
};

struct HostTransportConfig {
    Nla interface_address;  // IPv4 address of the interface used (required)
    Nla group;              // multicast group joined on that interface; None: no join
    Encapsulation encapsulation = Encapsulation::Native;
    std::uint16_t udp_port = kDefaultUdpEncapsulationPort;
    bool multicast_loop = false;
    std::uint8_t multicast_ttl = 16;  // default; each Transmit's ttl is used when sending
    // SO_RCVBUF / SO_SNDBUF asked for (0: the system default). The FORCE variants
    // (CAP_NET_ADMIN) are tried first; without them the kernel clamps to net.core.rmem_max /
    // wmem_max, which buffer_report() shows. A receive buffer smaller than a burst of the
    // sender's rate overruns (packets dropped by the kernel become NAKs and repairs).
    int receive_buffer = 4 * 1024 * 1024;
    int send_buffer = 4 * 1024 * 1024;
    std::size_t receive_batch = 32;  // datagrams per recvmmsg()
};

// What the socket buffers are, as the kernel reports them (getsockopt: the kernel doubles
// the value set, for its bookkeeping; `*_clamped` compares with twice the request).
struct SocketBufferReport {
    int receive_requested = 0;
    int receive_actual = 0;
    bool receive_clamped = false;
    int send_requested = 0;
    int send_actual = 0;
    bool send_clamped = false;
};

struct HostTransportStats {
    std::uint64_t packets_received = 0;  // PGM packets handed to the handler
    std::uint64_t bytes_received = 0;    // their PGM bytes
    std::uint64_t not_pgm = 0;           // datagrams locate_pgm() refused
    std::uint64_t packets_sent = 0;
    std::uint64_t bytes_sent = 0;    // PGM bytes
    std::uint64_t send_errors = 0;   // transmits dropped on a send error other than EAGAIN
    std::uint64_t send_blocked = 0;  // sends that found the socket full (queued)
    std::size_t queue_peak = 0;
    int last_send_errno = 0;
    // How long received packets waited in the socket (kernel arrival time to recvmmsg), over
    // queue_delay_samples: a receiver slower than its source sees it grow to the buffer's
    // depth.
    std::uint64_t queue_delay_samples = 0;  // packets with a plausible kernel timestamp
    std::uint64_t queue_delay_total_ns = 0;
    std::uint64_t queue_delay_max_ns = 0;
};

class HostTransport {
  public:
    using ReceiveHandler = std::function<void(const Arrival&, Bytes pgm, Time now)>;
    // Called after a batch of received packets (so a core's Output can be sent once).
    using BatchHandler = std::function<void(Time now)>;
    using WritableHandler = std::function<void()>;

    HostTransport(EventLoop& loop, const HostTransportConfig& config);
    ~HostTransport();
    HostTransport(const HostTransport&) = delete;
    HostTransport& operator=(const HostTransport&) = delete;

    void set_receive_handler(ReceiveHandler h) { on_receive_ = std::move(h); }
    void set_batch_handler(BatchHandler h) { on_batch_ = std::move(h); }
    void set_writable_handler(WritableHandler h) { on_writable_ = std::move(h); }

    // Sends (or queues) one packet; false when it was dropped on an error.
    bool send(const Transmit& t, Bytes pgm);
    // Sends every transmit of `out` (the caller clears it).
    void send(const Output& out);
    bool writable() const { return queue_.empty(); }
    // Reads and hands on what the socket holds, up to about max_packets (until EAGAIN or the
    // first batch with a packet that arrived after the call), whatever the fairness bound of
    // one wake-up. HostSession calls it before a core's timer
    // so that the timer is judged with every packet that arrived before it (an NCF, RDATA
    // or NAK queued behind a backlog of ODATA), not only the first batches of the queue.
    void drain(std::size_t max_packets);

    IfIndex ifindex() const { return ifindex_; }
    int fd() const { return fd_; }
    const HostTransportConfig& config() const { return config_; }
    const HostTransportStats& stats() const { return stats_; }
    const SocketBufferReport& buffer_report() const { return buffers_report_; }

  private:
    struct Queued {
        Transmit transmit;
        std::vector<std::uint8_t> pgm;
    };
    enum class SendResult { Sent, WouldBlock, Error };
    SendResult send_now(const Transmit& t, Bytes pgm);
    void on_events(std::uint32_t events);
    // recvmmsg batches until EAGAIN, max_rounds, or a batch holding a packet that arrived
    // (kernel time, CLOCK_REALTIME ns) after until_ns.
    void receive(std::size_t max_rounds, std::int64_t until_ns);
    void flush_queue();

    EventLoop& loop_;
    HostTransportConfig config_;
    int fd_ = -1;
    IfIndex ifindex_ = 0;
    ReceiveHandler on_receive_;
    BatchHandler on_batch_;
    WritableHandler on_writable_;
    std::vector<Queued> queue_;
    std::size_t queue_head_ = 0;
    HostTransportStats stats_;
    SocketBufferReport buffers_report_;
    // recvmmsg buffers, one per batch entry.
    std::vector<std::vector<std::uint8_t>> buffers_;
    std::vector<std::vector<std::uint8_t>> controls_;
    std::vector<mmsghdr> msgs_;
    std::vector<iovec> iovs_;
    std::vector<sockaddr_in> names_;
};

// The interface index of the interface holding `address` (IPv4); nullopt when none does.
std::optional<IfIndex> interface_index_of(const Nla& address);

struct HostSessionStats {
    std::uint64_t rx_dropped = 0;  // by the receive filter
    std::uint64_t tx_dropped = 0;  // by the transmit filter
    std::uint64_t timer_calls = 0;
};

template <class Core>
class HostSession {
    static_assert(std::is_same_v<Core, Source> || std::is_same_v<Core, Receiver>);

  public:
    // Returns true to drop the packet.
    using RxFilter = std::function<bool(const Arrival&, Bytes pgm)>;
    using TxFilter = std::function<bool(const Transmit&, Bytes pgm)>;
    using AfterHook = std::function<void(Time now)>;

    HostSession(EventLoop& loop, HostTransport& transport, Core& core);
    ~HostSession();
    HostSession(const HostSession&) = delete;
    HostSession& operator=(const HostSession&) = delete;

    void set_after(AfterHook h) { after_ = std::move(h); }
    void set_rx_filter(RxFilter f) { rx_filter_ = std::move(f); }
    void set_tx_filter(TxFilter f) { tx_filter_ = std::move(f); }

    // Re-evaluates the core's deadline after the application changed it (send(), close()).
    void poke();
    Core& core() { return core_; }
    const HostSessionStats& stats() const { return stats_; }

  private:
    void on_packet(const Arrival& a, Bytes pgm, Time now);
    void on_timer();
    void flush(Time now);  // send the Output, run `after`, re-arm the timer
    void arm();

    EventLoop& loop_;
    HostTransport& transport_;
    Core& core_;
    Output out_;
    AfterHook after_;
    RxFilter rx_filter_;
    TxFilter tx_filter_;
    HostSessionStats stats_;
    std::optional<EventLoop::TimerId> timer_;
    Time timer_at_ = kNever;
    bool in_flush_ = false;
    bool in_timer_ = false;  // on_timer() is draining the socket: flushes do not re-arm
};

extern template class HostSession<Source>;
extern template class HostSession<Receiver>;

}  // namespace pgm::dataplane
