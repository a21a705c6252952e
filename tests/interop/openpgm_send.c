/* openpgm_send: an OpenPGM 5.3 source for pgmd interop tests.
 *
 * Sends --count test messages (see openpgm_common.h for the format) to a PGM
 * session, paced at --rate-bps (with --pause-after N --resume-file PATH: the
 * first N, then it serves repairs and SPMs until PATH exists, then the rest, so
 * that a test can act between two bursts), then lingers for --linger-ms while still
 * calling pgm_recv() so that NAKs are answered with NCFs *and* RDATA (an idle
 * OpenPGM source only transmits queued RDATA from inside pgm_recv), and heartbeat /
 * ambient SPMs keep flowing.  Finally closes with FIN SPMs.
 *
 * Prints one JSON line on stdout:
 *   {"sent":N,"bytes":B,"elapsed_ms":T,"gsi":"...","sport":P,"udp_port":U}
 * ({"sent":0,"bytes":0,"error":"..."} when the socket cannot be set up.)
 * Exit status: 0 when all messages were handed to OpenPGM, 1 on failure or
 * interruption, 2 on bad usage.
 */
#define _GNU_SOURCE 1

#include "openpgm_common.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char* prog = "openpgm_send";

static void usage(FILE* out) {
    fprintf(
        out,
        "usage: %s --network \"ADDR;GROUP\" [options]\n"
        "  --network \"ADDR;GROUP\"  interface address and multicast group (addresses, not names)\n"
        "  --port N               data-destination port (default 7500)\n"
        "  --sport N              data-source port of the TSI (default random)\n"
        "  --udp-port N           UDP encapsulation, unicast and multicast port N (default "
        "native)\n"
        "  --gsi G                12 hex digits, or a decimal number to derive a GSI (default: "
        "pid/clock)\n"
        "  --count N              messages to send (default 1000)\n"
        "  --size BYTES           message size, %u..%u (default 200)\n"
        "  --rate-bps BITS        application pacing in bit/s of payload (default 1000000, 0 = "
        "unpaced)\n"
        "  --max-rte BYTES        OpenPGM PGM_TXW_MAX_RTE in bytes/s (default 0 = off)\n"
        "  --start-delay-ms T     wait after connect (SYN SPMs, ambient SPMs) before data (default "
        "300)\n"
        "  --linger-ms T          keep serving repairs after the last message (default 3000)\n"
        "  --timeout-ms T         hard limit for the sending phase (default 60000)\n"
        "  --router-alert         send with IP Router Alert (OpenPGM: not on ODATA)\n"
        "  --multicast-loop       enable multicast loopback\n"
        "  --hops N               multicast TTL (default 16)\n"
        "  --mtu N                PGM_MTU, max TPDU incl. IP header (default 1500)\n"
        "  --rcvbuf BYTES         PGM_RCVBUF (SO_RCVBUF; default: the system\'s)\n"
        "  --sndbuf BYTES         PGM_SNDBUF (SO_SNDBUF; default: the system\'s)\n"
        "  --txw-sqns N           transmit window in sequence numbers (default max(count, 1024))\n"
        "  --size-step BYTES      message i is (i %% 4) * BYTES shorter than --size (default 0)\n"
        "  --serve-every N        read NAKs (pgm_recv) after every N messages (default 1)\n"
        "  --txw-secs T           a TXW_SECS window instead (needs --max-rte; OpenPGM FEC needs "
        "it)\n"
        "  --ambient-spm-ms T     ambient SPM interval (default 500)\n"
        "  --fec K,N,H[,ondemand] FEC (PGM_USE_FEC): group size K, block size N, H proactive\n"
        "                         parity packets per group, on-demand parity if 'ondemand'\n"
        "  --pause-after N        after N messages, wait (serving repairs) until --resume-file "
        "exists\n"
        "  --resume-file PATH     the file that ends the pause (required with --pause-after)\n"
        "  --quiet                no progress messages on stderr\n",
        prog, PGMT_HEADER_LEN, PGMT_MAX_SIZE);
}

enum {
    OPT_SPORT = PGMT_OPT_FIRST_OWN,
    OPT_SIZE,
    OPT_RATE,
    OPT_MAX_RTE,
    OPT_START_DELAY,
    OPT_LINGER,
    OPT_TXW,
    OPT_AMBIENT,
    OPT_PAUSE_AFTER,
    OPT_RESUME_FILE,
    OPT_FEC,
    OPT_TXW_SECS,
    OPT_SIZE_STEP,
    OPT_SERVE_EVERY,
};

static int quiet = 0;

/* Call pgm_recv (processes NAKs, sends NCF/RDATA, runs SPM timers) until
 * deadline_us, sleeping in poll() in between.  Returns false on a fatal error. */
