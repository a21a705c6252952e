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

#include "dataplane/bpf/fastpath_abi.h"
#include "dataplane/fastpath.h"
#include "tests/unit/fastpath_test_run.h"

namespace {

using pgm::dataplane::FastPath;
using pgm::dataplane::FastPathOptions;
using pgm::fastpath_test::build;
using pgm::fastpath_test::Frame;
using pgm::fastpath_test::ProgRun;
using pgm::fastpath_test::run_program;
using pgm::fastpath_test::Spec;

// ODATA (or `type`) as the BPF test builds it, TTL 255 (each run of a test run decrements
// the same frame's TTL), `tsdu` payload bytes.
Frame frame(std::uint8_t protocol, std::uint8_t type, const Frame& options, std::size_t tsdu) {
    Spec s;
    s.protocol = protocol;
    s.type = type;
    s.ttl = 255;
    s.options = options.empty() ? 0 : 0x01;
    s.option_bytes = options;
    s.payload.assign(tsdu, 0xab);
    return build(s);
}

std::uint32_t last_verdict = 0;

// Mean ns per run over `repeat` runs of one frame, as the kernel measured it. The runs of
// one test run share the frame, and the program decrements its TTL each time: at most 250
// runs per test run, so that every one of them is forwarded.
double run_once(const FastPath& fp, const Frame& f, unsigned ifindex, unsigned repeat) {
    const ProgRun r = run_program(fp.program_fd(), f, ifindex, repeat);
    if (r.error != 0) {
        std::fprintf(stderr, "bpf_prog_test_run_opts: %s\n", std::strerror(-r.error));
        std::exit(1);
    }
    last_verdict = r.verdict;
    return r.duration_ns;  // the mean over the repeats
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
        const fp_session all3 =
            pgm::fastpath_test::session_entry(fp, htonl(0x0a000001), htonl(0xef010203), ifindex[0],
                                              {ifindex[1], ifindex[2], ifindex[3]});
        fp_session s = all3;
        s.n_egress = n_egress;
        std::memset(s.egress + n_egress, 0, sizeof(fp_egress) * (FP_MAX_EGRESS - n_egress));
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
