// DOC: A token bucket (the NAK rate cap per interface, RouterConfig::
// max_naks_per_second_per_interface): holds at most `rate` tokens, refills at `rate` tokens a
// second of caller-supplied time, starts full. take() spends n tokens or none.
//
// Life cycle: a value inside its owner (InterfaceState); no clock of its own.
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
    double tokens() const { return tokens_; }

  private:
    double tokens_ = 0;
    Time at_{};
};

}  // namespace pgm::router
