// The user's own server/server.h: a header of this workspace whose path is
// also a path inside shmrpc. shmrpc's headers and generated code include
// theirs as "shmrpc/server/server.h", so this one never shadows them
// (shadowing_test).
#ifndef USER_SERVER_SERVER_H_
#define USER_SERVER_SERVER_H_

namespace user {
inline const char* ServerBanner() { return "user's own server/server.h"; }
}  // namespace user

#endif  // USER_SERVER_SERVER_H_
