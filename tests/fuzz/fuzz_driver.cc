// recovery_fuzz_replay: the recovery fuzz target without libFuzzer (GCC,
// ctest). It runs every input of the corpus directories it is given, then
// mutates them at random (bit flips, byte and field sets, splices, block
// records moved, copied and dropped) for --seconds (default 60, times
// WB_CUTS_MULTIPLIER). No coverage feedback: this is the quick regression
// run; scripts/fuzz.sh is the real search.
//
//   recovery_fuzz_replay [--seconds=N] [--seed=S] DIR...   corpus + mutation
//   recovery_fuzz_replay FILE...                           replay only
//
// A finding aborts (or crashes, or hangs for kHangSeconds); the input that
// did it is saved first as ./fuzz-crash-<pid>.bin, which replays with
//   recovery_fuzz_replay fuzz-crash-<pid>.bin
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

constexpr unsigned kHangSeconds = 60;
constexpr size_t kMaxInput = 1 << 20;

// The input being run, for the signal handler.
const std::string* g_current = nullptr;

void SaveAndDie(int sig) {
  char path[64];
  std::snprintf(path, sizeof(path), "fuzz-crash-%d.bin", static_cast<int>(getpid()));
  if (g_current != nullptr) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      const char* p = g_current->data();
      size_t left = g_current->size();
      while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n <= 0) break;
        p += n;
        left -= static_cast<size_t>(n);
      }
      close(fd);
    }
    const char msg[] = "recovery_fuzz_replay: finding; input saved as ";
    (void)!write(2, msg, sizeof(msg) - 1);
    (void)!write(2, path, strlen(path));
    (void)!write(2, sig == SIGALRM ? " (hang)\n" : "\n", sig == SIGALRM ? 8 : 1);
  }
  signal(sig == SIGALRM ? SIGABRT : sig, SIG_DFL);
  raise(sig == SIGALRM ? SIGABRT : sig);
}

void RunOne(const std::string& input) {
  g_current = &input;
  alarm(kHangSeconds);
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()),
                         input.size());
  alarm(0);
  g_current = nullptr;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Record boundaries as DecodeImage reads them (fuzz_image.h).
struct Record {
  size_t at;   // offset of the 4-byte record header
  size_t len;  // payload bytes present
};
std::vector<Record> Records(const std::string& in) {
  std::vector<Record> out;
  size_t at = 1;
  while (at + 4 <= in.size()) {
    uint16_t word = static_cast<uint16_t>(static_cast<uint8_t>(in[at + 2]) |
                                          (static_cast<uint8_t>(in[at + 3]) << 8));
    size_t len = std::min<size_t>({word & 0x1fffu, 4096, in.size() - at - 4});
    out.push_back({at, len});
    at += 4 + len;
  }
  return out;
}

class Mutator {
 public:
  Mutator(uint64_t seed, const std::vector<std::string>* corpus)
      : rng_(seed), corpus_(corpus) {}

  std::string Mutate(std::string in) {
    int rounds = 1 + static_cast<int>(Below(8));
    for (int i = 0; i < rounds; i++) MutateOnce(&in);
    if (in.size() > kMaxInput) in.resize(kMaxInput);
    return in;
  }

