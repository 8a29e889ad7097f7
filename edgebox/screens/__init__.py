"""Cloud playlists on a screen canvas: timelines, decoding, the screen player and screenshots."""
