// Reference generator for the random-number fixtures of daphne-runtime (runtime/src/random.rs).
//
// It uses the real libstdc++ <random> and std::shuffle, and re-implements (independently, following
// the documented semantics) the value-generation logic of DAPHNE's `rand` kernel for dense and CSR
// matrices (RandMatrix.h) and of its `sample` kernel (Sample.h), so that the Rust port can be
// checked bit for bit without a C++ compiler at test time.
//
// Regenerate the fixture (from the repository root; g++ 12 / libstdc++ on x86-64 Linux):
//
//   g++ -std=c++17 -O2 -o /tmp/gen_random_fixtures tools/reference/gen_random_fixtures.cpp
//   /tmp/gen_random_fixtures > runtime/tests/data/random.txt
//
// Record format, one per line, space-separated: `<kind> <parameters...> : <outputs...>`.
// Floating-point numbers (parameters and outputs) are written as the hexadecimal bit pattern of
// their own type (16 digits for double, 8 for float); integers in decimal. Large outputs are
// replaced by `#<fnv1a-64 hash of the values' little-endian bytes> <number of non-zeros>`.
//
//   mt <seed:int64> <n> : first n outputs of std::mt19937(seed)
//   minstd <seed:int64> <n> : first n outputs of std::minstd_rand0(seed)
//   uint <engine> <type> <seed> <a> <b> <n> : n draws of std::uniform_int_distribution<type>(a, b)
//   ureal <engine> <type> <seed> <a> <b> <n> : n draws of std::uniform_real_distribution<type>(a, b)
//   shuffle <engine> <seed> <n> : std::shuffle of 0..n-1 (or a hash of it)
//   rand_dense <type> <rows> <cols> <min> <max> <sparsity:double> <seed> : row-major values
//   rand_csr <type> <rows> <cols> <min> <max> <sparsity:double> <seed> : values | colIdxs | rowOffsets
//   sample <type> <range> <size> <withReplacement:0|1> <seed> : values
//   error <kernel> ... : a case DAPHNE rejects (not generated here; errors are unit-tested in Rust)

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <sys/types.h>
#include <type_traits>
#include <unordered_set>
#include <vector>

namespace {

// ----------------------------------------------------------------------------
// Output helpers
// ----------------------------------------------------------------------------

template <typename T> const char *typeName();
template <> const char *typeName<double>() { return "f64"; }
template <> const char *typeName<float>() { return "f32"; }
template <> const char *typeName<int64_t>() { return "si64"; }
template <> const char *typeName<int32_t>() { return "si32"; }
template <> const char *typeName<int8_t>() { return "si8"; }
template <> const char *typeName<uint64_t>() { return "ui64"; }
template <> const char *typeName<uint32_t>() { return "ui32"; }
template <> const char *typeName<uint8_t>() { return "ui8"; }

template <typename T> std::string text(T x) {
    char buf[40];
    if constexpr (std::is_same_v<T, double>) {
        uint64_t b;
        std::memcpy(&b, &x, 8);
        std::snprintf(buf, sizeof buf, "%016" PRIx64, b);
    } else if constexpr (std::is_same_v<T, float>) {
        uint32_t b;
        std::memcpy(&b, &x, 4);
        std::snprintf(buf, sizeof buf, "%08" PRIx32, b);
    } else if constexpr (std::is_signed_v<T>) {
        std::snprintf(buf, sizeof buf, "%" PRId64, static_cast<int64_t>(x));
    } else {
        std::snprintf(buf, sizeof buf, "%" PRIu64, static_cast<uint64_t>(x));
    }
    return buf;
}

template <typename T> uint64_t fnv1a(const std::vector<T> &v) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const T &x : v) {
        unsigned char bytes[sizeof(T)];
        std::memcpy(bytes, &x, sizeof(T));
        for (unsigned char c : bytes) {
            h ^= c;
            h *= 0x100000001b3ULL;
        }
    }
    return h;
}

// Writes the values, or a hash and the number of non-zeros when there are many.
template <typename T> std::string values(const std::vector<T> &v, size_t maxInline = 48) {
    std::ostringstream os;
    if (v.size() > maxInline) {
        size_t nnz = 0;
        for (const T &x : v)
            nnz += (x != T(0));
        char buf[64];
        std::snprintf(buf, sizeof buf, "#%016" PRIx64 " %zu", fnv1a(v), nnz);
        os << buf;
        return os.str();
    }
    for (size_t i = 0; i < v.size(); ++i)
        os << (i ? " " : "") << text(v[i]);
    return os.str();
}

