// DOC: Building PGM packets into a caller's buffer, no allocation.
//
// Life cycle of a `PacketWriter`: begin() writes the common header; then exactly one call
// for the type-specific fields (spm(), data(), nak(), ...); then any options, in the order
// they should appear (network-significant ones first, §9.1); then payload(); then
// finish(), which writes OPT_LENGTH, the E bit on the last option, the OPT_PRESENT and
// OPT_NETWORK flags, the TSDU length and the checksum, and returns the packet size.
// If anything did not fit, finish() returns nullopt and the buffer holds garbage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "protocol/options.h"
#include "protocol/packet.h"
#include "protocol/wire.h"

namespace pgm {

class PacketWriter {
  public:
    explicit PacketWriter(MutableBytes buffer) : buf_(buffer) {}

    // Ports exactly as they go on the wire (upstream packets swap them, §8.3).
    PacketWriter& begin(PacketType type, std::uint16_t source_port, std::uint16_t destination_port,
                        const Gsi& gsi);
    // Extra option-byte flags: kOptParity, kOptVarPktlen.
    PacketWriter& flags(std::uint8_t extra);

    PacketWriter& spm(const SpmFields& f);
    PacketWriter& poll(const PollFields& f);
    PacketWriter& polr(const PolrFields& f);
    PacketWriter& data(const DataFields& f);  // ODATA, RDATA
    PacketWriter& nak(const NakFields& f);    // NAK, NNAK, NCF
    PacketWriter& ack(const AckFields& f);
    PacketWriter& fields(const Fields& f);  // dispatches on the variant; SPMR writes nothing

    PacketWriter& fragment(const OptFragment& o);
    PacketWriter& nak_list(std::span<const Sqn> sqns);
    PacketWriter& nak_list(const NakListView& sqns);
    PacketWriter& join(const OptJoin& o);
    PacketWriter& nak_bo_ivl(const OptNakBoIvl& o);
    PacketWriter& nak_bo_rng(const OptNakBoRng& o);
    PacketWriter& redirect(const OptRedirect& o);
    PacketWriter& parity_prm(const OptParityPrm& o);
    PacketWriter& parity_grp(const OptParityGrp& o);
    PacketWriter& curr_tgsize(const OptCurrTgsize& o);
    PacketWriter& nbr_unreach();
    PacketWriter& path_nla(const OptPathNla& o);
    PacketWriter& syn();
    PacketWriter& fin();
    PacketWriter& rst(const OptRst& o);
    PacketWriter& cr(const OptCr& o);
    PacketWriter& crqst(const OptCrqst& o);
    // Any option byte for byte (unknown types, OPT_INVALID, or a copied option). The E bit in
    // `type` is ignored; finish() sets it on the last option. `network_significant` decides
    // whether it sets OPT_NETWORK.
    PacketWriter& raw_option(std::uint8_t type, std::uint8_t byte2, std::uint8_t byte3, Bytes value,
                             bool network_significant = false);

    PacketWriter& payload(Bytes data);

    // With `checksum` false the field is left 0 ("no checksum"; not valid on ODATA/RDATA).
    std::optional<std::size_t> finish(bool checksum = true);

  private:
    std::uint8_t* reserve(std::size_t n);
    std::uint8_t* begin_option(OptionType type, std::size_t length, std::uint8_t byte3 = 0);
    void write_nla(std::uint8_t* p, const Nla& nla);

    MutableBytes buf_;
    std::size_t pos_ = 0;
    std::size_t options_start_ = 0;  // OPT_LENGTH position; 0 while no option was written
    std::size_t last_option_ = 0;
    std::size_t payload_start_ = 0;
    PacketType type_ = PacketType::Spm;
    std::uint8_t flags_ = 0;
    bool overflow_ = false;
};

}  // namespace pgm
