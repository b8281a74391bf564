#!/usr/bin/env python3
"""Writes the GEMM micro-kernels: one MR×NR register tile per instruction set, as plain Swift SIMD code.

Why generated: a register tile needs MR×(NR/lanes) accumulators held in named locals so the optimiser keeps
them all in registers (arrays or tuples indexed in loops are not reliably promoted). Writing 24 of them by hand
is error-prone; this script writes them identically for every ISA.  Paths are relative to the repository root
(found from this script's location, so it runs from any directory):
    python3 scripts/gen-gemm-kernels.py           # rewrites the generated files
    python3 scripts/gen-gemm-kernels.py --check   # exits 1, naming the first stale file, if any differs (CI)
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def kernel(name, mr, nvec, vt, lanes, fused, doc, astride=None, pack_b=False, pack_a=False, pack_a_rows=False,
           split_k=False):
    """pack_b: B is read from its source rows (`ldb` floats apart, as stored, not transposed) and each step's
    nr floats are also written to `packedB`, so the first row panel packs B as a side effect of its FMAs.
    pack_a: likewise for A transposed as stored: step p's mr floats are contiguous at `a + p·lda`, and are also
    written to `packedA`, so the first column panel packs A.
    pack_a_rows: likewise for A as stored (not transposed): tile row r's step p is `a[r·lda + p]`, read from mr
    source rows (each a sequential stream) and written as the packed step's mr floats.
    split_k: even and odd k steps go to two sets of accumulators, added at the end. A tile of few accumulators
    (2×16 on AVX2: 4) otherwise waits on each FMA's latency (4 cycles on 2 ports want 8 chains in flight)."""
    astride = astride or mr
    bstride = bstride_override.get(name, nvec * lanes)
    bparams = "b: UnsafePointer<Float>, ldb: Int, packedB: UnsafeMutablePointer<Float>," if pack_b else "b: UnsafePointer<Float>,"
    aparams = "a: UnsafePointer<Float>, lda: Int, packedA: UnsafeMutablePointer<Float>," if pack_a or pack_a_rows else "a: UnsafePointer<Float>,"
    L = [doc, "@inline(never)", f"public func {name}(",
         f"    kc: Int, {aparams} {bparams}",
         "    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float",
         ") {"]
    L += prologue(mr, nvec, vt, pack_b, pack_a, pack_a_rows)
    body = step(mr, nvec, vt, lanes, fused, pack_b, pack_a, pack_a_rows) + advance(mr, astride, bstride, pack_b, pack_a, pack_a_rows)
    if split_k:
        assert not (pack_b or pack_a or pack_a_rows)
        odd = [re.sub(r"\bc(\d+)_(\d+)\b", r"d\1_\2", line) for line in body]
        L += ["    " + "; ".join(f"var d{r}_{v} = {vt}()" for v in range(nvec)) for r in range(mr)]
        L += ["    var p = 0", "    while p &+ 1 < kc {", "        do {"] + ["    " + x for x in body] + ["        }", "        do {"]
        L += ["    " + x for x in odd] + ["        }", "        p += 2", "    }", "    if p < kc {"] + body + ["    }"]
        L += [f"    c{r}_{v} += d{r}_{v}" for r in range(mr) for v in range(nvec)]
    else:
        L += ["    var p = 0", "    while p < kc {"] + body + ["        p += 1", "    }"]
    L += epilogue(mr, nvec, vt, lanes, fused)
    return "\n".join(L) + "\n"


