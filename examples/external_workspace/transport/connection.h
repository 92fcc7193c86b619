// The user's own transport/connection.h (see server/server.h).
#ifndef USER_TRANSPORT_CONNECTION_H_
#define USER_TRANSPORT_CONNECTION_H_
#define USER_TRANSPORT_CONNECTION_H_INCLUDED 1
#endif  // USER_TRANSPORT_CONNECTION_H_
