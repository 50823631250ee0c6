"""Faces in photos and frames: finding one with the MediaPipe face mesh bundled in the wheel
(``mesh``), decoding and loading a portrait at its working size with its face (``decode``,
``portrait``), and the check the Personas tab draws (``check``). The renderers, the live preview,
the face enhancer and the persona editor all use these."""
