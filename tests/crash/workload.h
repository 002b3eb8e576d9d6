// The crash harness's I/O generator: threads of random writes (sector-sized
// and block-sized, partial and unaligned), FUA writes, Flushes, WriteZeroes,
// Trims and read-your-writes checks, each recorded in the model around the
// call. Each thread owns its own 64 KiB chunks of the volume, so that every
// sector's history is one thread's program order; or, shared, every thread
// writes and reads anywhere, mostly in a small hot set, and reads are held
// to what a linearizable device may return.
#ifndef WRITEBOOST_TESTS_CRASH_WORKLOAD_H_
#define WRITEBOOST_TESTS_CRASH_WORKLOAD_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "server/core/volume.h"
#include "tests/crash/value_model.h"

namespace wb::crash {

struct WorkloadConfig {
  int threads = 1;
  // Percent of ops of each kind; the rest are plain writes.
  int fua = 8;
  int flush = 6;
  int zeroes = 4;
  int trim = 2;
  int read = 10;
  // Percent of writes that span 64-256 KiB across chunks (one thread only):
  // payloads larger than a segment.
  int large = 2;
  // Percent of writes inside the sectors of one 4 KiB block (sub-block).
  int small = 40;
  // Percent of ops aimed at the first quarter of a thread's chunks, so
  // that blocks are overwritten while older copies are still dirty.
  int hot = 50;
  // Percent of WriteZeroes and Trims that run from a random sector to the
  // end of the volume (shared, or one thread): more blocks than the ring
  // has virtual ids for.
  int span = 0;
  // Threads share every block: overlapping writers and readers.
  bool shared = false;
  // Shared: percent of multi-block writes that start mid-block, and the
  // blocks of each of the two hot sets (at either end of the volume).
  int skew = 20;
  uint64_t hot_blocks = 16;
  uint64_t max_ops = 20000;  // per Run, over all threads
};

class Workload {
 public:
  // REQUIRES: volume and model outlive this object; the model covers the
  // whole volume.
  Workload(Volume* volume, Model* model, const WorkloadConfig& config,
           uint64_t seed);

  // Runs the threads until stop() returns true or max_ops ops are done.
  // after_op() runs on the worker thread after every op (the harness may
  // cut power there). Returns "" or why the volume broke the contract while
  // running (an op failed, or a read did not see the newest write).
  std::string Run(const std::function<bool()>& stop,
                  const std::function<void()>& after_op);

  uint64_t ops_done() const { return ops_done_; }
  // Reads, and reads during which another thread wrote a sector they read
  // (the model allowed more than one value).
  uint64_t reads() const { return reads_.load(); }
  uint64_t overlapped_reads() const { return overlapped_reads_.load(); }

 private:
  std::string Thread(int t, const std::function<bool()>& stop,
                     const std::function<void()>& after_op);

  Volume* const volume_;
  Model* const model_;
  const WorkloadConfig config_;
  const uint64_t seed_;
  uint64_t ops_done_ = 0;
  std::atomic<uint64_t> reads_{0};
  std::atomic<uint64_t> overlapped_reads_{0};
};

}  // namespace wb::crash

#endif  // WRITEBOOST_TESTS_CRASH_WORKLOAD_H_
