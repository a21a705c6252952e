// FUZZ: libFuzzer target for the wire codec. Owns the invariants checked on arbitrary bytes:
// parse() (checksum verification on and off) never reads out of bounds and agrees with
// itself, every accessor of an accepted packet is safe, from_view + build round-trips to an
// equal spec, locate_pgm() on the bytes as an IP packet, the fast checksum equals the
// byte-at-a-time reference, and the incremental checksum update keeps a valid field valid.
// Any broken invariant calls __builtin_trap() so libFuzzer records the input.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <variant>
#include <vector>

#include "protocol/checksum.h"
#include "protocol/ip.h"
#include "protocol/packet.h"
#include "protocol/spec.h"

namespace {

// Everything read from an accepted packet is folded into this so nothing is optimised away.
volatile std::uint64_t g_sink = 0;

void sink(std::uint64_t v) {
    g_sink = g_sink + v;
}

void check(bool ok) {
    if (!ok) __builtin_trap();
}

void touch_nla(const pgm::Nla& n) {
    sink(n.afi() + n.address_size() + n.wire_size() + (n.is_multicast() ? 1u : 0u));
    sink(std::hash<pgm::Nla>{}(n));
    sink(n.to_string().size());
    if (n.is_ipv4()) sink(n.ipv4_host_order());
}

void touch_fields(const pgm::PacketView& v) {
    using namespace pgm;
    struct Visitor {
        const PacketView& v;
        void operator()(const SpmFields& f) const {
            sink(f.sqn.value() + f.trail.value() + f.lead.value() + f.path_offset);
            touch_nla(f.path);
            check(f.path_offset + f.path.wire_size() <= v.packet.size());
        }
        void operator()(const PollFields& f) const {
            sink(f.sqn.value() + f.round + f.subtype + f.backoff_ivl_us + f.rand + f.mask);
            touch_nla(f.path);
        }
        void operator()(const PolrFields& f) const { sink(f.sqn.value() + f.round); }
        void operator()(const DataFields& f) const { sink(f.sqn.value() + f.trail.value()); }
        void operator()(const NakFields& f) const {
            sink(f.sqn.value());
            touch_nla(f.source);
            touch_nla(f.group);
        }
        void operator()(const SpmrFields&) const {}
        void operator()(const AckFields& f) const { sink(f.rx_max.value() + f.bitmap); }
    };
    std::visit(Visitor{v}, v.fields);
}

// Walks the options and calls every typed accessor of an accepted packet.
void touch_options(const pgm::PacketView& v) {
    using namespace pgm;
    OptionIterator it = v.options();
    std::size_t count = 0;
    while (auto o = it.next()) {
        ++count;
        check(o->offset >= v.options_offset && o->offset + o->length <= v.payload_offset);
        check(o->value.size() + kOptionHeaderSize == o->length);
        sink(o->type + o->length + o->byte2 + o->byte3 + static_cast<unsigned>(o->opx()) +
             (o->encoded() ? 1u : 0u) + (o->encoded_null() ? 1u : 0u) + (o->known() ? 1u : 0u));
        for (std::uint8_t b : o->value)
            sink(b);
        if (o->type < v.known.at.size() && o->known()) {
            // The parser recorded where it found this option; the iterator agrees.
            check(v.known.at[o->type] == o->offset);
            check(v.has(static_cast<OptionType>(o->type)));
            auto found = v.find(static_cast<OptionType>(o->type));
            check(found && found->offset == o->offset && found->length == o->length);
        }
    }
    check(count == v.option_count);
    check(v.has_options() == (count != 0));

    if (auto f = v.fragment()) sink(f->first_sqn.value() + f->offset + f->apdu_length);
    if (auto l = v.nak_list()) {
        check(!l->empty() && l->size() <= kMaxNakList);
        for (std::size_t i = 0; i < l->size(); ++i)
            sink((*l)[i].value());
        sink(l->raw().size());
    }
    if (auto j = v.join()) sink(j->min_sqn.value());
    if (auto b = v.nak_bo_ivl()) sink(b->interval_us + b->poll_sqn.value());
    if (auto b = v.nak_bo_rng()) sink(b->max_us + b->min_us);
    if (auto r = v.redirect()) touch_nla(r->dlr);
    if (auto p = v.parity_prm()) sink(p->tg_size + (p->proactive ? 1u : 0u) + p->on_demand);
    if (auto g = v.parity_grp()) sink(g->group);
    if (auto t = v.curr_tgsize()) sink(t->size);
    sink(v.nbr_unreach());
    if (auto p = v.path_nla()) touch_nla(p->path);
    sink(v.syn());
    sink(v.fin());
    if (auto r = v.rst()) sink(r->error_code + (r->no_naks ? 1u : 0u));
    if (auto c = v.cr()) {
        sink(c->lead.value() + c->ne_wl + c->ne_wp + c->rx_wp + c->ne_worst_link +
             c->ne_worst_path + c->rx_worst_path);
        touch_nla(c->receiver);
    }
    if (auto c = v.crqst()) sink(c->ne_worst_link + c->ne_worst_path + c->rx_worst_path);
    for (std::uint8_t t = 0; t < 0x14; ++t) {
        auto type = static_cast<OptionType>(t);
        if (auto o = v.find(type)) sink(o->length);
        sink(v.has(type));
    }
}

void touch_view(const pgm::PacketView& v) {
    const pgm::Header& h = v.header;
    sink(h.source_port + h.destination_port + static_cast<unsigned>(h.type) + h.option_flags +
         h.checksum + h.tsdu_length + h.data_source_port() + h.data_destination_port() +
         h.parity() + h.var_pktlen());
    sink(std::hash<pgm::Tsi>{}(h.tsi()));
    sink(std::strlen(pgm::to_string(h.type)));
    check(v.options_offset <= v.payload_offset && v.payload_offset <= v.packet.size());
    touch_fields(v);
    touch_options(v);
    pgm::Bytes payload = v.payload();
    check(payload.size() == h.tsdu_length);
    for (std::uint8_t b : payload)
        sink(b);
}

// Parses with the checksum checked and not; checks the two agree; on success reads all of
// the view and round-trips it through PacketSpec. Returns whether the packet is accepted
// with verification off.
bool parse_all(pgm::Bytes data) {
    using namespace pgm;
    ParseResult checked = parse(data, ParseOptions{true});
    ParseResult unchecked = parse(data, ParseOptions{false});
    sink(std::strlen(to_string(checked.error)) + std::strlen(to_string(unchecked.error)));
    check(checked.error_offset <= data.size() && unchecked.error_offset <= data.size());
    if (checked) {
        // Verification only adds checks: an accepted packet is accepted without it, alike.
        check(static_cast<bool>(unchecked));
        check(checksum_field_valid(data));
        touch_view(checked.view);
    }
    if (!unchecked) {
        // Without verification the structure is at fault; with it, the same error or a
        // checksum one (which is checked before the structure).
        check(!checked);
        check(checked.error == unchecked.error || checked.error == ParseError::BadChecksum ||
              checked.error == ParseError::MissingChecksum);
        return false;
    }
    check(checked || checked.error == ParseError::BadChecksum ||
          checked.error == ParseError::MissingChecksum);
    touch_view(unchecked.view);

    PacketSpec spec = from_view(unchecked.view);
    if (checked) check(from_view(checked.view) == spec);
    auto rebuilt = build(spec);
    if (!rebuilt) return true;  // accepted packets can exceed 64 KiB; build() caps there
    ParseResult again = parse(*rebuilt, ParseOptions{true});
    check(static_cast<bool>(again));
    check(from_view(again.view) == spec);
    // A second round trip is byte-identical.
    auto twice = build(from_view(again.view));
    check(twice && *twice == *rebuilt);
    return true;
}

// Locates PGM in `ip` (UDP checksum checked and not) and parses what it finds.
void locate_all(pgm::Bytes ip) {
    using namespace pgm;
    static constexpr std::array<std::uint16_t, 1> kPorts{kDefaultUdpEncapsulationPort};
    for (bool verify_udp : {true, false}) {
        LocatedPgm located = locate_pgm(ip, kPorts, LocateOptions{verify_udp});
        sink(std::strlen(to_string(located.error)));
        if (!located) continue;
        check(located.pgm.data() >= ip.data() &&
              located.pgm.data() + located.pgm.size() <= ip.data() + ip.size());
        sink(located.ip.version + located.ip.ttl + located.ip.router_alert +
             located.ip.udp_source_port + located.ip.udp_destination_port);
        touch_nla(located.ip.source);
        touch_nla(located.ip.destination);
        parse_all(located.pgm);
    }
}

// Incremental update (RFC 1624) against a full recomputation: rewrite some bytes after
// the header of a copy whose checksum field is valid.
void check_incremental(pgm::Bytes data) {
    using namespace pgm;
    if (data.size() < kHeaderSize + 4) return;
    std::vector<std::uint8_t> pkt(data.begin(), data.end());
    write_checksum(pkt);
    check(checksum_field_valid(pkt));
    std::size_t offset = kOffsetGsi + data[0] % (data.size() - kOffsetGsi);
    std::size_t n = std::min<std::size_t>(data[1] % 9, pkt.size() - offset);
    std::array<std::uint8_t, 8> replacement{};
    for (std::size_t i = 0; i < n; ++i)
        replacement[i] = data[data.size() - 1 - i];
    rewrite_in_place(pkt, offset, Bytes(replacement.data(), n));
    check(std::memcmp(pkt.data() + offset, replacement.data(), n) == 0);
    check(checksum_field_valid(pkt));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace pgm;
    Bytes in(data, size);

    // (a) The input as a PGM packet; then with a correct checksum written in, which must
    // make verification change nothing.
    parse_all(in);
    if (size >= kHeaderSize) {
        std::vector<std::uint8_t> fixed(data, data + size);
        write_checksum(fixed);
        ParseResult checked = parse(fixed, ParseOptions{true});
        ParseResult unchecked = parse(fixed, ParseOptions{false});
        check(checked.error == unchecked.error && checked.error_offset == unchecked.error_offset);
        if (checked) check(from_view(checked.view) == from_view(unchecked.view));
        parse_all(fixed);
    }

    // (b) The input as an IP packet carrying PGM natively or in UDP on port 3055; then
    // again with its IPv4 header checksum made valid, so that mutations get past it.
    locate_all(in);
    if (size >= kIpv4HeaderSize && (data[0] >> 4) == 4) {
        std::size_t ihl = std::size_t{data[0] & 0x0Fu} * 4;
        if (ihl >= kIpv4HeaderSize && ihl <= size) {
            std::vector<std::uint8_t> ip(data, data + size);
            store16(ip.data() + 10, 0);
            store16(ip.data() + 10,
                    static_cast<std::uint16_t>(~ones_complement_sum(Bytes(ip.data(), ihl))));
            locate_all(ip);
        }
    }

    // (c) The fast checksum against the byte-at-a-time reference, at both parities of the
    // start address and with a non-zero initial value.
    check(ones_complement_sum(in) == ones_complement_sum_reference(in));
    if (size >= 2) {
        auto initial = static_cast<std::uint16_t>(load16(data));
        Bytes rest = in.subspan(1);
        check(ones_complement_sum(rest, initial) == ones_complement_sum_reference(rest, initial));
    }

    // (d) Incremental checksum update.
    check_incremental(in);
    return 0;
}
