{
  "targets": [
    {
      "target_name": "garden_addon",
      "sources": [
        "native/addon/addon.cc",
        "native/addon/fdpass.cc",
        "native/addon/pty.cc",
        "native/addon/nsspawn.cc",
        "native/addon/heap.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"]
    },
    {
      "target_name": "init-d",
      "type": "executable",
      "sources": [
        "native/initd/main.cc",
        "native/initd/loop.cc",
        "native/initd/msgpack.cc",
        "native/initd/frame.cc",
        "native/initd/request.cc",
        "native/initd/users.cc",
        "native/initd/spawn.cc",
        "native/initd/ring.cc"
      ],
      "include_dirs": ["native"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wshadow", "-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-std=gnu++17"],
      "ldflags": ["-static"]
    },
    {
      "target_name": "dosh",
      "type": "executable",
      "sources": [
        "native/dosh/main.cc",
        "native/dosh/args.cc",
        "native/dosh/depot.cc",
        "native/dosh/client.cc",
        "native/dosh/terminal.cc",
        "native/dosh/util.cc",
        "native/initd/msgpack.cc",
        "native/initd/frame.cc"
      ],
      "include_dirs": ["native"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wshadow", "-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-std=gnu++17"],
      "ldflags": ["-static"]
    }
  ]
}
