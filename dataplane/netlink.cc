#include "dataplane/netlink.h"

#include <cstdio>

#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pgm::dataplane {

std::string mac_text(const std::array<std::uint8_t, 6>& mac) {
    char text[18];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                  mac[3], mac[4], mac[5]);
    return text;
}

namespace {

std::optional<Nla> ipv4_of(nl_addr* a) {
    if (a == nullptr || nl_addr_get_family(a) != AF_INET || nl_addr_get_len(a) != 4) {
        return std::nullopt;
    }
    std::array<std::uint8_t, 4> b{};
    std::memcpy(b.data(), nl_addr_get_binary_addr(a), 4);
    return Nla::ipv4(b);
}

}  // namespace

Netlink::Netlink(EventLoop& loop, std::function<void()> on_change)
    : loop_(loop), on_change_(std::move(on_change)) {
    int err = nl_cache_mngr_alloc(nullptr, NETLINK_ROUTE, 0, &manager_);
    if (err < 0) throw std::runtime_error(std::string("netlink: ") + nl_geterror(err));
    // Every cache calls back; rebuild() runs once per batch instead, after data_ready.
    if ((err = nl_cache_mngr_add(manager_, "route/link", nullptr, nullptr, &link_cache_)) < 0 ||
        (err = nl_cache_mngr_add(manager_, "route/addr", nullptr, nullptr, &address_cache_)) < 0 ||
        (err = nl_cache_mngr_add(manager_, "route/route", nullptr, nullptr, &route_cache_)) < 0) {
        nl_cache_mngr_free(manager_);
        throw std::runtime_error(std::string("netlink caches: ") + nl_geterror(err));
    }
    fd_ = nl_cache_mngr_get_fd(manager_);
    rebuild();
    loop_.add(fd_, EPOLLIN, [this](std::uint32_t) {
        if (nl_cache_mngr_data_ready(manager_) < 0) {
            // Lost notifications (ENOBUFS): refill from scratch so that nothing is stale.
            nl_sock* sync = nl_socket_alloc();
            if (sync != nullptr && nl_connect(sync, NETLINK_ROUTE) == 0) {
                nl_cache_refill(sync, link_cache_);
                nl_cache_refill(sync, address_cache_);
                nl_cache_refill(sync, route_cache_);
            }
            if (sync != nullptr) nl_socket_free(sync);
        }
        rebuild();
        if (on_change_) on_change_();
    });
}

Netlink::~Netlink() {
    if (fd_ >= 0) loop_.remove(fd_);
    nl_cache_mngr_free(manager_);  // frees the caches it owns
}

void Netlink::rebuild() {
    links_.clear();
    for (nl_object* o = nl_cache_get_first(link_cache_); o != nullptr; o = nl_cache_get_next(o)) {
        auto* l = reinterpret_cast<rtnl_link*>(o);
        const unsigned flags = rtnl_link_get_flags(l);
        const char* name = rtnl_link_get_name(l);
        LinkInfo info{name != nullptr ? name : "", (flags & IFF_UP) != 0 && (flags & IFF_RUNNING)};
        // The kernel fast path builds Ethernet frames for its egress interfaces only.
        info.ethernet = rtnl_link_get_arptype(l) == ARPHRD_ETHER;
        if (nl_addr* a = rtnl_link_get_addr(l); a != nullptr && nl_addr_get_len(a) == 6)
            std::memcpy(info.mac.data(), nl_addr_get_binary_addr(a), 6);
        info.mtu = rtnl_link_get_mtu(l);
        info.has_master = rtnl_link_get_master(l) != 0;
        links_[static_cast<IfIndex>(rtnl_link_get_ifindex(l))] = std::move(info);
    }
    addresses_.clear();
    all_addresses_.clear();
    for (nl_object* o = nl_cache_get_first(address_cache_); o != nullptr;
         o = nl_cache_get_next(o)) {
        auto* a = reinterpret_cast<rtnl_addr*>(o);
        if (rtnl_addr_get_family(a) != AF_INET) continue;
        auto address = ipv4_of(rtnl_addr_get_local(a));
        if (!address) continue;
        all_addresses_.push_back(*address);
        const auto ifindex = static_cast<IfIndex>(rtnl_addr_get_ifindex(a));
        if ((rtnl_addr_get_flags(a) & IFA_F_SECONDARY) == 0 || !addresses_.contains(ifindex)) {
            addresses_[ifindex] = *address;
        }
    }
    routes_.clear();
    for (nl_object* o = nl_cache_get_first(route_cache_); o != nullptr; o = nl_cache_get_next(o)) {
        auto* r = reinterpret_cast<rtnl_route*>(o);
        if (rtnl_route_get_family(r) != AF_INET || rtnl_route_get_table(r) != RT_TABLE_MAIN ||
            rtnl_route_get_type(r) != RTN_UNICAST || rtnl_route_get_nnexthops(r) < 1) {
            continue;
        }
        nl_addr* dst = rtnl_route_get_dst(r);
        RouteEntry e;
        if (dst != nullptr && nl_addr_get_len(dst) == 4) {
            std::uint32_t be;
            std::memcpy(&be, nl_addr_get_binary_addr(dst), 4);
            e.prefix = ntohl(be);
            e.length = static_cast<std::uint8_t>(nl_addr_get_prefixlen(dst));
        }
        e.metric = rtnl_route_get_priority(r);
        e.ifindex = static_cast<IfIndex>(rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, 0)));
        routes_.push_back(e);
    }
}

std::optional<IfIndex> Netlink::ifindex_of(const std::string& name) const {
    for (const auto& [ifindex, l] : links_)
        if (l.name == name) return ifindex;
    return std::nullopt;
}

std::optional<Nla> Netlink::ipv4_address(IfIndex ifindex) const {
    auto it = addresses_.find(ifindex);
    if (it == addresses_.end()) return std::nullopt;
    return it->second;
}

bool Netlink::is_local(const Nla& address) const {
    for (const Nla& a : all_addresses_)
        if (a == address) return true;
    return false;
}

std::optional<IfIndex> Netlink::route_interface(const Nla& address) const {
    if (!address.is_ipv4()) return std::nullopt;
    return longest_prefix_match(routes_, address.ipv4_host_order());
}

std::vector<KernelMroute> read_kernel_mroutes(const std::string& path) {
    // "Group    Origin   Iif  Pkts ...", addresses as the kernel's %08X of the __be32 value.
    std::vector<KernelMroute> out;
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);  // heading
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string group_hex, origin_hex;
        if (!(fields >> group_hex >> origin_hex)) continue;
        auto to_nla = [](const std::string& hex) {
            const auto raw = static_cast<std::uint32_t>(std::stoul(hex, nullptr, 16));
            std::array<std::uint8_t, 4> b{};
            std::memcpy(b.data(), &raw, 4);  // the kernel printed the bytes in memory order
            return Nla::ipv4(b);
        };
        try {
            out.push_back({to_nla(group_hex), to_nla(origin_hex)});
        } catch (const std::exception&) {
        }
    }
    return out;
}

}  // namespace pgm::dataplane
