// DOC: Packet input of pgmd: one libpcap handle per served interface, the single path by
// which the daemon sees packets, so that each packet is processed exactly once.
//
// Owns the pcap handle: pcap_create, immediate mode, inbound direction only (pgmd's own
// transmissions are not seen again), every multicast frame (PACKET_MR_ALLMULTI on the
// capture socket, released with it), a kernel BPF filter for
// `ip proto 113 or (udp and (port P1 or ...)) or igmp`, non-blocking reads driven by epoll
// on pcap_get_selectable_fd (a blocking pcap_next_ex never returns on an idle link).
// Each frame goes through extract_ip() and locate_pgm(); PGM packets go to `on_pgm` with the
// interface index, IGMP packets to `on_igmp` as IP packets. Frames are read in batches (up
// to 64 per pcap_dispatch, 16 batches per wake-up); `on_batch_end`, if set, runs after
// each batch, so that the owner can write the batch's transmissions together. A frame's
// bytes are valid only during its callback (libpcap hands the ring slot back after it).
// The snapshot length is the interface's MTU (at least 1500) plus link-header room, which
// keeps libpcap's fixed-size ring frames small; a larger frame is counted undecodable. The
// ring is `buffer_bytes` large (`[capture] buffer-bytes`); what arrives while it is full is
// dropped by the kernel, and take_drops() reports those drops (pcap_stats) to the owner,
// who keeps the totals across handles (a handle's counts end with it).
// Life cycle: opened when a configured interface is present and up (throws
// std::runtime_error when it cannot be), closed when it goes down or leaves the
// configuration; the callbacks run on the loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "dataplane/event_loop.h"
#include "protocol/ip.h"

struct pcap;

namespace pgm::dataplane {

class Capture {
  public:
    using PgmHandler = std::function<void(IfIndex, const LocatedPgm&)>;
    using IgmpHandler = std::function<void(IfIndex, Bytes ip_packet)>;
    using BatchEndHandler = std::function<void()>;

    struct Stats {
        std::uint64_t frames = 0;
        std::uint64_t pgm = 0;
        std::uint64_t igmp = 0;
        std::uint64_t undecodable = 0;  // not IP, truncated, fragment, bad header checksum
    };

    // Packets matching the filter that pgmd never saw.
    struct Drops {
        // Dropped by the kernel because the capture ring was full (pcap_stat ps_drop).
        std::uint64_t kernel = 0;
        // Dropped by the interface or its driver (ps_ifdrop). libpcap on Linux counts these
        // for promiscuous captures only, so pgmd's stay 0 there.
        std::uint64_t interface = 0;
        Drops& operator+=(const Drops& o) {
            kernel += o.kernel;
            interface += o.interface;
            return *this;
        }
        friend bool operator==(const Drops&, const Drops&) = default;
    };

    Capture(EventLoop& loop, const std::string& ifname, IfIndex ifindex,
            std::span<const std::uint16_t> udp_ports, std::size_t buffer_bytes, PgmHandler on_pgm,
            IgmpHandler on_igmp, BatchEndHandler on_batch_end = {});
    ~Capture();
    Capture(const Capture&) = delete;
    Capture& operator=(const Capture&) = delete;

    const Stats& stats() const { return stats_; }
    // Drops since the previous call (since the handle was opened, the first time). libpcap
    // keeps 32-bit totals; the differences are taken modulo 2^32, so calling this at least
    // once per 2^32 drops loses none.
    Drops take_drops();

    // The BPF expression used for `udp_ports` (exposed for tests and logs).
    static std::string filter_expression(std::span<const std::uint16_t> udp_ports);

  private:
    void on_readable();
    void on_frame(const std::uint8_t* data, std::uint32_t caplen);

    EventLoop& loop_;
    IfIndex ifindex_;
    std::vector<std::uint16_t> udp_ports_;
    PgmHandler on_pgm_;
    IgmpHandler on_igmp_;
    BatchEndHandler on_batch_end_;
    pcap* handle_ = nullptr;
    int fd_ = -1;
    int dlt_ = 0;
    Stats stats_;
    // pcap_stats' totals at the previous take_drops().
    std::uint32_t reported_kernel_drops_ = 0;
    std::uint32_t reported_interface_drops_ = 0;
};

}  // namespace pgm::dataplane
