from homeserver.config.loader import Config, ConfigError, load_config

__all__ = ["Config", "ConfigError", "load_config"]
