// DOC: make_reference_pcap: writes the pcap files the decoder tests read, and a JSON manifest
// of what each packet holds, built from the same PacketSpec values.
//
//   make_reference_pcap --reference OUT.pcap MANIFEST.json
//       Every PGM packet type (SPM, POLL, POLR, ODATA, RDATA, NAK, NNAK, NCF, SPMR, ACK) and
//       every option, native and UDP-encapsulated (port 3055), over IPv4 with Router Alert
//       where RFC 3208 asks for it, two IPv6 packets with the hop-by-hop Router Alert, VLAN
//       tags on some frames, one packet with no checksum and one with a bad checksum.
//   make_reference_pcap --bad OUT.pcap MANIFEST.json
//       Broken frames (truncated link, IP fragment, bad UDP checksum, truncated and
//       garbage PGM, bad option length, ...) each with the error pgmdump must report, then
//       random PGM payloads and one good packet to show that decoding carries on.
//
// Frames are Ethernet (DLT_EN10MB). The manifest uses the key names of cli/pgm_format, so a
// test compares it with pgmdump --json key by key. Exit status 0, or 1 on any failure.
#include <pcap/pcap.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cli/pgm_format.h"
#include "protocol/checksum.h"
#include "protocol/ip.h"
#include "protocol/spec.h"

