"""cc_shm_grpc_library: protobuf + gRPC + shmrpc code from .proto files.

The analogue of gRPC's cc_grpc_library. From another workspace:

    load("@shmrpc//codegen:shmrpc.bzl", "cc_shm_grpc_library")

    cc_shm_grpc_library(
        name = "helloworld",
        srcs = ["helloworld.proto"],
    )

yields one cc_library, `:helloworld`, whose headers are, for each source
`dir/x.proto` (import path relative to its repository, or to `proto_root`):

    dir/x.pb.h        protobuf messages       (protoc --cpp_out)
    dir/x.grpc.pb.h   gRPC stubs and services (grpc_cpp_plugin)
    dir/x.shmrpc.h    shmrpc stubs and services (protoc-gen-shmrpc)
    dir/x.flat.h      with flat = True: flat views and builders of every
                      message (FooView, FooBuilder in <package>::flat;
                      shmrpc/message/flat.h)

`deps` are other cc_shm_grpc_library targets whose protos these import. The
well-known types (google/protobuf/*.proto) are always importable.
"""

ShmProtoInfo = provider(
    doc = "The .proto files of a cc_shm_grpc_library and how to import them.",
    fields = {
        "sources": "depset of .proto Files, transitively",
        "import_dirs": "depset of -I directories, transitively",
    },
)

_EXTENSIONS = [".pb.h", ".pb.cc", ".grpc.pb.h", ".grpc.pb.cc"]
_SHM_EXTENSIONS = [".shmrpc.h", ".shmrpc.cc"]
_FLAT_EXTENSIONS = [".flat.h", ".flat.cc"]

def _root_of(src, proto_root):
    """The directory that `src`'s import path is relative to."""
    root = src.owner.workspace_root  # "" in the main repository
    if proto_root:
        root = root + "/" + proto_root if root else proto_root
    return root

def _import_path(src, root):
    if not root:
        return src.path
    if not src.path.startswith(root + "/"):
        fail("%s is not under proto_root %s" % (src.path, root))
    return src.path[len(root) + 1:]

def _gen_impl(ctx):
    well_known_dir = ctx.files._well_known_protos[0].dirname
    well_known_dir = well_known_dir[:well_known_dir.rfind("/google/protobuf")]
    gen_dir = "_shmrpc_gen/" + ctx.attr.library
    extensions = _EXTENSIONS + (_SHM_EXTENSIONS if ctx.attr.shmrpc else [])
    if ctx.attr.flat:
        extensions = extensions + _FLAT_EXTENSIONS

    roots = []
    paths = []
    outputs = []
    for src in ctx.files.srcs:
        root = _root_of(src, ctx.attr.proto_root)
        path = _import_path(src, root)
        if root not in roots:
            roots.append(root)
        paths.append(path)
        base = path[:-len(".proto")]
        for ext in extensions:
            outputs.append(ctx.actions.declare_file(gen_dir + "/" + base + ext))

    # protoc writes each output at <out_dir>/<import path minus .proto><ext>.
    first = outputs[0].path
    out_dir = first[:len(first) - len(paths[0][:-len(".proto")] + extensions[0]) - 1]

    sources = depset(
        ctx.files.srcs,
        transitive = [d[ShmProtoInfo].sources for d in ctx.attr.deps],
    )
    import_dirs = depset(
        [r if r else "." for r in roots],
        transitive = [d[ShmProtoInfo].import_dirs for d in ctx.attr.deps],
    )

    args = ctx.actions.args()
    args.add("--plugin=protoc-gen-grpc=" + ctx.executable._grpc_plugin.path)
    args.add("--cpp_out=" + out_dir)
    args.add("--grpc_out=" + out_dir)
    tools = [ctx.executable._grpc_plugin]
    if ctx.attr.shmrpc:
        args.add("--plugin=protoc-gen-shmrpc=" + ctx.executable._shmrpc_plugin.path)
        if ctx.attr.flat:
            args.add("--shmrpc_opt=flat=true")
        args.add("--shmrpc_out=" + out_dir)
        tools.append(ctx.executable._shmrpc_plugin)
    args.add_all(import_dirs, format_each = "-I%s")
    args.add("-I" + well_known_dir)
    args.add_all(paths)

    ctx.actions.run(
        executable = ctx.executable._protoc,
        arguments = [args],
        inputs = depset(ctx.files._well_known_protos, transitive = [sources]),
        tools = tools,
        outputs = outputs,
        mnemonic = "ShmrpcProtoc",
        progress_message = "Generating protobuf, gRPC and shmrpc code for %s" % ctx.label,
    )
    return [
        DefaultInfo(
            files = depset(outputs),
            runfiles = ctx.runfiles(files = outputs),
        ),
        OutputGroupInfo(
            headers = depset([f for f in outputs if f.path.endswith(".h")]),
            sources = depset([f for f in outputs if f.path.endswith(".cc")]),
        ),
        ShmProtoInfo(sources = sources, import_dirs = import_dirs),
    ]

