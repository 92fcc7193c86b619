file(REMOVE_RECURSE
  "CMakeFiles/greeter_client.dir/greeter_client.cc.o"
  "CMakeFiles/greeter_client.dir/greeter_client.cc.o.d"
  "greeter_client"
  "greeter_client.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/greeter_client.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
