#include "sim/packets.h"

namespace pgm::sim {

PacketSpec SessionPackets::downstream(PacketType type, Fields fields) const {
    PacketSpec s;
    s.type = type;
    s.source_port = source_port;
    s.destination_port = destination_port;
    s.gsi = gsi;
    s.fields = fields;
    return s;
}

PacketSpec SessionPackets::spm(Sqn sqn, Sqn trail, Sqn lead, const Nla& path) const {
    return downstream(PacketType::Spm, SpmFields{sqn, trail, lead, path, 0});
}

PacketSpec SessionPackets::odata(Sqn sqn, Sqn trail, std::vector<std::uint8_t> payload) const {
    PacketSpec s = downstream(PacketType::Odata, DataFields{sqn, trail});
    s.payload = std::move(payload);
    return s;
}

PacketSpec SessionPackets::rdata(Sqn sqn, Sqn trail, std::vector<std::uint8_t> payload) const {
    PacketSpec s = odata(sqn, trail, std::move(payload));
    s.type = PacketType::Rdata;
    return s;
}

PacketSpec SessionPackets::nak_like(PacketType type, Sqn sqn, const std::vector<Sqn>& list) const {
    PacketSpec s = downstream(type, NakFields{sqn, source, group});
    if (is_upstream(type)) std::swap(s.source_port, s.destination_port);
    if (!list.empty()) s.options.push_back(OptNakList{list});
    return s;
}

PacketSpec SessionPackets::nak(Sqn sqn, const std::vector<Sqn>& list) const {
    return nak_like(PacketType::Nak, sqn, list);
}

PacketSpec SessionPackets::nnak(Sqn sqn, const std::vector<Sqn>& list) const {
    return nak_like(PacketType::Nnak, sqn, list);
}

PacketSpec SessionPackets::ncf(Sqn sqn, const std::vector<Sqn>& list) const {
    return nak_like(PacketType::Ncf, sqn, list);
}

}  // namespace pgm::sim
