# Empty dependencies file for helloworld_proto.
# This may be replaced when dependencies are built.
