// FUZZ: seed-corpus generator for parse_fuzz. Owns the list of seeds in tests/fuzz/corpus:
// one valid packet per PGM packet type (IPv4 and IPv6 NLAs), one per option, a few with
// many options, and a few wrapped in IPv4/IPv6 (native and UDP port 3055). Every seed is
// built with the codec and parsed back before it is written.
//
//   make_corpus DIR     writes DIR/<name>.bin (DIR is created if missing)
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "protocol/checksum.h"
#include "protocol/ip.h"
#include "protocol/packet.h"
#include "protocol/spec.h"

namespace {

using namespace pgm;
using Packet = std::vector<std::uint8_t>;

constexpr std::uint16_t kSourcePort = 7500;  // data-source port
constexpr std::uint16_t kDestPort = 7501;    // data-destination port
const Gsi kGsi{{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}};

const Nla kSource4 = Nla::ipv4(0xC0000201u);  // 192.0.2.1
const Nla kGroup4 = Nla::ipv4(0xEF010203u);   // 239.1.2.3
const Nla kRouter4 = Nla::ipv4(0xC6336401u);  // 198.51.100.1
const Nla kSource6 = *Nla::parse("2001:db8::1");
const Nla kGroup6 = *Nla::parse("ff3e::8000:1");
const Nla kRouter6 = *Nla::parse("2001:db8:1::fe");

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "make_corpus: %s\n", what.c_str());
    std::exit(1);
}

class Corpus {
  public:
    explicit Corpus(std::filesystem::path dir) : dir_(std::move(dir)) {
        std::filesystem::create_directories(dir_);
    }

    // Writes a PGM packet after checking that it parses, checksum included.
    void pgm(const std::string& name, const Packet& p) {
        ParseResult r = parse(p);
        if (!r) die(name + ": does not parse: " + to_string(r.error));
        write(name, p);
    }

    // Writes an IP packet after checking that locate_pgm() finds a PGM packet that parses.
    void ip(const std::string& name, const Packet& p) {
        static constexpr std::array<std::uint16_t, 1> kPorts{kDefaultUdpEncapsulationPort};
        LocatedPgm l = locate_pgm(p, kPorts);
        if (!l) die(name + ": locate_pgm: " + to_string(l.error));
        ParseResult r = parse(l.pgm);
        if (!r) die(name + ": PGM part does not parse: " + to_string(r.error));
        write(name, p);
    }

    int count() const { return count_; }

  private:
    void write(const std::string& name, const Packet& p) {
        std::ofstream out(dir_ / (name + ".bin"), std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(p.data()), static_cast<std::streamsize>(p.size()));
        if (!out) die(name + ": write failed");
        ++count_;
    }

    std::filesystem::path dir_;
    int count_ = 0;
};

Packet built(const PacketSpec& s, bool checksum = true) {
    auto p = build(s, checksum);
    if (!p) die("build failed");
    return *p;
}

// Downstream packets carry the data-source port in SPORT, upstream ones in DPORT (§8.3).
PacketSpec spec(PacketType type, Fields fields) {
    PacketSpec s;
    s.type = type;
    bool up = is_upstream(type);
    s.source_port = up ? kDestPort : kSourcePort;
    s.destination_port = up ? kSourcePort : kDestPort;
    s.gsi = kGsi;
    s.fields = fields;
    return s;
}

Packet payload(const char* text) {
    std::string t(text);
    return Packet(t.begin(), t.end());
}

PacketSpec spm(const Nla& path) {
    return spec(PacketType::Spm, SpmFields{Sqn(42), Sqn(10), Sqn(41), path, 0});
}
PacketSpec poll(const Nla& path) {
    return spec(PacketType::Poll,
                PollFields{Sqn(7), 1, kPollGeneral, path, 250000, 0x1234abcd, 0xffff0000});
}
PacketSpec polr() {
    return spec(PacketType::Polr, PolrFields{Sqn(7), 1});
}
PacketSpec odata(const char* text = "hello, pgm") {
    PacketSpec s = spec(PacketType::Odata, DataFields{Sqn(100), Sqn(90)});
    s.payload = payload(text);
    return s;
}
PacketSpec rdata() {
    PacketSpec s = spec(PacketType::Rdata, DataFields{Sqn(95), Sqn(90)});
    s.payload = payload("repaired");
    return s;
}
PacketSpec nak(PacketType type, const Nla& source, const Nla& group) {
    return spec(type, NakFields{Sqn(95), source, group});
}
PacketSpec ncf(const Nla& source, const Nla& group) {
    return nak(PacketType::Ncf, source, group);
}

OptNakList nak_list(std::size_t n) {
    OptNakList l;
    for (std::size_t i = 0; i < n; ++i)
        l.sqns.push_back(Sqn(static_cast<std::uint32_t>(96 + 2 * i)));
    return l;
}
OptCr cr(const Nla& receiver) {
    return OptCr{true, false, true, Sqn(120), 3, 7, 11, receiver};
}