// ----------------------------------------------------------------------------
// Kernel logic (same semantics as DAPHNE's RandMatrix.h / Sample.h)
// ----------------------------------------------------------------------------

template <typename VT>
using ValueDistribution = typename std::conditional<std::is_floating_point<VT>::value, std::uniform_real_distribution<VT>,
                                                    std::uniform_int_distribution<VT>>::type;

// Dense `rand`: values for non-zero cells are drawn from an mt19937 seeded with `seed`, the positions
// of the zeros (sparsity >= 0.5) or of the non-zeros (sparsity < 0.5) from an mt19937 seeded with
// `seed * 3`, by selection sampling over the cells in row-major order. Zeros drawn are re-drawn.
template <typename VT>
std::vector<VT> randDense(size_t rows, size_t cols, VT min, VT max, double sparsity, int64_t seed) {
    std::vector<VT> res(rows * cols);
    std::mt19937 genVal(seed);
    std::mt19937 genIndex(seed * 3);
    ValueDistribution<VT> distrVal(min, max);
    std::uniform_int_distribution<int> distrIndex(0, cols * rows - 1);
    const bool fillFirst = sparsity >= 0.5;
    const size_t limit = fillFirst ? size_t(std::round((1 - sparsity) * cols * rows))
                                   : size_t(std::round(sparsity * cols * rows));
    for (size_t i = 0; i < rows * cols; i++) {
        if (fillFirst) {
            VT v = distrVal(genVal);
            while (v == 0)
                v = distrVal(genVal);
            res[i] = v;
        } else
            res[i] = VT(0);
    }
    size_t chosen = 0;
    for (size_t i = 0; i < rows * cols && chosen < limit; i++) {
        const size_t remainingCells = rows * cols - i;
        const size_t remainingToChoose = limit - chosen;
        if (std::fmod(distrIndex(genIndex), remainingCells) < remainingToChoose) {
            if (fillFirst)
                res[i] = VT(0);
            else {
                VT v = distrVal(genVal);
                while (v == 0)
                    v = distrVal(genVal);
                res[i] = v;
            }
            chosen++;
        }
    }
    return res;
}

template <typename VT> struct Csr {
    std::vector<VT> values;
    std::vector<size_t> colIdxs;
    std::vector<size_t> rowOffsets;
};

// CSR `rand` (only used by DAPHNE with --select-matrix-repr): one std::default_random_engine for
// everything; first the non-zero values, then the number of non-zeros per row, then the sorted
// column indexes of each row.
template <typename VT> Csr<VT> randCsr(size_t rows, size_t cols, VT min, VT max, double sparsity, int64_t seed) {
    const size_t nnz = size_t(std::round(rows * cols * sparsity));
    std::default_random_engine gen(seed);
    ValueDistribution<VT> distrVal(min, max);
    std::uniform_int_distribution<size_t> distrRow(0, rows - 1);
    std::uniform_int_distribution<size_t> distrCol(0, cols - 1);
    Csr<VT> res;
    for (size_t i = 0; i < nnz; i++)
        res.values.push_back(distrVal(gen));
    std::vector<ssize_t> perRow(rows);
    if (sparsity <= 0.5) {
        std::fill(perRow.begin(), perRow.end(), 0);
        size_t assigned = 0;
        while (assigned < nnz) {
            size_t r = distrRow(gen);
            if (perRow[r] < static_cast<ssize_t>(cols)) {
                perRow[r]++;
                assigned++;
            }
        }
    } else {
        std::fill(perRow.begin(), perRow.end(), static_cast<ssize_t>(cols));
        size_t assigned = rows * cols;
        while (assigned > nnz) {
            size_t r = distrRow(gen);
            if (perRow[r] > 0) {
                perRow[r]--;
                assigned--;
            }
        }
    }
    for (size_t r = 0; r < rows; r++) {
        std::set<size_t> drawn;
        if (sparsity <= 0.5) {
            while (static_cast<ssize_t>(drawn.size()) < perRow[r])
                drawn.insert(distrCol(gen));
            res.colIdxs.insert(res.colIdxs.end(), drawn.begin(), drawn.end());
        } else {
            while (drawn.size() < cols - perRow[r])
                drawn.insert(distrCol(gen));
            for (size_t c = 0; c < cols; c++)
                if (!drawn.count(c))
                    res.colIdxs.push_back(c);
        }
    }
    res.rowOffsets.push_back(0);
    for (size_t r = 0; r < rows; r++)
        res.rowOffsets.push_back(res.rowOffsets.back() + perRow[r]);
    return res;
}