namespace {

using pgm::Bytes;
using pgm::Nla;
using pgm::OptionSpec;
using pgm::PacketSpec;
using pgm::PacketType;
using pgm::Sqn;
using pgm::cli::Json;
using Buffer = std::vector<std::uint8_t>;

constexpr std::uint16_t kDataSourcePort = 40000;
constexpr std::uint16_t kDataDestinationPort = 7500;
constexpr pgm::Gsi kGsi{{0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}};
constexpr std::int64_t kFirstTimestamp = 1700000000;
constexpr std::uint8_t kIpProtocolUdp = 17;
constexpr std::uint8_t kIpv6HopByHop = 0;
constexpr std::uint16_t kIpv6PayloadLengthOffset = 4;
constexpr std::size_t kIpv6HeaderSize = 40;
constexpr std::size_t kHopByHopSize = 8;

Nla nla(const char* text) {
    const std::optional<Nla> n = Nla::parse(text);
    if (!n) throw std::runtime_error(std::string("bad address in the generator: ") + text);
    return *n;
}

// The addresses of the reference network.
const Nla kSource = nla("10.0.0.1");
const Nla kGroup = nla("239.192.0.1");
const Nla kNetworkElement = nla("10.0.1.254");
const Nla kReceiver = nla("10.0.2.10");
const Nla kDlr = nla("10.0.3.3");
const Nla kSource6 = nla("2001:db8::1");
const Nla kGroup6 = nla("ff0e::1234");
const Nla kDlr6 = nla("2001:db8::3");
const Nla kPath6 = nla("2001:db8::fe");

struct Packet {
    std::string name;
    PacketSpec spec;
    Nla ip_source;
    Nla ip_destination;
    std::uint8_t ttl = 16;
    bool router_alert = false;
    bool udp = false;
    bool checksum = true;           // false: field left 0 ("no checksum")
    bool corrupt_checksum = false;  // flip bits of a good checksum
    std::optional<std::uint16_t> vlan;
};

// Downstream packets carry the data-source port in SPORT, upstream ones in DPORT (§8.3).
PacketSpec spec(PacketType type, pgm::Fields fields, std::vector<OptionSpec> options = {},
                Buffer payload = {}, std::uint8_t extra_flags = 0) {
    PacketSpec s;
    s.type = type;
    const bool up = pgm::is_upstream(type);
    s.source_port = up ? kDataDestinationPort : kDataSourcePort;
    s.destination_port = up ? kDataSourcePort : kDataDestinationPort;
    s.gsi = kGsi;
    s.extra_flags = extra_flags;
    s.fields = std::move(fields);
    s.options = std::move(options);
    s.payload = std::move(payload);
    return s;
}

Packet packet(std::string name, PacketSpec s, Nla from, Nla to, bool router_alert, bool udp) {
    Packet p;
    p.name = std::move(name);
    p.spec = std::move(s);
    p.ip_source = from;
    p.ip_destination = to;
    p.router_alert = router_alert;
    p.udp = udp;
    return p;
}

Buffer text(const char* s) {
    return Buffer(s, s + std::char_traits<char>::length(s));
}

std::vector<Sqn> sqns(std::initializer_list<std::uint32_t> values) {
    std::vector<Sqn> out;
    for (std::uint32_t v : values)
        out.emplace_back(v);
    return out;
}

// Router Alert: SPM, POLL, NCF, RDATA and a redirecting POLR must carry it (checklist §1.1).
// Flag bits are set asymmetrically (L without R, P without O, ...) so a swap shows.
std::vector<Packet> reference_packets() {
    using T = PacketType;
    const pgm::OptRaw invalid{
        static_cast<std::uint8_t>(pgm::OptionType::Invalid), 0x01, 0x00, {0xde, 0xad, 0xbe, 0xef}};
    const pgm::OptRaw unknown{0x21, 0x00, 0x05, {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}};
    const pgm::OptCr cr4{true, false, false, Sqn(1000), 100, 200, 300, kReceiver};
    const pgm::OptCr cr6{false, true, true, Sqn(2000), 0xFFFF, 1, 2, kSource6};
    std::vector<Packet> v;
    // Native IP protocol 113.
    v.push_back(packet("spm native",
                       spec(T::Spm, pgm::SpmFields{Sqn(100), Sqn(1), Sqn(50), kSource, 0},
                            {pgm::OptNakBoIvl{50000, Sqn(7)}, pgm::OptNakBoRng{100000, 1000},
                             pgm::OptParityPrm{true, false, 16}, pgm::OptCurrTgsize{12},
                             pgm::OptCrqst{true, true, false}, pgm::OptJoin{Sqn(20)}}),
                       kSource, kGroup, true, false));
    v.push_back(packet("poll native",
                       spec(T::Poll,
                            pgm::PollFields{Sqn(5), 2, pgm::kPollDlr, kNetworkElement, 200000,
                                            0xdeadbeef, 0x000000ff},
                            {pgm::OptNakBoIvl{3000, Sqn(0)}}),
                       kSource, kGroup, true, false));
    v.push_back(packet("polr native (redirecting)",
                       spec(T::Polr, pgm::PolrFields{Sqn(5), 2}, {pgm::OptRedirect{kDlr}}), kDlr,
                       kNetworkElement, true, false));
    v.push_back(
        packet("odata native",
               spec(T::Odata, pgm::DataFields{Sqn(1000), Sqn(900)},
                    {pgm::OptFragment{Sqn(1000), 0, 3000}, pgm::OptSyn{}, pgm::OptJoin{Sqn(950)}},
                    text("reference payload 1")),
               kSource, kGroup, false, false));
    v.push_back(
        packet("rdata native",
               spec(T::Rdata, pgm::DataFields{Sqn(990), Sqn(950)},
                    {pgm::OptFragment{Sqn(989), 1400, 3000}, pgm::OptFin{}}, text("repair")),
               kSource, kGroup, true, false));
    v.push_back(packet("nak native",
                       spec(T::Nak, pgm::NakFields{Sqn(990), kSource, kGroup},
                            {pgm::OptNakList{sqns({991, 993, 995})}, cr4, invalid}),
                       kReceiver, kNetworkElement, false, false));
    v.push_back(packet(
        "nnak native (IPv6 NLAs)",
        spec(T::Nnak, pgm::NakFields{Sqn(991), kSource6, kGroup6}, {pgm::OptNakList{sqns({992})}}),
        kDlr, kSource, false, false));
    v.push_back(packet("ncf native",
                       spec(T::Ncf, pgm::NakFields{Sqn(990), kSource, kGroup},
                            {pgm::OptNakList{sqns({991, 993})}, pgm::OptRedirect{kDlr6},
                             pgm::OptNakBoIvl{10000, Sqn(3)}, pgm::OptNbrUnreach{},
                             pgm::OptPathNla{kNetworkElement}}),
                       kSource, kGroup, true, false));
    v.push_back(
        packet("spmr native", spec(T::Spmr, pgm::SpmrFields{}), kReceiver, kSource, false, false));
    v.push_back(packet("ack native", spec(T::Ack, pgm::AckFields{Sqn(1000), 0xf0f0f0f0}, {unknown}),
                       kReceiver, kSource, false, false));
    // UDP-encapsulated, other values and the remaining options.
    v.push_back(packet("spm udp",
                       spec(T::Spm, pgm::SpmFields{Sqn(101), Sqn(2), Sqn(60), kSource, 0},
                            {pgm::OptParityPrm{false, true, 8}, pgm::OptNbrUnreach{}, pgm::OptFin{},
                             pgm::OptRst{true, 5}}),
                       kSource, kGroup, true, true));
    v.push_back(
        packet("poll udp (IPv6 path)",
               spec(T::Poll, pgm::PollFields{Sqn(6), 0, pgm::kPollGeneral, kPath6, 1000, 7, 0}),
               kSource, kGroup, true, true));
    v.push_back(packet("polr udp", spec(T::Polr, pgm::PolrFields{Sqn(6), 0}), kReceiver,
                       kNetworkElement, false, true));
    v.push_back(packet("odata udp (parity)",
                       spec(T::Odata, pgm::DataFields{Sqn(1024), Sqn(1000)},
                            {pgm::OptParityGrp{3}, pgm::OptCurrTgsize{7}, pgm::OptFin{}},
                            text("parity payload"), pgm::kOptParity | pgm::kOptVarPktlen),
                       kSource, kGroup, false, true));
    v.push_back(packet(
        "rdata udp",
        spec(T::Rdata, pgm::DataFields{Sqn(1001), Sqn(960)},
             {pgm::OptCurrTgsize{8}, pgm::OptJoin{Sqn(960)}, pgm::OptSyn{}}, text("second repair")),
        kSource, kGroup, true, true));
    v.push_back(packet("nak udp (IPv6 NLAs)",
                       spec(T::Nak, pgm::NakFields{Sqn(2000), kSource6, kGroup6},
                            {pgm::OptNakList{sqns({2001, 2002, 2003, 2004, 2005})}, cr6}),
                       kReceiver, kNetworkElement, false, true));
    v.push_back(packet("nnak udp",
                       spec(T::Nnak, pgm::NakFields{Sqn(992), kSource, kGroup},
                            {pgm::OptNakList{sqns({994, 996})}}),
                       kDlr, kSource, false, true));
    v.push_back(packet("ncf udp",
                       spec(T::Ncf, pgm::NakFields{Sqn(2000), kSource, kGroup},
                            {pgm::OptRedirect{kDlr}, pgm::OptPathNla{kPath6}}),
                       kSource, kGroup, true, true));
    v.push_back(
        packet("spmr udp", spec(T::Spmr, pgm::SpmrFields{}), kReceiver, kSource, false, true));
    v.push_back(packet("ack udp", spec(T::Ack, pgm::AckFields{Sqn(1001), 1}), kReceiver, kSource,
                       false, true));
    // Link and checksum variants.
    v[8].vlan = 100;         // spmr native
    v[13].vlan = 200;        // odata udp
    v[12].checksum = false;  // polr udp: "no checksum"
    Packet bad = packet("odata native, bad checksum",
                        spec(T::Odata, pgm::DataFields{Sqn(1002), Sqn(900)}, {}, text("bad sum")),
                        kSource, kGroup, false, false);
    bad.corrupt_checksum = true;
    v.push_back(bad);
    // IPv6 with the hop-by-hop Router Alert, native and UDP.
    v.push_back(packet("spm native over IPv6",
                       spec(T::Spm, pgm::SpmFields{Sqn(300), Sqn(10), Sqn(20), kSource6, 0}),
                       kSource6, kGroup6, true, false));
    v.push_back(packet("rdata udp over IPv6",
                       spec(T::Rdata, pgm::DataFields{Sqn(15), Sqn(10)}, {}, text("v6 repair")),
                       kSource6, kGroup6, true, true));
    return v;
}

// ---- Frame building --------------------------------------------------------------------

std::uint16_t internet_checksum(Bytes data, std::uint16_t initial = 0) {
    return static_cast<std::uint16_t>(~pgm::ones_complement_sum(data, initial));
}

// IPv6 header + hop-by-hop header with Router Alert + [UDP] + PGM.
Buffer build_ipv6(const Packet& p, Bytes pgm_bytes) {
    const std::size_t transport = (p.udp ? pgm::kUdpHeaderSize : 0) + pgm_bytes.size();
    Buffer out(kIpv6HeaderSize + kHopByHopSize + transport);
    std::uint8_t* h = out.data();
    h[0] = 0x60;
    pgm::store16(h + kIpv6PayloadLengthOffset,
                 static_cast<std::uint16_t>(kHopByHopSize + transport));
    h[6] = kIpv6HopByHop;
    h[7] = p.ttl;
    std::copy(p.ip_source.address().begin(), p.ip_source.address().end(), h + 8);
    std::copy(p.ip_destination.address().begin(), p.ip_destination.address().end(), h + 24);
    std::uint8_t* hbh = h + kIpv6HeaderSize;
    const std::uint8_t hop_by_hop[kHopByHopSize] = {
        p.udp ? kIpProtocolUdp : pgm::kIpProtocolPgm, 0, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00};
    std::copy(std::begin(hop_by_hop), std::end(hop_by_hop), hbh);
    std::uint8_t* t = hbh + kHopByHopSize;
    if (!p.udp) {
        std::copy(pgm_bytes.begin(), pgm_bytes.end(), t);
        return out;
    }
    pgm::store16(t, pgm::kDefaultUdpEncapsulationPort);
    pgm::store16(t + 2, pgm::kDefaultUdpEncapsulationPort);
    pgm::store16(t + 4, static_cast<std::uint16_t>(transport));
    std::copy(pgm_bytes.begin(), pgm_bytes.end(), t + pgm::kUdpHeaderSize);
    std::uint8_t pseudo[40] = {};
    std::copy(h + 8, h + 40, pseudo);
    pgm::store32(pseudo + 32, static_cast<std::uint32_t>(transport));
    pseudo[39] = kIpProtocolUdp;
    const std::uint16_t sum =
        internet_checksum(Bytes(t, transport), pgm::ones_complement_sum(pseudo));
    pgm::store16(t + 6, sum == 0 ? 0xFFFF : sum);
    return out;
}

Buffer build_ip(const Packet& p, Bytes pgm_bytes) {
    if (p.ip_source.is_ipv6()) return build_ipv6(p, pgm_bytes);
    pgm::Ipv4Params ip;
    ip.source = p.ip_source;
    ip.destination = p.ip_destination;
    ip.ttl = p.ttl;
    ip.router_alert = p.router_alert;
    std::optional<pgm::UdpPorts> udp;
    if (p.udp) udp = pgm::UdpPorts{};
    Buffer out(pgm_bytes.size() + 64);
    const std::optional<std::size_t> size = pgm::build_ipv4(out, ip, udp, pgm_bytes);
    if (!size) throw std::runtime_error("build_ipv4 failed for " + p.name);
    out.resize(*size);
    return out;
}

Buffer build_pgm(const Packet& p) {
    std::optional<Buffer> bytes = pgm::build(p.spec, p.checksum);
    if (!bytes) throw std::runtime_error("build() failed for " + p.name);
    // The reference packets must be valid PGM: a mistake here would blame the decoders.
    const pgm::ParseResult parsed = pgm::parse(*bytes);
    if (!parsed) {
        throw std::runtime_error("built packet '" + p.name +
                                 "' does not parse: " + pgm::to_string(parsed.error) +
                                 " at offset " + std::to_string(parsed.error_offset));
    }
    if (p.corrupt_checksum) (*bytes)[pgm::kOffsetChecksum] ^= 0x5A;
    return *bytes;
}

// Ethernet II, an optional 802.1Q tag, then the IP packet.
Buffer ethernet(const Nla& destination, std::optional<std::uint16_t> vlan, Bytes ip) {
    Buffer f = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
    if (destination.is_multicast() && destination.is_ipv4()) {
        const Bytes a = destination.address();
        f[0] = 0x01, f[1] = 0x00, f[2] = 0x5e, f[3] = a[1] & 0x7f, f[4] = a[2], f[5] = a[3];
    } else if (destination.is_multicast()) {
        const Bytes a = destination.address();
        f[0] = 0x33, f[1] = 0x33, f[2] = a[12], f[3] = a[13], f[4] = a[14], f[5] = a[15];
    }
    if (vlan)
        f.insert(f.end(), {0x81, 0x00, static_cast<std::uint8_t>(*vlan >> 8),
                           static_cast<std::uint8_t>(*vlan)});
    const std::uint16_t type = (ip[0] >> 4) == 6 ? 0x86DD : 0x0800;
    f.push_back(static_cast<std::uint8_t>(type >> 8));
    f.push_back(static_cast<std::uint8_t>(type));
    f.insert(f.end(), ip.begin(), ip.end());
    return f;
}

class PcapWriter {
  public:
    explicit PcapWriter(const std::string& path)
        : dead_(pcap_open_dead(DLT_EN10MB, 65535)), dumper_(pcap_dump_open(dead_, path.c_str())) {
        if (dumper_ == nullptr)
            throw std::runtime_error("cannot write " + path + ": " + pcap_geterr(dead_));
    }
    ~PcapWriter() {
        if (dumper_ != nullptr) pcap_dump_close(dumper_);
        pcap_close(dead_);
    }
    PcapWriter(const PcapWriter&) = delete;
    PcapWriter& operator=(const PcapWriter&) = delete;

