// FUZZ: seed-corpus generator for router_fuzz and receiver_fuzz. Owns the translation of
// captured PGM traffic into step sequences (step_format.h) and a few scripted scenarios that
// reach the repair paths whatever the captures hold.
//
//   make_step_corpus OUTDIR [CAPTURE.pcap...]
//       writes OUTDIR/corpus_router/<name>.bin and OUTDIR/corpus_receiver/<name>.bin
//
// A capture becomes a few windows of consecutive packets: one from its start and one around
// each of its first NAKs (at most kWindowsPerCapture), each preceded by the last SPM before it
// so that the session exists. Each packet becomes a templated step with the capture's type,
// sequence numbers (relative to the window's bases), options, time step and a truncated
// payload; TSIs become the template's TSI choices in order of appearance; addresses become
// the harness's: downstream packets come from S1 to G0 on the router's interface 1, NAKs from
// R3 to the router's interface-3 address (router) or from R4 to G0 (another receiver's NAK,
// receiver). The first packets of each window also go in raw, as captured.
#include <pcap/pcap.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dataplane/linklayer.h"
#include "protocol/ip.h"
#include "protocol/packet.h"
#include "tests/fuzz/step_format.h"

namespace {

using namespace pgm;
using namespace pgm::fuzz;

constexpr std::size_t kWindow = 60;            // packets per window
constexpr std::size_t kWindowsPerCapture = 4;  // per target
constexpr std::size_t kRawPerWindow = 4;       // packets also fed raw
constexpr std::size_t kPayloadBytes = 24;      // of each captured TSDU kept

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "make_step_corpus: %s\n", what.c_str());
    std::exit(1);
}

struct Captured {
    double at = 0;  // seconds
    IpInfo ip;
    std::vector<std::uint8_t> pgm;
    PacketView view;  // into pgm (kept stable: the vector is not touched after parsing)
};

std::vector<Captured> read_capture(const std::string& path) {
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path.c_str(), err);
    if (!p) die(path + ": " + err);
    const int dlt = pcap_datalink(p);
    std::vector<Captured> r;
    r.reserve(4096);
    pcap_pkthdr* h = nullptr;
    const std::uint8_t* frame = nullptr;
    static constexpr std::array<std::uint16_t, 1> kPorts{kDefaultUdpEncapsulationPort};
    while (pcap_next_ex(p, &h, &frame) == 1) {
        LinkResult link = extract_ip(dlt, Bytes(frame, h->caplen));
        if (!link) continue;
        LocatedPgm l = locate_pgm(link.ip, kPorts, LocateOptions{false});
        if (!l) continue;
        Captured c;
        c.at = static_cast<double>(h->ts.tv_sec) + static_cast<double>(h->ts.tv_usec) / 1e6;
        c.ip = l.ip;
        c.pgm.assign(l.pgm.begin(), l.pgm.end());
        r.push_back(std::move(c));
    }
    pcap_close(p);
    for (Captured& c : r) {
        ParseResult pr = parse(c.pgm, ParseOptions{false});
        if (pr)
            c.view = pr.view;
        else
            c.pgm.clear();  // unparseable: kept out of the templates
    }
    std::erase_if(r, [](const Captured& c) { return c.pgm.empty(); });
    return r;
}

enum class Target { Router, Receiver };

