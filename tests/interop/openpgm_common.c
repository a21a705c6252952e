/* Shared helpers for the OpenPGM interop test programs.  See openpgm_common.h. */
#define _GNU_SOURCE 1

#include "openpgm_common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- message format ----------------------------------------------------- */

static void put_be32(uint8_t* p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t* p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* The filler byte i is (seq * 7 + i) mod 256: a window of a table repeating 0..255, so that
 * filling and checking are one memcpy / memcmp (as in cli/host_tool.cc: the benchmark's own
 * work costs the same in both pairs). */
static uint8_t filler_table[256 + PGMT_MAX_SIZE];

static const uint8_t* filler_for(uint32_t seq) {
    if (filler_table[1] == 0)
        for (size_t i = 0; i < sizeof filler_table; i++)
            filler_table[i] = (uint8_t)i;
    return filler_table + ((seq * 7u) & 0xFFu);
}

void pgmt_fill_message(uint8_t* buf, size_t size, uint32_t seq, uint32_t count) {
    memcpy(buf, "PGMT", 4);
    put_be32(buf + 4, seq);
    put_be32(buf + 8, count);
    put_be32(buf + 12, (uint32_t)size);
    if (size > PGMT_HEADER_LEN)
        memcpy(buf + PGMT_HEADER_LEN, filler_for(seq) + PGMT_HEADER_LEN, size - PGMT_HEADER_LEN);
}

const char* pgmt_check_message(const uint8_t* buf, size_t len, uint32_t* seq_out,
                               uint32_t* count_out) {
    if (len < PGMT_HEADER_LEN) return "message shorter than the 16-byte test header";
    if (memcmp(buf, "PGMT", 4) != 0) return "bad magic (not a PGMT test message)";
    const uint32_t seq = get_be32(buf + 4);
    if (get_be32(buf + 12) != len) return "length field does not match the received length";
    if (len > PGMT_MAX_SIZE) return "longer than any test message";
    if (memcmp(buf + PGMT_HEADER_LEN, filler_for(seq) + PGMT_HEADER_LEN, len - PGMT_HEADER_LEN) !=
        0)
        return "payload filler corrupted";
    *seq_out = seq;
    *count_out = get_be32(buf + 8);
    return NULL;
}

/* ---- clock -------------------------------------------------------------- */

int64_t pgmt_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t pgmt_now_ms(void) {
    return pgmt_now_us() / 1000;
}

/* ---- termination -------------------------------------------------------- */

volatile int pgmt_terminate = 0;

static void on_signal(int signum) {
    (void)signum;
    pgmt_terminate = 1;
}

void pgmt_install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: poll() returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ---- option parsing ----------------------------------------------------- */

bool pgmt_parse_int(const char* opt, const char* text, long long min, long long max,
                    long long* out) {
    if (text == NULL || *text == '\0') {
        fprintf(stderr, "%s: missing value\n", opt);
        return false;
    }
    errno = 0;
    char* end = NULL;
    const long long v = strtoll(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0') {
        fprintf(stderr, "%s: not an integer: '%s'\n", opt, text);
        return false;
    }
    if (v < min || v > max) {
        fprintf(stderr, "%s: %lld out of range [%lld, %lld]\n", opt, v, min, max);
        return false;
    }
    *out = v;
    return true;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool pgmt_parse_gsi(const char* text, pgm_gsi_t* gsi) {
    if (text == NULL || *text == '\0') return false;
    /* all decimal digits -> derived GSI */
    bool all_digits = true;
    for (const char* p = text; *p; p++)
        if (*p < '0' || *p > '9') all_digits = false;
    if (all_digits && strlen(text) <= 10) {
        const unsigned long long n = strtoull(text, NULL, 10);
        if (n > 0xffffffffull) return false;
        gsi->identifier[0] = 'p';
        gsi->identifier[1] = 'g';
        gsi->identifier[2] = (uint8_t)(n >> 24);
        gsi->identifier[3] = (uint8_t)(n >> 16);
        gsi->identifier[4] = (uint8_t)(n >> 8);
        gsi->identifier[5] = (uint8_t)n;
        return true;
    }
    /* 12 hex digits, separators ':' '.' '-' allowed, optional 0x prefix */
    if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) text += 2;
    uint8_t bytes[6];
    unsigned nibbles = 0;
    for (const char* p = text; *p; p++) {
        if (*p == ':' || *p == '.' || *p == '-') continue;
        const int v = hexval(*p);
        if (v < 0 || nibbles >= 12) return false;
        if (nibbles % 2 == 0)
            bytes[nibbles / 2] = (uint8_t)(v << 4);
        else
            bytes[nibbles / 2] |= (uint8_t)v;
        nibbles++;
    }
    if (nibbles != 12) return false;
    memcpy(gsi->identifier, bytes, 6);
    return true;
}

void pgmt_default_gsi(pgm_gsi_t* gsi) {
    char seed[128];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const int n = snprintf(seed, sizeof(seed), "pgmd-interop:%ld:%lld:%ld", (long)getpid(),
                           (long long)ts.tv_sec, ts.tv_nsec);
    if (!pgm_gsi_create_from_data(gsi, (const uint8_t*)seed, (size_t)n)) {
        /* fall back to pid-derived bytes */
        const uint32_t pid = (uint32_t)getpid();
        gsi->identifier[0] = 'p';
        gsi->identifier[1] = 'd';
        gsi->identifier[2] = (uint8_t)(pid >> 24);
        gsi->identifier[3] = (uint8_t)(pid >> 16);
        gsi->identifier[4] = (uint8_t)(pid >> 8);
        gsi->identifier[5] = (uint8_t)pid;
    }
}

void pgmt_gsi_to_string(const pgm_gsi_t* gsi, char* out, size_t outlen) {
    snprintf(out, outlen, "%02x%02x%02x%02x%02x%02x", gsi->identifier[0], gsi->identifier[1],
             gsi->identifier[2], gsi->identifier[3], gsi->identifier[4], gsi->identifier[5]);
}

/* ---- socket set-up ------------------------------------------------------ */

static bool set_int(const char* prog, pgm_sock_t* sock, int optname, const char* name, int value) {
    if (!pgm_setsockopt(sock, IPPROTO_PGM, optname, &value, sizeof(value))) {
        fprintf(stderr, "%s: pgm_setsockopt(%s, %d) failed\n", prog, name, value);
        return false;
    }
    return true;
}

#define SET_INT(opt, val)                                           \
    do {                                                            \
        if (!set_int(prog, sock, opt, #opt, (int)(val))) goto fail; \
    } while (0)

pgm_sock_t* pgmt_open_socket(const char* prog, const struct pgmt_socket_config* cfg) {
    pgm_error_t* err = NULL;
    struct pgm_addrinfo_t* res = NULL;
    pgm_sock_t* sock = NULL;

    if (!pgm_init(&err)) {
        fprintf(stderr, "%s: pgm_init: %s\n", prog, err && err->message ? err->message : "?");
        goto fail;
    }
    if (strchr(cfg->network, ';') == NULL)
        fprintf(stderr,
                "%s: warning: network '%s' has no ';GROUP' part; give \"ADDR;GROUP\" with an "
                "address, not an interface name\n",
                prog, cfg->network);
    if (!pgm_getaddrinfo(cfg->network, NULL, &res, &err)) {
        fprintf(stderr, "%s: pgm_getaddrinfo(\"%s\"): %s\n", prog, cfg->network,
                err && err->message ? err->message : "?");
        goto fail;
    }
    if (res->ai_send_addrs_len < 1 || res->ai_recv_addrs_len < 1) {
        fprintf(stderr, "%s: network '%s' yields no send/receive group\n", prog, cfg->network);
        goto fail;
    }
    const sa_family_t family = res->ai_send_addrs[0].gsr_group.ss_family;

    if (cfg->udp_port) {
        if (!pgm_socket(&sock, family, SOCK_SEQPACKET, IPPROTO_UDP, &err)) {
            fprintf(stderr, "%s: pgm_socket(UDP): %s\n", prog,
                    err && err->message ? err->message : "?");
            goto fail;
        }
        /* OpenPGM only repairs when the unicast port equals the multicast port. */
        SET_INT(PGM_UDP_ENCAP_UCAST_PORT, cfg->udp_port);
        SET_INT(PGM_UDP_ENCAP_MCAST_PORT, cfg->udp_port);
    } else {
        if (!pgm_socket(&sock, family, SOCK_SEQPACKET, IPPROTO_PGM, &err)) {
            fprintf(stderr, "%s: pgm_socket(PGM): %s%s\n", prog,
                    err && err->message ? err->message : "?",
                    geteuid() != 0 ? " (native PGM needs root / CAP_NET_RAW)" : "");
            goto fail;
        }
    }

    SET_INT(PGM_IP_ROUTER_ALERT, cfg->router_alert ? 1 : 0);
    SET_INT(PGM_MTU, cfg->mtu);
    /* OpenPGM 5.3 takes the socket buffers at level SOL_SOCKET (it sets them on its
     * receive and send sockets at bind). */
    if (cfg->rcvbuf > 0 &&
        !pgm_setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &cfg->rcvbuf, sizeof(cfg->rcvbuf))) {
        fprintf(stderr, "%s: pgm_setsockopt(SO_RCVBUF, %d) failed\n", prog, cfg->rcvbuf);
        goto fail;
    }
    if (cfg->sndbuf > 0 &&
        !pgm_setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &cfg->sndbuf, sizeof(cfg->sndbuf))) {
        fprintf(stderr, "%s: pgm_setsockopt(SO_SNDBUF, %d) failed\n", prog, cfg->sndbuf);
        goto fail;
    }

    if (cfg->is_sender) {
        SET_INT(PGM_SEND_ONLY, 1);
        /* OpenPGM 5.3.128 sizes its parity buffer from MAX_TPDU only for a TXW_SECS window
         * (socket.c passes 0 with TXW_SQNS, and the first parity packet aborts). */
        if (cfg->txw_secs > 0) {
            SET_INT(PGM_TXW_SECS, cfg->txw_secs);
        } else {
            SET_INT(PGM_TXW_SQNS, cfg->txw_sqns);
        }
        if (cfg->txw_max_rte > 0) SET_INT(PGM_TXW_MAX_RTE, cfg->txw_max_rte);
        if (cfg->fec_k > 0) {
            /* var_pktlen_enabled keeps room for the appended TSDU length in every packet. */
            const struct pgm_fecinfo_t fec = {.block_size = (uint8_t)cfg->fec_n,
                                              .proactive_packets = (uint8_t)cfg->fec_proactive,
                                              .group_size = (uint8_t)cfg->fec_k,
                                              .ondemand_parity_enabled = cfg->fec_ondemand,
                                              .var_pktlen_enabled = true};
            if (!pgm_setsockopt(sock, IPPROTO_PGM, PGM_USE_FEC, &fec, sizeof(fec))) {
                fprintf(stderr, "%s: pgm_setsockopt(PGM_USE_FEC) failed\n", prog);
                goto fail;
            }
        }
        SET_INT(PGM_AMBIENT_SPM, pgm_msecs(cfg->ambient_spm_ms));
        if (!pgm_setsockopt(sock, IPPROTO_PGM, PGM_HEARTBEAT_SPM, cfg->heartbeat_spm_us,
                            (socklen_t)(sizeof(int) * (size_t)cfg->heartbeat_spm_len))) {
            fprintf(stderr, "%s: pgm_setsockopt(PGM_HEARTBEAT_SPM) failed\n", prog);
            goto fail;
        }
    } else {
        SET_INT(PGM_RECV_ONLY, 1);
        SET_INT(PGM_PASSIVE, 0);
        SET_INT(PGM_RXW_SQNS, cfg->rxw_sqns);
        SET_INT(PGM_PEER_EXPIRY, pgm_msecs(cfg->peer_expiry_ms));
        SET_INT(PGM_SPMR_EXPIRY, pgm_msecs(cfg->spmr_expiry_ms));
        SET_INT(PGM_NAK_BO_IVL, pgm_msecs(cfg->nak_bo_ivl_ms));
        SET_INT(PGM_NAK_RPT_IVL, pgm_msecs(cfg->nak_rpt_ivl_ms));
        SET_INT(PGM_NAK_RDATA_IVL, pgm_msecs(cfg->nak_rdata_ivl_ms));
        SET_INT(PGM_NAK_DATA_RETRIES, cfg->nak_data_retries);
        SET_INT(PGM_NAK_NCF_RETRIES, cfg->nak_ncf_retries);
    }

    struct pgm_sockaddr_t addr;
    memset(&addr, 0, sizeof(addr));
    addr.sa_port = (uint16_t)cfg->port;
    addr.sa_addr.sport = (uint16_t)cfg->sport;
    memcpy(&addr.sa_addr.gsi, &cfg->gsi, sizeof(pgm_gsi_t));

    struct pgm_interface_req_t if_req;
    memset(&if_req, 0, sizeof(if_req));
    if_req.ir_interface = res->ai_recv_addrs[0].gsr_interface;
    memcpy(&if_req.ir_address, &res->ai_send_addrs[0].gsr_addr, sizeof(struct sockaddr_storage));
    if (!pgm_bind3(sock, &addr, sizeof(addr), &if_req, sizeof(if_req), &if_req, sizeof(if_req),
                   &err)) {
        fprintf(stderr, "%s: pgm_bind3: %s\n", prog,
                err && err->message ? err->message : "invalid parameters");
        goto fail;
    }

    for (unsigned i = 0; i < res->ai_recv_addrs_len; i++) {
        if (!pgm_setsockopt(sock, IPPROTO_PGM, PGM_JOIN_GROUP, &res->ai_recv_addrs[i],
                            sizeof(struct pgm_group_source_req))) {
            fprintf(stderr,
                    "%s: PGM_JOIN_GROUP failed (is there a multicast route/interface "
                    "for '%s'?)\n",
                    prog, cfg->network);
            goto fail;
        }
    }
    if (!pgm_setsockopt(sock, IPPROTO_PGM, PGM_SEND_GROUP, &res->ai_send_addrs[0],
                        sizeof(struct pgm_group_source_req))) {
        fprintf(stderr, "%s: PGM_SEND_GROUP failed\n", prog);
        goto fail;
    }
    pgm_freeaddrinfo(res);
    res = NULL;

    SET_INT(PGM_MULTICAST_LOOP, cfg->multicast_loop ? 1 : 0);
    SET_INT(PGM_MULTICAST_HOPS, cfg->multicast_hops);
    SET_INT(PGM_NOBLOCK, 1);

    if (!pgm_connect(sock, &err)) {
        fprintf(stderr, "%s: pgm_connect: %s\n", prog,
                err && err->message ? err->message : "invalid state");
        goto fail;
    }
    return sock;

fail:
    if (err) pgm_error_free(err);
    if (res) pgm_freeaddrinfo(res);
    if (sock) pgm_close(sock, false);
    return NULL;
}

/* ---- waiting ------------------------------------------------------------ */

void pgmt_wait(pgm_sock_t* sock, int status, int64_t timeout_ms) {
    if (timeout_ms > 100) timeout_ms = 100;
    if (timeout_ms < 0) timeout_ms = 0;
    if (status == PGM_IO_STATUS_TIMER_PENDING || status == PGM_IO_STATUS_RATE_LIMITED) {
        struct timeval tv;
        socklen_t optlen = sizeof(tv);
        const int opt = status == PGM_IO_STATUS_TIMER_PENDING ? PGM_TIME_REMAIN : PGM_RATE_REMAIN;
        if (pgm_getsockopt(sock, IPPROTO_PGM, opt, &tv, &optlen)) {
            /* round up so a timer due in 0.4 ms is not turned into a busy loop */
            const int64_t ms = (int64_t)tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000;
            if (ms < timeout_ms) timeout_ms = ms;
        }
    }
    struct pollfd fds[8];
    int n_fds = 8;
    memset(fds, 0, sizeof(fds));
    if (pgm_poll_info(sock, fds, &n_fds, POLLIN) < 0) {
        n_fds = 0;
    }
    (void)poll(fds, (nfds_t)n_fds, (int)timeout_ms); /* EINTR: caller re-checks */
}

const char* pgmt_status_name(int status) {
    switch (status) {
        case PGM_IO_STATUS_ERROR:
            return "ERROR";
        case PGM_IO_STATUS_NORMAL:
            return "NORMAL";
        case PGM_IO_STATUS_RESET:
            return "RESET";
        case PGM_IO_STATUS_FIN:
            return "FIN";
        case PGM_IO_STATUS_EOF:
            return "EOF";
        case PGM_IO_STATUS_WOULD_BLOCK:
            return "WOULD_BLOCK";
        case PGM_IO_STATUS_RATE_LIMITED:
            return "RATE_LIMITED";
        case PGM_IO_STATUS_TIMER_PENDING:
            return "TIMER_PENDING";
        case PGM_IO_STATUS_CONGESTION:
            return "CONGESTION";
        default:
            return "UNKNOWN";
    }
}

/* ---- options both programs take ----------------------------------------- */

int pgmt_common_option(int opt, const char* arg, struct pgmt_common_options* o) {
    bool ok = true;
    switch (opt) {
        case PGMT_OPT_NETWORK:
            o->network = arg;
            break;
        case PGMT_OPT_PORT:
            ok = pgmt_parse_int("--port", arg, 1, 65535, &o->port);
            break;
        case PGMT_OPT_UDP_PORT:
            ok = pgmt_parse_int("--udp-port", arg, 1, 65535, &o->udp_port);
            break;
        case PGMT_OPT_GSI:
            ok = o->have_gsi = pgmt_parse_gsi(arg, &o->gsi);
            if (!ok)
                fprintf(stderr, "--gsi: expected 12 hex digits or a decimal number: '%s'\n", arg);
            break;
        case PGMT_OPT_COUNT:
            ok = pgmt_parse_int("--count", arg, 0, 0x7fffffff, &o->count);
            break;
        case PGMT_OPT_TIMEOUT:
            ok = pgmt_parse_int("--timeout-ms", arg, 1, 86400000, &o->timeout_ms);
            break;
        case PGMT_OPT_RA:
            o->router_alert = true;
            break;
        case PGMT_OPT_LOOP:
            o->multicast_loop = true;
            break;
        case PGMT_OPT_HOPS:
            ok = pgmt_parse_int("--hops", arg, 0, 255, &o->hops);
            break;
        case PGMT_OPT_MTU:
            ok = pgmt_parse_int("--mtu", arg, 68, 65535, &o->mtu);
            break;
        case PGMT_OPT_QUIET:
            o->quiet = true;
            break;
        case PGMT_OPT_RCVBUF:
            ok = pgmt_parse_int("--rcvbuf", arg, 0, 0x7fffffff, &o->rcvbuf);
            break;
        case PGMT_OPT_SNDBUF:
            ok = pgmt_parse_int("--sndbuf", arg, 0, 0x7fffffff, &o->sndbuf);
            break;
        default:
            return 0;
    }
    return ok ? 1 : -1;
}

bool pgmt_no_extra_args(const char* prog, int argc, char** argv, void (*usage)(FILE*)) {
    if (optind == argc) return true;
    fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
    usage(stderr);
    return false;
}

void pgmt_apply_common(struct pgmt_common_options* o, struct pgmt_socket_config* cfg) {
    if (!o->have_gsi) pgmt_default_gsi(&o->gsi);
    cfg->network = o->network;
    cfg->port = (int)o->port;
    cfg->udp_port = (int)o->udp_port;
    cfg->gsi = o->gsi;
    cfg->router_alert = o->router_alert;
    cfg->multicast_loop = o->multicast_loop;
    cfg->multicast_hops = (int)o->hops;
    cfg->mtu = (int)o->mtu;
    cfg->rcvbuf = (int)o->rcvbuf;
    cfg->sndbuf = (int)o->sndbuf;
}
