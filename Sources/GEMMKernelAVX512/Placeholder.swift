// AVX-512 micro-kernel: compiled with an AVX-512 target CPU (see Package.swift).
