#include "server/core/block_index.h"

#include <map>
#include <vector>

#include "absl/random/random.h"
#include "gtest/gtest.h"

namespace wb {
namespace {

// Random puts and compare-and-erases against std::map, through growth and
// backward-shift deletions.
TEST(BlockIndexTest, MatchesAReferenceMap) {
  std::vector<uint64_t> key_of(200000, 0);
  BlockIndex index([&](uint32_t cb) { return key_of[cb]; });
  std::map<uint64_t, uint32_t> ref;
  absl::BitGen rng;
  uint32_t next_cb = 0;
  for (int i = 0; i < 150000; i++) {
    uint64_t key = absl::Uniform<uint64_t>(rng, 0, 20000);
    if (absl::Bernoulli(rng, 0.6)) {
      uint32_t cb = next_cb++;
      key_of[cb] = key;
      index.Put(key, cb);
      ref[key] = cb;
    } else {
      auto it = ref.find(key);
      uint32_t victim = it == ref.end() ? 0 : it->second;
      bool stale = absl::Bernoulli(rng, 0.3);
      if (stale && victim > 0) victim--;  // an older copy must not erase
      bool erased = index.EraseIf(key, victim);
      bool expect = it != ref.end() && it->second == victim;
      ASSERT_EQ(erased, expect) << i;
      if (expect) ref.erase(it);
    }
  }
  ASSERT_EQ(index.size(), ref.size());
  for (uint64_t key = 0; key < 20000; key++) {
    auto it = ref.find(key);
    uint32_t want = it == ref.end() ? BlockIndex::kNone : it->second;
    ASSERT_EQ(index.Find(key), want) << key;
  }
}

TEST(BlockIndexTest, StaysWithinItsMemoryBudget) {
  std::vector<uint64_t> key_of(1 << 20);
  BlockIndex index([&](uint32_t cb) { return key_of[cb]; });
  for (uint32_t cb = 0; cb < key_of.size(); cb++) {
    key_of[cb] = uint64_t{cb} * 7919;
    index.Put(key_of[cb], cb);
  }
  // Load 0.85 at most, growth by 1.25: under 6 bytes per entry.
  EXPECT_LE(index.MemoryBytes(), key_of.size() * 6);
}

}  // namespace
}  // namespace wb