_shm_proto_gen = rule(
    implementation = _gen_impl,
    attrs = {
        "srcs": attr.label_list(allow_files = [".proto"], mandatory = True),
        "deps": attr.label_list(providers = [ShmProtoInfo]),
        "proto_root": attr.string(),
        "library": attr.string(mandatory = True),
        "shmrpc": attr.bool(default = True),
        "flat": attr.bool(default = False),
        "_protoc": attr.label(
            default = Label("@system_protobuf//:bin/protoc"),
            executable = True,
            allow_single_file = True,
            cfg = "host",
        ),
        "_grpc_plugin": attr.label(
            default = Label("@system_grpc//:bin/grpc_cpp_plugin"),
            executable = True,
            allow_single_file = True,
            cfg = "host",
        ),
        "_shmrpc_plugin": attr.label(
            default = Label("//codegen:protoc-gen-shmrpc"),
            executable = True,
            cfg = "host",
        ),
        "_well_known_protos": attr.label(
            default = Label("@system_protobuf//:well_known_protos"),
        ),
    },
)

def _protos_target(dep):
    """The generation target of cc_shm_grpc_library `dep`."""
    if dep.startswith(":"):
        return dep + "_protos"
    if ":" in dep:
        return dep + "_protos"
    # "//pkg/name" is short for "//pkg/name:name".
    return dep + ":" + dep.split("/")[-1] + "_protos"

def cc_shm_grpc_library(
        name,
        srcs,
        deps = [],
        proto_root = None,
        shmrpc = True,
        flat = False,
        visibility = None,
        testonly = False,
        **kwargs):
    """One cc_library with the protobuf, gRPC and shmrpc code for `srcs`.

    Args:
      name: the cc_library's name.
      srcs: .proto files (with services, or only messages).
      deps: other cc_shm_grpc_library targets that `srcs` import.
      proto_root: directory (relative to the sources' repository root) that
        import paths are relative to; default: the repository root.
      shmrpc: also generate the shmrpc code (.shmrpc.h/.cc).
      flat: also generate flat views and builders of every message
        (.flat.h/.cc); the libraries in `deps` whose messages these use
        must be flat too.
      visibility: of the cc_library.
      testonly: as for any rule.
      **kwargs: passed to the cc_library (e.g. tags).
    """
    _shm_proto_gen(
        name = name + "_protos",
        srcs = srcs,
        deps = [_protos_target(d) for d in deps],
        proto_root = proto_root,
        library = name,
        shmrpc = shmrpc,
        flat = flat,
        visibility = visibility,
        testonly = testonly,
    )
    runtime = [
        Label("@system_protobuf//:protobuf"),
        Label("@system_grpc//:grpc++"),
    ]
    if shmrpc:
        runtime += [
            Label("//:config"),
            Label("//client:generated_stub"),
            Label("//server:service"),
        ]
    if flat:
        if not shmrpc:
            fail("cc_shm_grpc_library: flat = True needs shmrpc = True")
        runtime.append(Label("//message:flat"))
        runtime.append(Label("//message:well_known_flat"))
        runtime.append(Label("//server:flat_service"))
    for group in ["headers", "sources"]:
        native.filegroup(
            name = "%s_%s" % (name, group),
            srcs = [":" + name + "_protos"],
            output_group = group,
            visibility = ["//visibility:private"],
            testonly = testonly,
        )
    native.cc_library(
        name = name,
        srcs = [":" + name + "_sources"],
        hdrs = [":" + name + "_headers"],
        includes = ["_shmrpc_gen/" + name],
        deps = deps + runtime,
        # The shmrpc code registers its methods' codecs in static
        # initializers, which must be linked even if nothing refers to them.
        alwayslink = shmrpc,
        visibility = visibility,
        testonly = testonly,
        **kwargs
    )
