// DOC: The sequences a NAK, NNAK or NCF names (RFC 3208 §9.3): its header sequence, then every
// OPT_NAK_LIST entry. Shared by the router core and its components; nothing is kept.
#pragma once

#include <cstddef>

#include "protocol/packet.h"

namespace pgm::router {

// How many sequences `v` names.
inline std::size_t nak_count(const PacketView& v) {
    auto list = v.nak_list();
    return 1 + (list ? list->size() : 0);
}

// Calls f(sqn) for the header sequence and every OPT_NAK_LIST entry, in order.
template <class F>
void for_each_nak_sqn(const PacketView& v, F&& f) {
    f(v.get<NakFields>()->sqn);
    if (auto list = v.nak_list())
        for (std::size_t i = 0; i < list->size(); ++i)
            f((*list)[i]);
}

}  // namespace pgm::router
