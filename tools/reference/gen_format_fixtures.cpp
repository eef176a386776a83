// Reference generator for the number-formatting fixtures of daphne-runtime (runtime/src/format.rs).
//
// DAPHNE prints numbers with `os << value` on a default-configured std::ostream (precision 6, no flags),
// and converts numbers to strings with std::to_string (printf "%f"). This program records what
// libstdc++/glibc print for a deterministic set of doubles and floats, so the Rust tests can compare
// byte for byte without needing a C++ compiler at test time.
//
// Regenerate the fixtures (from the repository root):
//
//   g++ -std=c++17 -O2 -o /tmp/gen_format_fixtures tools/reference/gen_format_fixtures.cpp
//   /tmp/gen_format_fixtures runtime/tests/data
//
// Output files (one record per line, fields separated by a TAB):
//   format_f64.tsv      <16 hex digits of the double's bits>  <text of std::cout << x>
//   format_f32.tsv      <8 hex digits of the float's bits>    <text of std::cout << x>
//   format_fixed.tsv    <16 hex digits of the double's bits>  <text of std::to_string(x)>
//   format_fixed_f32.tsv <8 hex digits of the float's bits>   <text of std::to_string(x)>
//   format_prec.tsv     <precision> <16 hex digits>            <text of os << setprecision(p) << x>

#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

uint64_t bitsOf(double x) {
    uint64_t b;
    std::memcpy(&b, &x, sizeof b);
    return b;
}

uint32_t bitsOf(float x) {
    uint32_t b;
    std::memcpy(&b, &x, sizeof b);
    return b;
}

double doubleFrom(uint64_t b) {
    double x;
    std::memcpy(&x, &b, sizeof x);
    return x;
}

float floatFrom(uint32_t b) {
    float x;
    std::memcpy(&x, &b, sizeof x);
    return x;
}

template <typename T> std::string streamed(T x, int precision = -1) {
    std::ostringstream os;
    if (precision >= 0)
        os << std::setprecision(precision);
    os << x;
    return os.str();
}

std::string hex64(uint64_t b) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016" PRIx64, b);
    return buf;
}

std::string hex32(uint32_t b) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08" PRIx32, b);
    return buf;
}

// Adds x and its two neighbours.
void addWithNeighbours(std::vector<double> &v, double x) {
    v.push_back(x);
    v.push_back(std::nextafter(x, 0.0));
    v.push_back(std::nextafter(x, std::numeric_limits<double>::infinity()));
}

std::vector<double> specialDoubles() {
    using L = std::numeric_limits<double>;
    std::vector<double> v = {0.0,
                             -0.0,
                             L::infinity(),
                             -L::infinity(),
                             L::quiet_NaN(),
                             -L::quiet_NaN(),
                             L::min(),
                             -L::min(),
                             L::max(),
                             -L::max(),
                             L::denorm_min(),
                             -L::denorm_min(),
                             std::nextafter(L::min(), 0.0),
                             L::epsilon(),
                             1.0,
                             -1.0,
                             0.1,
                             0.2,
                             0.3,
                             1.0 / 3.0,
                             2.0 / 3.0,
                             3.14159265358979,
                             2.718281828459045,
                             100.0,
                             123456.0,
                             1234567.0,
                             0.5,
                             1.5,
                             2.5,
                             42.0,
                             -42.5};
    // NaN payloads with and without the sign bit.
    v.push_back(doubleFrom(0x7ff0000000000001ULL));
    v.push_back(doubleFrom(0xfff0000000000001ULL));
    v.push_back(doubleFrom(0x7ff8000000000000ULL));
    v.push_back(doubleFrom(0xfff8000000000000ULL));
    // What x86 produces for 0.0 / 0.0 (computed at run time).
    volatile double zero = 0.0;
    v.push_back(zero / zero);
    return v;
}

