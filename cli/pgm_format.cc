// DOC: Frame decoding and the JSON / text descriptions of PGM packets (see pgm_format.h).
#include "cli/pgm_format.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "protocol/checksum.h"

namespace pgm::cli {

namespace {

const char* type_name(std::uint8_t code) {
    return is_known_packet_type(code) ? to_string(static_cast<PacketType>(code)) : "unknown";
}

const char* option_type_name(std::uint8_t code) {
    const char* name = option_name(code);
    return name != nullptr ? name : "unknown";
}

// type, type_code, sport, dport, gsi, tsi: what identifies a packet and its session.
void add_identity(Json& j, std::uint8_t type_code, std::uint16_t sport, std::uint16_t dport,
                  const Gsi& gsi) {
    j["type"] = type_name(type_code);
    j["type_code"] = type_code;
    j["sport"] = sport;
    j["dport"] = dport;
    j["gsi"] = hex(gsi.bytes);
    const bool upstream =
        is_known_packet_type(type_code) && is_upstream(static_cast<PacketType>(type_code));
    j["tsi"] = hex(gsi.bytes) + "." + std::to_string(upstream ? dport : sport);
}

Json option_flag_names(std::uint8_t flags) {
    static constexpr std::pair<std::uint8_t, const char*> kNames[] = {
        {kOptPresent, "present"},
        {kOptNetwork, "network"},
        {kOptVarPktlen, "var_pktlen"},
        {kOptParity, "parity"},
    };
    Json names = Json::array();
    for (const auto& [bit, name] : kNames) {
        if ((flags & bit) != 0) names.push_back(name);
    }
    const std::uint8_t unknown = flags & static_cast<std::uint8_t>(~kOptFlagsKnown);
    if (unknown != 0) names.push_back("0x" + hex(Bytes(&unknown, 1)));
    return names;
}

// Writes one option's keys. With a view (a parsed packet) the option header is described
// too; without (a spec) only what the builder chose.
class OptionWriter {
  public:
    OptionWriter(Json& out, const OptionView* view) : out_(out), view_(view) {}

    void operator()(const OptFragment& o) {
        head(OptionType::Fragment);
        out_["first_sqn"] = o.first_sqn.value();
        out_["offset"] = o.offset;
        out_["apdu_length"] = o.apdu_length;
    }
    void operator()(const OptNakList& o) {
        head(OptionType::NakList);
        Json sqns = Json::array();
        for (Sqn s : o.sqns)
            sqns.push_back(s.value());
        out_["sqns"] = std::move(sqns);
    }
    void operator()(const OptJoin& o) {
        head(OptionType::Join);
        out_["min_sqn"] = o.min_sqn.value();
    }
    void operator()(const OptNakBoIvl& o) {
        head(OptionType::NakBoIvl);
        out_["interval_us"] = o.interval_us;
        out_["poll_sqn"] = o.poll_sqn.value();
    }
    void operator()(const OptNakBoRng& o) {
        head(OptionType::NakBoRng);
        out_["max_us"] = o.max_us;
        out_["min_us"] = o.min_us;
    }
    void operator()(const OptRedirect& o) {
        head(OptionType::Redirect);
        out_["dlr"] = o.dlr.to_string();
    }
    void operator()(const OptParityPrm& o) {
        head(OptionType::ParityPrm);
        out_["proactive"] = o.proactive;
        out_["on_demand"] = o.on_demand;
        out_["tg_size"] = o.tg_size;
    }
    void operator()(const OptParityGrp& o) {
        head(OptionType::ParityGrp);
        out_["group"] = o.group;
    }
    void operator()(const OptCurrTgsize& o) {
        head(OptionType::CurrTgsize);
        out_["size"] = o.size;
    }
    void operator()(const OptNbrUnreach&) { head(OptionType::NbrUnreach); }
    void operator()(const OptPathNla& o) {
        head(OptionType::PathNla);
        out_["path"] = o.path.to_string();
    }
    void operator()(const OptSyn&) { head(OptionType::Syn); }
    void operator()(const OptFin&) { head(OptionType::Fin); }
    void operator()(const OptRst& o) {
        head(OptionType::Rst);
        out_["no_naks"] = o.no_naks;
        out_["error_code"] = o.error_code;
    }
    void operator()(const OptCr& o) {
        head(OptionType::Cr);
        load_bits(o);
        out_["lead"] = o.lead.value();
        out_["ne_wl"] = o.ne_wl;
        out_["ne_wp"] = o.ne_wp;
        out_["rx_wp"] = o.rx_wp;
        out_["receiver"] = o.receiver.to_string();
    }
    void operator()(const OptCrqst& o) {
        head(OptionType::Crqst);
        load_bits(o);
    }
    void operator()(const OptRaw& o) {
        head(o.type & kOptTypeMask);
        if (view_ == nullptr) out_["opx"] = o.byte2 & kOpxMask;
        out_["byte2"] = o.byte2;
        out_["byte3"] = o.byte3;
        out_["hex"] = hex(o.value);
    }

