# Empty dependencies file for greeter_server.
# This may be replaced when dependencies are built.
