"""``avs import``: turn a downloaded weight file into what our tools load.

- :mod:`.recognise` — what a file is, from its keys and shapes alone (public AVSegFormer
  checkpoints, ImageNet/AudioSet encoder files), or why it is refused;
- :mod:`.cli` — the verb: convert, check by loading the result the way our tools do, write
  the output only on success, and say what was found.
"""
