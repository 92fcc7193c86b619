// main() for a fuzz target's replay test: feeds every file named on the
// command line (or found in a directory named there) to the target's
// LLVMFuzzerTestOneInput, then deterministic mutations of each: every
// prefix, each byte set to a few edge values, and pseudo-random multi-byte
// flips from a fixed seed. Every input is passed in a heap buffer of exactly
// its size, so a sanitizer sees any read past its end. Fails (exit 1) if no
// input was found; a target reports a broken invariant by aborting.
//
//   frame_fuzzer_test rpc/fuzz/frame_corpus/*
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// Mutations per corpus file are bounded so a large file stays cheap.
constexpr size_t kMaxPositions = 2048;
constexpr int kRandomMutations = 500;

uint64_t g_runs = 0;

void Run(const std::vector<uint8_t>& bytes, size_t size) {
  std::unique_ptr<uint8_t[]> exact(new uint8_t[size == 0 ? 1 : size]);
  if (size != 0) std::memcpy(exact.get(), bytes.data(), size);
  LLVMFuzzerTestOneInput(exact.get(), size);
  ++g_runs;
}

void Replay(const std::vector<uint8_t>& input) {
  Run(input, input.size());
  for (size_t n = 0; n < input.size(); ++n) Run(input, n);  // prefixes
  std::vector<uint8_t> m = input;
  const size_t positions = std::min(input.size(), kMaxPositions);
  for (size_t i = 0; i < positions; ++i) {
    for (uint8_t v : {uint8_t{0x00}, uint8_t{0xff}, uint8_t(input[i] ^ 0x01),
                      uint8_t(input[i] ^ 0x80), uint8_t(input[i] + 1)}) {
      m[i] = v;
      Run(m, m.size());
    }
    m[i] = input[i];
  }
  uint64_t x = 0x9e3779b97f4a7c15ull ^ input.size();
  auto next = [&x] {  // xorshift64
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int r = 0; r < kRandomMutations && !input.empty(); ++r) {
    m = input;
    const int flips = 1 + static_cast<int>(next() % 8);
    for (int f = 0; f < flips; ++f) {
      m[next() % m.size()] = static_cast<uint8_t>(next());
    }
    Run(m, m.size());
  }
}

bool ReadFile(const std::string& path, std::vector<uint8_t>* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in),
              std::istreambuf_iterator<char>());
  return true;
}

void Collect(const std::string& path, std::vector<std::string>* files) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return;
  if (!S_ISDIR(st.st_mode)) {
    files->push_back(path);
    return;
  }
  std::vector<std::string> found;
  if (DIR* d = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') found.push_back(path + "/" + e->d_name);
    }
    ::closedir(d);
  }
  std::sort(found.begin(), found.end());
  files->insert(files->end(), found.begin(), found.end());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) Collect(argv[i], &files);
  if (files.empty()) {
    std::fprintf(stderr, "%s: no corpus inputs given or found\n", argv[0]);
    return 1;
  }
  for (const std::string& f : files) {
    std::vector<uint8_t> bytes;
    if (!ReadFile(f, &bytes)) {
      std::fprintf(stderr, "cannot read %s\n", f.c_str());
      return 1;
    }
    Replay(bytes);
  }
  std::printf("replayed %llu inputs from %zu corpus files\n",
              static_cast<unsigned long long>(g_runs), files.size());
  return 0;
}
