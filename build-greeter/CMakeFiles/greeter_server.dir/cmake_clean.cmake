file(REMOVE_RECURSE
  "CMakeFiles/greeter_server.dir/greeter_server.cc.o"
  "CMakeFiles/greeter_server.dir/greeter_server.cc.o.d"
  "greeter_server"
  "greeter_server.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/greeter_server.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
