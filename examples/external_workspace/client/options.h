// The user's own client/options.h (see server/server.h).
#ifndef USER_CLIENT_OPTIONS_H_
#define USER_CLIENT_OPTIONS_H_
#define USER_CLIENT_OPTIONS_H_INCLUDED 1
#endif  // USER_CLIENT_OPTIONS_H_
