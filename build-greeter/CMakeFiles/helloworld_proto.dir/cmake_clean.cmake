file(REMOVE_RECURSE
  "CMakeFiles/helloworld_proto.dir/shmrpc_gen/helloworld_proto/examples/greeter/helloworld.grpc.pb.cc.o"
  "CMakeFiles/helloworld_proto.dir/shmrpc_gen/helloworld_proto/examples/greeter/helloworld.grpc.pb.cc.o.d"
  "CMakeFiles/helloworld_proto.dir/shmrpc_gen/helloworld_proto/examples/greeter/helloworld.pb.cc.o"
  "CMakeFiles/helloworld_proto.dir/shmrpc_gen/helloworld_proto/examples/greeter/helloworld.pb.cc.o.d"
  "CMakeFiles/helloworld_proto.dir/shmrpc_gen/helloworld_proto/examples/greeter/helloworld.shmrpc.cc.o"
  "CMakeFiles/helloworld_proto.dir/shmrpc_gen/helloworld_proto/examples/greeter/helloworld.shmrpc.cc.o.d"
  "shmrpc_gen/helloworld_proto/examples/greeter/helloworld.grpc.pb.cc"
  "shmrpc_gen/helloworld_proto/examples/greeter/helloworld.grpc.pb.h"
  "shmrpc_gen/helloworld_proto/examples/greeter/helloworld.pb.cc"
  "shmrpc_gen/helloworld_proto/examples/greeter/helloworld.pb.h"
  "shmrpc_gen/helloworld_proto/examples/greeter/helloworld.shmrpc.cc"
  "shmrpc_gen/helloworld_proto/examples/greeter/helloworld.shmrpc.h"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/helloworld_proto.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
