#include "client/nbd/sector_locks.h"

#include <map>
#include <memory>

namespace wbnbd {

namespace {

bool Conflict(const SectorLocks::Range& a, const SectorLocks::Range& b) {
  return (a.exclusive || b.exclusive) && a.first < b.end && b.first < a.end;
}

}  // namespace

SectorLocks& SectorLocks::For(const std::string& volume) {
  static absl::Mutex mu;
  static auto* tables = new std::map<std::string, std::unique_ptr<SectorLocks>>;
  absl::MutexLock l(&mu);
  std::unique_ptr<SectorLocks>& t = (*tables)[volume];
  if (t == nullptr) t = std::make_unique<SectorLocks>();
  return *t;
}

SectorLocks::Hold SectorLocks::Lock(uint64_t first, uint64_t end, bool exclusive) {
  absl::MutexLock l(&mu_);
  auto it = queue_.insert(queue_.end(), Range{first, end, exclusive});
  while (true) {
    bool blocked = false;
    for (auto e = queue_.begin(); e != it; ++e) {
      if (Conflict(*e, *it)) {
        blocked = true;
        break;
      }
    }
    if (!blocked) return Hold(this, it);
    cv_.Wait(&mu_);
  }
}

void SectorLocks::Release(std::list<Range>::iterator it) {
  absl::MutexLock l(&mu_);
  queue_.erase(it);
  cv_.SignalAll();
}

SectorLocks::Hold::~Hold() {
  if (locks_ != nullptr) locks_->Release(it_);
}

}  // namespace wbnbd
