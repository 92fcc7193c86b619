"""Repositories shmrpc needs, for this workspace and for workspaces that use it.

Another Bazel workspace uses shmrpc with:

    local_repository(name = "shmrpc", path = "/path/to/shmrpc")
    load("@shmrpc//:deps.bzl", "shmrpc_dependencies")
    shmrpc_dependencies()

Everything comes from the local machine; nothing is downloaded:

  * @rules_cc, @rules_java, @remote_coverage_tools: small Bazel-4-compatible
    stand-ins kept under third_party/ (Bazel 4.2.3's @bazel_tools loads them and
    would otherwise download them). A workspace that already defines one of
    these names (say, the real rules_cc on a newer Bazel) keeps its own.
  * @system_absl, @system_protobuf, @system_grpc, @system_gtest,
    @system_benchmark: the Debian packages installed by tools/setup.sh, brought
    in with new_local_repository.
  * @com_google_protobuf: a stand-in for protobuf's own repository, made of
    the same Debian protobuf (rooted at <prefix>/include): `:protoc`, which
    Bazel's native proto_library runs (--proto_compiler's default), and
    proto_library targets for the well-known types (`:timestamp_proto`,
    `:any_proto`, `:descriptor_proto`, ...), so a workspace's proto_library
    can depend on them. A workspace that defines its own keeps it.
"""

def _vendored_repository_impl(rctx):
    # The directory that holds the marker file is the repository's root.
    root = rctx.path(rctx.attr.marker).dirname
    for child in root.readdir():
        rctx.symlink(child, child.basename)
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)

_vendored_repository = repository_rule(
    implementation = _vendored_repository_impl,
    attrs = {
        "marker": attr.label(
            allow_single_file = True,
            mandatory = True,
            doc = "A file at the root of the vendored directory.",
        ),
    },
    local = True,
    doc = "A repository made of a directory checked in under shmrpc's third_party/.",
)

_VENDORED = {
    "rules_cc": "//third_party/rules_cc:BUILD.bazel",
    "rules_java": "//third_party/rules_java:BUILD.bazel",
    "remote_coverage_tools": "//third_party/remote_coverage_tools:BUILD.bazel",
}

_SYSTEM = {
    "system_absl": "//third_party/system:absl.BUILD",
    "system_benchmark": "//third_party/system:benchmark.BUILD",
    "system_grpc": "//third_party/system:grpc.BUILD",
    "system_gtest": "//third_party/system:gtest.BUILD",
    "system_protobuf": "//third_party/system:protobuf.BUILD",
}

# Repositories rooted at <prefix>/include rather than <prefix>.
_SYSTEM_INCLUDE = {
    "com_google_protobuf": "//third_party/system:com_google_protobuf.BUILD",
}

def shmrpc_dependencies(system_prefix = "/usr"):
    """Defines every repository shmrpc's BUILD files refer to.

    Args:
      system_prefix: where the system libraries are installed; their headers
        are under `<prefix>/include` and their shared libraries on the
        linker's default search path.
    """
    for name, marker in _VENDORED.items():
        if not native.existing_rule(name):
            _vendored_repository(name = name, marker = Label(marker))
    for name, build_file in _SYSTEM.items():
        if not native.existing_rule(name):
            native.new_local_repository(
                name = name,
                path = system_prefix,
                build_file = str(Label(build_file)),
            )
    for name, build_file in _SYSTEM_INCLUDE.items():
        if not native.existing_rule(name):
            native.new_local_repository(
                name = name,
                path = system_prefix + "/include",
                build_file = str(Label(build_file)),
            )