// `sample`: `size` values in [0, range) from an mt19937 seeded with `seed`; without replacement,
// floating-point values are re-drawn until unseen, integers are chosen by selection sampling and
// then shuffled with std::shuffle.
template <typename VT> std::vector<VT> sample(VT range, int64_t size, bool withReplacement, int64_t seed) {
    std::vector<VT> res(size);
    std::mt19937 genVal(seed);
    ValueDistribution<VT> distrVal(0, std::nextafter(range, 0));
    if (withReplacement) {
        for (int64_t i = 0; i < size; i++)
            res[i] = distrVal(genVal);
    } else if (std::is_floating_point<VT>::value) {
        std::unordered_set<VT> seen;
        for (int64_t i = 0; i < size; i++) {
            VT v = distrVal(genVal);
            while (seen.count(v))
                v = distrVal(genVal);
            res[i] = v;
            seen.insert(v);
        }
    } else {
        int64_t chosen = 0;
        for (VT candidate = 0; candidate < range && chosen < size; candidate++) {
            const size_t remainingCandidates = range - candidate;
            const size_t remainingToChoose = size - chosen;
            if (std::fmod(distrVal(genVal), remainingCandidates) < remainingToChoose)
                res[chosen++] = candidate;
        }
        std::shuffle(res.data(), res.data() + size, genVal);
    }
    return res;
}

// ----------------------------------------------------------------------------
// Record writers
// ----------------------------------------------------------------------------

template <typename VT>
void emitRandDense(size_t rows, size_t cols, VT min, VT max, double sparsity, int64_t seed) {
    std::cout << "rand_dense " << typeName<VT>() << ' ' << rows << ' ' << cols << ' ' << text(min) << ' ' << text(max)
              << ' ' << text(sparsity) << ' ' << seed << " : " << values(randDense(rows, cols, min, max, sparsity, seed))
              << '\n';
}

template <typename VT> void emitRandCsr(size_t rows, size_t cols, VT min, VT max, double sparsity, int64_t seed) {
    Csr<VT> c = randCsr(rows, cols, min, max, sparsity, seed);
    std::cout << "rand_csr " << typeName<VT>() << ' ' << rows << ' ' << cols << ' ' << text(min) << ' ' << text(max)
              << ' ' << text(sparsity) << ' ' << seed << " : " << values(c.values) << " | " << values(c.colIdxs)
              << " | " << values(c.rowOffsets) << '\n';
}

template <typename VT> void emitSample(VT range, int64_t size, bool withReplacement, int64_t seed) {
    std::cout << "sample " << typeName<VT>() << ' ' << text(range) << ' ' << size << ' ' << int(withReplacement) << ' '
              << seed << " : " << values(sample(range, size, withReplacement, seed)) << '\n';
}

template <typename Engine> const char *engineName();
template <> const char *engineName<std::mt19937>() { return "mt19937"; }
template <> const char *engineName<std::minstd_rand0>() { return "minstd_rand0"; }

template <typename Engine, typename VT> void emitUniform(int64_t seed, VT a, VT b, size_t n) {
    Engine gen(seed);
    ValueDistribution<VT> d(a, b);
    std::vector<VT> out;
    for (size_t i = 0; i < n; i++)
        out.push_back(d(gen));
    std::cout << (std::is_floating_point<VT>::value ? "ureal " : "uint ") << engineName<Engine>() << ' '
              << typeName<VT>() << ' ' << seed << ' ' << text(a) << ' ' << text(b) << ' ' << n << " : "
              << values(out, 1000) << '\n';
}

template <typename Engine> void emitShuffle(int64_t seed, size_t n) {
    Engine gen(seed);
    std::vector<uint64_t> v(n);
    for (size_t i = 0; i < n; i++)
        v[i] = i;
    std::shuffle(v.begin(), v.end(), gen);
    // Also record the next output, to check how many numbers were consumed.
    std::cout << "shuffle " << engineName<Engine>() << ' ' << seed << ' ' << n << " : " << values(v) << " | "
              << gen() << '\n';
}

