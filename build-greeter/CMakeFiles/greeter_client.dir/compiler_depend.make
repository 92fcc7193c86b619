# Empty compiler generated dependencies file for greeter_client.
# This may be replaced when dependencies are built.
