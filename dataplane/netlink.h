// DOC: What pgmd knows of the kernel's interfaces, IPv4 addresses and unicast routes, kept
// current with libnl-3 (a NETLINK_ROUTE cache manager: link, address and route caches,
// updated from RTNLGRP_LINK / IPV4_IFADDR / IPV4_ROUTE notifications on the event loop).
//
// Owns the cache manager and, after every batch of notifications, a plain snapshot (links by
// index, the primary IPv4 address of each, the main table's unicast routes) that the router
// core's Environment reads while a packet is processed: no netlink call on the packet path.
// Life cycle: constructed on the loop (dumps the three caches; throws std::runtime_error if
// netlink is unavailable), calls `on_change` after each batch so that the daemon can react
// to links going down or coming up, destroyed with the daemon.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/event_loop.h"
#include "dataplane/route_table.h"
#include "protocol/nla.h"

struct nl_cache_mngr;
struct nl_cache;

namespace pgm::dataplane {

struct LinkInfo {
    std::string name;
    bool up = false;                    // administratively up and running (carrier)
    bool ethernet = false;              // ARPHRD_ETHER (veth, physical NICs, bridges)
    std::array<std::uint8_t, 6> mac{};  // the link-layer address when Ethernet
    unsigned mtu = 0;
    bool has_master = false;  // enslaved to a bridge, bond or VRF (IFLA_MASTER)
};

// "02:00:5e:00:00:01": as `ip link` prints a MAC address.
std::string mac_text(const std::array<std::uint8_t, 6>& mac);

class Netlink {
  public:
    Netlink(EventLoop& loop, std::function<void()> on_change);
    ~Netlink();
    Netlink(const Netlink&) = delete;
    Netlink& operator=(const Netlink&) = delete;

    const std::map<IfIndex, LinkInfo>& links() const { return links_; }
    std::optional<IfIndex> ifindex_of(const std::string& name) const;
    // The interface's primary IPv4 address.
    std::optional<Nla> ipv4_address(IfIndex ifindex) const;
    // True when `address` is one of this host's IPv4 addresses.
    bool is_local(const Nla& address) const;
    std::optional<IfIndex> route_interface(const Nla& address) const;

  private:
    void rebuild();

    EventLoop& loop_;
    std::function<void()> on_change_;
    nl_cache_mngr* manager_ = nullptr;
    nl_cache* link_cache_ = nullptr;
    nl_cache* address_cache_ = nullptr;
    nl_cache* route_cache_ = nullptr;
    int fd_ = -1;

    std::map<IfIndex, LinkInfo> links_;
    std::map<IfIndex, Nla> addresses_;
    std::vector<Nla> all_addresses_;
    std::vector<RouteEntry> routes_;
};

// Kernel multicast routes (/proc/net/ip_mr_cache): group and origin of each entry. pgmd warns
// at start-up when one exists for a group it serves (docs/operations.md).
struct KernelMroute {
    Nla group;
    Nla origin;
};
std::vector<KernelMroute> read_kernel_mroutes(const std::string& path = "/proc/net/ip_mr_cache");

}  // namespace pgm::dataplane
