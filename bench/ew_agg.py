import sys
import numpy as np
n, m = int(sys.argv[1]), int(sys.argv[2])
X = np.random.default_rng(42).random((n, m))
print(np.sum(((X * 2 + 1) ** 2) / (X + 3)))
