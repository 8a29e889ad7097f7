"""Cloud control actions applied through the hub; playlist actions go to whoever syncs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from edgebox.hub import Hub
from edgebox.upstream import protocol as p

PlaylistAction = p.ReloadPlaylist | p.SwitchPlaylist | p.CleanupOldPlaylists
OnPlaylist = Callable[[PlaylistAction], Awaitable[None]]


def hub_commands(hub: Hub, on_playlist: OnPlaylist) -> Callable[[p.Action], Awaitable[None]]:
    """The `apply` of a ControlChannel: every action becomes one hub call or one sync request."""

    async def apply(action: p.Action) -> None:
        match action:
            case p.Play():
                await hub.play()
            case p.Pause():
                await hub.pause()
            case p.Next():
                await hub.next()
            case p.Previous():
                await hub.previous()
            case p.PlayMedia(media_id=media_id, media_index=index):
                await hub.play_media(media_id, index)
            case p.ShowTextOverlay(overlay=overlay):
                await hub.show_overlay(overlay)
            case p.HideTextOverlay():
                await hub.hide_overlay()
            case p.SetBrightness(brightness=level):
                await hub.set_brightness(level)
            case p.SetVolume(volume=level):
                await hub.set_volume(level)
            case p.ReloadPlaylist() | p.SwitchPlaylist() | p.CleanupOldPlaylists():
                await on_playlist(action)

    return apply
