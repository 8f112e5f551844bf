"""Command modules of ``avs`` verbs that wrap the model library (:mod:`avs_models`)."""
