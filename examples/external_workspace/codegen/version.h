// The user's own codegen/version.h (see server/server.h).
#ifndef USER_CODEGEN_VERSION_H_
#define USER_CODEGEN_VERSION_H_
#define USER_CODEGEN_VERSION_H_INCLUDED 1
#endif  // USER_CODEGEN_VERSION_H_