class StepSeed {
  public:
    StepSeed(std::uint8_t flags, Sqn data_base, Sqn spm_base)
        : data_base_(data_base), spm_base_(spm_base) {
        w_.u8(flags);
        w_.u32(data_base.value());
        w_.u32(spm_base.value());
    }
    void time(Duration dt) {
        w_.u8(kOpTime);
        write_dt(w_, dt);
    }
    void packet(Duration dt, std::uint8_t arrival, std::uint8_t src, std::uint8_t dst,
                const TemplateSpec& t) {
        w_.u8(kOpTemplate);
        write_dt(w_, dt);
        w_.u8(arrival);
        w_.u8(src);
        w_.u8(dst);
        t.write(w_, data_base_, spm_base_);
    }
    // A POLR answering the router's last DLR discovery POLL: its sequence is written as that
    // POLL's (router_fuzz reads POLR sequences relative to it), whatever `t.sqn` says.
    void polr_answer(Duration dt, std::uint8_t arrival, std::uint8_t src, std::uint8_t dst,
                     const TemplateSpec& t) {
        w_.u8(kOpTemplate);
        write_dt(w_, dt);
        w_.u8(arrival);
        w_.u8(src);
        w_.u8(dst);
        t.write(w_, data_base_, spm_base_, t.sqn);
    }
    void raw(Duration dt, std::uint8_t arrival, std::uint8_t src, std::uint8_t dst, Bytes pgm) {
        w_.u8(kOpRaw);
        write_dt(w_, dt);
        w_.u8(arrival);
        w_.u8(src);
        w_.u8(dst);
        w_.u16(static_cast<std::uint16_t>(pgm.size()));
        w_.bytes(pgm);
    }
    void op(std::uint8_t code, std::uint8_t arg) {  // router_fuzz ops 5-7
        w_.u8(code);
        w_.u8(arg);
    }
    const std::vector<std::uint8_t>& bytes() const { return w_.out; }

  private:
    StepWriter w_;
    Sqn data_base_, spm_base_;
};

void write_file(const std::filesystem::path& dir, const std::string& name,
                const std::vector<std::uint8_t>& bytes) {
    std::filesystem::create_directories(dir);
    std::ofstream out(dir / (name + ".bin"), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out) die(name + ": write failed");
}

// The template describing a captured packet. `tsis`: TSIs in order of appearance.
TemplateSpec to_template(const Captured& c, std::vector<Tsi>& tsis) {
    const PacketView& v = c.view;
    TemplateSpec t;
    t.kind = template_index(v.header.type);
    if (v.header.parity()) t.kind |= kTplParity;
    const Tsi tsi = v.header.tsi();
    std::size_t index = 0;
    while (index < tsis.size() && !(tsis[index] == tsi))
        ++index;
    if (index == tsis.size()) tsis.push_back(tsi);
    const std::uint8_t dport = v.header.data_destination_port() == 7500 ? 0 : 1;
    t.tsi = static_cast<std::uint8_t>((index & 3) | ((index >> 2) & 3) << 2 | dport << 4);
    if (auto* f = v.get<SpmFields>()) {
        t.sqn = f->sqn;
        t.trail = f->trail;
        t.lead = f->lead;
        t.nla1 = kNlaN1;
    } else if (auto* d = v.get<DataFields>()) {
        t.sqn = d->sqn;
        t.trail = d->trail;
    } else if (auto* n = v.get<NakFields>()) {
        t.sqn = n->sqn;
        t.nla1 = kNlaS1;
        t.nla2 = kNlaG0;
    } else if (auto* p = v.get<PollFields>()) {
        t.sqn = p->sqn;
        t.round = static_cast<std::uint8_t>(p->round);
        t.subtype = static_cast<std::uint8_t>(p->subtype);
        t.nla1 = kNlaN1;
        t.backoff =
            static_cast<std::uint8_t>(std::min<std::uint32_t>(p->backoff_ivl_us / 1000, 255));
        t.rand = static_cast<std::uint8_t>(p->rand);
        t.mask = static_cast<std::uint8_t>(p->mask);
    } else if (auto* r = v.get<PolrFields>()) {
        t.sqn = r->sqn;
        t.round = static_cast<std::uint8_t>(r->round);
        if (v.redirect()) {
            t.options |= kTplRedirect;
            t.nla1 = kNlaN1;  // a DLR on the upstream segment
        }
    } else if (auto* a = v.get<AckFields>()) {
        t.sqn = a->rx_max;
        t.rand = static_cast<std::uint8_t>(a->bitmap);
    }
    if (auto l = v.nak_list()) {
        t.options |= kTplNakList;
        for (std::size_t i = 0; i < l->size(); ++i)
            t.nak_list.push_back((*l)[i]);
    }
    if (auto f = v.fragment()) {
        t.options |= kTplFragment;
        t.frag_first = f->first_sqn;
        t.frag_offset = static_cast<std::uint16_t>(f->offset);
        t.frag_length = static_cast<std::uint16_t>(f->apdu_length);
    }
    if (v.fin()) t.options |= kTplFin;
    if (v.get<SpmFields>() && v.nbr_unreach()) t.options |= kTplJoinOrUnreach;
    if (auto j = v.join(); j && !v.get<SpmFields>() && !v.get<PolrFields>()) {
        t.options |= kTplJoinOrUnreach;
        t.join = j->min_sqn;
    }
    if (auto p = v.parity_prm()) {
        t.options |= kTplParityOpt;
        t.parity_size = static_cast<std::uint8_t>(p->tg_size);
    }
    if (auto r = v.rst()) {
        t.options |= kTplRst;
        t.rst = static_cast<std::uint8_t>((r->no_naks ? 0x80 : 0) | (r->error_code & 0x3F));
    }
    if (auto b = v.nak_bo_ivl()) {
        t.options |= kTplNakBoIvl;
        t.bo_ms =
            static_cast<std::uint16_t>(std::min<std::uint32_t>(b->interval_us / 1000, 0xFFFF));
        t.bo_sqn = b->poll_sqn;
    }
    Bytes payload = v.payload();
    const std::size_t n = std::min(payload.size(), kPayloadBytes);
    t.payload.assign(payload.begin(), payload.begin() + static_cast<std::ptrdiff_t>(n));
    return t;
}

