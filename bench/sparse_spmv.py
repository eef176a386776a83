import sys
import numpy as np
n = int(sys.argv[1])
rng = np.random.default_rng(1)
X = np.zeros((n, n))
k = int(round(n * n * 0.001))
X[rng.integers(0, n, k), rng.integers(0, n, k)] = rng.uniform(1.0, 2.0, k)
v = rng.random((n, 1))
print(np.sum(X @ v))
print(np.sum(X.T * 0.5))
