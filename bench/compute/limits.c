// What this machine allows for bench/compute's workloads, measured in the same run
// (bench/compute.sh builds it with the system C compiler when there is one):
//
//   limits a N M     hand-fused (a) sum(((X*2+1)^2)/(X+3)) over N x M doubles, every thread
//   limits triad N M STREAM's triad A = B + 3 C over N x M doubles, every thread; prints ms
//                    and, on a second line, GB/s (24 bytes per cell: two reads, one write)
//   limits peak      the FMA units' peak: independent fused multiply-adds on every thread;
//                    prints GFLOP/s (2 per FMA)
//
// Each prints the best of 5 repetitions in milliseconds on its last line but one (peak: its
// only line). Threads: OpenMP's (OMP_NUM_THREADS, default every core).
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double *cells(size_t n, double scale) {
    double *x = aligned_alloc(64, ((n * sizeof(double)) + 63) / 64 * 64);
    if (!x) {
        fprintf(stderr, "limits: out of memory\n");
        exit(1);
    }
    // First touch on the threads that will use the cells (NUMA), values in [0, scale).
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = scale * (double)((i * 2654435761u) % 1000003u) / 1000003.0;
    return x;
}

static volatile double sink;

static double chain(const double *x, size_t n) {
    double s = 0;
#pragma omp parallel for simd reduction(+ : s) schedule(static)
    for (size_t i = 0; i < n; i++) {
        double y = x[i] * 2 + 1;
        s += (y * y) / (x[i] + 3);
    }
    return s;
}

static void triad(double *a, const double *b, const double *c, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = b[i] + 3.0 * c[i];
}

// 16 independent accumulators of 8 doubles per thread: enough FMAs in flight to fill two
// FMA units with a latency of 4 cycles.
#define ACC 16
#define LANES 8
static double peak_gflops(void) {
    const long iters = 20 * 1000 * 1000;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_ms();
        double total = 0;
#pragma omp parallel reduction(+ : total)
        {
            double acc[ACC][LANES];
            for (int a = 0; a < ACC; a++)
                for (int l = 0; l < LANES; l++) acc[a][l] = 1.0 + 1e-9 * (a * LANES + l + omp_get_thread_num());
            const double m = 0.999999999, k = 1e-9;
            for (long i = 0; i < iters; i++) {
                for (int a = 0; a < ACC; a++) {
#pragma omp simd
                    for (int l = 0; l < LANES; l++) acc[a][l] = fma(acc[a][l], m, k);
                }
            }
            double s = 0;
            for (int a = 0; a < ACC; a++)
                for (int l = 0; l < LANES; l++) s += acc[a][l];
            total += s;
        }
        double ms = now_ms() - t0;
        sink = total;
        double flops = 2.0 * iters * ACC * LANES * omp_get_max_threads();
        double g = flops / (ms / 1e3) / 1e9;
        if (g > best) best = g;
    }
    return best;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "peak") == 0) {
        printf("%.1f\n", peak_gflops());
        return 0;
    }
    if (argc != 4) {
        fprintf(stderr, "usage: limits a|triad N M, or limits peak\n");
        return 2;
    }
    size_t n = strtoull(argv[2], NULL, 10) * strtoull(argv[3], NULL, 10);
    if (n == 0) {
        fprintf(stderr, "limits: no cells\n");
        return 2;
    }
    double best = INFINITY;
    if (strcmp(argv[1], "a") == 0) {
        double *x = cells(n, 1.0);
        for (int rep = 0; rep < 5; rep++) {
            double t0 = now_ms();
            sink = chain(x, n);
            double ms = now_ms() - t0;
            if (ms < best) best = ms;
        }
        printf("%g\n%.3f\n", sink, best);
    } else if (strcmp(argv[1], "triad") == 0) {
        double *a = cells(n, 0.0), *b = cells(n, 1.0), *c = cells(n, 1.0);
        for (int rep = 0; rep < 5; rep++) {
            double t0 = now_ms();
            triad(a, b, c, n);
            double ms = now_ms() - t0;
            if (ms < best) best = ms;
        }
        sink = a[n / 2];
        printf("%.3f\n%.2f\n", best, 24.0 * n / (best / 1e3) / 1e9);
    } else {
        fprintf(stderr, "usage: limits a|triad N M, or limits peak\n");
        return 2;
    }
    return 0;
}