template <typename Engine> void emitEngine(const char *name, int64_t seed, size_t n) {
    Engine gen(seed);
    std::vector<uint64_t> out;
    for (size_t i = 0; i < n; i++)
        out.push_back(gen());
    std::cout << name << ' ' << seed << ' ' << n << " : " << values(out, 1000) << '\n';
}

// ----------------------------------------------------------------------------
// Case lists
// ----------------------------------------------------------------------------

const int64_t seeds[] = {0, 1, 42, 123, 12345, -5, (int64_t(1) << 33) + 7, std::numeric_limits<int64_t>::max(),
                         std::numeric_limits<int64_t>::min()};

struct Shape {
    size_t rows, cols;
};
const Shape shapes[] = {{1, 1}, {3, 4}, {5, 5}, {7, 3}, {1, 20}, {20, 1}, {10, 10}};
const double sparsities[] = {1.0, 0.5, 0.0, 0.1, 0.3, 0.7, 0.9, 0.25, 0.49, 0.51, 0.05};

template <typename VT> void randDenseCases(std::vector<std::pair<VT, VT>> ranges) {
    size_t k = 0;
    for (auto [min, max] : ranges) {
        for (size_t i = 0; i < 6; i++, k++) {
            const Shape s = shapes[k % std::size(shapes)];
            const double sp = sparsities[k % std::size(sparsities)];
            const int64_t seed = seeds[k % std::size(seeds)];
            emitRandDense<VT>(s.rows, s.cols, min, max, sp, seed);
        }
    }
    // Every sparsity on one shape, and larger matrices (hashed).
    for (double sp : sparsities)
        emitRandDense<VT>(4, 6, ranges[0].first, ranges[0].second, sp, 7);
    for (double sp : {1.0, 0.5, 0.1, 0.0, 0.75, 0.333})
        emitRandDense<VT>(123, 45, ranges[1].first, ranges[1].second, sp, 2024);
    emitRandDense<VT>(1000, 3, ranges[0].first, ranges[0].second, 0.9, -77);
}

template <typename VT> void randCsrCases(std::vector<std::pair<VT, VT>> ranges) {
    size_t k = 0;
    for (auto [min, max] : ranges) {
        for (double sp : {1.0, 0.5, 0.0, 0.1, 0.51, 0.9, 0.3}) {
            const Shape s = shapes[k % std::size(shapes)];
            const int64_t seed = seeds[k % std::size(seeds)];
            emitRandCsr<VT>(s.rows, s.cols, min, max, sp, seed);
            k++;
        }
    }
    for (double sp : {0.05, 0.5, 0.95})
        emitRandCsr<VT>(60, 50, ranges[0].first, ranges[0].second, sp, 99);
}

template <typename VT> void sampleIntCases(std::vector<VT> ranges) {
    size_t k = 0;
    for (VT range : ranges) {
        for (int64_t size : {1, 2, 5, 10, 37, 100}) {
            const int64_t seed = seeds[k++ % std::size(seeds)];
            emitSample<VT>(range, size, true, seed);
            // Without replacement, the selection loop runs over (almost) all of [0, range).
            if (!(range < static_cast<VT>(size)) && range <= VT(100000))
                emitSample<VT>(range, size, false, seed);
        }
    }
}

template <typename VT> void sampleFloatCases(std::vector<VT> ranges) {
    size_t k = 0;
    for (VT range : ranges) {
        for (int64_t size : {1, 3, 10, 50}) {
            const int64_t seed = seeds[k++ % std::size(seeds)];
            emitSample<VT>(range, size, true, seed);
            emitSample<VT>(range, size, false, seed);
        }
    }
}

} // namespace

