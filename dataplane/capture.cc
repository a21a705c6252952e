#include "dataplane/capture.h"

#include <linux/if_packet.h>
#include <pcap/pcap.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <stdexcept>

#include "dataplane/linklayer.h"

namespace pgm::dataplane {

namespace {
constexpr int kSnapLength = 65535;
constexpr int kBufferBytes = 4 << 20;
// Buffers read per wake-up before other descriptors get their turn.
constexpr int kMaxDispatchRounds = 16;
constexpr std::uint8_t kIgmpProtocol = 2;
}  // namespace

std::string Capture::filter_expression(std::span<const std::uint16_t> udp_ports) {
    std::string e = "ip proto 113 or igmp";
    if (!udp_ports.empty()) {
        e += " or (udp and (";
        const char* sep = "";
        for (std::uint16_t p : udp_ports) {
            e += sep;
            e += "port " + std::to_string(p);
            sep = " or ";
        }
        e += "))";
    }
    return e;
}

Capture::Capture(EventLoop& loop, const std::string& ifname, IfIndex ifindex,
                 std::span<const std::uint16_t> udp_ports, PgmHandler on_pgm, IgmpHandler on_igmp)
    : loop_(loop),
      ifindex_(ifindex),
      udp_ports_(udp_ports.begin(), udp_ports.end()),
      on_pgm_(std::move(on_pgm)),
      on_igmp_(std::move(on_igmp)) {
    char err[PCAP_ERRBUF_SIZE] = {};
    handle_ = pcap_create(ifname.c_str(), err);
    if (handle_ == nullptr) throw std::runtime_error("capture on " + ifname + ": " + err);
    auto fail = [&](const std::string& what) {
        const std::string why = what + ": " + pcap_geterr(handle_);
        pcap_close(handle_);
        handle_ = nullptr;
        throw std::runtime_error("capture on " + ifname + ": " + why);
    };
    pcap_set_snaplen(handle_, kSnapLength);
    pcap_set_promisc(handle_, 0);
    pcap_set_immediate_mode(handle_, 1);
    pcap_set_buffer_size(handle_, kBufferBytes);
    if (pcap_activate(handle_) < 0) fail("pcap_activate");
    if (pcap_setdirection(handle_, PCAP_D_IN) != 0) fail("pcap_setdirection");
    if (pcap_setnonblock(handle_, 1, err) != 0) fail(std::string("pcap_setnonblock ") + err);
    dlt_ = pcap_datalink(handle_);
    if (!link_type_supported(dlt_)) fail("unsupported link type " + std::to_string(dlt_));
    bpf_program program{};
    const std::string expr = filter_expression(udp_ports_);
    if (pcap_compile(handle_, &program, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        fail("pcap_compile '" + expr + "'");
    }
    const int set = pcap_setfilter(handle_, &program);
    pcap_freecode(&program);
    if (set != 0) fail("pcap_setfilter");
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
    loop_.add(fd_, EPOLLIN, [this](std::uint32_t) { on_readable(); });
}

Capture::~Capture() {
    if (fd_ >= 0) loop_.remove(fd_);
    if (handle_ != nullptr) pcap_close(handle_);
}

std::uint64_t Capture::kernel_drops() const {
    pcap_stat s{};
    if (pcap_stats(handle_, &s) != 0) return 0;
    return s.ps_drop;
}

void Capture::on_readable() {
    for (int round = 0; round < kMaxDispatchRounds; ++round) {
        const int n = pcap_dispatch(
            handle_, -1,
            [](u_char* user, const pcap_pkthdr* h, const u_char* data) {
                reinterpret_cast<Capture*>(user)->on_frame(data, h->caplen);
            },
            reinterpret_cast<u_char*>(this));
        if (n <= 0) break;  // 0: nothing more now; <0: error, reported by the next poll
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