  private:
    void head(OptionType type) { head(static_cast<std::uint8_t>(type)); }
    void head(std::uint8_t code) {
        out_["type"] = option_type_name(code);
        out_["code"] = code;
        if (view_ == nullptr) return;
        out_["length"] = view_->length;
        out_["opx"] = static_cast<unsigned>(view_->opx());
        out_["end"] = view_->end;
        out_["encoded"] = view_->encoded();
        out_["encoded_null"] = view_->encoded_null();
    }
    // The L, P and R bits of OPT_CR and OPT_CRQST.
    template <class T>
    void load_bits(const T& o) {
        out_["ne_worst_link"] = o.ne_worst_link;
        out_["ne_worst_path"] = o.ne_worst_path;
        out_["rx_worst_path"] = o.rx_worst_path;
    }

    Json& out_;
    const OptionView* view_;
};

// from_view() decodes the options with the same iterator, so its list pairs with the views.
Json options_json(const PacketView& view) {
    const PacketSpec spec = from_view(view);
    Json list = Json::array();
    OptionIterator it = view.options();
    for (std::size_t i = 0; i < spec.options.size(); ++i) {
        const std::optional<OptionView> o = it.next();
        if (!o) break;
        Json item = Json::object();
        std::visit(OptionWriter(item, &*o), spec.options[i]);
        list.push_back(std::move(item));
    }
    return list;
}

void add_ip(Json& j, const IpInfo& ip) {
    j["ip_version"] = ip.version;
    j["ip_src"] = ip.source.to_string();
    j["ip_dst"] = ip.destination.to_string();
    j["ttl"] = ip.ttl;
    j["router_alert"] = ip.router_alert;
    const bool udp = ip.encapsulation == Encapsulation::Udp;
    j["encap"] = udp ? "udp" : "native";
    if (udp) {
        j["udp_sport"] = ip.udp_source_port;
        j["udp_dport"] = ip.udp_destination_port;
    }
}

// The common header read straight from the bytes, so that it is shown even when parse()
// rejected the packet.
void add_header(Json& j, Bytes pgm, ChecksumStatus checksum) {
    Gsi gsi;
    std::copy_n(pgm.data() + kOffsetGsi, gsi.bytes.size(), gsi.bytes.begin());
    add_identity(j, pgm[kOffsetType] & kTypeCodeMask, load16(pgm.data() + kOffsetSport),
                 load16(pgm.data() + kOffsetDport), gsi);
    const std::uint8_t version_bits = pgm[kOffsetType] & (kTypeVersionMask | kTypeReservedMask);
    if (version_bits != 0) j["type_high_bits"] = version_bits;
    j["opt_flags"] = option_flag_names(pgm[kOffsetOptions]);
    j["checksum"] = load16(pgm.data() + kOffsetChecksum);
    j["checksum_status"] = to_string(checksum);
    j["tsdu_length"] = load16(pgm.data() + kOffsetTsduLength);
    j["pgm_length"] = pgm.size();
}

void set_error(Decoded& d, Layer layer, const char* reason, std::optional<std::size_t> offset) {
    d.error_layer = layer;
    d.error = reason;
    d.error_has_offset = offset.has_value();
    d.error_offset = offset.value_or(0);
}

void append_value(std::string& out, const Json& v) {
    if (v.is_array() && v.empty()) {
        out += "none";
    } else if (v.is_string()) {
        out += v.get<std::string>();
    } else if (v.is_array()) {
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (i != 0) out += ',';
            append_value(out, v[i]);
        }
    } else {
        out += v.dump();
    }
}

// Fields that read better in hexadecimal in the text form (JSON keeps numbers).
int hex_digits(std::string_view key) {
    if (key == "checksum") return 4;
    if (key == "rand" || key == "mask" || key == "bitmap") return 8;
    return 0;
}

// " key value" for each key not in `skip`; a true boolean is its key alone, a false one is
// left out.
void append_pairs(std::string& out, const Json& object,
                  std::initializer_list<std::string_view> skip) {
    for (const auto& [key, value] : object.items()) {
        if (std::find(skip.begin(), skip.end(), key) != skip.end()) continue;
        if (value.is_boolean()) {
            if (value.get<bool>()) out += " " + key;
            continue;
        }
        out += " " + key + " ";
        const int digits = hex_digits(key);
        if (digits != 0 && value.is_number_unsigned()) {
            char buf[16];
            std::snprintf(buf, sizeof buf, "0x%0*llx", digits,
                          static_cast<unsigned long long>(value.get<std::uint64_t>()));
            out += buf;
        } else {
            append_value(out, value);
        }
    }
}

std::string option_text(const Json& o) {
    std::string out = o["type"].get<std::string>();
    if (o.contains("hex")) {
        append_pairs(out, o, {"type", "end"});
    } else {
        const bool opx = o.value("opx", 0) != 0;
        append_pairs(out, o, {"type", "code", "length", "end", opx ? "" : "opx"});
    }
    return out;
}

}  // namespace