struct Addressing {
    std::uint8_t arrival, src, dst;
};
Addressing addressing(const Captured& c, Target target) {
    std::uint8_t flags = 0;
    if (c.ip.encapsulation == Encapsulation::Udp) flags |= kArrivalUdp;
    if (c.ip.router_alert) flags |= kArrivalRouterAlert;
    if (!is_upstream(c.view.header.type)) return {flags, kNlaS1, kNlaG0};  // interface 1
    if (target == Target::Router) return {static_cast<std::uint8_t>(flags | 2), kNlaR3, kNlaIf3};
    return {flags, kNlaR4, kNlaG0};  // another receiver's NAK, multicast
}

// One window of `caps` from `first`, preceded by the last SPM before it (if any).
std::vector<std::uint8_t> window_seed(const std::vector<Captured>& caps, std::size_t first,
                                      Target target, std::uint8_t flags) {
    std::vector<std::size_t> picks;
    for (std::size_t i = first; i-- > 0;)
        if (caps[i].view.header.type == PacketType::Spm) {
            picks.push_back(i);
            break;
        }
    for (std::size_t i = first; i < caps.size() && i < first + kWindow; ++i)
        picks.push_back(i);
    // Bases: the first data sequence (minus a margin for NAKs of older ones), the first SPM's.
    Sqn data_base, spm_base;
    bool have_data = false, have_spm = false;
    for (std::size_t i : picks) {
        const PacketView& v = caps[i].view;
        if (auto* d = v.get<DataFields>(); d && !have_data) {
            data_base = d->sqn - 16;
            have_data = true;
        }
        if (auto* s = v.get<SpmFields>(); s && !have_spm) {
            spm_base = s->sqn - 1;
            have_spm = true;
            if (!have_data) {
                data_base = s->lead - 16;
                have_data = true;
            }
        }
    }
    StepSeed seed(flags, data_base, spm_base);
    std::vector<Tsi> tsis;
    double previous = caps[picks.front()].at;
    std::size_t raw = 0;
    for (std::size_t i : picks) {
        const Captured& c = caps[i];
        const auto dt = std::chrono::duration_cast<Duration>(
            std::chrono::duration<double>(std::max(0.0, c.at - previous)));
        previous = c.at;
        const Addressing a = addressing(c, target);
        if (raw < kRawPerWindow && i >= first) {
            seed.raw(Duration::zero(), a.arrival, a.src, a.dst, c.pgm);
            ++raw;
        }
        seed.packet(dt, a.arrival, a.src, a.dst, to_template(c, tsis));
    }
    seed.time(std::chrono::seconds(3));  // let the repair timers run
    return seed.bytes();
}