    // Writes the frame, `captured` bytes of it at most; returns its 1-based number.
    std::uint64_t write(Bytes frame, std::size_t captured = SIZE_MAX) {
        pcap_pkthdr h{};
        ++count_;
        h.ts.tv_sec = kFirstTimestamp + static_cast<std::int64_t>(count_);
        h.ts.tv_usec = static_cast<suseconds_t>(count_ * 1000);
        h.len = static_cast<bpf_u_int32>(frame.size());
        h.caplen = static_cast<bpf_u_int32>(std::min(frame.size(), captured));
        pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, frame.data());
        return count_;
    }

  private:
    pcap_t* dead_;
    pcap_dumper_t* dumper_;
    std::uint64_t count_ = 0;
};

// Header flags the writer sets: OPT_PRESENT with options, OPT_NETWORK with a network-
// significant one (unknown options are written as not significant), plus the spec's own.
Json expected_flags(const PacketSpec& s) {
    std::uint8_t flags = s.extra_flags;
    if (!s.options.empty()) flags |= pgm::kOptPresent;
    for (const OptionSpec& o : s.options) {
        const Json j = pgm::cli::option_json(o);
        const std::uint8_t code = j["code"].get<std::uint8_t>();
        if (pgm::option_name(code) != nullptr && pgm::is_network_significant(code, s.type)) {
            flags |= pgm::kOptNetwork;
        }
    }
    Json names = Json::array();
    if (flags & pgm::kOptPresent) names.push_back("present");
    if (flags & pgm::kOptNetwork) names.push_back("network");
    if (flags & pgm::kOptVarPktlen) names.push_back("var_pktlen");
    if (flags & pgm::kOptParity) names.push_back("parity");
    return names;
}

