// DOC: The kernel fast path program's own cost per packet (issue 13), without a network:
// the program pgmd embeds (dataplane/bpf/pgm_fastpath.bpf.c, loaded by FastPath as pgmd
// loads it) run by the kernel with BPF_PROG_TEST_RUN and `repeat`, which reports the mean
// time per run. Each case is one frame the program sees at tc ingress:
//   odata->1      eligible ODATA of an installed session, one egress (bpf_redirect, which
//                 a test run reports but does not carry out)
//   odata->3      the same with three egress interfaces: two clones sent (into veths whose
//                 peers drop them) and the redirect
//   odata+opts->1 ODATA with receiver-only options (OPT_SYN), one egress
//   spm           an SPM: parsed, left to pgmd's capture (passed)
//   tcp           not PGM: the cost every other packet on a served interface pays
//
// Needs root (BPF, a private network namespace with veth pairs, which it makes
// itself and which disappear with the process). Prints one line per case: the median of
// --rounds rounds of --repeat runs each. Timing only; asserts nothing.
//
//   sudo build/bench/fastpath_prog_bench [--repeat N] [--rounds R]
#include <arpa/inet.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <sched.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <bpf/bpf.h>

#include "dataplane/bpf/fastpath_abi.h"
#include "dataplane/fastpath.h"
#include "protocol/checksum.h"

