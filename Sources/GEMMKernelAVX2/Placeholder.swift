// AVX2+FMA micro-kernel: compiled with a Haswell target CPU (see Package.swift).
