// The user's own rpc/frame.h (see server/server.h).
#ifndef USER_RPC_FRAME_H_
#define USER_RPC_FRAME_H_
#define USER_RPC_FRAME_H_INCLUDED 1
#endif  // USER_RPC_FRAME_H_
