#include "dataplane/route_table.h"

namespace pgm::dataplane {

std::optional<IfIndex> longest_prefix_match(std::span<const RouteEntry> table,
                                            std::uint32_t address) {
    const RouteEntry* best = nullptr;
    for (const RouteEntry& r : table) {
        if (r.length > 32) continue;
        const std::uint32_t mask = r.length == 0 ? 0 : ~std::uint32_t{0} << (32 - r.length);
        if ((address & mask) != (r.prefix & mask)) continue;
        if (best == nullptr || r.length > best->length ||
            (r.length == best->length && r.metric < best->metric)) {
            best = &r;
        }
    }
    if (best == nullptr) return std::nullopt;
    return best->ifindex;
}

}  // namespace pgm::dataplane
