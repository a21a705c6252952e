// DOC: The sans-I/O contract shared by the router core and the host stacks.
//
// A core never touches a socket or a clock. The caller passes in each packet with its
// arrival interface and the current time, and a timer tick when next_deadline() is due;
// the core appends what must be sent to an `Output`, which the caller drains (sends)
// after each call and then clears. The Output keeps its capacity, so steady-state packet
// processing does not allocate. A transmit may reference the bytes the caller passed in
// (a packet switched unchanged, add_reference()): the caller must therefore drain the
// Output before it reuses or frees the buffer of the packet it handed to the core.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "protocol/ip.h"
#include "protocol/nla.h"
#include "protocol/wire.h"

namespace pgm {

using Clock = std::chrono::steady_clock;
using Time = Clock::time_point;
using Duration = Clock::duration;
inline constexpr Time kNever = Time::max();

// Interface index as numbered by the caller (the kernel's ifindex in the daemon, node-local
// port numbers in the simulator).
using IfIndex = std::uint32_t;

// How a packet came in: the fields of its IP (and UDP) header that PGM processing needs.
struct Arrival {
    IfIndex ifindex = 0;
    IpInfo ip;
};

// One packet to send: network-header parameters and the PGM bytes (in Output's arena).
struct Transmit {
    IfIndex ifindex = 0;
    Nla ip_source;       // may be another host's address (NCF, RDATA): raw socket, IP_HDRINCL
    Nla ip_destination;  // group for multicast, neighbour for unicast
    std::uint8_t ttl = 255;
    bool router_alert = false;
    Encapsulation encapsulation = Encapsulation::Native;
    std::uint16_t udp_port = kDefaultUdpEncapsulationPort;  // with Encapsulation::Udp
    std::size_t offset = 0;                                 // of the PGM bytes in the arena
    std::size_t length = 0;
    const std::uint8_t* external = nullptr;  // set: the caller's bytes (add_reference)
};

// An allocator whose value-initialisation leaves bytes as they are. Output::begin() grows the
// arena by the largest packet that may be written and commit() shrinks it to the real size;
// zero-filling that room each time cost more than writing the packet, and PacketWriter
// clears every byte it reserves anyway.
template <class T>
struct UninitialisedAllocator : std::allocator<T> {
    template <class U>
    struct rebind {
        using other = UninitialisedAllocator<U>;
    };
    UninitialisedAllocator() = default;
    template <class U>
    UninitialisedAllocator(const UninitialisedAllocator<U>&) noexcept {}
    template <class U>
    void construct(U* p) noexcept {
        ::new (static_cast<void*>(p)) U;
    }
    template <class U, class... Args>
    void construct(U* p, Args&&... args) {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};

class Output {
  public:
    // Space for one packet of at most `max_size` bytes; valid until the next begin()/add().
    MutableBytes begin(std::size_t max_size) {
        start_ = arena_.size();
        arena_.resize(start_ + max_size);
        return MutableBytes(arena_.data() + start_, max_size);
    }
    // Commits the packet begun last with its real size and its network parameters.
    void commit(Transmit t, std::size_t size) {
        arena_.resize(start_ + size);
        t.offset = start_;
        t.length = size;
        transmits_.push_back(t);
    }
    // Drops the packet begun last (it did not fit, or was abandoned).
    void abandon() { arena_.resize(start_); }
    // Drops the packet committed last (a copy that turned out not to be sendable).
    void abandon_last() {
        if (transmits_.back().external == nullptr) arena_.resize(transmits_.back().offset);
        transmits_.pop_back();
    }
    // Sends `pgm` as it is, without copying: valid until the caller drains this Output.
    void add_reference(Transmit t, Bytes pgm) {
        t.external = pgm.data();
        t.offset = 0;
        t.length = pgm.size();
        transmits_.push_back(t);
    }
    // Copies ready-made PGM bytes (e.g. a packet forwarded unchanged).
    void add(Transmit t, Bytes pgm) {
        MutableBytes b = begin(pgm.size());
        std::copy(pgm.begin(), pgm.end(), b.begin());
        commit(t, pgm.size());
    }

    const std::vector<Transmit>& transmits() const { return transmits_; }
    Bytes bytes(const Transmit& t) const {
        return t.external ? Bytes(t.external, t.length) : Bytes(arena_.data() + t.offset, t.length);
    }
    // Only for copies (add(), begin()/commit()), never for references.
    MutableBytes mutable_bytes(const Transmit& t) {
        return MutableBytes(arena_.data() + t.offset, t.length);
    }
    bool empty() const { return transmits_.empty(); }
    void clear() {
        transmits_.clear();
        arena_.clear();
        start_ = 0;
    }

  private:
    std::vector<std::uint8_t, UninitialisedAllocator<std::uint8_t>> arena_;
    std::vector<Transmit> transmits_;
    std::size_t start_ = 0;
};

}  // namespace pgm
