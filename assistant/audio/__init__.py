"""Audio: files, capture, playback and earcons."""