def prologue(mr, nvec, vt, pack_b, pack_a, pack_a_rows):
    """The zeroed accumulators and the source and destination pointers."""
    L = ["    " + "; ".join(f"var c{r}_{v} = {vt}()" for v in range(nvec)) for r in range(mr)]
    L += (["    var pa = a"] if not pack_a_rows else []) + ["    var pb = UnsafeRawPointer(b)"]
    if pack_b:
        L += ["    let bStep = ldb &* 4", "    var pd = UnsafeMutableRawPointer(packedB)"]
    if pack_a or pack_a_rows:
        L += ["    var pda = UnsafeMutableRawPointer(packedA)"]
    if pack_a_rows:  # rows 3q..3q+2 read at q-th base + 0, l1, l2 bytes: few registers for mr row streams
        assert mr % 3 == 0
        L += ["    let l1 = lda &* 4, l2 = lda &* 8"]
        L += [f"    var q{q} = UnsafeRawPointer(a) + {3 * q} &* l1" for q in range(mr // 3)]
    return L


def step(mr, nvec, vt, lanes, fused, pack_b, pack_a, pack_a_rows):
    """One k step: load (and maybe store) the B vectors and A scalars, then the tile's FMAs row by row."""
    L = []
    if pack_a:  # the step's mr floats in the widest SIMD pieces
        off = 0
        for w in (16, 8, 4, 2):
            while mr - off >= w:
                L.append(f"        pda.storeBytes(of: UnsafeRawPointer(pa).loadUnaligned(fromByteOffset: {off * 4}, as: SIMD{w}<Float>.self), toByteOffset: {off * 4}, as: SIMD{w}<Float>.self)")
                off += w
        assert off == mr
    L += [f"        let b{v} = pb.loadUnaligned(fromByteOffset: {v * lanes * 4}, as: {vt}.self)" for v in range(nvec)]
    if pack_b:
        L += [f"        pd.storeBytes(of: b{v}, toByteOffset: {v * lanes * 4}, as: {vt}.self)" for v in range(nvec)]
    for r in range(mr):
        if pack_a_rows:  # after the B loads, so the stores (which may alias them) do not hold every row's value live
            off = ["", "fromByteOffset: l1, ", "fromByteOffset: l2, "][r % 3]
            L.append(f"        let s{r} = q{r // 3}.load({off}as: Float.self)")
            L.append(f"        pda.storeBytes(of: s{r}, toByteOffset: {r * 4}, as: Float.self)")
        L.append(f"        let a{r} = {vt}(repeating: {f's{r}' if pack_a_rows else f'pa[{r}]'})")
        for v in range(nvec):
            if fused:
                L.append(f"        c{r}_{v} = c{r}_{v}.addingProduct(a{r}, b{v})")
            else:
                L.append(f"        c{r}_{v} = c{r}_{v} + a{r} * b{v}")
    return L


def advance(mr, astride, bstride, pack_b, pack_a, pack_a_rows):
    """Moves every pointer to the next k step."""
    if pack_a_rows:
        L = [f"        q{q} += 4" for q in range(mr // 3)] + [f"        pda += {astride * 4}"]
    else:
        L = ["        pa += lda", f"        pda += {astride * 4}"] if pack_a else [f"        pa += {astride}"]
    L += ["        pb += bStep", f"        pd += {bstride * 4}"] if pack_b else [f"        pb += {bstride * 4}"]
    return L


def epilogue(mr, nvec, vt, lanes, fused):
    """C = α·tile (β = 0: C is not read, so NaN there is ignored) or C = α·tile + β·C. α = 1 with β = 0 or 1 (a
    product's first and later kc blocks, as training calls them) skips the mr·nvec multiplies by α: at k = 10 (an
    output layer's ∂x) they are a tenth of the tile's floating-point work. 1·x is x, and fma(1, C, x) rounds x + C
    once, so every path gives the same bits."""
    store = lambda value: store_tile(mr, nvec, vt, lanes, value)
    L = ["    if alpha == 1 && beta == 0 {"] + store(lambda acc, old: acc)
    L += ["        return", "    }", "    if alpha == 1 && beta == 1 {"] + store(lambda acc, old: f"{acc} + {old}")
    L += ["        return", "    }", f"    let va = {vt}(repeating: alpha)", "    if beta == 0 {"]
    L += store(lambda acc, old: f"{acc} * va")
    L += ["    } else {", f"        let vb = {vt}(repeating: beta)"]
    L += store(lambda acc, old: f"({acc} * va).addingProduct(vb, {old})" if fused else f"{acc} * va + vb * {old}")
    return L + ["    }", "}"]


def store_tile(mr, nvec, vt, lanes, value):
    """Every tile row's pointer into C and one store per vector of `value(acc, old)`: `acc` names the accumulator,
    `old` an expression that reads C at the same place (only the β ≠ 0 paths use it)."""
    L = []
    for r in range(mr):
        L.append(f"        let r{r} = UnsafeMutableRawPointer(c + {r} * ldc)")
        for v in range(nvec):
            old = f"r{r}.loadUnaligned(fromByteOffset: {v * lanes * 4}, as: {vt}.self)"
            L.append(f"        r{r}.storeBytes(of: {value(f'c{r}_{v}', old)}, toByteOffset: {v * lanes * 4}, as: {vt}.self)")
    return L


bstride_override = {}

HEADER = "// GENERATED by scripts/gen-gemm-kernels.py: edit the generator, not this file.\n\n"

def doc(mr, nr, isa, extra):
    return (f"/// The {isa} micro-kernel: C[0..<{mr}, 0..<{nr}] = α·(A·B) + β·C over `kc` steps of packed panels.\n"
            f"/// `a` holds {mr} floats per step (one per tile row, broadcast), `b` holds {nr} floats per step (vector loads);\n"
            f"/// β = 0 stores without reading C, so NaN there is ignored.{extra}")

OUTPUTS = {}  # path relative to ROOT -> the text the generator produces for it


def write(path, text):
    OUTPUTS[path] = HEADER + text

TILES = {  # the register tiles; mr/nr in Sources/Tensors/GEMM/Float32Kernels.swift must agree
    "avx512": (12, 2, "SIMD16<Float>", 16),
    "avx2": (6, 2, "SIMD8<Float>", 8),
    "portable": (4, 2, "SIMD4<Float>", 4),
}

mr, nv, vt, ln = TILES["avx512"]
text = "#if arch(x86_64)\n" + kernel("sgemmMicroKernelAVX512", mr, nv, vt, ln, True,
      doc(mr, nv * ln, "AVX-512", "\n/// Compiled with an AVX-512 target CPU: the step is 2 vector loads and 24 vfmadd231ps on zmm with\n"
          "/// broadcasts (24 of the 32 zmm registers hold the tile)."))
# Edge kernels read the same 12×32 packed panels but compute only part of the tile, so a tile with few rows or
# columns left costs what it computes rather than a whole 12×32 tile.
for rows, vecs in [(8, 2), (4, 2), (12, 1)]:
    name = f"sgemmMicroKernelAVX512_{rows}x{vecs * ln}"
    bstride_override[name] = nv * ln
    text += "\n" + kernel(name, rows, vecs, vt, ln, True,
        f"/// AVX-512 edge kernel: the first {rows} rows × {vecs * ln} columns of a 12×32 packed tile.", astride=mr)
text += "\n" + kernel("sgemmMicroKernelAVX512PackingB", mr, nv, vt, ln, True,
    "/// The AVX-512 micro-kernel for the first row panel of a block: B comes straight from its rows (`ldb` apart,\n"
    "/// as stored) and each step's 32 floats are also written to `packedB`, so packing B costs no pass of its own\n"
    "/// and its memory traffic overlaps the FMAs. Later row panels read the packed copy.", pack_b=True)
text += "\n" + kernel("sgemmMicroKernelAVX512PackingA", mr, nv, vt, ln, True,
    "/// The AVX-512 micro-kernel for the first column panel when A is transposed as stored: step p's 12 floats come\n"
    "/// straight from `a + p·lda` and are also written to `packedA`, so packing A costs no pass of its own.\n"
    "/// Later column panels read the packed copy.", pack_a=True)
text += "\n" + kernel("sgemmMicroKernelAVX512PackingARows", mr, nv, vt, ln, True,
    "/// The AVX-512 micro-kernel for the first column panel when A is as stored (not transposed): tile row r's step p\n"
    "/// is broadcast straight from `a[r·lda + p]` (12 sequential row streams) and also written to `packedA`, so\n"
    "/// packing A costs no pass of its own. Later column panels read the packed copy.", pack_a_rows=True)
write("Sources/KernelsAVX512/MicroKernelAVX512.swift", text + "#endif\n")
mr, nv, vt, ln = TILES["avx2"]
text = "#if arch(x86_64)\n" + kernel("sgemmMicroKernelAVX2", mr, nv, vt, ln, True,
      doc(mr, nv * ln, "AVX2+FMA", "\n/// Compiled with a Haswell target CPU: 12 of the 16 ymm registers hold the tile."))
# The same edge and packing kernels as AVX-512's, for the 6×16 tile. Rows 4 and 2 are what m leaves at the
# training shapes (128 = 21·6 + 2, 784 = 130·6 + 4, 256 = 42·6 + 4); 6×8 covers an n that leaves ≤ 8 columns.
for rows, vecs in [(4, 2), (2, 2), (6, 1)]:
    name = f"sgemmMicroKernelAVX2_{rows}x{vecs * ln}"
    bstride_override[name] = nv * ln
    text += "\n" + kernel(name, rows, vecs, vt, ln, True,
        f"/// AVX2 edge kernel: the first {rows} rows × {vecs * ln} columns of a 6×16 packed tile.", astride=mr,
        split_k=rows * vecs < 8)
text += "\n" + kernel("sgemmMicroKernelAVX2PackingB", mr, nv, vt, ln, True,
    "/// The AVX2 micro-kernel for the first row panel of a block, packing B as it reads it from its rows (`ldb`\n"
    "/// apart): each step's 16 floats are also written to `packedB`. See sgemmMicroKernelAVX512PackingB.", pack_b=True)
text += "\n" + kernel("sgemmMicroKernelAVX2PackingA", mr, nv, vt, ln, True,
    "/// The AVX2 micro-kernel for the first column panel when A is transposed as stored: step p's 6 floats come\n"
    "/// from `a + p·lda` and are also written to `packedA`. See sgemmMicroKernelAVX512PackingA.", pack_a=True)
text += "\n" + kernel("sgemmMicroKernelAVX2PackingARows", mr, nv, vt, ln, True,
    "/// The AVX2 micro-kernel for the first column panel when A is as stored: tile row r's step p is broadcast from\n"
    "/// `a[r·lda + p]` (6 row streams) and also written to `packedA`. See sgemmMicroKernelAVX512PackingARows.",
    pack_a_rows=True)
write("Sources/KernelsAVX2/MicroKernelAVX2.swift", text + "#endif\n")
mr, nv, vt, ln = TILES["portable"]
write("Sources/Tensors/GEMM/MicroKernelPortable.swift",
      kernel("sgemmMicroKernelPortable", mr, nv, vt, ln, False,
      doc(mr, nv * ln, "portable", "\n/// Built for the baseline CPU, so it multiplies and adds separately: `addingProduct` would become\n"
          "/// one libm `fmaf` call per lane where the baseline has no FMA instruction.")).replace("public func", "func"))


def narrow_rows(name, rows, cols, vt, lanes, isa):
    """C[r, j] = α·Σ_p A[r, p]·Bᵀ[j, p] + β·C[r, j] for a `rows` × `cols` block of a C at most 16 columns wide: each
    accumulator holds one (r, j) dot product over `lanes` consecutive p, so every lane does useful work however
    narrow C is (a packed tile leaves n of its nr columns busy). A rows are as stored, Bᵀ's rows are B's columns."""
    L = [f"/// The {isa} narrow-C rows kernel: C[r, j] = α·Σ_p a[r·lda + p]·bt[j·ldbt + p] + β·C[r, j] for r < `rows` ≤ {rows},",
         f"/// j < `cols` ≤ {cols}: {rows}×{cols} dot products over k, {lanes} p per vector, summed across lanes at the end (the tail",
         f"/// of k beyond a whole vector in scalar). Missing rows and columns repeat the last real one and are not stored,",
         "/// so every pointer read stays inside the caller's operands. β = 0 stores without reading C.",
         "@inline(never)", f"public func {name}(",
         "    k: Int, a: UnsafePointer<Float>, lda: Int, rows: Int, bt: UnsafePointer<Float>, ldbt: Int, cols: Int,",
         "    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float", ") {"]
    L += [f"    let a{r} = UnsafeRawPointer(a + min({r}, rows &- 1) &* lda)" for r in range(rows)]
    L += [f"    let b{j} = UnsafeRawPointer(bt + min({j}, cols &- 1) &* ldbt)" for j in range(cols)]
    L += ["    " + "; ".join(f"var c{r}_{j} = {vt}()" for j in range(cols)) for r in range(rows)]
    L += ["    var off = 0", f"    let vectorEnd = k / {lanes} * {lanes}", "    while off < vectorEnd &* 4 {"]
    L += [f"        let x{r} = a{r}.loadUnaligned(fromByteOffset: off, as: {vt}.self)" for r in range(rows)]
    for j in range(cols):
        L += [f"        let w{j} = b{j}.loadUnaligned(fromByteOffset: off, as: {vt}.self)"]
        L += [f"        c{r}_{j} = c{r}_{j}.addingProduct(x{r}, w{j})" for r in range(rows)]
    L += [f"        off &+= {lanes * 4}", "    }"]
    L += ["    // Lane sums, the scalar tail of k, then α and β; only real rows and columns are stored.",
          "    func store(_ r: Int, _ j: Int, _ acc: " + vt + ") {",
          "        guard r < rows, j < cols else { return }",
          "        let (ar, bj) = (a + r &* lda, bt + j &* ldbt)",
          "        var s = laneSum(acc)",
          "        for p in vectorEnd..<k { s += ar[p] * bj[p] }",
          "        let out = c + (r &* ldc &+ j)",
          "        out.pointee = beta == 0 ? alpha * s : alpha * s + beta * out.pointee",
          "    }"]
    L += ["    " + "; ".join(f"store({r}, {j}, c{r}_{j})" for j in range(cols)) for r in range(rows)]
    L += ["}"]
    return "\n".join(L) + "\n"


def narrow_columns(name, nvec, cols, vt, lanes, isa):
    """C[i, j] for `nvec`·`lanes` consecutive i and up to `cols` j, with A transposed as stored (A[p, i] contiguous
    in i): each step loads the A row's vectors and broadcasts B(p, j), so the accumulators run along C's long side."""
    width = nvec * lanes
    L = [f"/// The {isa} narrow-C columns kernel, for A transposed as stored: C[i, j] = α·Σ_p a[p·lda + i]·B(p, j) + β·C[i, j]",
         f"/// for i < `width` ≤ {width} and j < `cols` ≤ {cols}, where B(p, j) = b[p·bRow + j·bCol] (B as stored or transposed).",
         f"/// Reads {width} floats of every A row: the caller pads a short last block. Missing columns repeat the last real",
         "/// one and are not stored. The tile is the transpose of C's, so it is stored lane by lane.",
         "@inline(never)", f"public func {name}(",
         "    k: Int, a: UnsafePointer<Float>, lda: Int, width: Int, b: UnsafePointer<Float>, bRow: Int, bCol: Int,",
         "    cols: Int, c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float", ") {"]
    L += [f"    let j{j} = min({j}, cols &- 1) &* bCol" for j in range(cols)]
    L += ["    " + "; ".join(f"var c{v}_{j} = {vt}()" for v in range(nvec)) for j in range(cols)]
    L += ["    var pa = UnsafeRawPointer(a)", "    var pb = b", "    for _ in 0..<k {"]
    L += [f"        let x{v} = pa.loadUnaligned(fromByteOffset: {v * lanes * 4}, as: {vt}.self)" for v in range(nvec)]
    for j in range(cols):
        L += [f"        let w{j} = {vt}(repeating: pb[j{j}])"]
        L += [f"        c{v}_{j} = c{v}_{j}.addingProduct(x{v}, w{j})" for v in range(nvec)]
    L += ["        pa += lda &* 4", "        pb += bRow", "    }"]
    L += ["    // The tile is Cᵀ's: each accumulator is one column j of C over `lanes` rows, stored lane by lane (a whole",
          "    // vector's lanes in an unrolled loop, so each is a constant extract rather than a trip through memory).",
          "    func store(_ v: Int, _ j: Int, _ acc: " + vt + ") {",
          "        guard j < cols else { return }",
          f"        let base = c + (v &* {lanes} &* ldc &+ j)",
          "        let scaled = acc * alpha",
          f"        if width &- v &* {lanes} >= {lanes} && beta == 0 {{",
          f"            for lane in 0..<{lanes} {{ base[lane &* ldc] = scaled[lane] }}",
          "            return",
          "        }",
          f"        for lane in 0..<max(0, min({lanes}, width &- v &* {lanes})) {{",
          "            let out = base + lane &* ldc",
          "            out.pointee = beta == 0 ? scaled[lane] : scaled[lane] + beta * out.pointee",
          "        }",
          "    }"]
    L += ["    " + "; ".join(f"store({v}, {j}, c{v}_{j})" for v in range(nvec)) for j in range(cols)]
    L += ["}"]
    return "\n".join(L) + "\n"


def lane_sum(vt):
    """A tree of half-vector adds: SIMD's `sum()` adds the lanes one after another, a chain of 15 dependent adds."""
    L = ["/// The sum of a vector's lanes as a tree of half-vector adds (`sum()` adds them in one dependent chain).",
         "@inline(__always)", f"func laneSum(_ v: {vt}) -> Float {{"]
    width = int(vt.split("<")[0][4:])
    expr = "v"
    L += [f"    let h{width // 2} = v.lowHalf + v.highHalf"]
    w = width // 2
    while w > 2:
        L += [f"    let h{w // 2} = h{w}.lowHalf + h{w}.highHalf"]
        w //= 2
    L += ["    return h2[0] + h2[1]", "}"]
    return "\n".join(L) + "\n"


NARROW = {"avx512": (4, 4, "SIMD16<Float>", 16, "AVX-512"), "avx2": (2, 2, "SIMD8<Float>", 8, "AVX2")}
for isa, module in [("avx512", "KernelsAVX512/NarrowGEMMAVX512.swift"), ("avx2", "KernelsAVX2/NarrowGEMMAVX2.swift")]:
    rows, nvec, vt, ln, label = NARROW[isa]
    suffix = isa.upper()
    write(f"Sources/{module}",
          "#if arch(x86_64)\n" + lane_sum(vt) + "\n" + narrow_rows(f"sgemmNarrowRows{suffix}", rows, 5, vt, ln, label) + "\n"
          + narrow_columns(f"sgemmNarrowColumns{suffix}", nvec, 5, vt, ln, label) + "#endif\n")


def pack_copying_b(name, nvec, vt, lanes, isa, doc_tail):
    """The packing pass for B as stored, in the family's own instruction set: each panel step (nvec·lanes floats)
    is whole-vector loads and stores, and four source rows are copied side by side (one contiguous run of four
    panel steps written while four row streams are read)."""
    width = nvec * lanes
    loads, stores = [], []
    for r, name_r in enumerate("abcd"):
        for v in range(nvec):
            loads.append(f"            let {name_r}{v} = r{r}.loadUnaligned(fromByteOffset: o + {v * lanes * 4}, as: {vt}.self)")
            stores.append(f"            out.storeBytes(of: {name_r}{v}, toByteOffset: {(r * width + v * lanes) * 4}, as: {vt}.self)")
    single = [f"            out.storeBytes(of: row.loadUnaligned(fromByteOffset: o + {v * lanes * 4}, as: {vt}.self), "
              f"toByteOffset: {v * lanes * 4}, as: {vt}.self)" for v in range(nvec)]
    L = [f"/// Packs `depth` rows of B as stored (row p at `src + p·ld`, `count` floats along C's columns) into panels of",
         f"/// {width} columns: element (p, q·{width} + j) goes to `dst[q·{width}·depth + p·{width} + j]`, a partial last panel",
         f"/// zero-padded. {isa}: each panel step is {nvec} whole {vt} loads and stores, and four source rows are read",
         "/// side by side, so a panel gets four steps written in one contiguous run while four row streams are in flight." + doc_tail,
         "@inline(never)",
         f"public func {name}(",
         "    _ src: UnsafePointer<Float>, ld: Int, count: Int, depth: Int, into dst: UnsafeMutablePointer<Float>",
         ") {",
         f"    let width = {width}",
         "    let panelBytes = width * depth * 4",
         "    let full = count / width",
         "    var p = 0",
         "    while p + 4 <= depth {",
         "        let r0 = UnsafeRawPointer(src + p * ld)",
         "        let r1 = r0 + ld * 4",
         "        let r2 = r1 + ld * 4",
         "        let r3 = r2 + ld * 4",
         "        var out = UnsafeMutableRawPointer(dst + p * width)",
         "        var q = 0",
         "        while q < full {",
         "            let o = q * width * 4"] + loads + stores + [
         "            out += panelBytes",
         "            q += 1",
         "        }",
         "        p += 4",
         "    }",
         "    while p < depth {",
         "        let row = UnsafeRawPointer(src + p * ld)",
         "        var out = UnsafeMutableRawPointer(dst + p * width)",
         "        var q = 0",
         "        while q < full {",
         "            let o = q * width * 4"] + single + [
         "            out += panelBytes",
         "            q += 1",
         "        }",
         "        p += 1",
         "    }",
         "    let tail = count - full * width",
         "    guard tail > 0 else { return }",
         "    let panel = dst + full * width * depth",
         "    for p in 0..<depth {",
         "        let row = src + p * ld + full * width",
         "        let out = panel + p * width",
         "        for j in 0..<tail { out[j] = row[j] }",
         "        for j in tail..<width { out[j] = 0 }",
         "    }",
         "}"]
    return "\n".join(L) + "\n"


PACK_NOTE = ("\n/// The generic `packCopying` of Tensors is built for baseline x86-64 (16-byte moves, a run-time width). On Zen 4\n"
             "/// with the AVX2 path, 128×1024·1024×1024, `perf` put this pass at 11.0% of the product before, 9.1% after.")
for isa, module in [("avx512", "KernelsAVX512/PackingBAVX512.swift"), ("avx2", "KernelsAVX2/PackingBAVX2.swift")]:
    mr, nv, vt, ln = TILES[isa]
    label = "AVX-512" if isa == "avx512" else "AVX2"
    write(f"Sources/{module}", "#if arch(x86_64)\n" + pack_copying_b(
        f"sgemmPackCopyingB{isa.upper()}", nv, vt, ln, label, PACK_NOTE) + "#endif\n")


def main(argv):
    """Writes every output, or with --check compares them with the tree; one line on stderr when they differ,
    so CI shows which file was edited by hand (or which generator change was not regenerated)."""
    if argv not in ([], ["--check"]):
        print("usage: gen-gemm-kernels.py [--check]", file=sys.stderr)
        return 2
    for path, text in OUTPUTS.items():
        full = os.path.join(ROOT, path)
        if argv:
            try:
                with open(full) as f:
                    same = f.read() == text
            except FileNotFoundError:
                same = False
            if not same:
                print(f"gen-gemm-kernels.py --check: {path} differs from the generator's output "
                      "(run python3 scripts/gen-gemm-kernels.py and commit the result)", file=sys.stderr)
                return 1
        else:
            with open(full, "w") as f:
                f.write(text)
    return 0


sys.exit(main(sys.argv[1:]))