std::vector<double> interestingDoubles() {
    std::vector<double> v = specialDoubles();
    // Powers of ten over the whole range, with neighbours.
    for (int k = -323; k <= 308; ++k) {
        const double p = std::strtod(("1e" + std::to_string(k)).c_str(), nullptr);
        if (k >= -30 && k <= 30)
            addWithNeighbours(v, p);
        else
            v.push_back(p);
    }
    // The switch points of %g with precision 6 and values that round up into the next decade.
    const double points[] = {1e-5,        1e-4,     0.0001,       0.00009999995, 0.000099999995, 0.0000999999949,
                             9.999995,    9.9999949, 9.99999500001, 99999.95,      99999.949999,   999999.5,
                             999999.4999, 9999995.0, 9999994.999,  1e5,           1e6,            999999.0,
                             100000.0,    99999.5,  0.99999949,   0.9999995,     0.99999951,     1e15,
                             1e16,        1e17,     1e21,         1e22,          1e23,           123456789012.0};
    for (double p : points) {
        addWithNeighbours(v, p);
        addWithNeighbours(v, -p);
    }
    for (int k = -30; k <= 30; ++k) {
        addWithNeighbours(v, 9.999995 * std::pow(10.0, k));
        addWithNeighbours(v, 1.0000005 * std::pow(10.0, k));
    }
    // Exact decimal ties at the 7th significant digit (round half to even).
    for (int64_t n = 1000005; n < 10000000; n += 1234570)
        for (int64_t scale = 1; scale <= 100000000; scale *= 10)
            v.push_back(static_cast<double>(n * scale));
    for (int64_t n : {1000005, 1000015, 1234565, 1234575, 9999995, 9999985, 2000005, 2000015})
        for (int k = -12; k <= 12; ++k)
            v.push_back(std::ldexp(static_cast<double>(n), k));
    for (double x : {100000.5, 100001.5, 10000.25, 10000.75, 1000.125, 1000.375, 100.0625, 100.1875, 0.0001220703125,
                     0.00048828125, 0.0009765625, 0.03125, 0.015625, 0.0078125, 0.00390625})
        addWithNeighbours(v, x);
    // Small integers and simple fractions.
    for (int i = -50; i <= 50; ++i) {
        v.push_back(i);
        v.push_back(i / 8.0);
        v.push_back(i / 10.0);
        v.push_back(i * 1000.0 + 0.5);
    }
    // Large integers around 2^53 and 2^63, 2^64.
    for (int e : {31, 32, 52, 53, 54, 62, 63, 64, 100, 200, 1000, 1023, -1022, -1023, -1074})
        addWithNeighbours(v, std::ldexp(1.0, e));
    return v;
}

std::vector<double> randomDoubles(std::mt19937_64 &gen, size_t numBits, size_t numModerate) {
    std::vector<double> v;
    for (size_t i = 0; i < numBits; ++i)
        v.push_back(doubleFrom(gen()));
    // Moderate magnitudes (1e-7 .. 1e8) exercise the fixed-point branch of %g.
    std::uniform_real_distribution<double> expDist(-7.0, 8.0);
    std::uniform_int_distribution<int> signDist(0, 1);
    for (size_t i = 0; i < numModerate; ++i) {
        double x = std::pow(10.0, expDist(gen));
        v.push_back(signDist(gen) ? -x : x);
    }
    // Short decimal values, as typically written in scripts or produced by arithmetic.
    std::uniform_int_distribution<int> digits(0, 9999999);
    std::uniform_int_distribution<int> scale(-10, 4);
    for (size_t i = 0; i < numModerate; ++i)
        v.push_back(digits(gen) * std::pow(10.0, scale(gen)));
    return v;
}

