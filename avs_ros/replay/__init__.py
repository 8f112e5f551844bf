"""Offline replay of a ROS 2 bag through the node's ROS-free pipeline (``avs replay``).

Modules: ``model`` which network to run; ``engine`` bag clock, pairing and the pipeline;
``evaluation`` J/F against ground truth with the AVSBench semantics; ``outputs`` the output
bag and the overlay video; ``report`` JSON, CSV and the HTML report; ``cli`` the command.
"""
