{
  "targets": [
    {
      "target_name": "derrd_expert",
      "sources": ["expert_mixture.c"],
      "cflags": ["-O3", "-std=gnu11", "-ffp-contract=off", "-fno-fast-math", "-Wall"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O3", "-ffp-contract=off"] }
    }
  ]
}
