#include "server/node/origin_pacer.h"

#include <algorithm>

namespace wb::node {

namespace {

// Tokens saved up while idle are capped at this much of the pace, so that a
// volume idle for a minute does not then burst a minute's worth at once.
constexpr double kBurstSeconds = 0.05;
// Latencies kept per window for the percentiles; beyond it, a uniform sample.
constexpr size_t kWindowSamples = 8192;

double Percentile(std::vector<float>& v, double q) {
  size_t k = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

}  // namespace

OriginPacer::OriginPacer() {
  absl::Time now = absl::Now();
  refilled_at_ = now;
  window_start_ = now;
}

void OriginPacer::SetGrant(double bytes_per_second, double iops) {
  absl::MutexLock l(&mu_);
  Refill(absl::Now());
  if (!paced_) {
    // Start from an empty bucket: the unpaced past earns nothing.
    tokens_bytes_ = 0;
    tokens_ios_ = 0;
  }
  paced_ = true;
  rate_bytes_ = std::max(bytes_per_second, 1.0);
  rate_ios_ = std::max(iops, 0.0);
}

void OriginPacer::SetUnlimited() {
  absl::MutexLock l(&mu_);
  paced_ = false;
}

double OriginPacer::granted_bytes_per_second() const {
  absl::MutexLock l(&mu_);
  return paced_ ? rate_bytes_ : 0;
}

void OriginPacer::Refill(absl::Time now) {
  double dt = absl::ToDoubleSeconds(now - refilled_at_);
  refilled_at_ = now;
  if (!paced_ || dt <= 0) return;
  tokens_bytes_ = std::min(tokens_bytes_ + dt * rate_bytes_,
                           rate_bytes_ * kBurstSeconds);
  if (rate_ios_ > 0) {
    tokens_ios_ = std::min(tokens_ios_ + dt * rate_ios_,
                           std::max(1.0, rate_ios_ * kBurstSeconds));
  }
}

void OriginPacer::AcquireWrite(uint64_t bytes) {
  absl::MutexLock l(&mu_);
  while (paced_) {
    absl::Time now = absl::Now();
    Refill(now);
    bool ios_ok = rate_ios_ <= 0 || tokens_ios_ >= 0;
    if (tokens_bytes_ >= 0 && ios_ok) {
      tokens_bytes_ -= static_cast<double>(bytes);
      if (rate_ios_ > 0) tokens_ios_ -= 1;
      return;
    }
    double wait_s = std::max(tokens_bytes_ < 0 ? -tokens_bytes_ / rate_bytes_ : 0,
                             ios_ok ? 0 : -tokens_ios_ / rate_ios_);
    // Short sleeps: a new grant (or none) must apply promptly. The condition
    // is only ever !paced_; a grant change re-enters the loop on the timeout.
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](bool* paced) { return !*paced; }, &paced_),
                         std::min(absl::Seconds(wait_s), absl::Milliseconds(50)));
  }
}

void OriginPacer::RecordIo(bool write, uint64_t bytes, absl::Duration latency) {
  double seconds = absl::ToDoubleSeconds(latency);
  absl::MutexLock l(&mu_);
  Histogram& h = write ? writes_ : reads_;
  size_t b = std::lower_bound(kOriginLatencyBounds.begin(), kOriginLatencyBounds.end(),
                              seconds) -
             kOriginLatencyBounds.begin();
  h.buckets[b]++;
  h.count++;
  h.sum_seconds += seconds;

  window_ios_++;
  if (write) {
    window_write_ios_++;
    window_write_bytes_ += bytes;
  }
  float ms = static_cast<float>(seconds * 1e3);
  if (window_ms_.size() < kWindowSamples) {
    window_ms_.push_back(ms);
  } else {
    // Reservoir sampling (xorshift): every I/O equally likely to be kept.
    sample_seed_ ^= sample_seed_ << 13;
    sample_seed_ ^= sample_seed_ >> 7;
    sample_seed_ ^= sample_seed_ << 17;
    uint64_t k = sample_seed_ % window_ios_;
    if (k < kWindowSamples) window_ms_[k] = ms;
  }
}

OriginPacer::Window OriginPacer::TakeWindow() {
  absl::MutexLock l(&mu_);
  absl::Time now = absl::Now();
  Window w;
  w.seconds = absl::ToDoubleSeconds(now - window_start_);
  w.ios = window_ios_;
  w.write_ios = window_write_ios_;
  w.write_bytes = window_write_bytes_;
  if (!window_ms_.empty()) {
    w.p50_ms = Percentile(window_ms_, 0.50);
    w.p99_ms = Percentile(window_ms_, 0.99);
  }
  window_start_ = now;
  window_ms_.clear();
  window_ios_ = window_write_ios_ = window_write_bytes_ = 0;
  return w;
}

OriginPacer::Histogram OriginPacer::Latency(bool write) const {
  absl::MutexLock l(&mu_);
  return write ? writes_ : reads_;
}

}  // namespace wb::node
