/* openpgm_recv: an OpenPGM 5.3 receiver for pgmd interop tests.
 *
 * Joins a PGM session, receives --count test messages written by openpgm_send
 * (format in openpgm_common.h), checks their order and content, and prints one
 * JSON line on stdout:
 *   {"received":N,"bytes":B,"unrecoverable":U,"in_order":true|false, ...extra keys}
 * Extra keys: "expected", "bad" (corrupt messages), "duplicates", "other_tsi"
 * (messages from a second session, ignored), "first_seq", "last_seq",
 * "elapsed_ms", "timed_out", "tsi".
 * "unrecoverable" counts OpenPGM's unrecoverable-loss (RESET) reports.
 * With --late-join (a receiver that joins a running session) the first message may have
 * any sequence: the receiver is complete once message count-1 arrived with every message
 * from its first one to there.  When the
 * socket cannot be set up, the line has received 0 and an "error" key.
 *
 * Exit status: 0 only if N messages (--late-join: the first seen to N-1) arrived in order
 * with intact content;
 * 1 otherwise (timeout, loss, corruption, interruption); 2 on bad usage.
 */
#define _GNU_SOURCE 1

#include "openpgm_common.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char* prog = "openpgm_recv";

static void usage(FILE* out) {
    fprintf(
        out,
        "usage: %s --network \"ADDR;GROUP\" --count N [options]\n"
        "  --network \"ADDR;GROUP\"  interface address and multicast group (addresses, not names)\n"
        "  --port N               data-destination port (default 7500)\n"
        "  --udp-port N           UDP encapsulation, unicast and multicast port N (default "
        "native)\n"
        "  --gsi G                12 hex digits, or a decimal number to derive a GSI (default: "
        "pid/clock)\n"
        "  --count N              messages expected (required)\n"
        "  --timeout-ms T         give up after T ms (default 30000)\n"
        "  --ready-file PATH      create PATH once the socket is connected\n"
        "  --late-join            start at the first message heard, complete at message N-1\n"
        "  --router-alert         send NAKs/SPMRs with IP Router Alert\n"
        "  --multicast-loop       enable multicast loopback\n"
        "  --hops N               multicast TTL (default 16)\n"
        "  --mtu N                PGM_MTU (default 1500)\n"
        "  --rcvbuf BYTES         PGM_RCVBUF (SO_RCVBUF; default: the system\'s)\n"
        "  --sndbuf BYTES         PGM_SNDBUF (SO_SNDBUF; default: the system\'s)\n"
        "  --rxw-sqns N           receive window in sequence numbers (default 4096)\n"
        "  --peer-expiry-ms T     (default 30000)\n"
        "  --spmr-expiry-ms T     (default 250)\n"
        "  --nak-bo-ivl-ms T      NAK back-off interval (default 50)\n"
        "  --nak-rpt-ivl-ms T     NAK repeat interval, waiting for NCF (default 200)\n"
        "  --nak-rdata-ivl-ms T   waiting for RDATA after NCF (default 400)\n"
        "  --nak-data-retries N   (default 20)\n"
        "  --nak-ncf-retries N    (default 20)\n"
        "  --quiet                no progress messages on stderr\n",
        prog);
}

enum {
    OPT_READY = PGMT_OPT_FIRST_OWN,
    OPT_LATE_JOIN,
    OPT_RXW,
    OPT_PEER_EXPIRY,
    OPT_SPMR_EXPIRY,
    OPT_NAK_BO,
    OPT_NAK_RPT,
    OPT_NAK_RDATA,
    OPT_NAK_DATA_RETRIES,
    OPT_NAK_NCF_RETRIES,
};

