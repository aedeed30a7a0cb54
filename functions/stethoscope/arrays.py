"""Array type aliases shared by the analysis modules."""

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating[Any]]
IndexArray = npt.NDArray[np.intp]