const char* to_string(Layer layer) {
    switch (layer) {
        case Layer::None:
            return "none";
        case Layer::Link:
            return "link";
        case Layer::Ip:
            return "ip";
        case Layer::Pgm:
            return "pgm";
    }
    return "?";
}

const char* to_string(ChecksumStatus status) {
    switch (status) {
        case ChecksumStatus::Good:
            return "good";
        case ChecksumStatus::Bad:
            return "bad";
        case ChecksumStatus::None:
            return "none";
        case ChecksumStatus::Unverified:
            return "unverified";
    }
    return "?";
}

bool Decoded::not_pgm() const {
    return (error_layer == Layer::Link && link.error == LinkError::NotIp) ||
           (error_layer == Layer::Ip && located.error == IpError::NotPgm);
}

Decoded decode_frame(const Frame& frame, const DecodeSettings& settings) {
    Decoded d;
    d.frame = frame;
    d.link = extract_ip(settings.dlt, frame.data);
    if (!d.link) {
        set_error(d, Layer::Link, to_string(d.link.error), d.link.error_offset);
        return d;
    }
    LocateOptions locate;
    locate.verify_udp_checksum = settings.verify_checksum;
    d.located = locate_pgm(d.link.ip, settings.udp_ports, locate);
    if (!d.located) {
        set_error(d, Layer::Ip, to_string(d.located.error), std::nullopt);
        return d;
    }
    const Bytes pgm = d.located.pgm;
    if (pgm.size() >= kHeaderSize) {
        if (load16(pgm.data() + kOffsetChecksum) == 0) {
            d.checksum = ChecksumStatus::None;
        } else if (settings.verify_checksum) {
            d.checksum = checksum_field_valid(pgm) ? ChecksumStatus::Good : ChecksumStatus::Bad;
        }
    }
    ParseOptions options;
    options.verify_checksum = settings.verify_checksum;
    d.parsed = parse(pgm, options);
    if (!d.parsed) {
        set_error(d, Layer::Pgm, to_string(d.parsed.error), d.parsed.error_offset);
    }
    const bool checksum_error =
        d.parsed.error == ParseError::BadChecksum || d.parsed.error == ParseError::MissingChecksum;
    if (checksum_error) {
        // The error stays the checksum one, but the fields are still worth showing.
        options.verify_checksum = false;
        d.parsed = parse(pgm, options);
    }
    return d;
}

Json to_json(const Decoded& d) {
    Json j = Json::object();
    j["frame"] = d.frame.number;
    j["time"] = format_time(d.frame.ts_sec, d.frame.ts_usec);
    j["caplen"] = d.frame.data.size();
    j["len"] = d.frame.wire_length;
    if (d.link.vlan_count != 0) {
        j["vlan"] = Json(std::vector<std::uint16_t>(d.link.vlan_ids.begin(),
                                                    d.link.vlan_ids.begin() + d.link.vlan_count));
    }
    const bool located = d.error_layer == Layer::None || d.error_layer == Layer::Pgm;
    if (located) {
        add_ip(j, d.located.ip);
        if (d.located.pgm.size() >= kHeaderSize) add_header(j, d.located.pgm, d.checksum);
        if (d.pgm_decoded()) {
            add_fields(j, d.parsed.view.fields);
            j["options"] = options_json(d.parsed.view);
        }
    }
    if (d.error != nullptr) {
        j["error_layer"] = to_string(d.error_layer);
        j["error"] = d.error;
        if (d.error_has_offset) j["error_offset"] = d.error_offset;
    }
    return j;
}