PacketSpec with(PacketSpec s, std::vector<OptionSpec> options, std::uint8_t extra_flags = 0) {
    s.options = std::move(options);
    s.extra_flags = extra_flags;
    return s;
}

// IPv6 header with a hop-by-hop Router Alert option, then `next` (PGM or UDP).
Packet ipv6(std::uint8_t next, const Packet& upper) {
    Packet p(48);
    p[0] = 0x60;
    store16(p.data() + 4, static_cast<std::uint16_t>(8 + upper.size()));
    p[6] = 0;  // hop-by-hop
    p[7] = 1;  // hop limit
    auto src = kSource6.address(), dst = kGroup6.address();
    std::copy(src.begin(), src.end(), p.begin() + 8);
    std::copy(dst.begin(), dst.end(), p.begin() + 24);
    const std::uint8_t hbh[8] = {next, 0, 5, 2, 0, 0, 1, 0};  // Router Alert (MLD 0), PadN
    std::copy(hbh, hbh + 8, p.begin() + 40);
    p.insert(p.end(), upper.begin(), upper.end());
    return p;
}

Packet udp6(const Packet& pgm_packet) {
    Packet u(8);
    store16(u.data(), kDefaultUdpEncapsulationPort);
    store16(u.data() + 2, kDefaultUdpEncapsulationPort);
    store16(u.data() + 4, static_cast<std::uint16_t>(8 + pgm_packet.size()));
    u.insert(u.end(), pgm_packet.begin(), pgm_packet.end());
    std::array<std::uint8_t, 8> tail{};
    store32(tail.data(), static_cast<std::uint32_t>(u.size()));
    tail[7] = 17;
    std::uint16_t s = ones_complement_sum(kSource6.address());
    s = ones_complement_sum(kGroup6.address(), s);
    s = ones_complement_sum(tail, s);
    s = ones_complement_sum(u, s);
    auto c = static_cast<std::uint16_t>(~s);
    store16(u.data() + 6, c == 0 ? 0xFFFF : c);
    return ipv6(17, u);
}

