// Test helpers: ranks as threads, ports, running the built binary.