Json describe(const Packet& p, std::uint64_t frame, Bytes pgm_bytes) {
    Json j = Json::object();
    j["frame"] = frame;
    j["name"] = p.name;
    if (p.vlan) j["vlan"] = Json::array({*p.vlan});
    j["ip_version"] = p.ip_source.is_ipv6() ? 6 : 4;
    j["ip_src"] = p.ip_source.to_string();
    j["ip_dst"] = p.ip_destination.to_string();
    j["ttl"] = p.ttl;
    j["router_alert"] = p.router_alert;
    j["encap"] = p.udp ? "udp" : "native";
    if (p.udp) {
        j["udp_sport"] = pgm::kDefaultUdpEncapsulationPort;
        j["udp_dport"] = pgm::kDefaultUdpEncapsulationPort;
    }
    j.update(pgm::cli::spec_json(p.spec));
    j["opt_flags"] = expected_flags(p.spec);
    j["checksum"] = pgm::load16(pgm_bytes.data() + pgm::kOffsetChecksum);
    j["checksum_status"] = !p.checksum ? "none" : p.corrupt_checksum ? "bad" : "good";
    j["pgm_length"] = pgm_bytes.size();
    j["payload_hex"] = pgm::cli::hex(p.spec.payload);
    return j;
}

void write_reference(const std::string& pcap_path, Json& manifest) {
    PcapWriter out(pcap_path);
    for (const Packet& p : reference_packets()) {
        const Buffer pgm_bytes = build_pgm(p);
        const Buffer ip = build_ip(p, pgm_bytes);
        const std::uint64_t frame = out.write(ethernet(p.ip_destination, p.vlan, ip));
        manifest["packets"].push_back(describe(p, frame, pgm_bytes));
    }
}

