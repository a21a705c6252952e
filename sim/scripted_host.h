// DOC: `ScriptedHost`, a node that sends exactly what a test tells it and records everything
// it receives. It runs no PGM host logic (the real source and receiver stacks plug into the
// network through the same Node interface); a test gives it behaviour with an on_receive
// hook, e.g. answering a NAK with an NCF and RDATA, or cancelling a scheduled NAK when the
// matching NCF is heard.
//
// Life cycle: constructed with its network (registers itself), attached by the test; sends
// are queued with a time and go out when the virtual clock reaches it (at once when sent
// from a hook); received packets are kept (or only counted) until the host is destroyed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/spec.h"
#include "sim/network.h"

namespace pgm::sim {

// Network-header parameters of one send. An unset source is the interface's address.
struct IpParams {
    Nla source;
    Nla destination;
    std::uint8_t ttl = 255;
    bool router_alert = false;
    Encapsulation encapsulation = Encapsulation::Native;
    std::uint16_t udp_port = kDefaultUdpEncapsulationPort;

    static IpParams to(const Nla& destination, bool router_alert = false) {
        IpParams p;
        p.destination = destination;
        p.router_alert = router_alert;
        return p;
    }
};

struct Received {
    Time at;
    Arrival arrival;
    std::vector<std::uint8_t> bytes;
    ParseError error = ParseError::Ok;  // strict parse, checksum included
    std::optional<PacketSpec> spec;     // when it parsed
};

class ScriptedHost : public Node {
  public:
    using SendId = std::uint64_t;
    using Hook = std::function<void(ScriptedHost& self, const Received& packet)>;
    using Action = std::function<void(ScriptedHost& self)>;
    struct Options {
        bool record = true;  // keep every packet; false: count per type only
    };

    ScriptedHost(Network& net, std::string name, Options options);
    ScriptedHost(Network& net, std::string name) : ScriptedHost(net, std::move(name), Options{}) {}
    ScriptedHost(const ScriptedHost&) = delete;
    ScriptedHost& operator=(const ScriptedHost&) = delete;

    NodeId id() const { return id_; }
    Network& network() { return net_; }

    // Queues `pgm` to go out of `ifindex` at `at` (at once if that is past). Returns an id
    // for cancel().
    SendId send_at(Time at, IfIndex ifindex, const IpParams& ip, std::vector<std::uint8_t> pgm);
    SendId send_at(Time at, IfIndex ifindex, const IpParams& ip, const PacketSpec& spec);
    SendId send(IfIndex ifindex, const IpParams& ip, const PacketSpec& spec) {
        return send_at(net_.now(), ifindex, ip, spec);
    }
    // Runs `action` when the clock reaches `at` (for sends that depend on what was heard by
    // then, e.g. a NAK to the latest SPM_PATH). Cancellable like a send.
    SendId call_at(Time at, Action action);
    // False if it already went out (or never existed).
    bool cancel(SendId id);
    void on_receive(Hook hook) { hook_ = std::move(hook); }

    const std::vector<Received>& received() const { return received_; }
    // Received packets of one type, in arrival order (recording hosts only).
    std::vector<const Received*> received(PacketType type) const;
    std::uint64_t count(PacketType type) const { return counts_.count(type); }
    const TypeCounters& counts() const { return counts_; }
    std::uint64_t sent_count() const { return sent_; }

    void on_packet(const Arrival& arrival, Bytes pgm, Time now, Output& out) override;
    void on_timer(Time now, Output& out) override { flush(now, out); }
    Time next_deadline() const override;

  private:
    struct Pending {
        IfIndex ifindex = 0;
        IpParams ip;
        std::vector<std::uint8_t> pgm;
        Action action;  // when set, run instead of sending
    };
    SendId queue(Time at, Pending p);
    void flush(Time now, Output& out);

    Network& net_;
    NodeId id_;
    Options options_;
    Hook hook_;
    // Keyed by (time, id): sends at the same time go out in the order they were queued.
    std::map<std::pair<Time, SendId>, Pending> pending_;
    std::map<SendId, Time> pending_at_;
    SendId next_id_ = 1;
    std::vector<Received> received_;
    TypeCounters counts_;
    std::uint64_t sent_ = 0;
};

}  // namespace pgm::sim
