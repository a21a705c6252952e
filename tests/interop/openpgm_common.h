/* Shared helpers for the OpenPGM interop test programs (openpgm_send, openpgm_recv).
 *
 * These programs are peers for pgmd's interop tests, written against Debian's
 * libpgm (OpenPGM 5.3).  They are deliberately small, single-threaded, and every
 * wait is bounded by a deadline.
 */
#ifndef PGMD_TESTS_INTEROP_OPENPGM_COMMON_H
#define PGMD_TESTS_INTEROP_OPENPGM_COMMON_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* pgm_poll_info() is only declared when HAVE_POLL is defined. */
#ifndef HAVE_POLL
#define HAVE_POLL 1
#endif
#include <pgm/pgm.h>
#include <poll.h>

/* ---- test message format -------------------------------------------------
 * Every message is at least PGMT_HEADER_LEN bytes:
 *   0..3   magic "PGMT"
 *   4..7   sequence counter, big endian, 0 .. count-1
 *   8..11  total message count of the run, big endian
 *   12..15 message length in bytes (this whole APDU), big endian
 *   16..   filler: byte i == (uint8_t)(seq * 7 + i)
 */
#define PGMT_HEADER_LEN 16u
#define PGMT_MAX_SIZE 65000u

void pgmt_fill_message(uint8_t* buf, size_t size, uint32_t seq, uint32_t count);
/* Returns NULL when valid, else a static string describing the problem. */
const char* pgmt_check_message(const uint8_t* buf, size_t len, uint32_t* seq_out,
                               uint32_t* count_out);

/* ---- clock -------------------------------------------------------------- */
int64_t pgmt_now_ms(void);
int64_t pgmt_now_us(void);

/* ---- termination -------------------------------------------------------- */
extern volatile int pgmt_terminate; /* set by SIGINT/SIGTERM */
void pgmt_install_signal_handlers(void);

/* ---- option parsing ----------------------------------------------------- */
/* Parse a non-negative integer in [min, max]; prints an error naming opt on failure. */
bool pgmt_parse_int(const char* opt, const char* text, long long min, long long max,
                    long long* out);
/* GSI from "--gsi": 12 hex digits (optionally ':'/'.'/'-' separated, e.g.
 * "0a:0b:0c:0d:0e:0f") is taken literally; a decimal number N (<= 0xffffffff)
 * derives the GSI 'p','g',N>>24,N>>16,N>>8,N.  Returns false on bad input. */
bool pgmt_parse_gsi(const char* text, pgm_gsi_t* gsi);
/* Default GSI when none is given: derived from the pid and the clock, so two
 * processes in different namespaces of one host never collide (OpenPGM's
 * hostname-based GSI would). */
void pgmt_default_gsi(pgm_gsi_t* gsi);
void pgmt_gsi_to_string(const pgm_gsi_t* gsi, char* out, size_t outlen);

/* ---- options both programs take ----------------------------------------- */
enum {
    PGMT_OPT_NETWORK = 1000,
    PGMT_OPT_PORT,
    PGMT_OPT_UDP_PORT,
    PGMT_OPT_GSI,
    PGMT_OPT_COUNT,
    PGMT_OPT_TIMEOUT,
    PGMT_OPT_RA,
    PGMT_OPT_LOOP,
    PGMT_OPT_HOPS,
    PGMT_OPT_MTU,
    PGMT_OPT_QUIET,
    PGMT_OPT_RCVBUF,
    PGMT_OPT_SNDBUF,
    PGMT_OPT_HELP,
    PGMT_OPT_FIRST_OWN /* a program's own option ids start here */
};

