#include "dataplane/capture.h"

#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "dataplane/bpf/fastpath_abi.h"
#include "dataplane/linklayer.h"

namespace pgm::dataplane {

namespace {
constexpr int kMaxSnapLength = 65535;
// Room for the link-layer header (Ethernet, VLAN tags, SLL) on top of the MTU.
constexpr int kLinkHeaderRoom = 64;
constexpr int kMinMtu = 1500;
// Frames handed to the callbacks per pcap_dispatch() (one batch: the transmissions of a
// batch are written together), and batches per wake-up before other descriptors get their
// turn.
constexpr int kBatchFrames = 64;
constexpr int kMaxDispatchRounds = 16;
constexpr std::uint8_t kIgmpProtocol = 2;

// The interface's MTU, or 0 when it cannot be read.
int interface_mtu(const std::string& ifname) {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
    const int mtu = ioctl(fd, SIOCGIFMTU, &ifr) == 0 ? ifr.ifr_mtu : 0;
    close(fd);
    return mtu;
}

// In immediate mode libpcap uses a TPACKET_V2 ring of fixed-size frames, each as large as
// the snapshot length (on interfaces with segmentation offload, veth among them). With
// 65535 a 4 MiB ring held about 60 frames, and bursts overran it. A PGM packet is never
// larger than the MTU (IP fragments are not forwarded), so the snapshot is the MTU plus
// the link header: about 5000 frames of 1.6 KiB in the default 8 MiB.
int snap_length(const std::string& ifname) {
    const int mtu = std::max(interface_mtu(ifname), kMinMtu);
    return std::min(mtu + kLinkHeaderRoom, kMaxSnapLength);
}
}  // namespace

std::vector<std::uint16_t> fastpath_udp_ports(std::span<const std::uint16_t> udp_ports) {
    std::vector<std::uint16_t> r;
    for (std::uint16_t p : udp_ports) {
        if (r.size() == FP_MAX_UDP_PORTS) break;
        if (p != 0 && std::find(r.begin(), r.end(), p) == r.end()) r.push_back(p);
    }
    return r;
}

namespace {
// "TEST1 or TEST2 ...": `test` followed by each port.
std::string any_port(const std::string& test, std::span<const std::uint16_t> ports) {
    std::string e;
    for (std::uint16_t p : ports)
        e += (e.empty() ? "" : " or ") + test + std::to_string(p);
    return e;
}
}  // namespace

// The eligible-ODATA class of fastpath_abi.h, clause by clause, at the fixed offsets a
// 20-byte IPv4 header gives (ip[N] is frame byte 14 + N). Classic BPF ends the whole filter
// with "no match" when a load is past the frame's end, which would take a short PGM frame
// away from pgmd too (the plain filter alone matches it with loads up to ip[9]): so the IP
// length is checked first, against the smallest eligible packet and against the frame,
// which makes every later load (up to ip[33]) fall inside the frame.
std::string fastpath_capture_exclusion(std::span<const std::uint16_t> udp_ports) {
    const std::string for_pgmd = std::to_string(FP_ODATA_OPTIONS_FOR_PGMD);
    std::string e =
        "ip[2:2] >= 44"                        // 20-byte IP + 16-byte PGM + 8-byte ODATA headers
        " and ip[2:2] + 14 <= len"             // IP total length within the frame
        " and ip[0] = 0x45"                    // IPv4, 20-byte header: no IP options
        " and ip[6:2] & 0x3fff = 0"            // not a fragment: MF clear, offset 0
        " and ip[16] >= 224 and ip[16] < 240"  // to 224.0.0.0/4
        // Native PGM: PGM header at ip[20]; type ODATA (0x04), options byte without
        // OPT_NETWORK nor reserved bits (FP_ODATA_OPTIONS_FOR_PGMD).
        " and ((ip[9] = 113 and ip[24] = 0x04 and ip[25] & " +
        for_pgmd + " = 0)";
    const std::vector<std::uint16_t> ports = fastpath_udp_ports(udp_ports);
    if (!ports.empty()) {
        // UDP to a recognised port (destination: ip[22:2]); PGM header at ip[28].
        e += " or (ip[9] = 17 and (" + any_port("ip[22:2] = ", ports) +
             ") and ip[2:2] >= 52 and ip[32] = 0x04 and ip[33] & " + for_pgmd +
             " = 0)";  // + 8-byte UDP
    }
    // Untagged only. Last, because the first `vlan` of an expression moves the offsets of
    // everything after it. (On a live Linux handle libpcap can also test for a tag the NIC
    // stripped, with SKF_AD_VLAN_TAG_PRESENT, where it knows the kernel has it.)
    e += ") and not vlan";
    return e;
}

std::string Capture::filter_expression(std::span<const std::uint16_t> udp_ports,
                                       bool fastpath_attached) {
    std::string e = "ip proto 113 or igmp";
    if (!udp_ports.empty()) e += " or (udp and (" + any_port("port ", udp_ports) + "))";
    if (fastpath_attached)
        e = "(" + e + ") and not (" + fastpath_capture_exclusion(udp_ports) + ")";
    return e;
}

Capture::Capture(EventLoop& loop, const std::string& ifname, IfIndex ifindex,
                 std::span<const std::uint16_t> udp_ports, std::size_t buffer_bytes,
                 PgmHandler on_pgm, IgmpHandler on_igmp, BatchEndHandler on_batch_end,
                 bool fastpath_attached)
    : loop_(loop),
      ifindex_(ifindex),
      udp_ports_(udp_ports.begin(), udp_ports.end()),
      on_pgm_(std::move(on_pgm)),
      on_igmp_(std::move(on_igmp)),
      on_batch_end_(std::move(on_batch_end)) {
    char err[PCAP_ERRBUF_SIZE] = {};
    handle_ = pcap_create(ifname.c_str(), err);
    if (handle_ == nullptr) throw std::runtime_error("capture on " + ifname + ": " + err);
    auto fail = [&](const std::string& what) {
        const std::string why = what + ": " + pcap_geterr(handle_);
        pcap_close(handle_);
        handle_ = nullptr;
        throw std::runtime_error("capture on " + ifname + ": " + why);
    };
    pcap_set_snaplen(handle_, snap_length(ifname));
    pcap_set_promisc(handle_, 0);
    pcap_set_immediate_mode(handle_, 1);
    pcap_set_buffer_size(handle_, static_cast<int>(std::min<std::size_t>(
                                      buffer_bytes, std::numeric_limits<int>::max())));
    // A packet socket bound to one protocol is served after tc ingress (ptype_base), one
    // bound to every protocol before it, for every frame (ptype_all). Bound to IPv4 (all
    // pgmd captures: PGM, UDP, IGMP), the frames the kernel fast path forwards never reach
    // the socket: as an ETH_P_ALL tap, even with a filter rejecting them, the socket cost
    // every forwarded ODATA 0.25 us in the sender's softirq (bench/pgmd_forwarding_bench.py,
    // fanout_tap), as much as the rest of the fast path's extra work. Every other frame on
    // the interface is spared the tap too.
    if (pcap_set_protocol_linux(handle_, ETH_P_IP) != 0) fail("pcap_set_protocol_linux");
    if (pcap_activate(handle_) < 0) fail("pcap_activate");
    if (pcap_setdirection(handle_, PCAP_D_IN) != 0) fail("pcap_setdirection");
    if (pcap_setnonblock(handle_, 1, err) != 0) fail(std::string("pcap_setnonblock ") + err);
    dlt_ = pcap_datalink(handle_);
    if (!link_type_supported(dlt_)) fail("unsupported link type " + std::to_string(dlt_));
    if (const std::string error = install_filter(fastpath_attached); !error.empty()) fail(error);
    fd_ = pcap_get_selectable_fd(handle_);
    if (fd_ < 0) fail("no selectable descriptor");
    // Every multicast frame, not only those of groups the host joined: pgmd forwards groups
    // it is not a member of. Reference-counted by the kernel, dropped when the socket closes.
    packet_mreq mr{};
    mr.mr_ifindex = static_cast<int>(ifindex);
    mr.mr_type = PACKET_MR_ALLMULTI;
    if (setsockopt(fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
        fail("PACKET_MR_ALLMULTI");
    }
    // Outgoing frames are not even queued to this socket (the kernel skips it in
    // dev_queue_xmit_nit), instead of being filtered, cloned, copied into the ring and
    // discarded by libpcap's PCAP_D_IN check: that was a copy of every packet pgmd sends.
    // Linux 4.20 and later; on older kernels PCAP_D_IN alone still drops them.
    const int one = 1;
    setsockopt(fd_, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    loop_.add(fd_, EPOLLIN, [this](std::uint32_t) { on_readable(); });
}

std::string Capture::install_filter(bool fastpath) {
    // The expression reads Ethernet offsets and `vlan`, and the program only runs there.
    if (fastpath && dlt_ != DLT_EN10MB) return "fast path on link type " + std::to_string(dlt_);
    bpf_program program{};
    const std::string expr = filter_expression(udp_ports_, fastpath);
    if (pcap_compile(handle_, &program, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0)
        return "pcap_compile '" + expr + "'";
    const int set = pcap_setfilter(handle_, &program);
    pcap_freecode(&program);
    if (set != 0) return "pcap_setfilter";
    fastpath_attached_ = fastpath;
    return {};
}

void Capture::set_fastpath_attached(bool attached) {
    if (attached == fastpath_attached_) return;
    if (const std::string error = install_filter(attached); !error.empty())
        throw std::runtime_error("capture: " + error + ": " + pcap_geterr(handle_));
}

Capture::~Capture() {
    if (fd_ >= 0) loop_.remove(fd_);
    if (handle_ != nullptr) pcap_close(handle_);
}

Capture::Drops Capture::take_drops() {
    pcap_stat s{};
    if (pcap_stats(handle_, &s) != 0) return {};  // nothing known: counted next time
    const auto kernel = static_cast<std::uint32_t>(s.ps_drop);
    const auto interface = static_cast<std::uint32_t>(s.ps_ifdrop);
    const Drops d{static_cast<std::uint32_t>(kernel - reported_kernel_drops_),
                  static_cast<std::uint32_t>(interface - reported_interface_drops_)};
    reported_kernel_drops_ = kernel;
    reported_interface_drops_ = interface;
    return d;
}

void Capture::on_readable() {
    for (int round = 0; round < kMaxDispatchRounds; ++round) {
        const int n = pcap_dispatch(
            handle_, kBatchFrames,
            [](u_char* user, const pcap_pkthdr* h, const u_char* data) {
                auto* self = reinterpret_cast<Capture*>(user);
                if (h->caplen < h->len) {  // larger than the MTU: not forwarded truncated
                    ++self->stats_.frames;
                    ++self->stats_.undecodable;
                    return;
                }
                self->on_frame(data, h->caplen);
            },
            reinterpret_cast<u_char*>(this));
        if (on_batch_end_) on_batch_end_();  // also after an error: nothing stays queued
        if (n < kBatchFrames) break;  // 0: nothing more now; <0: error, reported by the next poll
    }
}

void Capture::on_frame(const std::uint8_t* data, std::uint32_t caplen) {
    ++stats_.frames;
    const LinkResult link = extract_ip(dlt_, Bytes(data, caplen));
    if (!link || link.ethertype != kEthertypeIpv4) {
        ++stats_.undecodable;
        return;
    }
    if (link.ip.size() >= 20 && link.ip[9] == kIgmpProtocol) {
        ++stats_.igmp;
        on_igmp_(ifindex_, link.ip);
        return;
    }
    // The UDP checksum is not verified: packets from local senders and virtual links
    // (CHECKSUM_PARTIAL) are captured before it is filled in, and the PGM checksum that the
    // core verifies covers the PGM bytes anyway.
    LocateOptions options;
    options.verify_udp_checksum = false;
    const LocatedPgm located = locate_pgm(link.ip, udp_ports_, options);
    if (!located) {
        ++stats_.undecodable;
        return;
    }
    ++stats_.pgm;
    on_pgm_(ifindex_, located);
}

}  // namespace pgm::dataplane
