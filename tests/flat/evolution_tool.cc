// One side of the schema-evolution test (evolution_test.sh), built once
// against each version of tests/flat/evo/*/record.proto (EVO_V2 for the
// second): `write FILE` writes a flat Record with every field of its version
// set; `read FILE` reads a flat Record written by either version and prints
// the fields its version knows, one per line.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "record.flat.h"
#include "shmrpc/message/flat.h"

namespace {

using shmrpc::evo::flat::RecordBuilder;
using shmrpc::evo::flat::RecordView;

int Write(const char* path) {
  shmrpc::flat::HeapArena arena;
  RecordBuilder r = RecordBuilder::New(&arena);
  r.set_id(7);
  r.set_name("seven");
  r.add_values(-1);
  r.add_values(2);
  r.mutable_sub().set_a(3);
#ifdef EVO_V2
  r.mutable_sub().set_b("bee");
  r.set_added("new");
  r.set_note(99);
  r.set_widened(uint64_t{1} << 40);
#else
  r.set_removed(55);
  r.set_note("a string");
  r.set_widened(4000000000u);
#endif
  if (!arena.Finish(r).ok()) return 1;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(arena.written().data()),
            static_cast<std::streamsize>(arena.written().size()));
  return out ? 0 : 1;
}

int Read(const char* path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)),
                          std::istreambuf_iterator<char>());
  std::vector<uint64_t> aligned((bytes.size() + 7) / 8);
  std::memcpy(aligned.data(), bytes.data(), bytes.size());
  shmrpc::flat::Reader reader(absl::Span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(aligned.data()), bytes.size()));
  absl::StatusOr<RecordView> r = reader.Root<RecordView>();
  if (!r.ok()) {
    std::cerr << r.status() << "\n";
    return 1;
  }
  std::cout << "id " << r->id() << "\n";
  std::cout << "name " << r->name() << "\n";
  std::cout << "values";
  for (auto v : r->values()) std::cout << " " << v;
  std::cout << "\n";
  std::cout << "sub.a " << r->sub().a() << "\n";
#ifdef EVO_V2
  std::cout << "sub.b " << r->sub().b() << "\n";
  std::cout << "added " << r->added() << "\n";
#else
  std::cout << "removed " << r->removed() << "\n";
#endif
  std::cout << "note " << r->note() << "\n";
  std::cout << "widened " << r->widened() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "write") == 0) return Write(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "read") == 0) return Read(argv[2]);
  std::cerr << "usage: evolution_tool write|read FILE\n";
  return 2;
}