/* The struct option entries of the options above (getopt_long). */
#define PGMT_COMMON_LONGOPTS                                       \
    {"network", required_argument, NULL, PGMT_OPT_NETWORK},        \
        {"port", required_argument, NULL, PGMT_OPT_PORT},          \
        {"udp-port", required_argument, NULL, PGMT_OPT_UDP_PORT},  \
        {"gsi", required_argument, NULL, PGMT_OPT_GSI},            \
        {"count", required_argument, NULL, PGMT_OPT_COUNT},        \
        {"timeout-ms", required_argument, NULL, PGMT_OPT_TIMEOUT}, \
        {"router-alert", no_argument, NULL, PGMT_OPT_RA},          \
        {"multicast-loop", no_argument, NULL, PGMT_OPT_LOOP},      \
        {"hops", required_argument, NULL, PGMT_OPT_HOPS},          \
        {"mtu", required_argument, NULL, PGMT_OPT_MTU},            \
        {"quiet", no_argument, NULL, PGMT_OPT_QUIET},              \
        {"rcvbuf", required_argument, NULL, PGMT_OPT_RCVBUF},      \
        {"sndbuf", required_argument, NULL, PGMT_OPT_SNDBUF}, {    \
        "help", no_argument, NULL, PGMT_OPT_HELP                   \
    }

struct pgmt_common_options {
    const char* network;
    long long port, udp_port, count, timeout_ms, hops, mtu; /* set the defaults first */
    long long rcvbuf, sndbuf;                               /* bytes, 0 = the system default */
    bool have_gsi;
    pgm_gsi_t gsi;
    bool router_alert, multicast_loop, quiet;
};

/* One getopt_long result: 1 when it was a common option (stored in o), 0 when it is
 * not one (PGMT_OPT_HELP included: the program prints its usage), -1 on a bad value
 * (the error is printed). */
int pgmt_common_option(int opt, const char* arg, struct pgmt_common_options* o);
/* After getopt_long: false, with a message and the usage on stderr, when arguments
 * are left over. */
bool pgmt_no_extra_args(const char* prog, int argc, char** argv, void (*usage)(FILE*));

/* ---- socket set-up ------------------------------------------------------ */
struct pgmt_socket_config {
    const char* network; /* "ADDR;GROUP", addresses not interface names */
    int port;            /* data-destination port */
    int sport;           /* data-source port, 0 = random */
    int udp_port;        /* 0 = native PGM (IP protocol 113) */
    pgm_gsi_t gsi;
    bool router_alert;
    bool multicast_loop;
    int multicast_hops;
    int mtu;
    /* PGM_RCVBUF / PGM_SNDBUF (SO_RCVBUF / SO_SNDBUF) in bytes, 0 = the system default:
     * OpenPGM's users raise them (and net.core.rmem_max) for any real rate. */
    int rcvbuf, sndbuf;
    bool is_sender;
    /* sender */
    int txw_sqns;
    int txw_secs; /* > 0: a TXW_SECS window (needs txw_max_rte) instead of TXW_SQNS */
    int ambient_spm_ms;
    const int* heartbeat_spm_us; /* OpenPGM units: microseconds */
    int heartbeat_spm_len;
    long long txw_max_rte; /* bytes/s, 0 = no OpenPGM rate regulation */
    /* FEC (PGM_USE_FEC): transmission group size k (0 = off), block size n, proactive
     * parity packets per group, on-demand parity. */
    int fec_k, fec_n, fec_proactive;
    bool fec_ondemand;
    /* receiver */
    int rxw_sqns;
    int peer_expiry_ms;
    int spmr_expiry_ms;
    int nak_bo_ivl_ms;
    int nak_rpt_ivl_ms;
    int nak_rdata_ivl_ms;
    int nak_data_retries;
    int nak_ncf_retries;
};

/* pgm_init() + socket + options + bind3 + join + connect.  On failure prints a
 * message prefixed by prog to stderr and returns NULL. */
pgm_sock_t* pgmt_open_socket(const char* prog, const struct pgmt_socket_config* cfg);

/* The common options' part of cfg; o->gsi becomes the default GSI when none was given. */
void pgmt_apply_common(struct pgmt_common_options* o, struct pgmt_socket_config* cfg);

/* Wait (poll) for socket activity for at most timeout_ms (capped at 100 ms so
 * signals and deadlines are noticed).  status is the last pgm_recv status:
 * it selects PGM_TIME_REMAIN / PGM_RATE_REMAIN as a shorter bound. */
void pgmt_wait(pgm_sock_t* sock, int status, int64_t timeout_ms);

const char* pgmt_status_name(int status);

#endif
