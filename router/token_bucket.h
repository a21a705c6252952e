// DOC: A token bucket (the NAK rate caps per interface and per NAK source, RouterConfig::
// max_naks_per_second_per_interface and max_naks_per_second_per_neighbour): holds at most
// `rate` tokens, refills at `rate` tokens a second of caller-supplied time, starts full, so
// one second without take() fills it again. take() spends n tokens or none; give_back()
// returns tokens a later check refused to use.
//
// Life cycle: a value inside its owner (InterfaceState, NakNeighbours); no clock of its own.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>

#include "protocol/io.h"

namespace pgm::router {

class TokenBucket {
  public:
    // True, and n tokens spent, when the bucket holds at least n at `now`; false (nothing
    // spent) otherwise. Time going backwards adds no tokens.
    bool take(double rate, std::size_t n, Time now) {
        if (at_ == Time{}) tokens_ = rate;  // first use: full
        const double elapsed = std::chrono::duration<double>(now - at_).count();
        tokens_ = std::min(rate, tokens_ + std::max(0.0, elapsed) * rate);
        at_ = now;
        if (tokens_ < static_cast<double>(n)) return false;
        tokens_ -= static_cast<double>(n);
        return true;
    }
    // Returns n tokens spent by the last take() (never above `rate`).
    void give_back(double rate, std::size_t n) {
        tokens_ = std::min(rate, tokens_ + static_cast<double>(n));
    }
    double tokens() const { return tokens_; }

  private:
    double tokens_ = 0;
    Time at_{};
};

}  // namespace pgm::router
