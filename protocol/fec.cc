#include "protocol/fec.h"

#include <isa-l/erasure_code.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace pgm {
namespace {

constexpr unsigned kFieldOrder = 255;       // non-zero elements: alpha^255 = 1
constexpr std::size_t kIsalTableSize = 32;  // ISA-L: bytes of table per coefficient

// ISA-L reads its sources through non-const pointers but never writes them.
unsigned char** isal_sources(std::span<const std::uint8_t* const> blocks) {
    return const_cast<unsigned char**>(blocks.data());
}

// The OPT_VAR_PKTLEN length trailer. OpenPGM stores it in host order (txw.c, rxw.c), which is
// little-endian on every host it runs on; the RFC gives no order. D32.
void store_length(std::uint8_t* p, std::size_t length) {
    p[0] = static_cast<std::uint8_t>(length & 0xFF);
    p[1] = static_cast<std::uint8_t>(length >> 8);
}
std::size_t load_length(const std::uint8_t* p) {
    return static_cast<std::size_t>(p[0]) | (static_cast<std::size_t>(p[1]) << 8);
}

}  // namespace

// --- The field ---------------------------------------------------------------------------

std::uint8_t gf_mul(std::uint8_t a, std::uint8_t b) {
    return ::gf_mul(a, b);
}

std::uint8_t gf_exp(unsigned power) {
    static const std::array<std::uint8_t, kFieldOrder> powers = [] {
        std::array<std::uint8_t, kFieldOrder> t{};
        std::uint8_t x = 1;
        for (unsigned i = 0; i < kFieldOrder; ++i) {
            t[i] = x;
            x = ::gf_mul(x, 2);
        }
        return t;
    }();
    return powers[power % kFieldOrder];
}

// --- The code ----------------------------------------------------------------------------

bool fec_params_valid(unsigned k, unsigned n) {
    return k >= kFecMinK && k <= kFecMaxK && std::has_single_bit(k) && n > k && n <= kFecMaxN;
}

ReedSolomon::ReedSolomon(unsigned k, unsigned n) : k_(k), n_(n), generator_(std::size_t{n} * k) {
    // The Vandermonde matrix evaluating at 0, then alpha^0, alpha^1, ...: OpenPGM's
    // pgm_rs_create() (after Rizzo's fec.c), whose parity we must reproduce bit for bit.
    auto vandermonde = [](unsigned r, unsigned c) -> std::uint8_t {
        if (c == 0) return 1;
        if (r == 0) return 0;
        return gf_exp((r - 1) * c);
    };
    std::vector<std::uint8_t> top(std::size_t{k} * k);
    for (unsigned r = 0; r < k; ++r) {
        for (unsigned c = 0; c < k; ++c)
            top[r * k + c] = vandermonde(r, c);
    }
    // Distinct evaluation points: the square Vandermonde matrix is always invertible.
    std::vector<std::uint8_t> top_inverse(top.size());
    gf_invert_matrix(top.data(), top_inverse.data(), static_cast<int>(k));
    // Systematic: GM = V * top^-1, whose first k rows are the identity.
    for (unsigned r = 0; r < n; ++r) {
        for (unsigned c = 0; c < k; ++c) {
            std::uint8_t sum = 0;
            if (r < k) {
                sum = r == c ? 1 : 0;
            } else {
                for (unsigned m = 0; m < k; ++m)
                    sum ^= ::gf_mul(vandermonde(r, m), top_inverse[m * k + c]);
            }
            generator_[std::size_t{r} * k + c] = sum;
        }
    }
    parity_tables_.resize(kIsalTableSize * k * (n - k));
    ec_init_tables(static_cast<int>(k), static_cast<int>(n - k), &generator_[std::size_t{k} * k],
                   parity_tables_.data());
}

std::span<const std::uint8_t> ReedSolomon::row(unsigned r) const {
    return std::span<const std::uint8_t>(generator_).subspan(std::size_t{r} * k_, k_);
}

void ReedSolomon::encode(std::span<const std::uint8_t* const> data, std::size_t length,
                         unsigned parity_index, std::uint8_t* parity) const {
    if (length == 0) return;
    unsigned char* coding[1] = {parity};
    ec_encode_data(static_cast<int>(length), static_cast<int>(k_), 1,
                   const_cast<unsigned char*>(&parity_tables_[kIsalTableSize * k_ * parity_index]),
                   isal_sources(data), coding);
}

