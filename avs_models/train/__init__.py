"""Training and evaluation: typed configs (:mod:`.config`), the loop with optional DDP
(:mod:`.trainer`), datasets and the audio-swapped view (:mod:`.data`), and the ``avs train`` /
``avs eval`` commands (:mod:`.cli`, :mod:`.evaluate`)."""
