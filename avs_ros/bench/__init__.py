"""Model-only latency commands (no ROS): ``avs bench`` for one preset on one backend and
device (:mod:`.cli`), ``avs bench --matrix`` for presets x backends x devices x torch modes
(:mod:`.matrix`), and the torch profile that says what bounds a CUDA cell (:mod:`.profile`).
"""
