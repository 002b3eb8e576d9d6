#include "server/core/block_index.h"

#include <sys/mman.h>

#include <cstdlib>
#include <utility>

namespace wb {

BlockIndex::BlockIndex(std::function<uint64_t(uint32_t)> key_of)
    : key_of_(std::move(key_of)) {
  Allocate(16);
}

BlockIndex::~BlockIndex() { munmap(slots_, capacity_ * sizeof(uint32_t)); }

void BlockIndex::Allocate(size_t capacity) {
  void* p = mmap(nullptr, capacity * sizeof(uint32_t), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) std::abort();  // out of memory, as operator new would
  slots_ = static_cast<uint32_t*>(p);
  capacity_ = capacity;
  for (size_t i = 0; i < capacity; i++) slots_[i] = kNone;
}

size_t BlockIndex::Home(uint64_t key) const {
  // Fibonacci hashing spreads sequential block numbers, then a
  // multiply-shift maps onto a capacity that need not be a power of two.
  uint64_t h = key * 0x9E3779B97F4A7C15ull;
  h ^= h >> 29;
  return static_cast<size_t>(
      (static_cast<unsigned __int128>(h) * capacity_) >> 64);
}

uint32_t BlockIndex::Find(uint64_t origin_block) const {
  size_t n = capacity_;
  for (size_t i = Home(origin_block);; i = (i + 1 == n) ? 0 : i + 1) {
    uint32_t v = slots_[i];
    if (v == kNone) return kNone;
    if (key_of_(v) == origin_block) return v;
  }
}

void BlockIndex::Put(uint64_t origin_block, uint32_t cache_block) {
  if ((size_ + 1) * 20 > capacity_ * 17) Grow();
  size_t n = capacity_;
  for (size_t i = Home(origin_block);; i = (i + 1 == n) ? 0 : i + 1) {
    uint32_t v = slots_[i];
    if (v == kNone) {
      slots_[i] = cache_block;
      size_++;
      return;
    }
    if (v == cache_block || key_of_(v) == origin_block) {
      slots_[i] = cache_block;
      return;
    }
  }
}

bool BlockIndex::EraseIf(uint64_t origin_block, uint32_t cache_block) {
  size_t n = capacity_;
  size_t i = Home(origin_block);
  for (;; i = (i + 1 == n) ? 0 : i + 1) {
    if (slots_[i] == kNone) return false;
    if (key_of_(slots_[i]) != origin_block) continue;
    if (slots_[i] == cache_block) break;
    return false;  // the entry is a newer copy: leave it
  }
  // Backward-shift: pull later members of the probe run into the hole
  // when the hole lies between their home and their slot.
  size_t hole = i;
  for (size_t j = (i + 1 == n) ? 0 : i + 1;; j = (j + 1 == n) ? 0 : j + 1) {
    uint32_t v = slots_[j];
    if (v == kNone) break;
    size_t home = Home(key_of_(v));
    bool movable = (hole <= j) ? (home <= hole || home > j)
                               : (home <= hole && home > j);
    if (movable) {
      slots_[hole] = v;
      hole = j;
    }
  }
  slots_[hole] = kNone;
  size_--;
  return true;
}

void BlockIndex::Grow() {
  uint32_t* old = slots_;
  size_t old_capacity = capacity_;
  Allocate(old_capacity + old_capacity / 4);
  size_ = 0;
  for (size_t i = 0; i < old_capacity; i++) {
    if (old[i] != kNone) Put(key_of_(old[i]), old[i]);
  }
  munmap(old, old_capacity * sizeof(uint32_t));
}

}  // namespace wb
