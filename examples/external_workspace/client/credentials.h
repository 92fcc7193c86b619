// The user's own client/credentials.h (see server/server.h).
#ifndef USER_CLIENT_CREDENTIALS_H_
#define USER_CLIENT_CREDENTIALS_H_
#define USER_CLIENT_CREDENTIALS_H_INCLUDED 1
#endif  // USER_CLIENT_CREDENTIALS_H_