namespace {

using Frame = std::vector<std::uint8_t>;
using pgm::dataplane::FastPath;
using pgm::dataplane::FastPathOptions;

void put16(Frame& f, std::size_t at, std::uint32_t v) {
    f[at] = static_cast<std::uint8_t>(v >> 8);
    f[at + 1] = static_cast<std::uint8_t>(v);
}

// Ethernet + IPv4 (TTL 255, 10.0.0.1 -> 239.1.2.3) + PGM `type` from port 1000, GSI 1..6.
Frame frame(std::uint8_t protocol, std::uint8_t type, const Frame& options, std::size_t tsdu) {
    Frame pgm(24);
    put16(pgm, 0, 1000);
    put16(pgm, 2, 7500);
    pgm[4] = type;
    pgm[5] = options.empty() ? 0 : 0x01;
    for (int i = 0; i < 6; ++i)
        pgm[8 + i] = static_cast<std::uint8_t>(i + 1);
    put16(pgm, 14, static_cast<std::uint32_t>(tsdu));
    put16(pgm, 18, 100);  // sequence 100
    put16(pgm, 22, 90);   // trail 90
    pgm.insert(pgm.end(), options.begin(), options.end());
    pgm.insert(pgm.end(), tsdu, 0xab);
    pgm::write_checksum(pgm);
    Frame ip(20);
    ip[0] = 0x45;
    put16(ip, 2, static_cast<std::uint32_t>(20 + pgm.size()));
    ip[8] = 255;  // each run of a test run decrements the same frame's TTL
    ip[9] = protocol;
    const std::uint8_t addrs[8] = {10, 0, 0, 1, 239, 1, 2, 3};
    std::copy(addrs, addrs + 8, ip.begin() + 12);
    put16(ip, 10, static_cast<std::uint16_t>(~pgm::ones_complement_sum(ip)));
    ip.insert(ip.end(), pgm.begin(), pgm.end());
    Frame f = {0x01, 0x00, 0x5e, 0x01, 0x02, 0x03, 0x02, 0, 0, 0, 0, 0x99, 0x08, 0x00};
    f.insert(f.end(), ip.begin(), ip.end());
    return f;
}

std::uint32_t last_verdict = 0;

// Mean ns per run over `repeat` runs of one frame, as the kernel measured it. The runs of
// one test run share the frame, and the program decrements its TTL each time: at most 250
// runs per test run, so that every one of them is forwarded.
double run_once(const FastPath& fp, const Frame& f, unsigned ifindex, unsigned repeat) {
    Frame out(f.size() + 256);
    __sk_buff ctx;
    std::memset(&ctx, 0, sizeof ctx);
    ctx.ifindex = ifindex;
    bpf_test_run_opts opts;
    std::memset(&opts, 0, sizeof opts);
    opts.sz = sizeof opts;
    opts.data_in = f.data();
    opts.data_size_in = static_cast<std::uint32_t>(f.size());
    opts.data_out = out.data();
    opts.data_size_out = static_cast<std::uint32_t>(out.size());
    opts.ctx_in = &ctx;
    opts.ctx_size_in = sizeof ctx;
    opts.repeat = repeat;
    if (bpf_prog_test_run_opts(fp.program_fd(), &opts) != 0) {
        std::perror("bpf_prog_test_run_opts");
        std::exit(1);
    }
    last_verdict = opts.retval;
    return opts.duration;  // ns, the mean over the repeats
}

// Mean ns per run over `repeat` runs (test runs of 250).
double run(const FastPath& fp, const Frame& f, unsigned ifindex, unsigned repeat) {
    double total = 0;
    unsigned done = 0;
    while (done < repeat) {
        const unsigned n = std::min(250u, repeat - done);
        total += run_once(fp, f, ifindex, n) * n;
        done += n;
    }
    return total / done;
}

bool sh(const std::string& cmd) {
    return std::system(cmd.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
    unsigned repeat = 1'000'000, rounds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--repeat") == 0)
            repeat = static_cast<unsigned>(std::atoi(argv[i + 1]));
        if (std::strcmp(argv[i], "--rounds") == 0)
            rounds = static_cast<unsigned>(std::atoi(argv[i + 1]));
    }
    if (unshare(CLONE_NEWNET) != 0) {
        std::perror("unshare(CLONE_NEWNET) (run as root)");
        return 1;
    }
    std::array<unsigned, 4> ifindex{};
    for (int i = 0; i < 4; ++i) {
        const std::string name = "fpb" + std::to_string(i);
        if (!sh("ip link add " + name + " type veth peer name " + name + "p && ip link set " +
                name + " up && ip link set " + name + "p up"))
            return 1;
        ifindex[static_cast<std::size_t>(i)] = if_nametoindex(name.c_str());
    }
    FastPath fp{FastPathOptions{}};
    for (unsigned i : ifindex)
        fp.attach(i, {0x02, 0, 0, 0, 0, static_cast<std::uint8_t>(i)});
    fp.set_enabled(true);
    fp.set_stale_after(3'600'000'000'000ULL);  // an hour: fresh for the whole run
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    fp.heartbeat(static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000ULL +
                 static_cast<std::uint64_t>(now.tv_nsec));

    fp_session_key key{};
    for (int i = 0; i < 6; ++i)
        key.gsi[i] = static_cast<std::uint8_t>(i + 1);
    key.sport = htons(1000);
    auto install = [&](unsigned n_egress) {
        fp_session s{};
        s.source = htonl(0x0a000001);
        s.group = htonl(0xef010203);
        s.upstream_ifindex = ifindex[0];
        s.n_egress = n_egress;
        for (unsigned i = 0; i < n_egress; ++i)
            s.egress_ifindex[i] = ifindex[i + 1];
        fp.upsert_session(key, s);
    };
    const Frame syn = {0x00, 0x04, 0x00, 0x08, 0x8d, 0x04, 0x00, 0x00};  // OPT_LENGTH, OPT_SYN
    struct Case {
        const char* name;
        unsigned egress;
        Frame f;
    };
    const std::vector<Case> cases = {
        {"odata->1", 1, frame(113, 0x04, {}, 1000)},
        {"odata->3", 3, frame(113, 0x04, {}, 1000)},
        {"odata+opts->1", 1, frame(113, 0x04, syn, 1000)},
        {"spm", 1, frame(113, 0x00, {}, 0)},
        {"tcp", 1, frame(6, 0x04, {}, 1000)},
    };
    std::printf("%-14s %10s   (median of %u rounds of %u runs; BPF_PROG_TEST_RUN)\n", "case",
                "ns/packet", rounds, repeat);
    // Cases interleaved in every round, so that a machine getting busier or quieter moves
    // them all alike.
    std::vector<std::vector<double>> ns(cases.size());
    std::vector<std::uint32_t> verdicts(cases.size());
    for (unsigned r = 0; r < rounds; ++r) {
        for (std::size_t i = 0; i < cases.size(); ++i) {
            install(cases[i].egress);
            ns[i].push_back(run(fp, cases[i].f, ifindex[0], repeat));
            verdicts[i] = last_verdict;
        }
    }
    for (std::size_t i = 0; i < cases.size(); ++i) {
        std::sort(ns[i].begin(), ns[i].end());
        const char* verdict = verdicts[i] == TC_ACT_REDIRECT ? "redirect"
                              : verdicts[i] == TC_ACT_OK     ? "pass"
                              : verdicts[i] == TC_ACT_SHOT   ? "drop"
                                                             : "other";
        std::printf("%-14s %10.1f   %s\n", cases[i].name, ns[i][ns[i].size() / 2], verdict);
    }
    return 0;
}
