// FUZZ: the byte format of the step-sequence fuzz inputs (router_fuzz, receiver_fuzz) and of
// the seeds make_step_corpus writes from captures. Owns the reader and writer of that format
// and the "templated packet": a PGM packet described by a few choice bytes (type, TSI, sequence
// numbers relative to a per-input base, addresses picked from a small table, options, payload)
// that the harness builds with a valid checksum, so that mutations reach the cores' state
// machines instead of dying in the parser. Header-only; both ends use the same code, so the
// seeds decode exactly as they were written.
//
// Input (both targets): header = u8 flags (configuration choices), u32 data base, u32 SPM base;
// then steps until the bytes run out. A reader past the end yields zeros, so every input
// decodes. Step layouts are in each target.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "protocol/checksum.h"
#include "protocol/io.h"
#include "protocol/packet.h"
#include "protocol/writer.h"

namespace pgm::fuzz {

using namespace std::chrono_literals;

class StepReader {
  public:
    StepReader(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
    bool empty() const { return n_ == 0; }
    std::uint8_t u8() {
        if (n_ == 0) return 0;
        --n_;
        return *p_++;
    }
    std::uint16_t u16() { return static_cast<std::uint16_t>(u8() << 8 | u8()); }
    std::uint32_t u32() { return std::uint32_t{u16()} << 16 | u16(); }
    // `n` bytes (fewer when the input ends).
    Bytes take(std::size_t n) {
        n = std::min(n, n_);
        Bytes b(p_, n);
        p_ += n;
        n_ -= n;
        return b;
    }

  private:
    const std::uint8_t* p_;
    std::size_t n_;
};

class StepWriter {
  public:
    void u8(std::uint8_t v) { out.push_back(v); }
    void u16(std::uint16_t v) {
        u8(static_cast<std::uint8_t>(v >> 8));
        u8(static_cast<std::uint8_t>(v));
    }
    void u32(std::uint32_t v) {
        u16(static_cast<std::uint16_t>(v >> 16));
        u16(static_cast<std::uint16_t>(v));
    }
    void bytes(Bytes b) { out.insert(out.end(), b.begin(), b.end()); }
    std::vector<std::uint8_t> out;
};

// --- Time steps: one byte, finer near zero -----------------------------------------------
//   0 none; 1..127 n x 100 us; 128..223 (n - 127) x 10 ms; 224..254 (n - 223) s;
//   255: u16 seconds follow (session lifetimes, expiry).
inline Duration read_dt(StepReader& r) {
    const std::uint8_t b = r.u8();
    if (b == 0) return Duration::zero();
    if (b < 128) return std::chrono::microseconds(100 * b);
    if (b < 224) return std::chrono::milliseconds(10 * (b - 127));
    if (b < 255) return std::chrono::seconds(b - 223);
    return std::chrono::seconds(r.u16());
}
// The nearest encodable step not longer than `d`.
inline void write_dt(StepWriter& w, Duration d) {
    using std::chrono::duration_cast;
    const auto us = duration_cast<std::chrono::microseconds>(d).count();
    if (us < 100) return w.u8(0);
    if (us < 12'800) return w.u8(static_cast<std::uint8_t>(us / 100));
    if (us < 970'000) return w.u8(static_cast<std::uint8_t>(127 + us / 10'000));
    if (us < 32'000'000) return w.u8(static_cast<std::uint8_t>(223 + us / 1'000'000));
    w.u8(255);
    w.u16(static_cast<std::uint16_t>(std::min<long long>(us / 1'000'000, 0xFFFF)));
}

// --- Sequence numbers relative to a base ---------------------------------------------------
//   0x00..0xBF base + n; 0xC0..0xEF base - (n - 0xBF); 0xF0..0xFF: u32 absolute follows.
inline Sqn read_sqn(StepReader& r, Sqn base) {
    const std::uint8_t b = r.u8();
    if (b < 0xC0) return base + b;
    if (b < 0xF0) return base - static_cast<std::uint32_t>(b - 0xBF);
    return Sqn(r.u32());
}
inline void write_sqn(StepWriter& w, Sqn base, Sqn s) {
    const std::uint32_t ahead = s.value() - base.value();
    const std::uint32_t behind = base.value() - s.value();
    if (ahead < 0xC0) return w.u8(static_cast<std::uint8_t>(ahead));
    if (behind >= 1 && behind <= 0x30) return w.u8(static_cast<std::uint8_t>(0xBF + behind));
    w.u8(0xFF);
    w.u32(s.value());
}

// --- Addresses ------------------------------------------------------------------------------

inline Nla fuzz_v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return Nla::ipv4(std::array<std::uint8_t, 4>{a, b, c, d});
}
// 2001:db8:<net>::<host>, or ff3e::<host> when `multicast`.
inline Nla fuzz_v6(std::uint8_t net, std::uint8_t host, bool multicast = false) {
    std::array<std::uint8_t, 16> b{};
    if (multicast) {
        b[0] = 0xff;
        b[1] = 0x3e;
    } else {
        b[0] = 0x20;
        b[1] = 0x01;
        b[2] = 0x0d;
        b[3] = 0xb8;
        b[5] = net;
    }
    b[15] = host;
    return Nla::ipv6(b);
}

// The addresses packets (NLAs) and arrivals (IP source, destination) choose from, by a byte
// & 15. In router_fuzz interface i (1..4) has 10.0.i.254 and, for i <= 3, 2001:db8:i::fe, and
// 10.0.i.x / 2001:db8:i::x are routed out of interface i. receiver_fuzz is R3 in group G0.
inline const std::array<Nla, 16> kFuzzNlas{
    fuzz_v4(10, 0, 1, 1),    // 0  S1: the source behind interface 1
    fuzz_v4(10, 0, 2, 1),    // 1  S2: a source behind interface 2
    fuzz_v4(239, 1, 1, 1),   // 2  G0
    fuzz_v4(239, 2, 2, 2),   // 3  G1
    fuzz_v4(10, 0, 1, 253),  // 4  N1: the upstream PGM neighbour on interface 1
    fuzz_v4(10, 0, 3, 2),    // 5  R3: a receiver on interface 3
    fuzz_v4(10, 0, 4, 2),    // 6  R4: a receiver on interface 4
    fuzz_v4(10, 0, 1, 254),  // 7  the router's address on interface 1
    fuzz_v4(10, 0, 3, 254),  // 8  the router's address on interface 3
    fuzz_v6(1, 1),           // 9  S1 over IPv6
    fuzz_v6(0, 1, true),     // 10 G0 over IPv6 (ff3e::1)
    fuzz_v6(1, 0xfe),        // 11 the router's IPv6 address on interface 1
    fuzz_v4(192, 0, 2, 1),   // 12 unreachable
    fuzz_v4(10, 0, 4, 254),  // 13 the router's address on interface 4
    fuzz_v4(10, 0, 2, 254),  // 14 the router's address on interface 2
    fuzz_v6(3, 2),           // 15 R3 over IPv6
};
enum FuzzNla : std::uint8_t {
    kNlaS1 = 0,
    kNlaS2 = 1,
    kNlaG0 = 2,
    kNlaG1 = 3,
    kNlaN1 = 4,
    kNlaR3 = 5,
    kNlaR4 = 6,
    kNlaIf1 = 7,
    kNlaIf3 = 8,
    kNlaIf2 = 14,
    kNlaIf4 = 13,
};

// Packet steps, the same in both targets: op (step kind), dt, arrival, IP source, IP
// destination, then the body. Arrival byte: bits 0-2 interface (router_fuzz), bits 3-4 TTL
// (64, 1, 2, 255), bit 5 Router Alert, bit 6 UDP encapsulation on port 3055.
enum StepOp : std::uint8_t {
    kOpTemplate = 0,  // 0-2: a TemplateSpec follows
    kOpRaw = 3,       // u16 length, then the PGM bytes
    kOpTime = 4,      // dt only
};
enum ArrivalBits : std::uint8_t {
    kArrivalTtl1 = 0x08,
    kArrivalRouterAlert = 0x20,
    kArrivalUdp = 0x40,
};

// --- Templated packets ---------------------------------------------------------------------

// The types a template can be, indexed by the low 4 bits of the kind byte (mod 10).
inline constexpr std::array<PacketType, 10> kTemplateTypes{
    PacketType::Spm, PacketType::Odata, PacketType::Rdata, PacketType::Nak,  PacketType::Nnak,
    PacketType::Ncf, PacketType::Poll,  PacketType::Polr,  PacketType::Spmr, PacketType::Ack};
inline std::uint8_t template_index(PacketType t) {
    for (std::size_t i = 0; i < kTemplateTypes.size(); ++i)
        if (kTemplateTypes[i] == t) return static_cast<std::uint8_t>(i);
    return 0;
}

inline constexpr std::array<Gsi, 4> kGsis{
    Gsi{{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}}, Gsi{{0x02, 0x42, 0xac, 0x11, 0x00, 0x03}},
    Gsi{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, Gsi{{0, 0, 0, 0, 0, 0}}};
inline constexpr std::array<std::uint16_t, 4> kSourcePorts{1000, 1001, 12969, 0xFFFF};
inline constexpr std::array<std::uint16_t, 4> kDestPorts{7500, 7501, 3055, 0};

// Kind byte: bits 0-3 type, bit 4 leave the checksum 0 ("none"; invalid on data), bit 5 patch
// one byte after building (offset, value follow; the checksum is written after the patch
// unless bit 4), bit 6 OPT_PARITY flag, bit 7 ports in the other orientation.
enum TemplateKind : std::uint8_t {
    kTplNoChecksum = 0x10,
    kTplPatch = 0x20,
    kTplParity = 0x40,
    kTplSwapPorts = 0x80,
};
// Options byte.
enum TemplateOptions : std::uint8_t {
    kTplNakList = 0x01,   // count byte (1..62), then the sequence numbers
    kTplFragment = 0x02,  // first sqn, u16 offset, u16 APDU length
    kTplFin = 0x04,
    kTplJoinOrUnreach = 0x08,  // data: OPT_JOIN (sqn); SPM: OPT_NBR_UNREACH; POLR: below
    kTplRedirect = 0x08,       // POLR: OPT_REDIRECT (u8: the DLR's NLA, from the table)
    kTplParityOpt = 0x10,      // SPM: OPT_PARITY_PRM (u8 TGS); data: OPT_CURR_TGSIZE (u8)
    kTplUnknown = 0x20,        // an unknown option: type byte, then F (0x80), NETWORK (0x40), OPX
    kTplRst = 0x40,            // OPT_RST (u8: N bit, error code)
    kTplNakBoIvl = 0x80,       // OPT_NAK_BO_IVL (u16 ms, sqn)
};

struct TemplateSpec {
    std::uint8_t kind = 0;
    std::uint8_t tsi = 0;             // gsi (bits 0-1), source port (2-3), destination port (4-5)
    Sqn sqn, trail, lead;             // as the type uses them
    std::uint8_t nla1 = 0, nla2 = 0;  // SPM/POLL path; NAK source, group; POLR: OPT_REDIRECT
    std::uint8_t round = 0, subtype = 0, backoff = 0, rand = 0, mask = 0;  // POLL, POLR
    std::uint8_t options = 0;
    std::vector<Sqn> nak_list;
    Sqn frag_first;
    std::uint16_t frag_offset = 0, frag_length = 0;
    Sqn join;
    std::uint8_t parity_size = 0;
    std::uint8_t unknown_type = 0, unknown_opx = 0;
    std::uint8_t rst = 0;
    std::uint16_t bo_ms = 0;
    Sqn bo_sqn;
    std::uint8_t patch_offset = 0, patch_value = 0;
    std::vector<std::uint8_t> payload;

    PacketType type() const { return kTemplateTypes[(kind & 0x0F) % kTemplateTypes.size()]; }

    // `data_base` for data sequence numbers, `spm_base` for the SPM/POLL sequence,
    // `polr_base` for a POLR's sequence (router_fuzz: the POLL_SQN of the router's last DLR
    // discovery POLL, so that an answer to it costs one byte; else `spm_base`).
    void read(StepReader& r, Sqn data_base, Sqn spm_base, std::optional<Sqn> polr_base = {}) {
        kind = r.u8();
        tsi = r.u8();
        switch (type()) {
            case PacketType::Spm:
                sqn = read_sqn(r, spm_base);
                trail = read_sqn(r, data_base);
                lead = read_sqn(r, data_base);
                nla1 = r.u8();
                break;
            case PacketType::Odata:
            case PacketType::Rdata:
                sqn = read_sqn(r, data_base);
                trail = read_sqn(r, data_base);
                break;
            case PacketType::Nak:
            case PacketType::Nnak:
            case PacketType::Ncf:
                sqn = read_sqn(r, data_base);
                nla1 = r.u8();
                nla2 = r.u8();
                break;
            case PacketType::Poll:
                sqn = read_sqn(r, spm_base);
                round = r.u8();
                subtype = r.u8();
                nla1 = r.u8();
                backoff = r.u8();
                rand = r.u8();
                mask = r.u8();
                break;
            case PacketType::Polr:
                sqn = read_sqn(r, polr_base.value_or(spm_base));
                round = r.u8();
                break;
            case PacketType::Ack:
                sqn = read_sqn(r, data_base);
                rand = r.u8();
                break;
            case PacketType::Spmr:
                break;
        }
        options = r.u8();
        if (options & kTplNakList) {
            const std::size_t n = 1 + r.u8() % kMaxNakList;
            nak_list.clear();
            for (std::size_t i = 0; i < n; ++i)
                nak_list.push_back(read_sqn(r, data_base));
        }
        if (options & kTplFragment) {
            frag_first = read_sqn(r, data_base);
            frag_offset = r.u16();
            frag_length = r.u16();
        }
        if (options & kTplJoinOrUnreach) {
            if (type() == PacketType::Polr)
                nla1 = r.u8();
            else
                join = read_sqn(r, data_base);
        }
        if (options & kTplParityOpt) parity_size = r.u8();
        if (options & kTplUnknown) {
            unknown_type = r.u8();
            unknown_opx = r.u8();
        }
        if (options & kTplRst) rst = r.u8();
        if (options & kTplNakBoIvl) {
            bo_ms = r.u16();
            bo_sqn = read_sqn(r, spm_base);
        }
        if (kind & kTplPatch) {
            patch_offset = r.u8();
            patch_value = r.u8();
        }
        payload.clear();
        if (type() == PacketType::Odata || type() == PacketType::Rdata) {
            const std::uint8_t n = r.u8();
            if (n == 0xFF) {  // a large TSDU without spending input bytes on it
                payload.assign(1400, 0x5A);
            } else {
                Bytes b = r.take(n);
                payload.assign(b.begin(), b.end());
            }
        }
    }

    void write(StepWriter& w, Sqn data_base, Sqn spm_base,
               std::optional<Sqn> polr_base = {}) const {
        w.u8(kind);
        w.u8(tsi);
        switch (type()) {
            case PacketType::Spm:
                write_sqn(w, spm_base, sqn);
                write_sqn(w, data_base, trail);
                write_sqn(w, data_base, lead);
                w.u8(nla1);
                break;
            case PacketType::Odata:
            case PacketType::Rdata:
                write_sqn(w, data_base, sqn);
                write_sqn(w, data_base, trail);
                break;
            case PacketType::Nak:
            case PacketType::Nnak:
            case PacketType::Ncf:
                write_sqn(w, data_base, sqn);
                w.u8(nla1);
                w.u8(nla2);
                break;
            case PacketType::Poll:
                write_sqn(w, spm_base, sqn);
                w.u8(round);
                w.u8(subtype);
                w.u8(nla1);
                w.u8(backoff);
                w.u8(rand);
                w.u8(mask);
                break;
            case PacketType::Polr:
                write_sqn(w, polr_base.value_or(spm_base), sqn);
                w.u8(round);
                break;
            case PacketType::Ack:
                write_sqn(w, data_base, sqn);
                w.u8(rand);
                break;
            case PacketType::Spmr:
                break;
        }
        w.u8(options);
        if (options & kTplNakList) {
            w.u8(static_cast<std::uint8_t>(nak_list.size() - 1));
            for (Sqn s : nak_list)
                write_sqn(w, data_base, s);
        }
        if (options & kTplFragment) {
            write_sqn(w, data_base, frag_first);
            w.u16(frag_offset);
            w.u16(frag_length);
        }
        if (options & kTplJoinOrUnreach) {
            if (type() == PacketType::Polr)
                w.u8(nla1);
            else
                write_sqn(w, data_base, join);
        }
        if (options & kTplParityOpt) w.u8(parity_size);
        if (options & kTplUnknown) {
            w.u8(unknown_type);
            w.u8(unknown_opx);
        }
        if (options & kTplRst) w.u8(rst);
        if (options & kTplNakBoIvl) {
            w.u16(bo_ms);
            write_sqn(w, spm_base, bo_sqn);
        }
        if (kind & kTplPatch) {
            w.u8(patch_offset);
            w.u8(patch_value);
        }
        if (type() == PacketType::Odata || type() == PacketType::Rdata) {
            if (payload.size() > 0xFE) return w.u8(0xFF);  // read back as 1400 bytes of 0x5A
            w.u8(static_cast<std::uint8_t>(payload.size()));
            w.bytes(payload);
        }
    }

    // Builds the packet; `nlas` is the target's address table (indexed by choice & 15).
    std::vector<std::uint8_t> build(const std::array<Nla, 16>& nlas) const {
        std::vector<std::uint8_t> buf(2048 + payload.size());
        PacketWriter pw(buf);
        const PacketType t = type();
        const std::uint16_t sport = kSourcePorts[(tsi >> 2) & 3];
        const std::uint16_t dport = kDestPorts[(tsi >> 4) & 3];
        const bool up = is_upstream(t) != ((kind & kTplSwapPorts) != 0);
        pw.begin(t, up ? dport : sport, up ? sport : dport, kGsis[tsi & 3]);
        if (kind & kTplParity) pw.flags(kOptParity);
        const Nla& a = nlas[nla1 & 15];
        const Nla& b = nlas[nla2 & 15];
        switch (t) {
            case PacketType::Spm:
                pw.spm(SpmFields{sqn, trail, lead, a, 0});
                break;
            case PacketType::Odata:
            case PacketType::Rdata:
                pw.data(DataFields{sqn, trail});
                break;
            case PacketType::Nak:
            case PacketType::Nnak:
            case PacketType::Ncf:
                pw.nak(NakFields{sqn, a, b});
                break;
            case PacketType::Poll:
                pw.poll(PollFields{sqn, round, static_cast<std::uint16_t>(subtype & 3), a,
                                   std::uint32_t{backoff} * 1000u, rand, mask});
                break;
            case PacketType::Polr:
                pw.polr(PolrFields{sqn, round});
                break;
            case PacketType::Ack:
                pw.ack(AckFields{sqn, rand});
                break;
            case PacketType::Spmr:
                break;
        }
        if (options & kTplFragment) pw.fragment(OptFragment{frag_first, frag_offset, frag_length});
        if (options & kTplNakList) pw.nak_list(std::span<const Sqn>(nak_list));
        if (options & kTplJoinOrUnreach) {
            if (t == PacketType::Spm)
                pw.nbr_unreach();
            else if (t == PacketType::Polr)
                pw.redirect(OptRedirect{a});  // a redirecting POLR (§9.5.2)
            else
                pw.join(OptJoin{join});
        }
        if (options & kTplParityOpt) {
            if (t == PacketType::Spm)
                pw.parity_prm(OptParityPrm{false, true, parity_size});
            else
                pw.curr_tgsize(OptCurrTgsize{parity_size});
        }
        if (options & kTplNakBoIvl)
            pw.nak_bo_ivl(OptNakBoIvl{std::uint32_t{bo_ms} * 1000u, bo_sqn});
        if (options & kTplRst)
            pw.rst(OptRst{(rst & 0x80) != 0, static_cast<std::uint8_t>(rst & 0x3F)});
        if (options & kTplFin) pw.fin();
        if (options & kTplUnknown) {
            static constexpr std::uint8_t kValue[4] = {1, 2, 3, 4};
            // Types 0x12.. are unknown; byte2 carries F (0x80) and OPX (low 2 bits).
            pw.raw_option(static_cast<std::uint8_t>(0x12 + unknown_type % 0x6D),
                          static_cast<std::uint8_t>(unknown_opx & 0x83), 0, Bytes(kValue, 4),
                          (unknown_opx & 0x40) != 0);
        }
        pw.payload(payload);
        auto size = pw.finish(!(kind & kTplNoChecksum));
        if (!size) return {};
        buf.resize(*size);
        if ((kind & kTplPatch) && !buf.empty()) {
            buf[patch_offset % buf.size()] = patch_value;
            if (!(kind & kTplNoChecksum)) write_checksum(buf);
        }
        return buf;
    }
};

}  // namespace pgm::fuzz
