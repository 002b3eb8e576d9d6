// BlockIndex: origin block -> cache block of its newest cached copy.
//
// Why not absl::flat_hash_map: a <uint64_t, uint32_t> map costs 25-35 bytes
// per entry, and the core's budget is 16 bytes per cached 4 KiB block. Here
// the table stores only the 4-byte cache block number; the origin block (the
// key) is read back from the caller's per-cache-block array, which the core
// keeps anyway. Linear probing, load <= 0.85, growth by 1.25x, backward-shift
// deletion (no tombstones).
//
// The table lives in its own anonymous mapping, returned to the kernel on
// growth: through malloc, a freed old table can stay resident (glibc raises
// its mmap threshold after large frees), which would double the cost.
//
// Not thread-safe: the volume's mutex guards it.
#ifndef WRITEBOOST_CORE_BLOCK_INDEX_H_
#define WRITEBOOST_CORE_BLOCK_INDEX_H_

#include <cstdint>
#include <functional>

namespace wb {

class BlockIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // key_of(cache_block) returns the origin block a stored entry is for.
  explicit BlockIndex(std::function<uint64_t(uint32_t)> key_of);
  ~BlockIndex();
  BlockIndex(const BlockIndex&) = delete;
  BlockIndex& operator=(const BlockIndex&) = delete;

  // Cache block for origin_block, or kNone.
  uint32_t Find(uint64_t origin_block) const;
  // Inserts or replaces the mapping. REQUIRES: key_of(cache_block) ==
  // origin_block already holds.
  void Put(uint64_t origin_block, uint32_t cache_block);
  // Removes origin_block's mapping if it is exactly cache_block (a
  // compare-and-erase, so that an older copy never removes a newer one).
  bool EraseIf(uint64_t origin_block, uint32_t cache_block);

  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  size_t MemoryBytes() const { return capacity_ * sizeof(uint32_t); }

 private:
  size_t Home(uint64_t key) const;
  void Grow();
  void Allocate(size_t capacity);

  std::function<uint64_t(uint32_t)> key_of_;
  uint32_t* slots_ = nullptr;  // capacity_ entries; kNone = empty
  size_t capacity_ = 0;
  size_t size_ = 0;
};

}  // namespace wb

#endif  // WRITEBOOST_CORE_BLOCK_INDEX_H_