Packet ipv4(const Packet& pgm_packet, bool router_alert, bool udp, const Nla& src, const Nla& dst) {
    Packet out(20 + 4 + 8 + pgm_packet.size());
    Ipv4Params ip;
    ip.source = src;
    ip.destination = dst;
    ip.router_alert = router_alert;
    ip.id = 0x1234;
    std::optional<UdpPorts> ports;
    if (udp) ports = UdpPorts{};
    auto n = build_ipv4(out, ip, ports, pgm_packet);
    if (!n) die("build_ipv4 failed");
    out.resize(*n);
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_corpus DIR\n");
        return 2;
    }
    Corpus c(argv[1]);
    using T = PacketType;

    // One per packet type, with IPv4 and IPv6 NLAs where the type has any.
    c.pgm("spm_v4", built(spm(kSource4)));
    c.pgm("spm_v6", built(spm(kSource6)));
    c.pgm("spm_no_checksum", built(spm(kSource4), false));
    c.pgm("poll_v4", built(poll(kRouter4)));
    c.pgm("poll_v6", built(poll(kRouter6)));
    c.pgm("polr", built(polr()));
    c.pgm("odata", built(odata()));
    c.pgm("odata_empty", built(odata("")));
    c.pgm("odata_1000", built(odata(std::string(1000, 'x').c_str())));
    c.pgm("rdata", built(rdata()));
    c.pgm("nak_v4", built(nak(T::Nak, kSource4, kGroup4)));
    c.pgm("nak_v6", built(nak(T::Nak, kSource6, kGroup6)));
    c.pgm("nak_mixed", built(nak(T::Nak, kSource6, kGroup4)));
    c.pgm("nnak_v4", built(nak(T::Nnak, kSource4, kGroup4)));
    c.pgm("nnak_v6", built(nak(T::Nnak, kSource6, kGroup6)));
    c.pgm("ncf_v4", built(ncf(kSource4, kGroup4)));
    c.pgm("ncf_v6", built(ncf(kSource6, kGroup6)));
    c.pgm("spmr", built(spec(T::Spmr, SpmrFields{})));
    c.pgm("ack", built(spec(T::Ack, AckFields{Sqn(100), 0xfffffffeu})));

    // One per option, on a packet type it is defined for.
    c.pgm("fragment", built(with(odata(), {OptFragment{Sqn(98), 2000, 4000}})));
    c.pgm("nak_list", built(with(nak(T::Nak, kSource4, kGroup4), {nak_list(5)})));
    c.pgm("nak_list_max", built(with(nak(T::Nak, kSource4, kGroup4), {nak_list(kMaxNakList)})));
    c.pgm("nak_list_ncf", built(with(ncf(kSource6, kGroup6), {nak_list(3)})));
    c.pgm("join", built(with(odata(), {OptJoin{Sqn(80)}})));
    c.pgm("nak_bo_ivl", built(with(ncf(kSource4, kGroup4), {OptNakBoIvl{50000, Sqn(7)}})));
    c.pgm("nak_bo_rng", built(with(spm(kSource4), {OptNakBoRng{100000, 1000}})));
    c.pgm("redirect_v4", built(with(polr(), {OptRedirect{kRouter4}})));
    c.pgm("redirect_v6", built(with(ncf(kSource6, kGroup6), {OptRedirect{kRouter6}})));
    c.pgm("parity_prm", built(with(spm(kSource4), {OptParityPrm{true, true, 16}})));
    c.pgm("parity_grp", built(with(rdata(), {OptParityGrp{3}}, kOptParity)));
    c.pgm("curr_tgsize", built(with(spm(kSource4), {OptCurrTgsize{12}})));
    c.pgm("curr_tgsize_odata", built(with(odata(), {OptCurrTgsize{12}}, kOptVarPktlen)));
    c.pgm("nbr_unreach", built(with(ncf(kSource4, kGroup4), {OptNbrUnreach{}})));
    c.pgm("path_nla_v4", built(with(ncf(kSource4, kGroup4), {OptPathNla{kRouter4}})));
    c.pgm("path_nla_v6", built(with(ncf(kSource6, kGroup6), {OptPathNla{kRouter6}})));
    c.pgm("syn", built(with(odata(), {OptSyn{}})));
    c.pgm("fin", built(with(odata(), {OptFin{}})));
    c.pgm("rst", built(with(spm(kSource4), {OptRst{true, 5}})));
    c.pgm("cr_v4", built(with(nak(T::Nak, kSource4, kGroup4), {cr(kRouter4)})));
    c.pgm("cr_v6", built(with(nak(T::Nak, kSource6, kGroup6), {cr(kRouter6)})));
    c.pgm("crqst", built(with(spm(kSource4), {OptCrqst{true, true, false}})));
    c.pgm("invalid", built(with(odata(), {OptRaw{0x7F, 0, 0, {1, 2, 3, 4}}})));
    c.pgm("unknown_pgmcc", built(with(odata(), {OptRaw{0x12, 0, 0, {0, 0, 0, 9, 0, 1, 0, 0}}})));
    c.pgm(
        "unknown_discard",
        built(with(
            spm(kSource4),
            {OptRaw{0x40, static_cast<std::uint8_t>(Opx::Discard), 0, {0xde, 0xad, 0xbe, 0xef}}})));

    // Several options in one packet.
    c.pgm("odata_many_options",
          built(with(odata(), {OptFragment{Sqn(98), 0, 20}, OptJoin{Sqn(80)}, OptSyn{}, OptFin{},
                               OptRaw{0x12, 0, 0, {0, 0, 0, 1}}})));
    c.pgm("nak_list_cr", built(with(nak(T::Nak, kSource4, kGroup4), {nak_list(8), cr(kRouter4)})));
    c.pgm("ncf_all", built(with(ncf(kSource4, kGroup4),
                                {nak_list(4), OptNakBoIvl{50000, Sqn(0)}, OptRedirect{kRouter4},
                                 OptNbrUnreach{}, OptPathNla{kRouter4}})));
    c.pgm("spm_all",
          built(with(spm(kSource6),
                     {OptParityPrm{true, false, 8}, OptCurrTgsize{8}, OptNakBoIvl{1, Sqn(2)},
                      OptNakBoRng{3, 4}, OptNbrUnreach{}, OptCrqst{false, true, true},
                      OptJoin{Sqn(30)}, OptFin{}, OptRst{false, 0}},
                     kOptParity)));

    // Wrapped in IP: IPv4 native with Router Alert, IPv4 UDP, IPv6 native and UDP.
    c.ip("ip4_odata_ra", ipv4(built(odata()), true, false, kSource4, kGroup4));
    c.ip("ip4_spm_ra", ipv4(built(spm(kSource4)), true, false, kSource4, kGroup4));
    c.ip("ip4_nak", ipv4(built(with(nak(T::Nak, kSource4, kGroup4), {nak_list(3)})), true, false,
                         kRouter4, kSource4));
    c.ip("ip4_udp_odata", ipv4(built(odata()), false, true, kSource4, kGroup4));
    c.ip("ip4_udp_ncf", ipv4(built(ncf(kSource4, kGroup4)), false, true, kRouter4, kGroup4));
    c.ip("ip6_odata_ra", ipv6(kIpProtocolPgm, built(odata())));
    c.ip("ip6_udp_spm", udp6(built(spm(kSource6))));

    std::printf("make_corpus: wrote %d seeds to %s\n", c.count(), argv[1]);
    return 0;
}
