#include "protocol/wire.h"

namespace pgm {

const char* to_string(PacketType type) {
    switch (type) {
        case PacketType::Spm:
            return "SPM";
        case PacketType::Poll:
            return "POLL";
        case PacketType::Polr:
            return "POLR";
        case PacketType::Odata:
            return "ODATA";
        case PacketType::Rdata:
            return "RDATA";
        case PacketType::Nak:
            return "NAK";
        case PacketType::Nnak:
            return "NNAK";
        case PacketType::Ncf:
            return "NCF";
        case PacketType::Spmr:
            return "SPMR";
        case PacketType::Ack:
            return "ACK";
    }
    return "UNKNOWN";
}

const char* option_name(std::uint8_t type) {
    switch (static_cast<OptionType>(type)) {
        case OptionType::Length:
            return "OPT_LENGTH";
        case OptionType::Fragment:
            return "OPT_FRAGMENT";
        case OptionType::NakList:
            return "OPT_NAK_LIST";
        case OptionType::Join:
            return "OPT_JOIN";
        case OptionType::NakBoIvl:
            return "OPT_NAK_BO_IVL";
        case OptionType::NakBoRng:
            return "OPT_NAK_BO_RNG";
        case OptionType::Redirect:
            return "OPT_REDIRECT";
        case OptionType::ParityPrm:
            return "OPT_PARITY_PRM";
        case OptionType::ParityGrp:
            return "OPT_PARITY_GRP";
        case OptionType::CurrTgsize:
            return "OPT_CURR_TGSIZE";
        case OptionType::NbrUnreach:
            return "OPT_NBR_UNREACH";
        case OptionType::PathNla:
            return "OPT_PATH_NLA";
        case OptionType::Syn:
            return "OPT_SYN";
        case OptionType::Fin:
            return "OPT_FIN";
        case OptionType::Rst:
            return "OPT_RST";
        case OptionType::Cr:
            return "OPT_CR";
        case OptionType::Crqst:
            return "OPT_CRQST";
        case OptionType::Invalid:
            return "OPT_INVALID";
        case OptionType::PgmccData:  // de-facto PGMCC: not RFC 3208, handled as unknown
        case OptionType::PgmccFeedback:
            return nullptr;
    }
    return nullptr;
}

}  // namespace pgm