// ---- Broken frames -----------------------------------------------------------------------

// A good SPM to break in various ways.
Packet plain_spm(bool udp) {
    return packet("spm", spec(PacketType::Spm, pgm::SpmFields{Sqn(1), Sqn(1), Sqn(0), kSource, 0}),
                  kSource, kGroup, true, udp);
}

void fix_ipv4_header_checksum(Buffer& ip) {
    const std::size_t ihl = std::size_t{ip[0] & 0x0Fu} * 4;
    pgm::store16(ip.data() + 10, 0);
    pgm::store16(ip.data() + 10, internet_checksum(Bytes(ip.data(), ihl)));
}

struct BadFrame {
    std::string name;
    Buffer frame;
    std::size_t captured = SIZE_MAX;
    const char* layer;  // expected error_layer, or nullptr for "any error"
    const char* error;  // expected error text, or nullptr for "any error"
};

BadFrame broken_pgm(std::string name, Buffer pgm_bytes, bool fix_checksum, const char* error) {
    if (fix_checksum && pgm_bytes.size() >= pgm::kHeaderSize) pgm::write_checksum(pgm_bytes);
    const Buffer ip = build_ip(plain_spm(false), pgm_bytes);
    return {std::move(name), ethernet(kGroup, std::nullopt, ip), SIZE_MAX, "pgm", error};
}

