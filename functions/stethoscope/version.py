"""The analysis version: bump it whenever a change can alter any figure of a result.

Stored with every result (`analysisVersion`) and used as the id of the analysis document, so
results of different algorithm versions never overwrite each other.
"""

ANALYSIS_VERSION = "1.5.1"
