{
  "targets": [
    {
      "target_name": "peregrine_native",
      "sources": [
        "native/addon.c",
        "native/errors.c",
        "native/object.c",
        "native/link.c",
        "native/map.c",
        "native/ringbuf.c",
        "native/iter.c",
        "native/tracefs.c"
      ],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
