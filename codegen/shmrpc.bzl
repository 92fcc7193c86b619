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

srcs may also be proto_library targets, as for cc_grpc_library, so a project
keeps its proto graph:

    proto_library(
        name = "order_proto",
        srcs = ["order.proto"],  # imports "common/money.proto" and
                                 # "google/protobuf/timestamp.proto"
        deps = [
            "//common:money_proto",
            "@com_google_protobuf//:timestamp_proto",
        ],
    )

    cc_shm_grpc_library(
        name = "order_cc",
        srcs = [":order_proto"],
        deps = ["//common:money_cc"],  # cc_shm_grpc_library(srcs = [":money_proto"])
    )

The code is generated for the proto_library's own srcs, at their import paths
as the proto_library sets them (strip_import_prefix, import_prefix: see
ProtoInfo.proto_source_root); everything it depends on, in any package or
repository, is importable. Like cc_grpc_library (and unlike cc_proto_library,
which generates code for the whole graph), the rule does not generate code
for the proto_library's deps: their C++ code comes from the
cc_shm_grpc_library targets in `deps`, and it is an error (at analysis, naming
the proto) if a proto the proto_library depends on has none there, or if a
proto in srcs already has its code in deps (a message defined twice). The
well-known types (@com_google_protobuf//:timestamp_proto and the
others; deps.bzl defines that repository from the system protobuf when the
workspace does not) need no deps: their code is in the system libprotobuf,
which every library links (that of google/protobuf/compiler/plugin.proto is
in libprotoc, @system_protobuf//:protoc_lib).

srcs may mix .proto files and proto_library targets; `proto_root` applies to
the files only. A library built from .proto files may import the protos of a
library in its deps built from proto_library targets. Protos are matched by
import path: the code of a proto that a proto_library depends on may also come
from a library built from that .proto file, at the same import path.
"""

ShmProtoInfo = provider(
    doc = "The .proto files of a cc_shm_grpc_library and how to import them.",
    fields = {
        "sources": "depset of .proto Files, transitively",
        "import_dirs": "depset of -I directories, transitively",
        "generated": "depset of the import paths whose C++ code this " +
                     "library or one of its deps has",
    },
)

_EXTENSIONS = [".pb.h", ".pb.cc", ".grpc.pb.h", ".grpc.pb.cc"]
_SHM_EXTENSIONS = [".shmrpc.h", ".shmrpc.cc"]
_FLAT_EXTENSIONS = [".flat.h", ".flat.cc"]

# Shipped with protoc next to the well-known types, its C++ code in libprotoc.
_COMPILER_PLUGIN_PROTO = "google/protobuf/compiler/plugin.proto"

def _root_of(src, proto_root):
    """The directory that `src`'s import path is relative to."""
    root = src.owner.workspace_root  # "" in the main repository
    if proto_root:
        root = root + "/" + proto_root if root else proto_root
    return root

def _relative_to(path, root):
    """`path` relative to directory `root` ("" or "." for the exec root), or None."""
    if root in ("", "."):
        return path
    if path.startswith(root + "/"):
        return path[len(root) + 1:]
    return None

def _import_path(src, root):
    path = _relative_to(src.path, root)
    if path == None:
        fail("%s is not under proto_root %s" % (src.path, root))
    return path

def _transitive_import_paths(info):
    """(import path, File) of every proto that ProtoInfo `info` depends on.

    Each file's import path is relative to the longest of the proto paths
    (ProtoInfo.transitive_proto_path) it is under: a proto_library's
    _virtual_imports directory (strip_import_prefix, import_prefix), its
    repository's root, or "." for the main repository's.
    """
    roots = sorted(info.transitive_proto_path.to_list(), key = len, reverse = True)
    result = []
    for f in info.transitive_sources.to_list():
        for root in roots:
            path = _relative_to(f.path, root)
            if path != None:
                result.append((path, f))
                break
    return result

def _gen_impl(ctx):
    library = ctx.label.relative(ctx.attr.library)
    well_known_dir = ctx.files._well_known_protos[0].dirname
    well_known_dir = well_known_dir[:well_known_dir.rfind("/google/protobuf")]
    well_known = {
        "google/protobuf/" + f.basename: True
        for f in ctx.files._well_known_protos
    }
    well_known[_COMPILER_PLUGIN_PROTO] = True
    gen_dir = "_shmrpc_gen/" + ctx.attr.library
    extensions = _EXTENSIONS + (_SHM_EXTENSIONS if ctx.attr.shmrpc else [])
    if ctx.attr.flat:
        extensions = extensions + _FLAT_EXTENSIONS

    # The sources: .proto files, whose import paths are relative to their
    # repository (or proto_root), and proto_library targets, whose direct
    # sources' import paths are relative to ProtoInfo.proto_source_root.
    roots = []
    paths = []
    proto_files = []
    proto_infos = []
    for target in ctx.attr.srcs:
        if ProtoInfo in target:
            info = target[ProtoInfo]
            if not info.direct_sources:
                fail("%s: proto_library %s has no srcs; list the proto_library targets that do" %
                     (library, target.label))
            proto_infos.append((target.label, info))
            for src in info.direct_sources:
                paths.append(_import_path(src, info.proto_source_root))
            continue
        files = [f for f in target.files.to_list() if f.path.endswith(".proto")]
        if not files:
            fail("%s: %s in srcs is neither a .proto file nor a proto_library" %
                 (library, target.label))
        for src in files:
            root = _root_of(src, ctx.attr.proto_root)
            if root not in roots:
                roots.append(root)
            paths.append(_import_path(src, root))
            proto_files.append(src)
    if not paths:
        fail("%s: srcs has no .proto files or proto_library targets" % library)
    if ctx.attr.proto_root and not proto_files:
        fail(("%s: proto_root applies to .proto files in srcs; a proto_library " +
              "sets its import paths itself (strip_import_prefix, import_prefix)") % library)

    dep_generated = depset(transitive = [d[ShmProtoInfo].generated for d in ctx.attr.deps])
    has_code = {p: True for p in dep_generated.to_list()}
    seen = {}
    for path in paths:
        if path in well_known:
            fail(("%s: %s is protobuf's own, its C++ code in the system " +
                  "protobuf: not for srcs. A proto_library imports it " +
                  "through its deps (@com_google_protobuf//:*_proto).") %
                 (library, path))
        if path in has_code:
            fail(("%s: %s already has its C++ code in a library in deps " +
                  "(each proto has it in one library only)") % (library, path))
        if path in seen:
            fail("%s: %s is in srcs more than once" % (library, path))
        seen[path] = True

    # Every proto the proto_library targets depend on needs its C++ code
    # linked: generated here, by a cc_shm_grpc_library in deps, or (the
    # well-known types) in the system protobuf.
    for path in paths:
        has_code[path] = True
    for label, info in proto_infos:
        for path, f in _transitive_import_paths(info):
            if path not in has_code and path not in well_known:
                fail(("%s: %s depends on %s (%s), whose C++ code none of " +
                      "deps has. Add to deps the cc_shm_grpc_library of the " +
                      "proto_library with %s in its srcs.") %
                     (library, label, path, f.owner, path))

    outputs = []
    for path in paths:
        base = path[:-len(".proto")]
        for ext in extensions:
            outputs.append(ctx.actions.declare_file(gen_dir + "/" + base + ext))

    # protoc writes each output at <out_dir>/<import path minus .proto><ext>.
    first = outputs[0].path
    out_dir = first[:len(first) - len(paths[0][:-len(".proto")] + extensions[0]) - 1]

    sources = depset(
        proto_files,
        transitive = [info.transitive_sources for _, info in proto_infos] +
                     [d[ShmProtoInfo].sources for d in ctx.attr.deps],
    )
    import_dirs = depset(
        [r if r else "." for r in roots],
        transitive = [info.transitive_proto_path for _, info in proto_infos] +
                     [d[ShmProtoInfo].import_dirs for d in ctx.attr.deps],
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
        ShmProtoInfo(
            sources = sources,
            import_dirs = import_dirs,
            generated = depset(paths, transitive = [dep_generated]),
        ),
    ]

_shm_proto_gen = rule(
    implementation = _gen_impl,
    attrs = {
        # .proto files and proto_library targets (whose files are their
        # descriptor sets), told apart in _gen_impl.
        "srcs": attr.label_list(allow_files = True, mandatory = True),
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
      srcs: .proto files (with services, or only messages) and/or
        proto_library targets; code is generated for the files and for the
        proto_library targets' own srcs.
      deps: other cc_shm_grpc_library targets that `srcs` import, with the
        C++ code of every proto the proto_library targets in `srcs` depend
        on (but the well-known types'). Not proto_library targets: those
        belong in the deps of the proto_library.
      proto_root: directory (relative to the .proto files' repository root)
        that their import paths are relative to; default: the repository
        root. Not for proto_library targets, which set theirs with
        strip_import_prefix and import_prefix.
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
