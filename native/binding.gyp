{
  "targets": [
    {
      "target_name": "bpflsm",
      "sources": ["src/attachpipeline.cc", "src/binding.cc", "src/core.cc", "src/globals.cc", "src/lsmattach.cc", "src/pins.cc", "src/ring.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
