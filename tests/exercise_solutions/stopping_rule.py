import math
from collections import deque

import numpy as np


class VarianceStopper:
    def __init__(self, window=50, patience=100):
        self.window = window
        self.patience = patience
        self.statistic = math.nan
        self.best_iter = None
        self.best_value = math.inf
        self.frames = deque(maxlen=window)

    def update(self, it, output):
        self.frames.append(output.copy())
        if len(self.frames) == self.window:
            self.statistic = float(np.var(np.stack(self.frames), axis=0).mean())
            if self.statistic < self.best_value:
                self.best_value = self.statistic
                self.best_iter = it
        return self.best_iter is not None and it - self.best_iter >= self.patience
