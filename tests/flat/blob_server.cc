// A server of tests/flat/blobs.proto for the flat-call tests: `flat` serves
// the FlatService implementation, `proto` the protobuf one, both over gRPC
// and shared memory on 127.0.0.1 (any free port, printed as "ready PORT").
#include <cstring>

#include "tests/flat/blob_service.h"
#include "tests/util/serve_until_stopped.h"

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "flat") == 0) {
    shmrpc::flatcall::FlatBlobService service;
    return shmrpc::testing::ServeUntilStopped("blob_server", &service, 0, true);
  }
  if (argc == 2 && std::strcmp(argv[1], "proto") == 0) {
    shmrpc::flatcall::ProtoBlobService service;
    return shmrpc::testing::ServeUntilStopped("blob_server", &service, 0, true);
  }
  return 2;
}
