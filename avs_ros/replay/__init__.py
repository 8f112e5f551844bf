"""Offline replay of a ROS 2 bag through the node's ROS-free pipeline (``avs replay``).

Modules: ``engine`` bag clock, pairing and the pipeline; ``evaluation`` J/F against ground
truth with the AVSBench semantics; ``outputs`` the output bag and the overlay video;
``report`` JSON, CSV and the HTML report; ``session`` one run, from bag to folder; ``cli``
the command. The model is loaded as the node loads it (:mod:`avs_ros.core.model_source`).
"""