int main() {
    using L64 = std::numeric_limits<int64_t>;
    using LU64 = std::numeric_limits<uint64_t>;
    using L32 = std::numeric_limits<int32_t>;
    using LU32 = std::numeric_limits<uint32_t>;

    // Engines.
    for (int64_t seed : std::vector<int64_t>{5489, 0, 1, 42, -1, -5, 4294967295, 4294967296, 8589934599})
        emitEngine<std::mt19937>("mt", seed, 8);
    emitEngine<std::mt19937>("mt", 5489, 1300); // crosses two state regenerations (hashed)
    for (int64_t seed : std::vector<int64_t>{1, 0, 42, -5, 2147483647, 2147483648, L64::max(), L64::min()})
        emitEngine<std::minstd_rand0>("minstd", seed, 8);

    // uniform_int_distribution: downscaling (Lemire for mt19937, division for minstd_rand0), the
    // exact-range case and upscaling.
    for (int64_t seed : std::vector<int64_t>{7, 99}) {
        emitUniform<std::mt19937, int64_t>(seed, 0, 9, 30);
        emitUniform<std::mt19937, int64_t>(seed, -1000000, 1000000, 30);
        emitUniform<std::mt19937, int64_t>(seed, L64::min(), L64::max(), 30);
        emitUniform<std::mt19937, int64_t>(seed, 0, (int64_t(1) << 32) - 1, 30);
        emitUniform<std::mt19937, int64_t>(seed, 0, int64_t(1) << 32, 30);
        emitUniform<std::mt19937, int64_t>(seed, -3, int64_t(5) << 40, 30);
        emitUniform<std::mt19937, int64_t>(seed, 5, 5, 5);
        emitUniform<std::mt19937, uint64_t>(seed, 0, LU64::max(), 30);
        emitUniform<std::mt19937, uint64_t>(seed, 10, 1000, 30);
        emitUniform<std::mt19937, int32_t>(seed, L32::min(), L32::max(), 30);
        emitUniform<std::mt19937, int32_t>(seed, -7, 7, 30);
        emitUniform<std::mt19937, int32_t>(seed, 0, 2147483646, 30);
        emitUniform<std::mt19937, uint32_t>(seed, 0, LU32::max(), 30);
        emitUniform<std::mt19937, uint32_t>(seed, 3, 3000000000u, 30);
        emitUniform<std::mt19937, int8_t>(seed, -128, 127, 30);
        emitUniform<std::mt19937, int8_t>(seed, -3, 3, 30);
        emitUniform<std::mt19937, uint8_t>(seed, 0, 255, 30);
        emitUniform<std::mt19937, uint8_t>(seed, 1, 6, 30);
        emitUniform<std::minstd_rand0, int64_t>(seed, 0, 9, 30);
        emitUniform<std::minstd_rand0, int64_t>(seed, L64::min(), L64::max(), 30);
        emitUniform<std::minstd_rand0, int64_t>(seed, 0, 2147483645, 30);
        emitUniform<std::minstd_rand0, int64_t>(seed, 0, 2147483646, 30);
        emitUniform<std::minstd_rand0, uint64_t>(seed, 0, 99, 30);
        emitUniform<std::minstd_rand0, int32_t>(seed, L32::min(), L32::max(), 30);
        emitUniform<std::minstd_rand0, uint8_t>(seed, 0, 255, 30);
        // uniform_real_distribution / generate_canonical.
        emitUniform<std::mt19937, double>(seed, 0.0, 1.0, 30);
        emitUniform<std::mt19937, double>(seed, -1.0, 1.0, 30);
        emitUniform<std::mt19937, double>(seed, 100.0, 200.0, 30);
        emitUniform<std::mt19937, double>(seed, -1e300, 1e300, 10);
        emitUniform<std::mt19937, double>(seed, 3.0, 3.0, 5);
        emitUniform<std::mt19937, float>(seed, 0.0f, 1.0f, 30);
        emitUniform<std::mt19937, float>(seed, -5.0f, 5.0f, 30);
        emitUniform<std::mt19937, float>(seed, 1e-3f, 2e-3f, 30);
        emitUniform<std::minstd_rand0, double>(seed, 0.0, 1.0, 30);
        emitUniform<std::minstd_rand0, double>(seed, -2.5, 7.5, 30);
        emitUniform<std::minstd_rand0, float>(seed, 0.0f, 1.0f, 30);
        emitUniform<std::minstd_rand0, float>(seed, 10.0f, 20.0f, 30);
    }
    // Many draws near the top of generate_canonical<float> (values that round up to 1.0f).
    emitUniform<std::mt19937, float>(3, 0.0f, 1.0f, 5000);
    emitUniform<std::minstd_rand0, float>(3, 0.0f, 1.0f, 5000);

    // std::shuffle: pairwise path (n <= 65535 for a 32-bit engine) and one-at-a-time path.
    for (size_t n : {1, 2, 3, 4, 5, 10, 11, 64, 101})
        emitShuffle<std::mt19937>(11, n);
    for (size_t n : {65535, 65536, 70001})
        emitShuffle<std::mt19937>(12, n);
    for (size_t n : {1, 2, 7, 10, 46340, 46341, 50000})
        emitShuffle<std::minstd_rand0>(13, n);

    // Dense rand, every value type (DAPHNE instantiates f64, f32, si64, si32, ui32, ui8).
    randDenseCases<double>({{0.0, 1.0}, {-1.0, 1.0}, {1.0, 5.0}, {100.0, 200.0}, {-5.0, -2.0}, {2.5, 2.5}, {-1e300, 1e300}, {0.0, 1e-320}});
    randDenseCases<float>({{0.0f, 1.0f}, {-1.0f, 1.0f}, {1.0f, 5.0f}, {100.0f, 200.0f}, {-5.0f, -2.0f}, {2.5f, 2.5f}});
    randDenseCases<int64_t>({{0, 1}, {1, 5}, {-10, 10}, {100, 200}, {L64::min(), L64::max()}, {-1, 0}, {5, 5}});
    randDenseCases<int32_t>({{0, 1}, {1, 5}, {-10, 10}, {100, 200}, {L32::min(), L32::max()}, {-1, 0}});
    randDenseCases<int8_t>({{0, 1}, {1, 5}, {-10, 10}, {-128, 127}, {-1, 0}});
    randDenseCases<uint64_t>({{0, 1}, {1, 5}, {100, 200}, {0, LU64::max()}});
    randDenseCases<uint32_t>({{0, 1}, {1, 5}, {100, 200}, {0, LU32::max()}, {7, 7}});
    randDenseCases<uint8_t>({{0, 1}, {1, 5}, {100, 200}, {0, 255}});
    // NaN sparsity passes DAPHNE's validation; its limit becomes 2^63 on x86-64.
    emitRandDense<double>(3, 3, 0.0, 1.0, std::numeric_limits<double>::quiet_NaN(), 5);
    // DaphneDSL test scripts with fixed seeds.
    emitRandDense<double>(5, 5, 1.0, 5.0, 1.0, 123);
    emitRandDense<int64_t>(5, 5, 1, 5, 0.5, 123);
    emitRandDense<int64_t>(5, 5, 1, 105, 0.5, 123);
    emitRandDense<double>(3, 2, 0.0, 1.0, 1.0, 123456);

    // CSR rand (DAPHNE instantiates f64, f32, si64).
    randCsrCases<double>({{0.0, 1.0}, {-1.0, 1.0}, {100.0, 200.0}});
    randCsrCases<float>({{0.0f, 1.0f}, {-3.0f, 3.0f}});
    randCsrCases<int64_t>({{1, 5}, {-10, 10}, {L64::min(), L64::max()}});
    randCsrCases<int32_t>({{1, 5}, {-10, 10}});
    randCsrCases<uint32_t>({{1, 5}});
    randCsrCases<uint8_t>({{1, 200}});
    randCsrCases<int8_t>({{-100, 100}});
    randCsrCases<uint64_t>({{1, 5}});

    // sample (DAPHNE instantiates f64, si64, ui64).
    sampleIntCases<int64_t>({1, 2, 10, 100, 1000, int64_t(1) << 40, L64::max()});
    sampleIntCases<uint64_t>({1, 3, 100, 101, LU64::max()});
    sampleIntCases<int32_t>({1, 10, 100, L32::max()});
    sampleIntCases<uint32_t>({10, 1000});
    sampleIntCases<int8_t>({10, 100, 127});
    sampleIntCases<uint8_t>({10, 200});
    sampleFloatCases<double>({1.0, 0.5, 10.0, 1e-300, 1e300, 100.0});
    sampleFloatCases<float>({1.0f, 10.0f, 1e-30f});
    emitSample<int64_t>(1000000, 70000, false, 5); // shuffle without the pairwise shortcut
    emitSample<int64_t>(65535, 65535, false, 6);
    emitSample<uint64_t>(200, 200, false, 8);
    emitSample<double>(1.0, 20000, false, 9);
    emitSample<float>(1.0f, 20000, false, 10); // duplicates are likely among floats
    return 0;
}
