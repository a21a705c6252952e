// DOC: Reed-Solomon parity for PGM transmission groups (RFC 3208 §11), sans-I/O.
//
// Owns the erasure code and nothing else: no sockets, no clocks, no packet queues. Two
// layers:
//
//  - ReedSolomon: a systematic (n, k) code over GF(2^8) on equal-length byte blocks. The field
//    and the generator matrix are OpenPGM 5.3's exactly, so that parity bytes are identical
//    to OpenPGM's for the same k, n and data (docs/decisions.md D32): the field is
//    GF(2)[x] / (x^8 + x^4 + x^3 + x^2 + 1) (0x11d) with generator alpha = 2; the matrix is
//    GM = V(n x k) * V(k x k)^-1 where row r of the Vandermonde matrix V evaluates at the
//    point 0 (r = 0) or alpha^(r-1) (r >= 1), so that rows 0..k-1 of GM are the identity and
//    row k + j gives parity packet j. The field arithmetic and the block loops run in ISA-L
//    (ec_init_tables / ec_encode_data, gf_invert_matrix), whose field is the same one.
//  - FecCodec: the packet layer of §11 on top of it. Encodes the k data packets of a
//    transmission group (TSDUs and OPT_FRAGMENT) into parity packet j, and recovers the
//    missing data packets from any k of the n. Packets of different lengths are zero-padded
//    to the longest and each block gets the TSDU length appended (OPT_VAR_PKTLEN); an
//    OPT_FRAGMENT is encoded from its byte 3 on (the F/U-encoded option of §9.1 / §11.2).
//    Wire details that OpenPGM fixes and the RFC leaves open are in D32.
//
// Life cycle: construct one per (k, n) (a source per session, a receiver per advertised
// TGS) and keep it: construction builds the matrix and ISA-L's tables (32 * k * (n - k)
// bytes). Every method after construction is const and thread-compatible.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "protocol/options.h"
#include "protocol/seq.h"
#include "protocol/wire.h"

namespace pgm {

// --- The field ---------------------------------------------------------------------------

// Products and powers in OpenPGM's GF(2^8) (ISA-L's, the same field).
std::uint8_t gf_mul(std::uint8_t a, std::uint8_t b);
std::uint8_t gf_exp(unsigned power);  // alpha^power, alpha = 2

// --- The code ----------------------------------------------------------------------------

// Bounds of RFC 3208 §11 as OpenPGM applies them: k (TGS) a power of two 2..128, k < n <= 255.
inline constexpr unsigned kFecMinK = 2;
inline constexpr unsigned kFecMaxK = 128;
inline constexpr unsigned kFecMaxN = 255;
bool fec_params_valid(unsigned k, unsigned n);

class ReedSolomon {
  public:
    // Precondition: fec_params_valid(k, n).
    ReedSolomon(unsigned k, unsigned n);

    unsigned k() const { return k_; }
    unsigned n() const { return n_; }
    // Row r (0 <= r < n) of the generator matrix: the k coefficients of the data blocks.
    std::span<const std::uint8_t> row(unsigned r) const;

    // parity := sum over i of GM[k + parity_index][i] * data[i]; every block `length` bytes,
    // 0 <= parity_index < n - k.
    void encode(std::span<const std::uint8_t* const> data, std::size_t length,
                unsigned parity_index, std::uint8_t* parity) const;

    // Recovers data blocks from k blocks of the code word: `indices[i]` (0..n-1, distinct)
    // is the position of `blocks[i]` (data i < k, parity k + j). out[w] := data block
    // wanted[w] (< k). False when the inputs do not describe k distinct valid blocks.
    bool decode(std::span<const unsigned> indices, std::span<const std::uint8_t* const> blocks,
                std::size_t length, std::span<const unsigned> wanted,
                std::span<std::uint8_t* const> out) const;

  private:
    unsigned k_;
    unsigned n_;
    std::vector<std::uint8_t> generator_;      // n rows of k
    std::vector<std::uint8_t> parity_tables_;  // ISA-L tables of rows k..n-1, 32 * k bytes each
};

// --- The packet layer --------------------------------------------------------------------

// The encoded part of OPT_FRAGMENT: option bytes 3..15 (the U byte, then OPT_SQN, OPT_FRAG_OFF,
// OPT_FRAG_LEN), RFC 3208 §11.2: "everything but the first three bytes".
inline constexpr std::size_t kFecOptionSize = 13;
using FecOption = std::array<std::uint8_t, kFecOptionSize>;
// What the code encodes for a data packet without OPT_FRAGMENT: the U bit, zeros.
FecOption fec_option_of(const std::optional<OptFragment>& fragment);

// One original data packet of a transmission group, as the encoder reads it.
struct FecData {
    Bytes tsdu;
    std::optional<OptFragment> fragment;
};

// A parity packet's content besides its header and sequence numbers.
struct FecParity {
    bool var_pktlen = false;          // set OPT_VAR_PKTLEN
    std::optional<FecOption> option;  // an encoded OPT_FRAGMENT (F set) goes with it
    std::vector<std::uint8_t> tsdu;   // the parity TSDU
};

// One received packet of a transmission group, as the decoder reads it.
struct FecReceived {
    unsigned index = 0;  // 0..k-1: data packet (its PKT_SQN); k + j: parity packet j
    Bytes tsdu;
    std::optional<OptFragment> fragment;  // a data packet's OPT_FRAGMENT
    std::optional<FecOption> option;      // a parity packet's encoded OPT_FRAGMENT
    bool var_pktlen = false;              // a parity packet's OPT_VAR_PKTLEN
};

// A data packet rebuilt from parity.
struct FecRecovered {
    unsigned index = 0;  // PKT_SQN in the group
    std::vector<std::uint8_t> tsdu;
    std::optional<OptFragment> fragment;
};

enum class FecError : std::uint8_t {
    Ok,
    NotEnough,     // fewer than k distinct packets (with at least one parity packet to use)
    BadIndex,      // index >= n, or a duplicate
    Inconsistent,  // parity packets disagree on length or flags, or a data packet does not fit
    BadLength,     // a recovered length trailer is larger than the block
};
const char* to_string(FecError error);

class FecCodec {
  public:
    // Precondition: fec_params_valid(k, n).
    FecCodec(unsigned k, unsigned n) : rs_(k, n) {}
    unsigned k() const { return rs_.k(); }
    unsigned n() const { return rs_.n(); }
    const ReedSolomon& code() const { return rs_; }

    // The parity packet `parity_index` (0 <= j < n - k) of the k data packets, as OpenPGM
    // builds it: TSDUs of different lengths padded to the longest with the length appended
    // (var_pktlen); an encoded OPT_FRAGMENT when any data packet has one.
    void encode(std::span<const FecData> data, unsigned parity_index, FecParity& out) const;

    // The data packets missing from `received` (any k or more packets of the group whose
    // first sequence number is `tg_sqn`), appended to `out`. The first k distinct packets are
    // used, data packets first; the others are not checked.
    FecError recover(std::span<const FecReceived> received, Sqn tg_sqn,
                     std::vector<FecRecovered>& out) const;

  private:
    ReedSolomon rs_;
};

}  // namespace pgm
