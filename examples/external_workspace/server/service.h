// The user's own server/service.h (see server/server.h).
#ifndef USER_SERVER_SERVICE_H_
#define USER_SERVER_SERVICE_H_
#define USER_SERVER_SERVICE_H_INCLUDED 1
#endif  // USER_SERVER_SERVICE_H_