std::vector<BadFrame> bad_frames() {
    using pgm::IpError;
    using pgm::ParseError;
    std::vector<BadFrame> v;
    const Buffer spm = build_pgm(plain_spm(false));
    const Buffer good_frame = ethernet(kGroup, std::nullopt, build_ip(plain_spm(false), spm));

    v.push_back({"frame cut inside the Ethernet header", good_frame, 10, "link",
                 pgm::to_string(pgm::LinkError::Truncated)});
    v.push_back({"IP packet cut by the capture length", good_frame, 14 + 30, "ip",
                 pgm::to_string(IpError::BadTotalLength)});

    Buffer fragment = build_ip(plain_spm(false), spm);
    fragment[6] |= 0x20;  // more fragments
    fix_ipv4_header_checksum(fragment);
    v.push_back({"IP fragment", ethernet(kGroup, std::nullopt, fragment), SIZE_MAX, "ip",
                 pgm::to_string(IpError::Fragment)});

    Buffer udp = build_ip(plain_spm(true), spm);
    udp[pgm::kIpv4HeaderSize + pgm::kRouterAlertOptionSize + 6] ^= 0xFF;
    v.push_back({"bad UDP checksum", ethernet(kGroup, std::nullopt, udp), SIZE_MAX, "ip",
                 pgm::to_string(IpError::BadUdpChecksum)});

    v.push_back(broken_pgm("PGM shorter than its header", Buffer(spm.begin(), spm.begin() + 10),
                           false, pgm::to_string(ParseError::Truncated)));
    v.push_back(broken_pgm("SPM cut inside its path NLA", Buffer(spm.begin(), spm.begin() + 30),
                           true, pgm::to_string(ParseError::Truncated)));
    Buffer stale = Buffer(spm.begin(), spm.begin() + 30);
    v.push_back(broken_pgm("SPM cut, checksum of the whole packet", stale, false,
                           pgm::to_string(ParseError::BadChecksum)));
    Buffer unknown_type = spm;
    unknown_type[pgm::kOffsetType] = 0x03;
    v.push_back(broken_pgm("unknown packet type 3", unknown_type, true,
                           pgm::to_string(ParseError::UnknownType)));
    Buffer odata = *pgm::build(spec(PacketType::Odata, pgm::DataFields{Sqn(1), Sqn(1)},
                                    {pgm::OptFragment{Sqn(1), 0, 10}}, text("0123456789")));
    Buffer bad_option = odata;
    bad_option[pgm::kHeaderSize + 8 + pgm::kOptLengthSize + 1] = 12;  // OPT_FRAGMENT length
    v.push_back(broken_pgm("OPT_FRAGMENT of length 12", bad_option, true,
                           pgm::to_string(ParseError::OptionLengthBad)));
    Buffer tsdu = odata;
    pgm::store16(tsdu.data() + pgm::kOffsetTsduLength, 99);
    v.push_back(
        broken_pgm("TSDU length 99", tsdu, true, pgm::to_string(ParseError::TsduLengthMismatch)));
    Buffer no_sum = odata;
    pgm::store16(no_sum.data() + pgm::kOffsetChecksum, 0);
    v.push_back(broken_pgm("ODATA without checksum", no_sum, false,
                           pgm::to_string(ParseError::MissingChecksum)));

    std::mt19937 random(3208);
    for (int i = 0; i < 20; ++i) {
        Buffer garbage(random() % 80);
        for (std::uint8_t& b : garbage)
            b = static_cast<std::uint8_t>(random());
        v.push_back(broken_pgm("garbage " + std::to_string(i), garbage, i % 2 == 0, nullptr));
    }
    v.push_back({"good SPM after the bad ones", good_frame, SIZE_MAX, nullptr, nullptr});
    return v;
}

