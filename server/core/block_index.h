// BlockIndex: origin block -> cache block of its newest cached copy.
//
// Why not absl::flat_hash_map: a <uint64_t, uint32_t> map costs 25-35 bytes
// per entry, and the core's budget is 16 bytes per cached 4 KiB block. Here
// the table stores only the 4-byte cache block number; the origin block (the
// key) is read back from the caller's per-cache-block array, which the core
// keeps anyway. Linear probing, load <= 0.8, growth by 1.5x, backward-shift
// deletion (no tombstones).
//
// Not thread-safe: the volume's mutex guards it.
#ifndef WRITEBOOST_CORE_BLOCK_INDEX_H_
#define WRITEBOOST_CORE_BLOCK_INDEX_H_

#include <cstdint>
#include <functional>
#include <vector>

namespace wb {

class BlockIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // key_of(cache_block) returns the origin block a stored entry is for.
  explicit BlockIndex(std::function<uint64_t(uint32_t)> key_of);

  // Cache block for origin_block, or kNone.
  uint32_t Find(uint64_t origin_block) const;
  // Inserts or replaces the mapping. REQUIRES: key_of(cache_block) ==
  // origin_block already holds.
  void Put(uint64_t origin_block, uint32_t cache_block);
  // Removes origin_block's mapping if it is exactly cache_block (a
  // compare-and-erase, so that an older copy never removes a newer one).
  bool EraseIf(uint64_t origin_block, uint32_t cache_block);

  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }
  size_t MemoryBytes() const { return slots_.capacity() * sizeof(uint32_t); }

 private:
  size_t Home(uint64_t key) const;
  void Grow();

  std::function<uint64_t(uint32_t)> key_of_;
  std::vector<uint32_t> slots_;  // kNone = empty
  size_t size_ = 0;
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_BLOCK_INDEX_H_