 private:
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }

  uint64_t Interesting(uint64_t old) {
    static const uint64_t kValues[] = {
        0, 1, 2, 3, 4, 7, 8, 15, 16, 63, 64, 127, 128, 255, 256, 4095, 4096,
        0x7fffffff, 0x80000000, 0xffffffff, uint64_t{1} << 32,
        (uint64_t{1} << 48) - 1, (uint64_t{1} << 62) - 1, uint64_t{1} << 62,
        UINT64_MAX - 1, UINT64_MAX};
    switch (Below(3)) {
      case 0: return kValues[Below(std::size(kValues))];
      case 1: return old + 1 + Below(4) - (Below(2) ? 0 : 2 + 2 * Below(4));
      default: return rng_();
    }
  }

  // Writes an interesting little-endian value of 1, 2, 4 or 8 bytes.
  void SetField(std::string* in, size_t at) {
    size_t width = size_t{1} << Below(4);
    if (at + width > in->size()) return;
    uint64_t old = 0;
    std::memcpy(&old, in->data() + at, width);
    uint64_t v = Interesting(old);
    std::memcpy(in->data() + at, &v, width);
  }

  void MutateOnce(std::string* in) {
    if (in->empty()) in->push_back(static_cast<char>(fuzz_flags()));
    std::vector<Record> recs = Records(*in);
    switch (Below(10)) {
      case 0:  // flip a bit
        (*in)[Below(in->size())] ^= static_cast<char>(1u << Below(8));
        break;
      case 1:  // the flags byte
        (*in)[0] ^= static_cast<char>(1u << Below(5));
        break;
      case 2:  // a field anywhere
        SetField(in, Below(in->size()));
        break;
      case 3:  // an aligned field inside a record: a header field, mostly
        if (!recs.empty()) {
          const Record& r = recs[Below(recs.size())];
          if (r.len >= 8) SetField(in, r.at + 4 + 8 * Below(std::min<size_t>(r.len, 128) / 8));
        }
        break;
      case 4:  // move a block elsewhere, often next door
        if (!recs.empty()) {
          const Record& r = recs[Below(recs.size())];
          uint16_t b = static_cast<uint16_t>(static_cast<uint8_t>((*in)[r.at]) |
                                             (static_cast<uint8_t>((*in)[r.at + 1]) << 8));
          b = Below(2) ? static_cast<uint16_t>(b + Below(33) - 16)
                       : static_cast<uint16_t>(Below(wb::fuzz::kImageBlocks));
          (*in)[r.at] = static_cast<char>(b & 0xff);
          (*in)[r.at + 1] = static_cast<char>(b >> 8);
        }
        break;
      case 5:  // copy a block to another place
        if (!recs.empty()) {
          const Record& r = recs[Below(recs.size())];
          std::string copy = in->substr(r.at, 4 + r.len);
          uint16_t b = static_cast<uint16_t>(Below(wb::fuzz::kImageBlocks));
          copy[0] = static_cast<char>(b & 0xff);
          copy[1] = static_cast<char>(b >> 8);
          in->append(copy);
        }
        break;
      case 6:  // drop a block
        if (!recs.empty()) {
          const Record& r = recs[Below(recs.size())];
          in->erase(r.at, 4 + r.len);
        }
        break;
      case 7: {  // splice in bytes of another input
        const std::string& other = (*corpus_)[Below(corpus_->size())];
        if (other.size() < 2) break;
        size_t from = Below(other.size());
        size_t len = 1 + Below(std::min<size_t>(other.size() - from, 4096));
        size_t to = Below(in->size());
        in->replace(to, std::min(len, in->size() - to), other, from, len);
        break;
      }
      case 8:  // insert or erase a few bytes
        if (Below(2) && in->size() > 1) {
          size_t at = 1 + Below(in->size() - 1);
          in->erase(at, std::min<size_t>(1 + Below(8), in->size() - at));
        } else {
          in->insert(Below(in->size()) + 1, 1 + Below(8),
                     static_cast<char>(rng_()));
        }
        break;
      default:  // set a byte
        (*in)[Below(in->size())] = static_cast<char>(Interesting(0));
        break;
    }
  }

  uint8_t fuzz_flags() { return static_cast<uint8_t>(Below(32)); }

  std::mt19937_64 rng_;
  const std::vector<std::string>* corpus_;
};

}  // namespace

int main(int argc, char** argv) {
  double seconds = 60;
  uint64_t seed = static_cast<uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
  std::vector<std::filesystem::path> dirs, files;
  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    if (arg.rfind("--seconds=", 0) == 0) {
      seconds = std::atof(arg.c_str() + 10);
    } else if (arg.rfind("--seed=", 0) == 0) {
      seed = std::strtoull(arg.c_str() + 7, nullptr, 10);
    } else if (arg.rfind("--", 0) == 0) {
      std::fprintf(stderr,
                   "usage: %s [--seconds=N] [--seed=S] DIR... | FILE...\n",
                   argv[0]);
      return 2;
    } else if (std::filesystem::is_directory(arg)) {
      dirs.push_back(arg);
    } else if (std::filesystem::is_regular_file(arg)) {
      files.push_back(arg);
    } else {
      std::fprintf(stderr, "%s: no such file or directory: %s\n", argv[0],
                   arg.c_str());
      return 2;
    }
  }
  if (const char* m = std::getenv("WB_CUTS_MULTIPLIER")) seconds *= std::atof(m);
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGALRM}) {
    signal(sig, SaveAndDie);
  }

  for (const auto& dir : dirs) {
    std::vector<std::filesystem::path> in_dir;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.is_regular_file()) in_dir.push_back(e.path());
    }
    std::sort(in_dir.begin(), in_dir.end());
    files.insert(files.end(), in_dir.begin(), in_dir.end());
  }
  std::vector<std::string> corpus;
  for (const auto& f : files) {
    corpus.push_back(ReadFile(f));
    RunOne(corpus.back());
  }
  std::printf("recovery_fuzz_replay: %zu inputs replayed, no finding\n",
              corpus.size());
  if (dirs.empty()) return 0;
  if (corpus.empty()) {
    std::fprintf(stderr, "recovery_fuzz_replay: the corpus is empty\n");
    return 1;
  }

  std::printf("recovery_fuzz_replay: mutating for %.0f s, --seed=%llu\n",
              seconds, static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  Mutator mutator(seed, &corpus);
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::duration<double>(seconds);
  uint64_t runs = 0;
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 16; i++, runs++) {
      RunOne(mutator.Mutate(corpus[runs % corpus.size()]));
    }
  }
  std::printf("recovery_fuzz_replay: %llu mutated inputs, no finding\n",
              static_cast<unsigned long long>(runs));
  return 0;
}
