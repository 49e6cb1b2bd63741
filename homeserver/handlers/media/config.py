"""The media repository's settings, derived from the config's raw values (see config/schema.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeserver.config.loader import ConfigError, duration_ms, size_bytes
from homeserver.outbound.ranges import InvalidRange, IpRangePolicy, parse_networks


@dataclass(frozen=True)
class ThumbnailSize:
    width: int
    height: int
    method: str


@dataclass(frozen=True)
class MediaConfig:
    store_path: str
    max_upload_size: int
    user_quota: int | None
    max_pending_uploads: int
    unused_expiration_ms: int
    max_image_pixels: int
    dynamic_thumbnails: bool
    thumbnail_sizes: tuple[ThumbnailSize, ...]
    authenticated_media: bool
    url_preview_enabled: bool
    url_preview_ip_policy: IpRangePolicy
    max_spider_size: int
    url_preview_timeout_ms: int
    local_media_lifetime_ms: int | None
    remote_media_lifetime_ms: int | None = None

    @classmethod
    def from_config(cls, config: Any) -> MediaConfig:
        raw = config.raw
        return cls(
            store_path=config.media_store_path,
            max_upload_size=config.max_upload_size,
            user_quota=size_bytes(raw["media_user_quota"]) if raw["media_user_quota"] is not None else None,
            max_pending_uploads=raw["max_pending_media_uploads"],
            unused_expiration_ms=duration_ms(raw["unused_expiration_time"]),
            max_image_pixels=size_bytes(raw["max_image_pixels"]),
            dynamic_thumbnails=raw["dynamic_thumbnails"],
            thumbnail_sizes=tuple(ThumbnailSize(s["width"], s["height"], s.get("method", "scale"))
                                  for s in raw["thumbnail_sizes"]),
            authenticated_media=raw["enable_authenticated_media"],
            url_preview_enabled=raw["url_preview_enabled"],
            url_preview_ip_policy=url_preview_ip_policy(raw),
            max_spider_size=size_bytes(raw["max_spider_size"]),
            url_preview_timeout_ms=duration_ms(raw["url_preview_timeout"]),
            local_media_lifetime_ms=duration_ms(raw["media_retention"].get("local_media_lifetime")),
            remote_media_lifetime_ms=duration_ms(raw["media_retention"].get("remote_media_lifetime")),
        )


def url_preview_ip_policy(raw: dict[str, Any]) -> IpRangePolicy:
    """Previews refuse `ip_range_blacklist` and their own blacklist; only their own whitelist
    allows addresses back (an operator's whitelisted push gateway stays out of users' reach)."""
    try:
        return IpRangePolicy(
            parse_networks(raw["ip_range_blacklist"], "ip_range_blacklist")
            + parse_networks(raw["url_preview_ip_range_blacklist"], "url_preview_ip_range_blacklist"),
            parse_networks(raw["url_preview_ip_range_whitelist"], "url_preview_ip_range_whitelist"))
    except InvalidRange as e:
        raise ConfigError(f"Config error at {e}") from None
