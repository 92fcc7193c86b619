// A user's workspace with its own server/server.h, client/credentials.h,
// rpc/frame.h, ... (the same paths as headers inside shmrpc) includes them
// next to shmrpc's public header and a generated header. shmrpc's headers
// and generated code include their own as "shmrpc/...", so they never pick
// up the user's files: this compiles, and each side sees its own header.
#include <cstring>

#include "client/credentials.h"  // the user's
#include "greeting.shmrpc.h"
#include "server/server.h"  // the user's
#include "shmrpc/shmrpc.h"

#ifndef USER_CLIENT_CREDENTIALS_H_INCLUDED
#error "the user's client/credentials.h was not the one included"
#endif

int main() {
  // The user's header...
  if (std::strcmp(user::ServerBanner(), "user's own server/server.h") != 0) {
    return 1;
  }
  // ...and shmrpc's, both usable in one translation unit.
  shmrpc::ServerBuilder builder;
  shmrpc::ShmChannelOptions options;
  return options.mode == shmrpc::ShmMode::kAuto ? 0 : 1;
}