static bool serve_until(pgm_sock_t* sock, int64_t deadline_us, unsigned* recv_errors) {
    for (;;) {
        char buf[4096];
        size_t len = 0;
        pgm_error_t* err = NULL;
        const int status = pgm_recv(sock, buf, sizeof(buf), 0, &len, &err);
        if (err) {
            if (!quiet)
                fprintf(stderr, "%s: pgm_recv (%s): %s\n", prog, pgmt_status_name(status),
                        err->message ? err->message : "?");
            pgm_error_free(err);
        }
        if (status == PGM_IO_STATUS_ERROR) {
            if (++*recv_errors > 100) {
                fprintf(stderr, "%s: too many pgm_recv errors\n", prog);
                return false;
            }
        } else if (status == PGM_IO_STATUS_EOF) {
            fprintf(stderr, "%s: pgm_recv: socket closed\n", prog);
            return false;
        }
        const int64_t now = pgmt_now_us();
        if (now >= deadline_us || pgmt_terminate) return true;
        if (status == PGM_IO_STATUS_NORMAL) continue; /* more may be queued */
        pgmt_wait(sock, status, (deadline_us - now + 999) / 1000);
    }
}

int main(int argc, char** argv) {
    struct pgmt_common_options o = {
        .port = 7500, .count = 1000, .timeout_ms = 60000, .hops = 16, .mtu = 1500};
    long long serve_every = 1;
    long long sport = 0, size = 200, rate_bps = 1000000, max_rte = 0, start_delay_ms = 300;
    long long linger_ms = 3000, txw_sqns = -1, ambient_ms = 500, pause_after = -1;
    const char* resume_file = NULL;
    long long txw_secs = 0, size_step = 0;
    int fec_k = 0, fec_n = 0, fec_h = 0;
    bool fec_ondemand = false;

    static const struct option longopts[] = {
        PGMT_COMMON_LONGOPTS,
        {"sport", required_argument, NULL, OPT_SPORT},
        {"size", required_argument, NULL, OPT_SIZE},
        {"rate-bps", required_argument, NULL, OPT_RATE},
        {"max-rte", required_argument, NULL, OPT_MAX_RTE},
        {"start-delay-ms", required_argument, NULL, OPT_START_DELAY},
        {"linger-ms", required_argument, NULL, OPT_LINGER},
        {"txw-sqns", required_argument, NULL, OPT_TXW},
        {"ambient-spm-ms", required_argument, NULL, OPT_AMBIENT},
        {"pause-after", required_argument, NULL, OPT_PAUSE_AFTER},
        {"fec", required_argument, NULL, OPT_FEC},
        {"txw-secs", required_argument, NULL, OPT_TXW_SECS},
        {"size-step", required_argument, NULL, OPT_SIZE_STEP},
        {"serve-every", required_argument, NULL, OPT_SERVE_EVERY},
        {"resume-file", required_argument, NULL, OPT_RESUME_FILE},
        {NULL, 0, NULL, 0},
    };
    int c;
    bool ok = true;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        const int common = pgmt_common_option(c, optarg, &o);
        if (common < 0) return 2;
        if (common > 0) continue;
        switch (c) {
            case OPT_SPORT:
                ok = pgmt_parse_int("--sport", optarg, 0, 65535, &sport);
                break;
            case OPT_SIZE:
                ok = pgmt_parse_int("--size", optarg, PGMT_HEADER_LEN, PGMT_MAX_SIZE, &size);
                break;
            case OPT_RATE:
                ok = pgmt_parse_int("--rate-bps", optarg, 0, 100000000000LL, &rate_bps);
                break;
            case OPT_MAX_RTE:
                ok = pgmt_parse_int("--max-rte", optarg, 0, 0x7fffffff, &max_rte);
                break;
            case OPT_START_DELAY:
                ok = pgmt_parse_int("--start-delay-ms", optarg, 0, 3600000, &start_delay_ms);
                break;
            case OPT_LINGER:
                ok = pgmt_parse_int("--linger-ms", optarg, 0, 3600000, &linger_ms);
                break;
            case OPT_TXW:
                ok = pgmt_parse_int("--txw-sqns", optarg, 1, 0x7ffffffe, &txw_sqns);
                break;
            case OPT_AMBIENT:
                ok = pgmt_parse_int("--ambient-spm-ms", optarg, 1, 3600000, &ambient_ms);
                break;
            case OPT_PAUSE_AFTER:
                ok = pgmt_parse_int("--pause-after", optarg, 0, 0x7fffffff, &pause_after);
                break;
            case OPT_RESUME_FILE:
                resume_file = optarg;
                break;
            case OPT_SIZE_STEP:
                ok = pgmt_parse_int("--size-step", optarg, 0, PGMT_MAX_SIZE, &size_step);
                break;
            case OPT_SERVE_EVERY:
                ok = pgmt_parse_int("--serve-every", optarg, 1, 1000000, &serve_every);
                break;
            case OPT_TXW_SECS:
                ok = pgmt_parse_int("--txw-secs", optarg, 1, 3600, &txw_secs);
                break;
            case OPT_FEC: {
                char mode[16] = "";
                const int fields = sscanf(optarg, "%d,%d,%d,%15s", &fec_k, &fec_n, &fec_h, mode);
                fec_ondemand = fields == 4 && strcmp(mode, "ondemand") == 0;
                ok = (fields == 3 || (fields == 4 && fec_ondemand)) && fec_k >= 2 && fec_k <= 128 &&
                     fec_n > fec_k && fec_n <= 255 && fec_h >= 0 && fec_h <= fec_n - fec_k;
                if (!ok)
                    fprintf(stderr, "%s: --fec K,N,H[,ondemand]: bad value '%s'\n", prog, optarg);
                break;
            }
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
    if (o.network == NULL) {
        fprintf(stderr, "%s: --network \"ADDR;GROUP\" is required\n", prog);
        usage(stderr);
        return 2;
    }
    quiet = o.quiet;
    if ((pause_after >= 0) != (resume_file != NULL)) {
        fprintf(stderr, "%s: --pause-after and --resume-file go together\n", prog);
        return 2;
    }
    if (size - 3 * size_step < PGMT_HEADER_LEN) {
        fprintf(stderr, "%s: --size-step too large for --size\n", prog);
        return 2;
    }
    if (txw_secs > 0 && max_rte == 0) {
        fprintf(stderr, "%s: --txw-secs needs --max-rte\n", prog);
        return 2;
    }
    if (sport != 0 && sport == o.port) {
        fprintf(stderr, "%s: --sport must differ from --port\n", prog);
        return 2;
    }
    if (txw_sqns < 0) txw_sqns = o.count > 1024 ? o.count : 1024;

    /* Heartbeat SPMs after data (OpenPGM units: microseconds); then ambient. */
    const int heartbeat_us[] = {pgm_msecs(100),       pgm_msecs(100), pgm_msecs(100),
                                pgm_msecs(200),       pgm_msecs(400), pgm_msecs(800),
                                pgm_msecs(ambient_ms)};

    struct pgmt_socket_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    pgmt_apply_common(&o, &cfg);
    cfg.sport = (int)sport;
    cfg.is_sender = true;
    cfg.txw_sqns = (int)txw_sqns;
    cfg.ambient_spm_ms = (int)ambient_ms;
    cfg.heartbeat_spm_us = heartbeat_us;
    cfg.heartbeat_spm_len = (int)(sizeof(heartbeat_us) / sizeof(heartbeat_us[0]));
    cfg.txw_max_rte = max_rte;
    cfg.txw_secs = (int)txw_secs;
    cfg.fec_k = fec_k;
    cfg.fec_n = fec_n;
    cfg.fec_proactive = fec_h;
    cfg.fec_ondemand = fec_ondemand;

    pgmt_install_signal_handlers();
    setvbuf(stdout, NULL, _IOLBF, 0);

    pgm_sock_t* sock = pgmt_open_socket(prog, &cfg);
    if (sock == NULL) {
        pgm_shutdown();
        printf("{\"sent\":0,\"bytes\":0,\"error\":\"socket set-up failed\"}\n");
        return 1;
    }

    char gsi_text[16];
    pgmt_gsi_to_string(&o.gsi, gsi_text, sizeof(gsi_text));
    struct pgm_sockaddr_t name;
    socklen_t namelen = sizeof(name);
    memset(&name, 0, sizeof(name));
    (void)pgm_getsockname(sock, &name, &namelen);
    const unsigned my_sport = ntohs(name.sa_addr.sport); /* getsockname: network order */
    if (!quiet)
        fprintf(stderr, "%s: connected: network=%s dport=%lld sport=%u gsi=%s encap=%s%lld\n", prog,
                o.network, o.port, my_sport, gsi_text, o.udp_port ? "udp:" : "native:", o.udp_port);

    /* OpenPGM's SSE2 copy-and-checksum wants 16-byte aligned source buffers. */
    const size_t alloc = ((size_t)size + 63u) & ~(size_t)63u;
    uint8_t* msg = aligned_alloc(64, alloc);
    if (msg == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        pgm_close(sock, false);
        pgm_shutdown();
        return 1;
    }

    unsigned recv_errors = 0;
    int rc = 0;
    const int64_t t0 = pgmt_now_us();
    const int64_t hard_deadline = t0 + o.timeout_ms * 1000;

    /* Announce the session with SPMs before data, so receivers define their
     * window from an SPM and can NAK even the first ODATA. */
    if (!serve_until(sock, t0 + start_delay_ms * 1000, &recv_errors)) rc = 1;

    int64_t data_start = pgmt_now_us();
    /* microseconds between messages at the requested payload bit rate */
    const double interval_us = rate_bps > 0 ? (double)size * 8.0 * 1e6 / (double)rate_bps : 0.0;
    long long sent = 0;
    unsigned long long bytes = 0;
    bool filled = false;

    while (rc == 0 && sent < o.count) {
        if (pgmt_terminate) {
            fprintf(stderr, "%s: interrupted after %lld messages\n", prog, sent);
            rc = 1;
            break;
        }
        if (sent == pause_after) {
            /* The pause: repairs and SPMs go on (pgm_recv) until the file exists; the pacing
             * then restarts from here rather than catching up in one burst. */
            if (!quiet) fprintf(stderr, "%s: paused after %lld messages\n", prog, sent);
            while (access(resume_file, F_OK) != 0 && !pgmt_terminate &&
                   pgmt_now_us() < hard_deadline && rc == 0) {
                if (!serve_until(sock, pgmt_now_us() + 20000, &recv_errors)) rc = 1;
            }
            pause_after = -1;
            data_start = pgmt_now_us() - (int64_t)(interval_us * (double)sent);
            if (!quiet) fprintf(stderr, "%s: resumed\n", prog);
            continue;
        }
        const int64_t now = pgmt_now_us();
        if (now >= hard_deadline) {
            fprintf(stderr, "%s: --timeout-ms %lld reached after %lld of %lld messages\n", prog,
                    o.timeout_ms, sent, o.count);
            rc = 1;
            break;
        }
        const int64_t due = data_start + (int64_t)(interval_us * (double)sent);
        if (now < due) {
            if (!serve_until(sock, due, &recv_errors)) rc = 1;
            continue;
        }
        /* --size-step: message i is (i % 4) steps shorter, so that lengths vary. */
        const long long msg_size = size - (sent % 4) * size_step;
        if (!filled) {
            pgmt_fill_message(msg, (size_t)msg_size, (uint32_t)sent, (uint32_t)o.count);
            filled = true;
        }
        size_t written = 0;
        const int status = pgm_send(sock, msg, (size_t)msg_size, &written);
        switch (status) {
            case PGM_IO_STATUS_NORMAL:
                sent++;
                bytes += (unsigned long long)msg_size;
                filled = false;
                /* Service NAKs between messages (non-blocking, returns at once). */
                if (sent % serve_every == 0 && !serve_until(sock, 0, &recv_errors)) rc = 1;
                break;
            case PGM_IO_STATUS_WOULD_BLOCK:
            case PGM_IO_STATUS_RATE_LIMITED:
            case PGM_IO_STATUS_CONGESTION:
                /* Retry the same APDU after the socket / rate limiter allows it;
                 * keep NAK processing going meanwhile. */
                {
                    pgmt_wait(sock, status, 5);
                    if (!serve_until(sock, 0, &recv_errors)) rc = 1;
                }
                break;
            default:
                fprintf(stderr, "%s: pgm_send failed (%s) at message %lld\n", prog,
                        pgmt_status_name(status), sent);
                rc = 1;
                break;
        }
    }
    const int64_t data_end = pgmt_now_us();
    if (!quiet)
        fprintf(stderr, "%s: sent %lld messages in %.3f s; lingering %lld ms\n", prog, sent,
                (double)(data_end - data_start) / 1e6, linger_ms);

    /* Linger: answer NAKs (NCF at once, RDATA on the next pgm_recv) and keep
     * heartbeat/ambient SPMs going so receivers learn the final lead. */
    if (rc == 0 && !pgmt_terminate)
        (void)serve_until(sock, pgmt_now_us() + linger_ms * 1000, &recv_errors);

    /* pgm_close(flush=true) sends three SPMs with OPT_FIN. */
    pgm_close(sock, true);
    pgm_shutdown();
    free(msg);

    printf(
        "{\"sent\":%lld,\"bytes\":%llu,\"elapsed_ms\":%lld,\"gsi\":\"%s\",\"sport\":%u,"
        "\"udp_port\":%lld}\n",
        sent, bytes, (long long)((pgmt_now_us() - t0) / 1000), gsi_text, my_sport, o.udp_port);
    return rc;
}