bool ReedSolomon::decode(std::span<const unsigned> indices,
                         std::span<const std::uint8_t* const> blocks, std::size_t length,
                         std::span<const unsigned> wanted,
                         std::span<std::uint8_t* const> out) const {
    if (indices.size() != k_ || blocks.size() != k_ || wanted.size() != out.size()) return false;
    std::vector<bool> seen(n_);
    std::vector<std::uint8_t> matrix(std::size_t{k_} * k_);
    for (unsigned i = 0; i < k_; ++i) {
        if (indices[i] >= n_ || seen[indices[i]]) return false;
        seen[indices[i]] = true;
        std::ranges::copy(row(indices[i]), matrix.begin() + std::ptrdiff_t{i} * k_);
    }
    for (unsigned w : wanted) {
        if (w >= k_) return false;
    }
    if (wanted.empty() || length == 0) return true;
    // blocks = M * data, so data = M^-1 * blocks: the wanted rows of M^-1 are the code that
    // rebuilds them. Any k rows of an MDS generator are independent.
    std::vector<std::uint8_t> inverse(matrix.size());
    if (gf_invert_matrix(matrix.data(), inverse.data(), static_cast<int>(k_)) != 0) return false;
    std::vector<std::uint8_t> rows(std::size_t{k_} * wanted.size());
    for (std::size_t w = 0; w < wanted.size(); ++w)
        std::copy_n(&inverse[std::size_t{wanted[w]} * k_], k_, &rows[w * k_]);
    std::vector<std::uint8_t> tables(kIsalTableSize * rows.size());
    ec_init_tables(static_cast<int>(k_), static_cast<int>(wanted.size()), rows.data(),
                   tables.data());
    ec_encode_data(static_cast<int>(length), static_cast<int>(k_), static_cast<int>(wanted.size()),
                   tables.data(), isal_sources(blocks), const_cast<unsigned char**>(out.data()));
    return true;
}

// --- The packet layer --------------------------------------------------------------------

FecOption fec_option_of(const std::optional<OptFragment>& fragment) {
    FecOption o{};
    if (!fragment) {
        o[0] = kOptEncodedNull;  // §9.1: a dummy option stands for the absent one
        return o;
    }
    store32(&o[1], fragment->first_sqn.value());
    store32(&o[5], fragment->offset);
    store32(&o[9], fragment->apdu_length);
    return o;
}

const char* to_string(FecError error) {
    switch (error) {
        case FecError::Ok:
            return "ok";
        case FecError::NotEnough:
            return "not enough packets";
        case FecError::BadIndex:
            return "bad index";
        case FecError::Inconsistent:
            return "inconsistent packets";
        case FecError::BadLength:
            return "bad length";
    }
    return "unknown";
}

void FecCodec::encode(std::span<const FecData> data, unsigned parity_index, FecParity& out) const {
    const unsigned k = rs_.k();
    std::size_t longest = 0;
    bool var_pktlen = false;
    bool fragments = false;
    for (unsigned i = 0; i < k; ++i) {
        if (i > 0 && data[i].tsdu.size() != data[0].tsdu.size()) var_pktlen = true;
        longest = std::max(longest, data[i].tsdu.size());
        fragments = fragments || data[i].fragment.has_value();
    }
    const std::size_t length = longest + (var_pktlen ? 2 : 0);
    // Blocks shorter than `length` are padded copies: zeros, then the TSDU length.
    std::vector<std::vector<std::uint8_t>> padded;
    padded.reserve(k);
    std::vector<const std::uint8_t*> blocks(k);
    for (unsigned i = 0; i < k; ++i) {
        const Bytes tsdu = data[i].tsdu;
        if (tsdu.size() == length) {
            blocks[i] = tsdu.data();
            continue;
        }
        std::vector<std::uint8_t>& p = padded.emplace_back(length, 0);
        std::ranges::copy(tsdu, p.begin());
        store_length(&p[length - 2], tsdu.size());
        blocks[i] = p.data();
    }
    out.var_pktlen = var_pktlen;
    out.tsdu.assign(length, 0);
    rs_.encode(blocks, length, parity_index, out.tsdu.data());

    out.option.reset();
    if (fragments) {
        std::vector<FecOption> options(k);
        for (unsigned i = 0; i < k; ++i) {
            options[i] = fec_option_of(data[i].fragment);
            blocks[i] = options[i].data();
        }
        FecOption& encoded = out.option.emplace();
        rs_.encode(blocks, kFecOptionSize, parity_index, encoded.data());
    }
}