void from_capture(const std::filesystem::path& out, const std::string& path) {
    const std::vector<Captured> caps = read_capture(path);
    if (caps.empty()) die(path + ": no PGM packets");
    const std::string stem = std::filesystem::path(path).stem().string();
    std::vector<std::size_t> starts{0};
    for (std::size_t i = 0; i < caps.size() && starts.size() < kWindowsPerCapture; ++i) {
        if (caps[i].view.header.type != PacketType::Nak) continue;
        const std::size_t s = i > kWindow / 2 ? i - kWindow / 2 : 0;
        if (s >= starts.back() + kWindow) starts.push_back(s);
    }
    int n = 0;
    for (std::size_t s : starts) {
        // Router: the default caps (flags 0x28: 8 sessions, 64 repair states, hold on).
        write_file(out / "corpus_router", "cap_" + stem + "_" + std::to_string(n),
                   window_seed(caps, s, Target::Router, 0x28));
        // Receiver: any group (the capture's), a 64-sequence window, 8 KiB, 3 retries.
        write_file(out / "corpus_receiver", "cap_" + stem + "_" + std::to_string(n),
                   window_seed(caps, s, Target::Receiver, 0x01 | 0x08 | 0x10 | 0x40));
        ++n;
    }
    std::printf("%s: %zu PGM packets, %d windows\n", path.c_str(), caps.size(), n);
}

// --- Scripted scenarios ------------------------------------------------------------------

TemplateSpec tpl(PacketType type, Sqn sqn) {
    TemplateSpec t;
    t.kind = template_index(type);
    t.sqn = sqn;
    t.nla1 = is_upstream(type) || type == PacketType::Ncf ? kNlaS1 : kNlaN1;
    t.nla2 = kNlaG0;
    return t;
}
TemplateSpec spm(Sqn sqn, Sqn trail, Sqn lead) {
    TemplateSpec t = tpl(PacketType::Spm, sqn);
    t.trail = trail;
    t.lead = lead;
    return t;
}
TemplateSpec data(PacketType type, Sqn sqn, Sqn trail, std::uint8_t fill) {
    TemplateSpec t = tpl(type, sqn);
    t.trail = trail;
    t.payload.assign(16, fill);
    return t;
}

constexpr Addressing kDown{0, kNlaS1, kNlaG0};     // on interface 1
constexpr Addressing kNakOn3{2, kNlaR3, kNlaIf3};  // R3 to our if-3 address
constexpr Addressing kNakOn4{3, kNlaR4, kNlaIf4};  // R4 to our if-4 address

