// Helpers shared by the codec unit tests: default packet specs for every type, and an
// independent encoder of the expected wire bytes written from the checklist (§1), so that a
// round trip through a symmetric but wrong encoding is still caught.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "protocol/checksum.h"
#include "protocol/nla.h"
#include "protocol/packet.h"
#include "protocol/spec.h"
#include "protocol/wire.h"

namespace pgm::test {

using Buf = std::vector<std::uint8_t>;

template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

inline Buf be16(std::uint16_t v) {
    return {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}
inline Buf be32(std::uint32_t v) {
    return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
            static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}
inline Buf cat(std::initializer_list<Buf> parts) {
    Buf out;
    for (const Buf& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}
inline Buf slice(const Buf& b, std::size_t from, std::size_t n) {
    return Buf(b.begin() + static_cast<std::ptrdiff_t>(from),
               b.begin() + static_cast<std::ptrdiff_t>(from + n));
}

inline const std::array<PacketType, 10> kAllPacketTypes = {
    PacketType::Spm, PacketType::Poll, PacketType::Polr, PacketType::Odata, PacketType::Rdata,
    PacketType::Nak, PacketType::Nnak, PacketType::Ncf,  PacketType::Spmr,  PacketType::Ack};

inline std::string type_name(PacketType t) {
    switch (t) {
        case PacketType::Spm:
            return "Spm";
        case PacketType::Poll:
            return "Poll";
        case PacketType::Polr:
            return "Polr";
        case PacketType::Odata:
            return "Odata";
        case PacketType::Rdata:
            return "Rdata";
        case PacketType::Nak:
            return "Nak";
        case PacketType::Nnak:
            return "Nnak";
        case PacketType::Ncf:
            return "Ncf";
        case PacketType::Spmr:
            return "Spmr";
        case PacketType::Ack:
            return "Ack";
    }
    return "Unknown";
}

// Test addresses: documentation ranges, one unicast, one group, one path per family.
struct Addresses {
    Nla unicast;
    Nla group;
    Nla path;
};
inline std::array<std::uint8_t, 16> v6_bytes(std::uint16_t head, std::uint16_t tail) {
    std::array<std::uint8_t, 16> a{};
    a[0] = static_cast<std::uint8_t>(head >> 8);
    a[1] = static_cast<std::uint8_t>(head);
    a[2] = 0x0d;
    a[3] = 0xb8;
    a[14] = static_cast<std::uint8_t>(tail >> 8);
    a[15] = static_cast<std::uint8_t>(tail);
    return a;
}
inline Addresses addresses(Nla::Family family) {
    if (family == Nla::Family::Ipv6) {
        return {Nla::ipv6(v6_bytes(0x2001, 0x0001)), Nla::ipv6(v6_bytes(0xff0e, 0x1234)),
                Nla::ipv6(v6_bytes(0x2001, 0x00fe))};
    }
    return {Nla::ipv4(0xC0000201u), Nla::ipv4(0xEF010203u), Nla::ipv4(0xC00002FEu)};
}
inline std::string family_name(Nla::Family f) {
    return f == Nla::Family::Ipv6 ? "V6" : "V4";
}

// Type-specific fields with distinctive values (sequence numbers near the 2^32 wrap).
inline Fields default_fields(PacketType type, const Addresses& a) {
    switch (type) {
        case PacketType::Spm:
            return SpmFields{Sqn(0xFFFFFFF0u), Sqn(0xFFFFFF00u), Sqn(0x00000010u), a.path, 0};
        case PacketType::Poll:
            return PollFields{Sqn(0x01020304u), 3,           kPollDlr,   a.path,
                              250000,           0xA5A55A5Au, 0x0000000Fu};
        case PacketType::Polr:
            return PolrFields{Sqn(0x01020304u), 3};
        case PacketType::Odata:
        case PacketType::Rdata:
            return DataFields{Sqn(0x00000005u), Sqn(0xFFFFFFFEu)};
        case PacketType::Nak:
        case PacketType::Nnak:
        case PacketType::Ncf:
            return NakFields{Sqn(0x7FFFFFFFu), a.unicast, a.group};
        case PacketType::Spmr:
            return SpmrFields{};
        case PacketType::Ack:
            return AckFields{Sqn(0x80000001u), 0xDEADBEEFu};
    }
    return SpmrFields{};
}

inline Gsi test_gsi() {
    return Gsi{{0x11, 0x22, 0x33, 0x44, 0x55, 0x66}};
}

// A valid packet of `type` with no options; ODATA and RDATA carry a 5-byte payload.
inline PacketSpec make_spec(PacketType type, Nla::Family family = Nla::Family::Ipv4) {
    PacketSpec s;
    s.type = type;
    // Upstream packets swap the ports (§8.3): data-source port 7500 is always the TSI port.
    s.source_port = is_upstream(type) ? 7501 : 7500;
    s.destination_port = is_upstream(type) ? 7500 : 7501;
    s.gsi = test_gsi();
    s.fields = default_fields(type, addresses(family));
    if (type == PacketType::Odata || type == PacketType::Rdata)
        s.payload = {'h', 'e', 'l', 'l', 'o'};
    return s;
}

inline Buf must_build(const PacketSpec& spec, bool checksum = true) {
    auto built = build(spec, checksum);
    EXPECT_TRUE(built.has_value()) << "build failed for type " << type_name(spec.type);
    return built.value_or(Buf{});
}

// --- Independent encoder of the expected wire format (checklist §1.2-1.4). ---

inline Buf nla_wire(const Nla& n) {
    Buf b = cat({be16(n.is_ipv6() ? kAfiIpv6 : kAfiIpv4), be16(0)});
    b.insert(b.end(), n.address().begin(), n.address().end());
    return b;
}

inline Buf fixed_wire(const Fields& fields) {
    return std::visit(
        Overloaded{
            [](const SpmFields& f) {
                return cat({be32(f.sqn.value()), be32(f.trail.value()), be32(f.lead.value()),
                            nla_wire(f.path)});
            },
            [](const PollFields& f) {
                return cat({be32(f.sqn.value()), be16(f.round), be16(f.subtype), nla_wire(f.path),
                            be32(f.backoff_ivl_us), be32(f.rand), be32(f.mask)});
            },
            [](const PolrFields& f) {
                return cat({be32(f.sqn.value()), be16(f.round), be16(0)});
            },
            [](const DataFields& f) {
                return cat({be32(f.sqn.value()), be32(f.trail.value())});
            },
            [](const NakFields& f) {
                return cat({be32(f.sqn.value()), nla_wire(f.source), nla_wire(f.group)});
            },
            [](const SpmrFields&) { return Buf{}; },
            [](const AckFields& f) {
                return cat({be32(f.rx_max.value()), be32(f.bitmap)});
            },
        },
        fields);
}

inline Buf tlv(std::uint8_t type, std::uint8_t byte3, const Buf& value, std::uint8_t byte2 = 0) {
    return cat({Buf{type, static_cast<std::uint8_t>(4 + value.size()), byte2, byte3}, value});
}
inline std::uint8_t lpr(bool l, bool p, bool r) {
    return static_cast<std::uint8_t>((l ? 0x04 : 0) | (p ? 0x02 : 0) | (r ? 0x01 : 0));
}

// One option as it should appear on the wire, E bit clear.
inline Buf option_wire(const OptionSpec& option) {
    return std::visit(
        Overloaded{
            [](const OptFragment& o) {
                return tlv(0x01, 0,
                           cat({be32(o.first_sqn.value()), be32(o.offset), be32(o.apdu_length)}));
            },
            [](const OptNakList& o) {
                Buf v;
                for (Sqn s : o.sqns)
                    v = cat({v, be32(s.value())});
                return tlv(0x02, 0, v);
            },
            [](const OptJoin& o) { return tlv(0x03, 0, be32(o.min_sqn.value())); },
            [](const OptNakBoIvl& o) {
                return tlv(0x04, 0, cat({be32(o.interval_us), be32(o.poll_sqn.value())}));
            },
            [](const OptNakBoRng& o) {
                return tlv(0x05, 0, cat({be32(o.max_us), be32(o.min_us)}));
            },
            [](const OptRedirect& o) { return tlv(0x07, 0, nla_wire(o.dlr)); },
            [](const OptParityPrm& o) {
                return tlv(
                    0x08,
                    static_cast<std::uint8_t>((o.proactive ? 0x02 : 0) | (o.on_demand ? 0x01 : 0)),
                    be32(o.tg_size));
            },
            [](const OptParityGrp& o) { return tlv(0x09, 0, be32(o.group)); },
            [](const OptCurrTgsize& o) { return tlv(0x0A, 0, be32(o.size)); },
            [](const OptNbrUnreach&) { return tlv(0x0B, 0, {}); },
            [](const OptPathNla& o) {
                return tlv(0x0C, 0, Buf(o.path.address().begin(), o.path.address().end()));
            },
            [](const OptSyn&) { return tlv(0x0D, 0, {}); },
            [](const OptFin&) { return tlv(0x0E, 0, {}); },
            [](const OptRst& o) {
                return tlv(0x0F, static_cast<std::uint8_t>((o.no_naks ? 0x40 : 0) | o.error_code),
                           {});
            },
            [](const OptCr& o) {
                return tlv(0x10, lpr(o.ne_worst_link, o.ne_worst_path, o.rx_worst_path),
                           cat({be32(o.lead.value()), be16(o.ne_wl), be16(o.ne_wp), be16(o.rx_wp),
                                be16(0), nla_wire(o.receiver)}));
            },
            [](const OptCrqst& o) {
                return tlv(0x11, lpr(o.ne_worst_link, o.ne_worst_path, o.rx_worst_path), {});
            },
            [](const OptRaw& o) { return tlv(o.type, o.byte3, o.value, o.byte2); },
        },
        option);
}

// Network-significant per the checklist §1.4 table (raw options never are).
inline bool expected_network_significant(const OptionSpec& option, PacketType packet) {
    if (std::holds_alternative<OptRaw>(option)) return false;
    switch (option_wire(option)[0]) {
        case 0x02:
        case 0x04:
        case 0x05:
        case 0x07:
        case 0x08:
        case 0x0B:
        case 0x0C:
        case 0x10:
        case 0x11:
            return true;
        case 0x0A:
            return packet != PacketType::Odata;
        default:
            return false;
    }
}

// Everything after the 16-byte common header: fields, OPT_LENGTH, options (E on the last),
// payload.
inline Buf expected_body(const PacketSpec& spec) {
    Buf body = fixed_wire(spec.fields);
    if (!spec.options.empty()) {
        Buf opts;
        for (const OptionSpec& o : spec.options)
            opts = cat({opts, option_wire(o)});
        opts[opts.size() - option_wire(spec.options.back()).size()] |= kOptEnd;
        body =
            cat({body, Buf{0x00, 0x04}, be16(static_cast<std::uint16_t>(4 + opts.size())), opts});
    }
    return cat({body, spec.payload});
}

inline std::uint8_t expected_option_flags(const PacketSpec& spec) {
    std::uint8_t flags = spec.extra_flags;
    if (!spec.options.empty()) flags |= kOptPresent;
    for (const OptionSpec& o : spec.options) {
        if (expected_network_significant(o, spec.type)) flags |= kOptNetwork;
    }
    return flags;
}

// Field by field first, so that a failure names what differs.
inline void expect_same_spec(const PacketSpec& got, const PacketSpec& want) {
    EXPECT_EQ(got.type, want.type);
    EXPECT_EQ(got.source_port, want.source_port);
    EXPECT_EQ(got.destination_port, want.destination_port);
    EXPECT_EQ(got.gsi, want.gsi);
    EXPECT_EQ(got.extra_flags, want.extra_flags);
    EXPECT_EQ(got.fields, want.fields);
    EXPECT_EQ(got.payload, want.payload);
    ASSERT_EQ(got.options.size(), want.options.size());
    for (std::size_t i = 0; i < want.options.size(); ++i) {
        EXPECT_EQ(got.options[i], want.options[i])
            << "option " << i << " of type " << int(option_wire(want.options[i])[0]);
    }
    EXPECT_EQ(got, want);
}

}  // namespace pgm::test
