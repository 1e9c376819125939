"""The Wyoming server: the daemon's resident ASR and TTS, served to Home Assistant and other Wyoming clients."""