void scenarios(const std::filesystem::path& out) {
    const Sqn base(0xFFFFFFF0u);  // sequence numbers wrap inside the scenario
    const Sqn spm_base(100);
    auto add = [](StepSeed& s, Duration dt, Addressing a, const TemplateSpec& t) {
        s.packet(dt, a.arrival, a.src, a.dst, t);
    };
    using std::chrono::milliseconds;
    // Router: loss, NAK, NCF, RDATA, a late NAK answered from the hold, an NNAK, a POLL.
    for (std::uint8_t flags : {std::uint8_t{0x28}, std::uint8_t{0x29}, std::uint8_t{0x00}}) {
        StepSeed s(flags, base, spm_base);
        add(s, milliseconds(0), kDown, spm(spm_base + 1, base, base + 3));
        for (std::uint32_t i = 0; i < 4; ++i)
            add(s, milliseconds(10), kDown, data(PacketType::Odata, base + i, base, 0x40 + i));
        add(s, milliseconds(10), kDown, data(PacketType::Odata, base + 20, base, 0x60));
        add(s, milliseconds(1), kDown, spm(spm_base + 2, base, base + 20));
        TemplateSpec nak = tpl(PacketType::Nak, base + 4);
        nak.options = kTplNakList;
        for (std::uint32_t i = 5; i < 20; ++i)
            nak.nak_list.push_back(base + i);
        add(s, milliseconds(5), kNakOn3, nak);
        add(s, milliseconds(150), kNakOn3, tpl(PacketType::Nak, base + 4));
        add(s, milliseconds(1), kDown, tpl(PacketType::Ncf, base + 4));
        for (std::uint32_t i = 4; i < 20; ++i)
            add(s, milliseconds(2), kDown, data(PacketType::Rdata, base + i, base, 0x50));
        add(s, milliseconds(20), kNakOn4, tpl(PacketType::Nak, base + 4));  // from the hold
        add(s, milliseconds(1), Addressing{3, kNlaR4, kNlaIf2}, tpl(PacketType::Nak, base + 4));
        add(s, milliseconds(1), kNakOn4, tpl(PacketType::Nnak, base + 5));
        TemplateSpec poll = tpl(PacketType::Poll, spm_base + 3);
        poll.backoff = 50;
        add(s, milliseconds(1), kDown, poll);
        add(s, milliseconds(1), kNakOn3, tpl(PacketType::Spmr, base));
        s.time(std::chrono::seconds(2));
        s.op(5, 0x04);  // G0 leaves interface 1... and comes back
        s.op(5, 0x04);
        s.op(6, 3);  // interface 4 goes down
        write_file(out / "corpus_router", "scenario_repair_" + std::to_string(flags), s.bytes());
    }
    // Router: parity (OPT_PARITY_PRM with TGS 4, a parity NAK for 2 packets, parity RDATA).
    {
        StepSeed s(0x28, base, spm_base);
        TemplateSpec prm = spm(spm_base + 1, base, base + 7);
        prm.options = kTplParityOpt;
        prm.parity_size = 4;
        add(s, milliseconds(0), kDown, prm);
        TemplateSpec pnak = tpl(PacketType::Nak, base + 1);  // TG base, 2 packets
        pnak.kind |= kTplParity;
        add(s, milliseconds(5), kNakOn3, pnak);
        TemplateSpec pncf = tpl(PacketType::Ncf, base + 1);
        pncf.kind |= kTplParity;
        add(s, milliseconds(5), kDown, pncf);
        TemplateSpec prd = data(PacketType::Rdata, base, base, 0x70);
        prd.kind |= kTplParity;
        add(s, milliseconds(5), kDown, prd);
        add(s, milliseconds(5), kDown, prd);
        s.time(std::chrono::seconds(4));
        write_file(out / "corpus_router", "scenario_parity", s.bytes());
    }
    // Router as a DLR for G0 (flag 0x10; D29), cache bounds 8 packets / 2 KiB: a gap NAKed
    // upstream and repaired into the cache, a NAK answered from the cache (RDATA, NNAK) and
    // forwarded for the rest, the same NAK again (suppressed), an NCF that is not ours (a
    // redirecting POLR), a PGM_POLL_DLR from the parent (a POLR with OPT_REDIRECT), a NAK the
    // parent redirects to us, enough data to evict, an SPM trail, a jump, the role off and on.
    {
        StepSeed s(0x38, base, spm_base);
        auto big = [&](Sqn sqn, Sqn trail, std::uint8_t fill) {
            TemplateSpec d = data(PacketType::Odata, sqn, trail, fill);
            d.payload.assign(200, fill);
            return d;
        };
        add(s, milliseconds(0), kDown, spm(spm_base + 1, base, base + 1));
        for (std::uint32_t i = 0; i < 4; ++i)
            add(s, milliseconds(5), kDown, big(base + i, base, static_cast<std::uint8_t>(i)));
        add(s, milliseconds(5), kDown, big(base + 6, base, 6));  // gap: 4, 5
        add(s, milliseconds(5), kDown, data(PacketType::Rdata, base + 4, base, 4));
        TemplateSpec nak = tpl(PacketType::Nak, base + 1);
        nak.options = kTplNakList;
        nak.nak_list = {base + 2, base + 5};
        add(s, milliseconds(5), kNakOn3, nak);
        add(s, milliseconds(5), kNakOn3, nak);  // within NAK_ELIM_IVL: not sent again
        add(s, milliseconds(5), kDown, tpl(PacketType::Ncf, base + 3));  // not ours: POLR
        add(s, milliseconds(5), kDown, tpl(PacketType::Ncf, base + 2));  // no second one
        TemplateSpec poll = tpl(PacketType::Poll, spm_base + 5);
        poll.subtype = static_cast<std::uint8_t>(kPollDlr);
        poll.backoff = 20;
        add(s, milliseconds(5), kDown, poll);
        TemplateSpec parent = tpl(PacketType::Nak, base + 2);  // the parent's, to us
        parent.options = kTplNakList;
        parent.nak_list = {base + 5};
        add(s, milliseconds(50), Addressing{0, kNlaN1, kNlaIf1}, parent);
        for (std::uint32_t i = 7; i < 16; ++i)
            add(s, milliseconds(5), kDown, big(base + i, base, static_cast<std::uint8_t>(i)));
        add(s, milliseconds(5), kNakOn4, tpl(PacketType::Nak, base + 1));  // evicted
        add(s, milliseconds(5), kDown, spm(spm_base + 2, base + 12, base + 15));
        add(s, milliseconds(5), kDown, big(base + 100, base + 12, 0x64));  // a jump
        add(s, milliseconds(5), kDown, spm(spm_base + 3, base + 12, base + 100));
        s.op(7, 0x04);  // the DLR role off (the caches go) ...
        add(s, milliseconds(5), kDown, big(base + 101, base + 12, 0x65));
        s.op(7, 0x04);  // ... and on
        add(s, milliseconds(5), kDown, big(base + 102, base + 12, 0x66));
        s.time(std::chrono::seconds(3));
        write_file(out / "corpus_router", "scenario_dlr", s.bytes());
    }
    // Router redirecting NAKs to DLRs (flag 0x80: discovery; D28): a NAK starts a PGM_POLL_DLR
    // round, R4 answers as off-tree DLR; the next NAK goes to it, its NCF confirms, its NNAK
    // goes upstream, its unicast RDATA goes on as the source's; its own NAK makes another
    // sequence fall back upstream; then an upstream DLR announces itself, takes a NAK, does
    // not confirm it, and the NAK goes upstream after NAK_RPT_IVL.
    {
        StepSeed s(0xA8, base, spm_base);
        add(s, milliseconds(0), kDown, spm(spm_base + 1, base, base + 1));
        for (std::uint32_t i = 0; i < 4; ++i)
            add(s, milliseconds(5), kDown, data(PacketType::Odata, base + i, base, 0x40));
        add(s, milliseconds(5), kDown, data(PacketType::Odata, base + 8, base, 0x48));
        add(s, milliseconds(5), kNakOn3, tpl(PacketType::Nak, base + 4));  // POLL_DLR round
        TemplateSpec answer = tpl(PacketType::Polr, Sqn(0));
        answer.options = kTplRedirect;
        answer.nla1 = kNlaR4;
        s.polr_answer(milliseconds(20), kNakOn4.arrival, kNlaR4, kNlaIf4, answer);
        TemplateSpec nak = tpl(PacketType::Nak, base + 5);
        nak.options = kTplNakList;
        nak.nak_list = {base + 6};
        add(s, milliseconds(5), kNakOn3, nak);                              // to R4
        add(s, milliseconds(5), kNakOn4, tpl(PacketType::Ncf, base + 5));   // N-NCF-10
        add(s, milliseconds(1), kNakOn4, tpl(PacketType::Nnak, base + 5));  // N-NN-1
        add(s, milliseconds(1), kNakOn4, data(PacketType::Rdata, base + 5, base, 0x45));
        add(s, milliseconds(5), kNakOn4, tpl(PacketType::Nak, base + 6));  // R4 lacks it
        TemplateSpec upstream = tpl(PacketType::Polr, spm_base + 9);
        upstream.options = kTplRedirect;
        upstream.nla1 = kNlaS1;
        add(s, milliseconds(5), Addressing{kArrivalRouterAlert, kNlaS1, kNlaG0}, upstream);
        add(s, milliseconds(5), kDown, data(PacketType::Odata, base + 10, base, 0x4A));
        add(s, milliseconds(5), kNakOn3, tpl(PacketType::Nak, base + 9));  // to S1, unanswered
        s.time(std::chrono::seconds(2));
        add(s, milliseconds(5), kNakOn3, tpl(PacketType::Nak, base + 7));
        s.time(std::chrono::seconds(3));
        write_file(out / "corpus_router", "scenario_redirect", s.bytes());
    }
    // Receiver: a gap NAKed after the back-off, confirmed, repaired; a fragmented APDU; FIN.
    for (std::uint8_t flags : {std::uint8_t{0x58}, std::uint8_t{0x00}}) {
        StepSeed s(flags, base, spm_base);
        add(s, milliseconds(0), kDown, spm(spm_base + 1, base, base + 1));
        add(s, milliseconds(5), kDown, data(PacketType::Odata, base, base, 0x41));
        add(s, milliseconds(5), kDown, data(PacketType::Odata, base + 3, base, 0x44));
        s.time(milliseconds(60));  // back-off over: NAK for base+1, base+2
        add(s, milliseconds(5), kDown, tpl(PacketType::Ncf, base + 1));
        add(s, milliseconds(5), kDown, data(PacketType::Rdata, base + 1, base, 0x42));
        add(s, milliseconds(400), kDown, data(PacketType::Rdata, base + 2, base, 0x43));
        for (std::uint16_t i = 0; i < 3; ++i) {
            TemplateSpec f = data(PacketType::Odata, base + 4 + i, base, 0x50);
            f.options = kTplFragment;
            f.frag_first = base + 4;
            f.frag_offset = static_cast<std::uint16_t>(16 * i);
            f.frag_length = 48;
            add(s, milliseconds(5), kDown, f);
        }
        add(s, milliseconds(5), Addressing{0, kNlaR4, kNlaG0}, tpl(PacketType::Nak, base + 9));
        add(s, milliseconds(5), kDown, data(PacketType::Odata, base + 10, base + 2, 0x51));
        TemplateSpec fin = spm(spm_base + 2, base + 2, base + 10);
        fin.options = kTplFin;
        add(s, milliseconds(50), kDown, fin);
        s.time(std::chrono::seconds(4));
        write_file(out / "corpus_receiver", "scenario_repair_" + std::to_string(flags), s.bytes());
    }
    // Receiver: the bounds (600 bytes, 4 sequences): data held behind gaps, fragments that
    // cannot complete, a TSDU larger than the window, data far ahead.
    {
        StepSeed s(0x00, base, spm_base);
        add(s, milliseconds(0), kDown, spm(spm_base + 1, base, base + 1));
        add(s, milliseconds(1), kDown, data(PacketType::Odata, base, base, 0x41));
        for (std::uint32_t i = 2; i < 6; ++i) {
            TemplateSpec d = data(PacketType::Odata, base + i, base, 0x42);
            d.payload.assign(200, 0x42);
            add(s, milliseconds(1), kDown, d);
        }
        TemplateSpec big = data(PacketType::Rdata, base + 1, base, 0);
        big.payload.assign(1400, 0x5A);
        add(s, milliseconds(1), kDown, big);
        for (std::uint16_t i = 0; i < 2; ++i) {
            TemplateSpec f = data(PacketType::Odata, base + 7 + i, base, 0x50);
            f.options = kTplFragment;
            f.frag_first = base + 6;
            f.frag_offset = static_cast<std::uint16_t>(100 + 100 * i);
            f.frag_length = 400;
            f.payload.assign(100, 0x50);
            add(s, milliseconds(1), kDown, f);
        }
        add(s, milliseconds(1), kDown, data(PacketType::Odata, base + 100, base + 1, 0x51));
        s.time(std::chrono::seconds(1));
        write_file(out / "corpus_receiver", "scenario_bounds", s.bytes());
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: make_step_corpus OUTDIR [CAPTURE.pcap...]\n");
        return 2;
    }
    const std::filesystem::path out = argv[1];
    scenarios(out);
    for (int i = 2; i < argc; ++i)
        from_capture(out, argv[i]);
    return 0;
}
