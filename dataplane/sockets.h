// DOC: The sockets pgmd holds besides its captures: local-delivery sinks, the per-interface
// transmit sockets, and the group joins towards upstream.
//
// * `LocalDeliverySinks`: a raw IP protocol-113 socket and a UDP socket per encapsulation
//   port. They exist only so that the kernel, delivering a NAK (or SPMR, ACK) addressed to
//   one of the router's addresses, finds a socket and does not answer with an ICMP
//   protocol/port unreachable. Their contents are ignored: capture already saw every such
//   packet at ingress and handed it to the core. A drop-everything socket filter keeps the
//   kernel from queueing copies at all; they are drained anyway in case one slips in.
//   There is deliberately no IP_ROUTER_ALERT socket: on Linux such a socket makes the
//   kernel divert (and stop forwarding) transit unicast PGM carrying Router Alert, which
//   pgmd leaves to the kernel (decisions.md D24); without one, nothing is diverted and
//   capture sees Router Alert packets like any other.
// * `Transmitter`: one socket(AF_INET, SOCK_RAW, IPPROTO_RAW) per served interface, bound
//   with SO_BINDTODEVICE. Each Transmit of the core is written with pgm::build_ipv4 (IP
//   source, TTL and Router Alert from the Transmit; UDP-encapsulated when asked), so that
//   NCFs, forwarded SPMs and RDATA carry the data source's address and NAKs the router's.
//   IGMP queries go out of the same socket. Packets can be queued (queue(): built into
//   one arena, so the Output, which may reference the caller's input buffer, can be cleared
//   right away) and written together by flush(): one sendmmsg() per interface socket for a
//   whole capture batch instead of one sendto() per packet.
// * `GroupJoins`: a UDP socket per interface holding IP_ADD_MEMBERSHIP for the groups the
//   configuration joins there, so that upstream routers and snooping bridges deliver them,
//   and MCAST_JOIN_SOURCE_GROUP (IP_ADD_SOURCE_MEMBERSHIP by ifindex) for the (source,
//   group) pairs joined source-specific: the kernel then reports INCLUDE {source} (IGMPv3),
//   which SSM groups (232/8) need. A group joined any-source is not joined per source too
//   (the kernel refuses both on one socket, and any-source already asks for every source).
//
// Life cycle: the sinks live as long as the daemon (reopened when the UDP ports change on
// reload); transmit sockets and joins follow the interface (opened when it is up and
// served, closed when it goes down or is removed). Constructors throw std::system_error.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "dataplane/daemon_config.h"
#include "dataplane/event_loop.h"
#include "protocol/io.h"

namespace pgm::dataplane {

// A file descriptor closed on destruction.
class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd();
    Fd(Fd&& o) noexcept : fd_(o.release()) {}
    Fd& operator=(Fd&& o) noexcept;
    int get() const { return fd_; }
    int release() {
        const int f = fd_;
        fd_ = -1;
        return f;
    }

  private:
    int fd_ = -1;
};

class LocalDeliverySinks {
  public:
    LocalDeliverySinks(EventLoop& loop, std::span<const std::uint16_t> udp_ports);
    ~LocalDeliverySinks();
    LocalDeliverySinks(const LocalDeliverySinks&) = delete;
    LocalDeliverySinks& operator=(const LocalDeliverySinks&) = delete;

  private:
    void open(int domain_type, int protocol, std::uint16_t port);
    EventLoop& loop_;
    std::vector<Fd> fds_;
};

class Transmitter {
  public:
    struct Stats {
        std::uint64_t sent = 0;
        std::uint64_t errors = 0;      // build failures and send errors (EAGAIN: buffer full)
        std::uint64_t send_calls = 0;  // sendto/sendmmsg system calls
    };

    Transmitter();

    void add_interface(IfIndex ifindex, const std::string& name);
    void remove_interface(IfIndex ifindex);
    // Whether packets out of `ifindex` may carry the IP Router Alert option (default yes);
    // with false it is left out whatever the Transmit asks ([interface] router-alert).
    void set_router_alert(IfIndex ifindex, bool allowed);
    bool has_interface(IfIndex ifindex) const { return sockets_.contains(ifindex); }

    // Sends every packet of `out` now (the caller clears it); packets queued before go first.
    void send(const Output& out);
    // Builds every packet of `out` into the queue (the caller may clear `out` at once); they
    // are sent by the next flush() (or send()). A full queue is flushed first.
    void queue(const Output& out);
    // Sends the queued packets: one sendmmsg() per interface for up to 1024 packets, each
    // interface's packets in the order they were queued.
    void flush();
    bool send(const Transmit& t, Bytes pgm);
    // A complete IPv4 packet (header included) out of `ifindex`.
    bool send_ip(IfIndex ifindex, Bytes ip_packet);
    const Stats& stats() const { return stats_; }

  private:
    struct Queued {
        IfIndex ifindex;
        std::uint32_t offset;  // in arena_
        std::uint32_t length;
    };
    // Builds `t` with `pgm` at the end of the arena; its size, or nothing (counted an error).
    std::optional<std::size_t> build(const Transmit& t, Bytes pgm, MutableBytes into);
    void flush_interface(int fd, std::size_t count);

    std::map<IfIndex, Fd> sockets_;
    std::set<IfIndex> no_router_alert_;
    std::vector<std::uint8_t> buffer_ = std::vector<std::uint8_t>(65536);
    std::unique_ptr<std::uint8_t[]> arena_;  // kArenaBytes, not zero-filled
    std::size_t arena_used_ = 0;
    std::vector<Queued> queued_;
    // Scratch for flush(), kept to not allocate per batch.
    std::vector<mmsghdr> msgs_;
    std::vector<iovec> iovs_;
    std::vector<sockaddr_in> addrs_;
    std::uint16_t next_id_ = 1;
    Stats stats_;
};

class GroupJoins {
  public:
    // Makes the joins on `ifindex` exactly `groups` (IPv4, any source) and `sourced`
    // (source-specific); returns a message per failure. Called again with the same lists it
    // makes no system call and returns the same failures: failed joins are tried again when
    // the lists change or after retry_failed().
    std::vector<std::string> set(IfIndex ifindex, const std::vector<Nla>& groups,
                                 const std::vector<SourceGroup>& sourced = {});
    void retry_failed() {
        for (auto& [ifindex, j] : joins_)
            j.wanted.reset();
    }
    void remove_interface(IfIndex ifindex) { joins_.erase(ifindex); }
    // The groups joined on `ifindex` now (failed joins are not among them).
    std::vector<Nla> joined(IfIndex ifindex) const {
        auto it = joins_.find(ifindex);
        return it == joins_.end() ? std::vector<Nla>{} : it->second.groups;
    }
    // The (source, group) pairs joined source-specific on `ifindex` now.
    std::vector<SourceGroup> joined_sources(IfIndex ifindex) const {
        auto it = joins_.find(ifindex);
        return it == joins_.end() ? std::vector<SourceGroup>{} : it->second.sourced;
    }

  private:
    struct Joined {
        Fd socket;
        std::vector<Nla> groups;
        std::vector<SourceGroup> sourced;
        // The lists of the last set() and its failures (none: set() must do the work).
        struct Wanted {
            std::vector<Nla> groups;
            std::vector<SourceGroup> sourced;
            std::vector<std::string> errors;
        };
        std::optional<Wanted> wanted;
    };
    std::map<IfIndex, Joined> joins_;
};

}  // namespace pgm::dataplane