void write_bad(const std::string& pcap_path, Json& manifest) {
    PcapWriter out(pcap_path);
    for (const BadFrame& b : bad_frames()) {
        Json j = Json::object();
        j["frame"] = out.write(b.frame, b.captured);
        j["name"] = b.name;
        const bool good = b.name.starts_with("good");
        j["expect"] = good ? "ok" : "error";
        if (b.layer != nullptr) j["error_layer"] = b.layer;
        if (b.error != nullptr) j["error"] = b.error;
        manifest["packets"].push_back(std::move(j));
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4 || (std::string(argv[1]) != "--reference" && std::string(argv[1]) != "--bad")) {
        std::cerr << "usage: make_reference_pcap (--reference | --bad) OUT.pcap MANIFEST.json\n";
        return 2;
    }
    try {
        Json manifest = Json::object();
        manifest["pcap"] = argv[2];
        manifest["link"] = "EN10MB";
        manifest["packets"] = Json::array();
        if (std::string(argv[1]) == "--reference") {
            write_reference(argv[2], manifest);
        } else {
            write_bad(argv[2], manifest);
        }
        std::ofstream(argv[3]) << manifest.dump(2) << '\n';
        std::cout << "make_reference_pcap: wrote " << manifest["packets"].size() << " frames to "
                  << argv[2] << " and the manifest to " << argv[3] << '\n';
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "make_reference_pcap: " << e.what() << '\n';
        return 1;
    }
}
