"""Routing: the synthetic demo track catalogue that playlists are drawn from."""