int main(int argc, char** argv) {
    struct pgmt_common_options o = {
        .port = 7500, .count = -1, .timeout_ms = 30000, .hops = 16, .mtu = 1500};
    const char* ready_file = NULL;
    bool late_join = false;
    long long rxw_sqns = 4096, peer_expiry_ms = 30000, spmr_expiry_ms = 250, nak_bo_ms = 50;
    long long nak_rpt_ms = 200, nak_rdata_ms = 400, nak_data_retries = 20, nak_ncf_retries = 20;

    static const struct option longopts[] = {
        PGMT_COMMON_LONGOPTS,
        {"ready-file", required_argument, NULL, OPT_READY},
        {"late-join", no_argument, NULL, OPT_LATE_JOIN},
        {"rxw-sqns", required_argument, NULL, OPT_RXW},
        {"peer-expiry-ms", required_argument, NULL, OPT_PEER_EXPIRY},
        {"spmr-expiry-ms", required_argument, NULL, OPT_SPMR_EXPIRY},
        {"nak-bo-ivl-ms", required_argument, NULL, OPT_NAK_BO},
        {"nak-rpt-ivl-ms", required_argument, NULL, OPT_NAK_RPT},
        {"nak-rdata-ivl-ms", required_argument, NULL, OPT_NAK_RDATA},
        {"nak-data-retries", required_argument, NULL, OPT_NAK_DATA_RETRIES},
        {"nak-ncf-retries", required_argument, NULL, OPT_NAK_NCF_RETRIES},
        {NULL, 0, NULL, 0},
    };
    int c;
    bool ok = true;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        const int common = pgmt_common_option(c, optarg, &o);
        if (common < 0) return 2;
        if (common > 0) continue;
        switch (c) {
            case OPT_READY:
                ready_file = optarg;
                break;
            case OPT_LATE_JOIN:
                late_join = true;
                break;
            case OPT_RXW:
                ok = pgmt_parse_int("--rxw-sqns", optarg, 1, 0x7ffffffe, &rxw_sqns);
                break;
            case OPT_PEER_EXPIRY:
                ok = pgmt_parse_int("--peer-expiry-ms", optarg, 1, 86400000, &peer_expiry_ms);
                break;
            case OPT_SPMR_EXPIRY:
                ok = pgmt_parse_int("--spmr-expiry-ms", optarg, 1, 3600000, &spmr_expiry_ms);
                break;
            case OPT_NAK_BO:
                ok = pgmt_parse_int("--nak-bo-ivl-ms", optarg, 1, 3600000, &nak_bo_ms);
                break;
            case OPT_NAK_RPT:
                ok = pgmt_parse_int("--nak-rpt-ivl-ms", optarg, 1, 3600000, &nak_rpt_ms);
                break;
            case OPT_NAK_RDATA:
                ok = pgmt_parse_int("--nak-rdata-ivl-ms", optarg, 1, 3600000, &nak_rdata_ms);
                break;
            case OPT_NAK_DATA_RETRIES:
                ok = pgmt_parse_int("--nak-data-retries", optarg, 1, 1000000, &nak_data_retries);
                break;
            case OPT_NAK_NCF_RETRIES:
                ok = pgmt_parse_int("--nak-ncf-retries", optarg, 1, 1000000, &nak_ncf_retries);
                break;
            case PGMT_OPT_HELP:
            case 'h':
                usage(stdout);
                return 0;
            default:
                usage(stderr);
                return 2;
        }
        if (!ok) return 2;
    }
    if (!pgmt_no_extra_args(prog, argc, argv, usage)) return 2;
    if (o.network == NULL || o.count < 0) {
        fprintf(stderr, "%s: --network \"ADDR;GROUP\" and --count N are required\n", prog);
        usage(stderr);
        return 2;
    }
    const bool quiet = o.quiet;

    struct pgmt_socket_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    pgmt_apply_common(&o, &cfg);
    cfg.is_sender = false;
    cfg.rxw_sqns = (int)rxw_sqns;
    cfg.peer_expiry_ms = (int)peer_expiry_ms;
    cfg.spmr_expiry_ms = (int)spmr_expiry_ms;
    cfg.nak_bo_ivl_ms = (int)nak_bo_ms;
    cfg.nak_rpt_ivl_ms = (int)nak_rpt_ms;
    cfg.nak_rdata_ivl_ms = (int)nak_rdata_ms;
    cfg.nak_data_retries = (int)nak_data_retries;
    cfg.nak_ncf_retries = (int)nak_ncf_retries;

    pgmt_install_signal_handlers();
    setvbuf(stdout, NULL, _IOLBF, 0);

    const int64_t t0 = pgmt_now_us();
    const int64_t deadline = t0 + o.timeout_ms * 1000;

    pgm_sock_t* sock = pgmt_open_socket(prog, &cfg);
    if (sock == NULL) {
        pgm_shutdown();
        printf(
            "{\"received\":0,\"bytes\":0,\"unrecoverable\":0,\"in_order\":false,"
            "\"expected\":%lld,\"error\":\"socket set-up failed\"}\n",
            o.count);
        return 1;
    }
    if (!quiet)
        fprintf(stderr, "%s: ready: network=%s dport=%lld encap=%s%lld expecting %lld\n", prog,
                o.network, o.port, o.udp_port ? "udp:" : "native:", o.udp_port, o.count);
    if (ready_file) {
        const int fd = open(ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            perror("openpgm_recv: --ready-file");
        else
            close(fd);
    }

    /* large enough for any APDU the sender can produce */
    static _Alignas(64) uint8_t buf[PGMT_MAX_SIZE + 1024];
    long long received = 0, bad = 0, duplicates = 0, other_tsi = 0, unrecoverable = 0;
    unsigned long long bytes = 0;
    long long first_seq = -1, last_seq = -1;
    long long next_expected = 0;
    bool in_order = true, have_tsi = false, timed_out = false, eof = false;
    pgm_tsi_t tsi;
    memset(&tsi, 0, sizeof(tsi));
    unsigned errors = 0;

    while (late_join ? last_seq < o.count - 1 : received < o.count) {
        if (pgmt_terminate) {
            fprintf(stderr, "%s: interrupted\n", prog);
            break;
        }
        if (pgmt_now_us() >= deadline) {
            timed_out = true;
            break;
        }
        size_t len = 0;
        struct pgm_sockaddr_t from;
        socklen_t fromlen = sizeof(from);
        pgm_error_t* err = NULL;
        const int status = pgm_recvfrom(sock, buf, sizeof(buf), 0, &len, &from, &fromlen, &err);
        if (err) {
            if (!quiet || status != PGM_IO_STATUS_RESET)
                fprintf(stderr, "%s: pgm_recv (%s): %s\n", prog, pgmt_status_name(status),
                        err->message ? err->message : "?");
            pgm_error_free(err);
        }
        switch (status) {
            case PGM_IO_STATUS_NORMAL: {
                if (!have_tsi) {
                    tsi = from.sa_addr;
                    have_tsi = true;
                } else if (memcmp(&tsi, &from.sa_addr, sizeof(tsi)) != 0) {
                    other_tsi++;
                    break;
                }
                uint32_t seq = 0, total = 0;
                const char* why = pgmt_check_message(buf, len, &seq, &total);
                if (why != NULL) {
                    if (bad < 10)
                        fprintf(stderr, "%s: bad message after seq %lld (%zu bytes): %s\n", prog,
                                last_seq, len, why);
                    bad++;
                    break;
                }
                if (first_seq < 0) {
                    first_seq = seq;
                    if (late_join) next_expected = seq;
                }
                if ((long long)seq < next_expected) {
                    duplicates++;
                    in_order = false;
                    if (duplicates <= 10)
                        fprintf(stderr, "%s: duplicate/old seq %u (expected %lld)\n", prog, seq,
                                next_expected);
                    break;
                }
                if ((long long)seq != next_expected) {
                    if (in_order)
                        fprintf(stderr, "%s: gap: got seq %u, expected %lld\n", prog, seq,
                                next_expected);
                    in_order = false;
                }
                next_expected = (long long)seq + 1;
                last_seq = seq;
                received++;
                bytes += len;
                break;
            }
            case PGM_IO_STATUS_RESET:
                unrecoverable++;
                break;
            case PGM_IO_STATUS_EOF:
                fprintf(stderr, "%s: socket closed (EOF)\n", prog);
                eof = true;
                break;
            case PGM_IO_STATUS_ERROR:
                if (++errors > 100) {
                    fprintf(stderr, "%s: too many receive errors\n", prog);
                    eof = true;
                }
                pgmt_wait(sock, status, 10);
                break;
            case PGM_IO_STATUS_FIN:
                if (!quiet) fprintf(stderr, "%s: session FIN\n", prog);
                break;
            default: /* WOULD_BLOCK, TIMER_PENDING, RATE_LIMITED */
                pgmt_wait(sock, status, (deadline - pgmt_now_us() + 999) / 1000);
                break;
        }
        if (eof) break;
    }

    const int64_t elapsed_ms = (pgmt_now_us() - t0) / 1000;
    pgm_close(sock, true);
    pgm_shutdown();

    char tsi_text[64] = "";
    if (have_tsi) {
        char g[16];
        pgmt_gsi_to_string(&tsi.gsi, g, sizeof(g));
        /* pgm_recvfrom() reports sport in host order */
        snprintf(tsi_text, sizeof(tsi_text), "%s.%u", g, (unsigned)tsi.sport);
    }
    printf(
        "{\"received\":%lld,\"bytes\":%llu,\"unrecoverable\":%lld,\"in_order\":%s,"
        "\"expected\":%lld,\"bad\":%lld,\"duplicates\":%lld,\"other_tsi\":%lld,"
        "\"first_seq\":%lld,\"last_seq\":%lld,\"elapsed_ms\":%lld,\"timed_out\":%s,"
        "\"tsi\":\"%s\"}\n",
        received, bytes, unrecoverable, in_order ? "true" : "false", o.count, bad, duplicates,
        other_tsi, first_seq, last_seq, (long long)elapsed_ms, timed_out ? "true" : "false",
        tsi_text);
    if (timed_out)
        fprintf(stderr, "%s: timed out after %lld ms with %lld of %lld messages\n", prog,
                o.timeout_ms, received, o.count);
    const bool complete = late_join ? last_seq == o.count - 1 : received == o.count;
    return (complete && in_order && bad == 0) ? 0 : 1;
}
