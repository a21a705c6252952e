// DOC: Packet input of pgmd: one libpcap handle per served interface, the single path by
// which the daemon sees packets, so that each packet is processed exactly once.
//
// Owns the pcap handle: pcap_create, bound to IPv4 frames only (pcap_set_protocol_linux:
// such a packet socket is served after tc ingress, so what a tc program forwards or drops
// costs it nothing and never reaches it), immediate mode, inbound direction only (pgmd's own
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
// With the kernel fast path attached to the interface (dataplane/bpf/fastpath_abi.h), the
// filter also leaves out exactly the frames that program owns, eligible ODATA (the program
// consumes them before the socket is served; the exclusion is for those it passes, the
// malformed ones, which pgmd would drop anyway); what of that class
// pgmd must handle reaches it as punts instead.
// set_fastpath_attached() switches the filter of an open handle when the program is
// enabled or disabled on the interface (Ethernet only: the program parses Ethernet frames).
// Between the two steps a frame may be forwarded twice (filter switched last on enabling)
// or not at all (switched first): the daemon picks the order.
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
            IgmpHandler on_igmp, BatchEndHandler on_batch_end = {}, bool fastpath_attached = false);
    ~Capture();
    Capture(const Capture&) = delete;
    Capture& operator=(const Capture&) = delete;

    const Stats& stats() const { return stats_; }
    // Drops since the previous call (since the handle was opened, the first time). libpcap
    // keeps 32-bit totals; the differences are taken modulo 2^32, so calling this at least
    // once per 2^32 drops loses none.
    Drops take_drops();

    // Installs the filter for the fast path attached (true) or not on this interface;
    // throws std::runtime_error when the filter cannot be set (the previous one stays).
    void set_fastpath_attached(bool attached);
    bool fastpath_attached() const { return fastpath_attached_; }

    // The BPF expression used for `udp_ports` (exposed for tests and logs). With
    // `fastpath_attached`, eligible ODATA (fastpath_capture_exclusion()) is left out.
    static std::string filter_expression(std::span<const std::uint16_t> udp_ports,
                                         bool fastpath_attached = false);

  private:
    void on_readable();
    void on_frame(const std::uint8_t* data, std::uint32_t caplen);
    // Compiles and installs filter_expression(udp_ports_, fastpath); an error message or "".
    std::string install_filter(bool fastpath);

    EventLoop& loop_;
    IfIndex ifindex_;
    std::vector<std::uint16_t> udp_ports_;
    PgmHandler on_pgm_;
    IgmpHandler on_igmp_;
    BatchEndHandler on_batch_end_;
    pcap* handle_ = nullptr;
    int fd_ = -1;
    int dlt_ = 0;
    bool fastpath_attached_ = false;
    Stats stats_;
    // pcap_stats' totals at the previous take_drops().
    std::uint32_t reported_kernel_drops_ = 0;
    std::uint32_t reported_interface_drops_ = 0;
};

// The UDP encapsulation ports the kernel program recognises for `udp_ports`: the first
// FP_MAX_UDP_PORTS distinct non-zero ones, in order. fp_config.udp_ports must hold exactly
// these, or capture and program disagree on which frames are eligible.
std::vector<std::uint16_t> fastpath_udp_ports(std::span<const std::uint16_t> udp_ports);

// A pcap filter expression (DLT_EN10MB) true for exactly the frames the fast path program
// owns, the eligible ODATA of fastpath_abi.h, with the ports of fastpath_udp_ports().
std::string fastpath_capture_exclusion(std::span<const std::uint16_t> udp_ports);

}  // namespace pgm::dataplane