FecError FecCodec::recover(std::span<const FecReceived> received, Sqn tg_sqn,
                           std::vector<FecRecovered>& out) const {
    const unsigned k = rs_.k();
    const unsigned n = rs_.n();
    std::vector<bool> seen(n);
    std::vector<const FecReceived*> used;
    used.reserve(k);
    // Data packets first: they cost nothing to decode with.
    for (int pass = 0; pass < 2; ++pass) {
        for (const FecReceived& r : received) {
            if (r.index >= n) return FecError::BadIndex;
            if ((r.index < k) != (pass == 0)) continue;
            if (seen[r.index]) return FecError::BadIndex;
            seen[r.index] = true;
            if (used.size() < k) used.push_back(&r);
        }
    }
    if (used.size() < k) return FecError::NotEnough;

    // The parity packets used fix the block length and the encoding.
    const FecReceived* first_parity = nullptr;
    for (const FecReceived* r : used) {
        if (r->index < k) continue;
        if (!first_parity) {
            first_parity = r;
        } else if (r->tsdu.size() != first_parity->tsdu.size() ||
                   r->var_pktlen != first_parity->var_pktlen ||
                   r->option.has_value() != first_parity->option.has_value()) {
            return FecError::Inconsistent;
        }
    }
    if (!first_parity) return FecError::Ok;  // nothing is missing
    const std::size_t length = first_parity->tsdu.size();
    const bool var_pktlen = first_parity->var_pktlen;
    const bool options = first_parity->option.has_value();
    if (var_pktlen && length < 2) return FecError::Inconsistent;

    std::vector<unsigned> indices(k);
    std::vector<const std::uint8_t*> blocks(k);
    std::vector<const std::uint8_t*> option_blocks(k);
    std::vector<FecOption> data_options(k);
    std::vector<std::vector<std::uint8_t>> padded;
    padded.reserve(k);
    for (unsigned i = 0; i < k; ++i) {
        const FecReceived& r = *used[i];
        indices[i] = r.index;
        if (r.index >= k) {
            blocks[i] = r.tsdu.data();
            if (options) option_blocks[i] = r.option->data();
            continue;
        }
        const std::size_t room = var_pktlen ? length - 2 : length;
        if (r.tsdu.size() > room || (!var_pktlen && r.tsdu.size() != length))
            return FecError::Inconsistent;
        if (r.tsdu.size() == length) {
            blocks[i] = r.tsdu.data();
        } else {
            std::vector<std::uint8_t>& p = padded.emplace_back(length, 0);
            std::ranges::copy(r.tsdu, p.begin());
            store_length(&p[length - 2], r.tsdu.size());
            blocks[i] = p.data();
        }
        data_options[i] = fec_option_of(r.fragment);
        option_blocks[i] = data_options[i].data();
    }

    std::vector<unsigned> wanted;
    for (unsigned d = 0; d < k; ++d) {
        if (!seen[d]) wanted.push_back(d);
    }
    std::vector<std::vector<std::uint8_t>> rebuilt(wanted.size(),
                                                   std::vector<std::uint8_t>(length));
    std::vector<FecOption> rebuilt_options(wanted.size());
    std::vector<std::uint8_t*> targets(wanted.size());
    for (std::size_t w = 0; w < wanted.size(); ++w)
        targets[w] = rebuilt[w].data();
    if (!rs_.decode(indices, blocks, length, wanted, targets)) return FecError::BadIndex;
    if (options) {
        for (std::size_t w = 0; w < wanted.size(); ++w)
            targets[w] = rebuilt_options[w].data();
        if (!rs_.decode(indices, option_blocks, kFecOptionSize, wanted, targets))
            return FecError::BadIndex;
    }

    const std::size_t first_out = out.size();
    for (std::size_t w = 0; w < wanted.size(); ++w) {
        FecRecovered& r = out.emplace_back();
        r.index = wanted[w];
        r.tsdu = std::move(rebuilt[w]);
        if (var_pktlen) {
            const std::size_t tsdu_length = load_length(&r.tsdu[length - 2]);
            if (tsdu_length > length - 2) {
                out.resize(first_out);
                return FecError::BadLength;
            }
            r.tsdu.resize(tsdu_length);
        }
        const FecOption& o = rebuilt_options[w];
        const std::uint32_t apdu_length = load32(&o[9]);
        // A zero APDU length is the dummy option (no real fragment has one): U set by the
        // RFC encoding, 0x80 in OPT_SQN by OpenPGM's, which encodes from byte 6 (D32).
        if (!options || apdu_length == 0) continue;
        // OPT_SQN from its low 16 bits only: OpenPGM's parity leaves the high ones out (D32).
        // The first fragment is at most 65535 packets before this one.
        const Sqn sqn = tg_sqn + wanted[w];
        const auto low = static_cast<std::uint16_t>(load32(&o[1]) & 0xFFFF);
        const auto back = static_cast<std::uint16_t>(sqn.value() - low);
        r.fragment = OptFragment{sqn - back, load32(&o[5]), apdu_length};
    }
    return FecError::Ok;
}

}  // namespace pgm
