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
// keeps libpcap's fixed-size ring frames small; a larger frame is counted undecodable.
// Life cycle: opened when a configured interface is present and up (throws
// std::runtime_error when it cannot be), closed when it goes down or leaves the
// configuration; the callbacks run on the loop thread.
#pragma once

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

    Capture(EventLoop& loop, const std::string& ifname, IfIndex ifindex,
            std::span<const std::uint16_t> udp_ports, PgmHandler on_pgm, IgmpHandler on_igmp,
            BatchEndHandler on_batch_end = {});
    ~Capture();
    Capture(const Capture&) = delete;
    Capture& operator=(const Capture&) = delete;

    const Stats& stats() const { return stats_; }
    // Frames the kernel dropped because pgmd did not read fast enough (pcap_stats).
    std::uint64_t kernel_drops() const;

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
};

}  // namespace pgm::dataplane