std::vector<float> interestingFloats(std::mt19937_64 &gen, size_t numBits, size_t numModerate) {
    using L = std::numeric_limits<float>;
    std::vector<float> v = {0.0f,        -0.0f,       L::infinity(),       -L::infinity(), L::quiet_NaN(),
                            -L::quiet_NaN(), L::min(),  L::max(),            -L::max(),      L::denorm_min(),
                            L::epsilon(), 0.1f,        0.2f,                0.3f,           1.0f / 3.0f,
                            3.14159265f, 100.0f,      123456.0f,           1234567.0f,     16777216.0f,
                            16777217.0f, 9.999995f,   0.000099999995f,     99999.95f,      999999.5f,
                            1e-5f,       1e-4f,       1e6f,                1e5f,           0.5f};
    volatile float zero = 0.0f;
    v.push_back(zero / zero);
    for (int k = -45; k <= 38; ++k) {
        float p = std::strtof(("1e" + std::to_string(k)).c_str(), nullptr);
        v.push_back(p);
        v.push_back(std::nextafter(p, 0.0f));
        v.push_back(std::nextafter(p, L::infinity()));
    }
    for (size_t i = 0; i < numBits; ++i)
        v.push_back(floatFrom(static_cast<uint32_t>(gen())));
    std::uniform_real_distribution<double> expDist(-7.0, 8.0);
    for (size_t i = 0; i < numModerate; ++i)
        v.push_back(static_cast<float>(std::pow(10.0, expDist(gen))));
    return v;
}

} // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " <output directory>" << std::endl;
        return 1;
    }
    const std::string dir = argv[1];
    std::mt19937_64 gen(20240611);

    // std::cout << double
    {
        std::ofstream out(dir + "/format_f64.tsv");
        std::vector<double> values = interestingDoubles();
        std::vector<double> random = randomDoubles(gen, 800, 300);
        values.insert(values.end(), random.begin(), random.end());
        for (double x : values)
            out << hex64(bitsOf(x)) << '\t' << streamed(x) << '\n';
    }
    // std::cout << float
    {
        std::ofstream out(dir + "/format_f32.tsv");
        for (float x : interestingFloats(gen, 800, 200))
            out << hex32(bitsOf(x)) << '\t' << streamed(x) << '\n';
    }
    // std::to_string(double): printf("%f"). Keep magnitudes moderate (huge values print 300+ digits).
    {
        std::ofstream out(dir + "/format_fixed.tsv");
        std::vector<double> values = specialDoubles();
        for (double x : {1e300, -1e300, 1e22, 1e23, 123456789012345678.0, 1e-7, 5e-7, 4.9999999e-7, 5.0000001e-7,
                         1.5e-6, 2.5e-6, 0.0000005, 0.0000015, 0.0000025, -0.0000004, -0.0000005, -0.0000006})
            values.push_back(x);
        for (int i = -300; i <= 300; ++i)
            values.push_back(i / 128.0); // exact ties at the 7th decimal
        for (int i = 0; i < 64; ++i)
            values.push_back(std::ldexp(static_cast<double>(2 * i + 1), -7 - i % 14));
        std::vector<double> random = randomDoubles(gen, 0, 300);
        values.insert(values.end(), random.begin(), random.end());
        for (double x : values)
            out << hex64(bitsOf(x)) << '\t' << std::to_string(x) << '\n';
    }
    {
        std::ofstream out(dir + "/format_fixed_f32.tsv");
        for (float x : interestingFloats(gen, 0, 200))
            if (!(std::fabs(x) > 1e20f))
                out << hex32(bitsOf(x)) << '\t' << std::to_string(x) << '\n';
    }
    // os << setprecision(p) << double, for a few other precisions.
    {
        std::ofstream out(dir + "/format_prec.tsv");
        std::vector<double> values = specialDoubles();
        std::vector<double> random = randomDoubles(gen, 30, 30);
        values.insert(values.end(), random.begin(), random.end());
        for (double x : {9.5, 0.95, 99.5, 0.00995, 999.5, 1e-5, 1e16, 1e17, 123456789.0, 0.000123456789})
            values.push_back(x);
        for (int p : {0, 1, 2, 10, 17, 20})
            for (double x : values)
                out << p << '\t' << hex64(bitsOf(x)) << '\t' << streamed(x, p) << '\n';
    }
    return 0;
}