std::string to_text(const Json& p) {
    std::string out = p.value("time", "") + " #" + std::to_string(p.value("frame", 0));
    if (p.contains("ip_src")) {
        out += " " + p["ip_src"].get<std::string>() + " > " + p["ip_dst"].get<std::string>() + " " +
               p["encap"].get<std::string>();
        if (p.contains("udp_sport")) {
            out += " " + std::to_string(p["udp_sport"].get<int>()) + " > " +
                   std::to_string(p["udp_dport"].get<int>());
        }
    }
    if (p.contains("type")) {
        out += " " + p["type"].get<std::string>() + " " + std::to_string(p["sport"].get<int>()) +
               " > " + std::to_string(p["dport"].get<int>());
    }
    const bool caplen_differs = p.value("caplen", 0) != p.value("len", 0);
    append_pairs(out, p,
                 {"time", "frame", caplen_differs ? "" : "caplen", "ip_src", "ip_dst", "encap",
                  "udp_sport", "udp_dport", "type", "type_code", "sport", "dport", "options",
                  "error_layer", "error", "error_offset"});
    if (p.contains("options") && !p["options"].empty()) {
        out += " opts [";
        for (std::size_t i = 0; i < p["options"].size(); ++i) {
            if (i != 0) out += "; ";
            out += option_text(p["options"][i]);
        }
        out += "]";
    }
    if (p.contains("error")) {
        out += " ERROR " + p["error_layer"].get<std::string>();
        if (p.contains("error_offset")) out += " at " + p["error_offset"].dump();
        out += ": " + p["error"].get<std::string>();
    }
    return out;
}

Json spec_json(const PacketSpec& spec) {
    Json j = Json::object();
    add_identity(j, static_cast<std::uint8_t>(spec.type), spec.source_port, spec.destination_port,
                 spec.gsi);
    j["tsdu_length"] = spec.payload.size();
    add_fields(j, spec.fields);
    Json list = Json::array();
    for (const OptionSpec& o : spec.options)
        list.push_back(option_json(o));
    j["options"] = std::move(list);
    return j;
}

void add_fields(Json& j, const Fields& fields) {
    std::visit(
        [&j](const auto& f) {
            using T = std::decay_t<decltype(f)>;
            if constexpr (std::is_same_v<T, SpmFields>) {
                j["sqn"] = f.sqn.value();
                j["trail"] = f.trail.value();
                j["lead"] = f.lead.value();
                j["path"] = f.path.to_string();
            } else if constexpr (std::is_same_v<T, PollFields>) {
                j["sqn"] = f.sqn.value();
                j["round"] = f.round;
                j["subtype"] = f.subtype;
                j["path"] = f.path.to_string();
                j["backoff_ivl_us"] = f.backoff_ivl_us;
                j["rand"] = f.rand;
                j["mask"] = f.mask;
            } else if constexpr (std::is_same_v<T, PolrFields>) {
                j["sqn"] = f.sqn.value();
                j["round"] = f.round;
            } else if constexpr (std::is_same_v<T, DataFields>) {
                j["sqn"] = f.sqn.value();
                j["trail"] = f.trail.value();
            } else if constexpr (std::is_same_v<T, NakFields>) {
                j["sqn"] = f.sqn.value();
                j["nak_src"] = f.source.to_string();
                j["nak_grp"] = f.group.to_string();
            } else if constexpr (std::is_same_v<T, AckFields>) {
                j["rx_max"] = f.rx_max.value();
                j["bitmap"] = f.bitmap;
            } else {
                static_assert(std::is_same_v<T, SpmrFields>);  // no fields
            }
        },
        fields);
}

Json option_json(const OptionSpec& option) {
    Json j = Json::object();
    std::visit(OptionWriter(j, nullptr), option);
    return j;
}

std::string hex(Bytes bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (std::uint8_t b : bytes) {
        out += kDigits[b >> 4];
        out += kDigits[b & 0x0F];
    }
    return out;
}

std::string format_time(std::int64_t sec, std::int32_t usec) {
    const std::time_t t = static_cast<std::time_t>(sec);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%06dZ", static_cast<int>(usec));
    return buf;
}

}  // namespace pgm::cli
